// The OpenAI / vLLM wire format without a network: request bodies parsed into engine
// requests (every refusal names its field), response and streaming chunk shapes,
// error bodies, and the Prometheus text of a metrics snapshot.
#include "support/test_support.h"

#include "server/openai_protocol.h"
#include "server/prometheus_text.h"
#include "server/sse_stream.h"

#include <functional>

using nlohmann::json;

namespace {

// The ApiError a parse throws, or a 0-status error when it does not throw.
lw::ApiError refusal(const json& body, lw::Endpoint endpoint = lw::Endpoint::Completions) {
    try {
        lw::parse_completion_request(body, endpoint);
    } catch (const lw::ApiError& e) {
        return e;
    }
    return lw::ApiError(0, "", "", "accepted");
}

lw::GenerationEvent token_event(lw::TokenId id, const std::string& text, float logprob,
                                std::vector<lw::TokenLogprob> top = {}) {
    lw::GenerationEvent e;
    e.token = id;
    e.text = text;
    e.logprob = logprob;
    e.top_logprobs = std::move(top);
    return e;
}

lw::GenerationEvent finished_event(lw::FinishReason reason, int prompt, int completion, std::string tail = {}) {
    lw::GenerationEvent e;
    e.kind = lw::GenerationEvent::Kind::Finished;
    e.reason = reason;
    e.prompt_tokens = prompt;
    e.completion_tokens = completion;
    e.text_tail = std::move(tail);
    return e;
}

// The JSON payloads of "data: ..." events; "[DONE]" is kept as a string.
std::vector<json> sse_payloads(const std::string& text) {
    std::vector<json> out;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const auto end = text.find("\n\n", pos);
        if (end == std::string::npos || text.compare(pos, 6, "data: ") != 0) qFatal("malformed SSE: %s", text.c_str());
        const std::string data = text.substr(pos + 6, end - pos - 6);
        out.push_back(data == "[DONE]" ? json(data) : json::parse(data));
        pos = end + 2;
    }
    return out;
}

const lw::ResponseHeader kHeader{"cmpl-1", 1700000000, "qv"};

}  // namespace

class TestOpenaiProtocol : public QObject {
    Q_OBJECT
private slots:
    void completionRequestCarriesEveryParameter() {
        const json body = {{"model", "qv"},
                           {"prompt", {1, 2, 3}},
                           {"max_tokens", 7},
                           {"temperature", 0.5},
                           {"top_p", 0.9},
                           {"top_k", 40},
                           {"min_p", 0.05},
                           {"repetition_penalty", 1.1},
                           {"presence_penalty", 0.5},
                           {"frequency_penalty", -0.5},
                           {"seed", 42},
                           {"n", 3},
                           {"stream", true},
                           {"stream_options", {{"include_usage", true}}},
                           {"logprobs", 2},
                           {"stop", "\n\n"},
                           {"stop_token_ids", {5, 6}},
                           {"ignore_eos", true},
                           {"min_tokens", 2},
                           {"return_tokens_as_token_ids", true},
                           {"user", "ignored"}};
        const lw::CompletionRequest r = lw::parse_completion_request(body, lw::Endpoint::Completions);
        QCOMPARE(r.model, std::string("qv"));
        QCOMPARE(r.generation.model, std::string("qv"));
        QVERIFY(r.prompt_tokens && *r.prompt_tokens == (std::vector<lw::TokenId>{1, 2, 3}));
        QVERIFY(!r.prompt_text);
        QCOMPARE(r.max_tokens.value_or(-1), 7);
        QCOMPARE(r.generation.sampling.temperature, 0.5f);
        QCOMPARE(r.generation.sampling.top_p, 0.9f);
        QCOMPARE(r.generation.sampling.top_k, 40);
        QCOMPARE(r.generation.sampling.min_p, 0.05f);
        QCOMPARE(r.generation.sampling.repetition_penalty, 1.1f);
        QCOMPARE(r.generation.sampling.presence_penalty, 0.5f);
        QCOMPARE(r.generation.sampling.frequency_penalty, -0.5f);
        QCOMPARE(r.generation.sampling.seed.value_or(0), std::uint64_t{42});
        QCOMPARE(r.n, 3);
        QVERIFY(r.stream && r.include_usage);
        QVERIFY(r.generation.logprobs);
        QCOMPARE(r.generation.sampling.top_logprobs, 2);
        QCOMPARE(r.generation.stop, std::vector<std::string>{"\n\n"});
        QCOMPARE(r.generation.stop_token_ids, (std::vector<lw::TokenId>{5, 6}));
        QVERIFY(r.generation.ignore_eos);
        QCOMPARE(r.generation.min_tokens, 2);
        QVERIFY(r.return_tokens_as_token_ids);
    }

    void completionDefaultsAndPromptSpellings() {
        const auto text =
            lw::parse_completion_request({{"model", "m"}, {"prompt", "Hello"}}, lw::Endpoint::Completions);
        QCOMPARE(text.prompt_text.value_or(""), std::string("Hello"));
        QVERIFY(!text.max_tokens && !text.stream && text.n == 1 && !text.generation.logprobs);
        QCOMPARE(text.generation.sampling.temperature, 1.0f);
        const auto listed =
            lw::parse_completion_request({{"model", "m"}, {"prompt", {"Hi"}}}, lw::Endpoint::Completions);
        QCOMPARE(listed.prompt_text.value_or(""), std::string("Hi"));
        const auto nested =
            lw::parse_completion_request({{"model", "m"}, {"prompt", {{4, 5}}}}, lw::Endpoint::Completions);
        QVERIFY(nested.prompt_tokens && *nested.prompt_tokens == (std::vector<lw::TokenId>{4, 5}));
        const auto defaults = lw::parse_completion_request(
            {{"model", "m"}, {"prompt", "x"}, {"echo", false}, {"best_of", 1}, {"logit_bias", json::object()}},
            lw::Endpoint::Completions);
        QCOMPARE(defaults.prompt_text.value_or(""), std::string("x"));
        const auto nulls = lw::parse_completion_request(
            {{"model", "m"}, {"prompt", "x"}, {"temperature", nullptr}, {"stop", nullptr}, {"max_tokens", nullptr}},
            lw::Endpoint::Completions);
        QVERIFY(!nulls.max_tokens && nulls.generation.stop.empty());
        const auto both = lw::parse_completion_request(
            {{"model", "m"}, {"prompt", "x"}, {"max_tokens", 5}, {"max_completion_tokens", 9}},
            lw::Endpoint::Completions);
        QCOMPARE(both.max_tokens.value_or(0), 9);
    }

    void chatRequestJoinsTextPartsAndReadsLogprobs() {
        const nlohmann::ordered_json body = {
            {"model", "m"},
            {"messages",
             {{{"role", "system"}, {"content", "Be brief."}},
              {{"role", "user"},
               {"content", {{{"type", "text"}, {"text", "one"}}, {{"type", "text"}, {"text", "two"}}}}}}},
            {"logprobs", true},
            {"top_logprobs", 3},
            {"add_generation_prompt", false}};
        const auto r = lw::parse_completion_request(body, lw::Endpoint::ChatCompletions);
        QCOMPARE(r.messages.size(), std::size_t{2});
        QCOMPARE(r.messages[1]["content"].get<std::string>(), std::string("one\ntwo"));
        QCOMPARE(r.messages[0].begin().key(), std::string("role"));  // key order kept for templates
        QVERIFY(r.generation.logprobs);
        QCOMPARE(r.generation.sampling.top_logprobs, 3);
        QVERIFY(!r.add_generation_prompt);
    }

    void refusalsNameTheField_data() {
        QTest::addColumn<QString>("body");
        QTest::addColumn<bool>("chat");
        QTest::addColumn<QString>("param");
        QTest::newRow("no model") << R"({"prompt": "x"})" << false << "model";
        QTest::newRow("model not a string") << R"({"model": 3, "prompt": "x"})" << false << "model";
        QTest::newRow("no prompt") << R"({"model": "m"})" << false << "prompt";
        QTest::newRow("empty prompt list") << R"({"model": "m", "prompt": []})" << false << "prompt";
        QTest::newRow("batch of prompts") << R"({"model": "m", "prompt": ["a", "b"]})" << false << "prompt";
        QTest::newRow("negative token") << R"({"model": "m", "prompt": [1, -2]})" << false << "prompt";
        QTest::newRow("temperature text")
            << R"({"model": "m", "prompt": "x", "temperature": "hot"})" << false << "temperature";
        QTest::newRow("temperature negative")
            << R"({"model": "m", "prompt": "x", "temperature": -1})" << false << "temperature";
        QTest::newRow("top_p zero") << R"({"model": "m", "prompt": "x", "top_p": 0})" << false << "top_p";
        QTest::newRow("top_k below -1") << R"({"model": "m", "prompt": "x", "top_k": -2})" << false << "top_k";
        QTest::newRow("min_p above 1") << R"({"model": "m", "prompt": "x", "min_p": 1.5})" << false << "min_p";
        QTest::newRow("repetition_penalty 0")
            << R"({"model": "m", "prompt": "x", "repetition_penalty": 0})" << false << "repetition_penalty";
        QTest::newRow("presence_penalty 3")
            << R"({"model": "m", "prompt": "x", "presence_penalty": 3})" << false << "presence_penalty";
        QTest::newRow("n zero") << R"({"model": "m", "prompt": "x", "n": 0})" << false << "n";
        QTest::newRow("n too many") << R"({"model": "m", "prompt": "x", "n": 17})" << false << "n";
        QTest::newRow("max_tokens zero") << R"({"model": "m", "prompt": "x", "max_tokens": 0})" << false
                                         << "max_tokens";
        QTest::newRow("max_tokens fraction")
            << R"({"model": "m", "prompt": "x", "max_tokens": 1.5})" << false << "max_tokens";
        QTest::newRow("logprobs 21") << R"({"model": "m", "prompt": "x", "logprobs": 21})" << false << "logprobs";
        QTest::newRow("stop numbers") << R"({"model": "m", "prompt": "x", "stop": [1]})" << false << "stop";
        QTest::newRow("stop_token_ids negative")
            << R"({"model": "m", "prompt": "x", "stop_token_ids": [-1]})" << false << "stop_token_ids";
        QTest::newRow("min_tokens over max")
            << R"({"model": "m", "prompt": "x", "max_tokens": 2, "min_tokens": 3})" << false << "min_tokens";
        QTest::newRow("stream not bool") << R"({"model": "m", "prompt": "x", "stream": "yes"})" << false << "stream";
        QTest::newRow("seed text") << R"({"model": "m", "prompt": "x", "seed": "x"})" << false << "seed";
        QTest::newRow("logit_bias") << R"({"model": "m", "prompt": "x", "logit_bias": {"5": 100}})" << false
                                    << "logit_bias";
        QTest::newRow("echo") << R"({"model": "m", "prompt": "x", "echo": true})" << false << "echo";
        QTest::newRow("best_of") << R"({"model": "m", "prompt": "x", "best_of": 3})" << false << "best_of";
        QTest::newRow("no messages") << R"({"model": "m"})" << true << "messages";
        QTest::newRow("empty messages") << R"({"model": "m", "messages": []})" << true << "messages";
        QTest::newRow("message without role")
            << R"({"model": "m", "messages": [{"content": "x"}]})" << true << "messages";
        QTest::newRow("image part")
            << R"({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]})" << true
            << "messages";
        QTest::newRow("top_logprobs alone") << R"({"model": "m", "messages": [{"role": "user", "content": "x"}],
                                                  "top_logprobs": 2})"
                                            << true << "top_logprobs";
    }
    void refusalsNameTheField() {
        QFETCH(QString, body);
        QFETCH(bool, chat);
        QFETCH(QString, param);
        const lw::ApiError e =
            refusal(json::parse(body.toStdString()), chat ? lw::Endpoint::ChatCompletions : lw::Endpoint::Completions);
        QCOMPARE(e.status(), 400);
        QCOMPARE(QString::fromStdString(e.param()), param);
        QVERIFY2(std::string(e.what()).find(param.toStdString()) != std::string::npos, e.what());
        const json error = e.body()["error"];
        QCOMPARE(error["type"].get<std::string>(), std::string("invalid_request_error"));
        QCOMPARE(error["param"].get<std::string>(), param.toStdString());
        QCOMPARE(error["message"].get<std::string>(), std::string(e.what()));
    }

    void errorBodyShape() {
        const json unknown = lw::model_not_found("nope").body();
        QCOMPARE(unknown["error"]["code"].get<std::string>(), std::string("model_not_found"));
        QCOMPARE(unknown["error"]["param"].get<std::string>(), std::string("model"));
        QVERIFY(unknown["error"]["message"].get<std::string>().find("'nope'") != std::string::npos);
        const json internal = lw::ApiError(500, "internal_error", "", "boom").body();
        QVERIFY(internal["error"]["param"].is_null());
        QCOMPARE(internal["error"]["type"].get<std::string>(), std::string("server_error"));
    }

    void completionResponseShape() {
        std::vector<lw::ChoiceOutput> choices(2);
        choices[0].add(token_event(7, "Hel", -0.5f, {{7, -0.5f}, {9, -1.5f}}));
        choices[0].add(token_event(8, "lo", -0.25f, {{3, -0.1f}}));
        choices[0].add(finished_event(lw::FinishReason::Length, 4, 2));
        choices[1].add(token_event(2, "", -0.1f));
        choices[1].add(finished_event(lw::FinishReason::Stop, 4, 1, "!"));
        const lw::TokenNamer ids(nullptr, false);
        const json r = lw::completion_response(kHeader, choices, ids, 1);
        QCOMPARE(r["object"].get<std::string>(), std::string("text_completion"));
        QCOMPARE(r["id"].get<std::string>(), std::string("cmpl-1"));
        QCOMPARE(r["model"].get<std::string>(), std::string("qv"));
        QCOMPARE(r["choices"].size(), std::size_t{2});
        const json& c0 = r["choices"][0];
        QCOMPARE(c0["index"].get<int>(), 0);
        QCOMPARE(c0["text"].get<std::string>(), std::string("Hello"));
        QCOMPARE(c0["finish_reason"].get<std::string>(), std::string("length"));
        LW_COMPARE_JSON(c0["logprobs"]["tokens"], json({"token:7", "token:8"}));
        LW_COMPARE_JSON(c0["logprobs"]["token_logprobs"], json({-0.5, -0.25}));
        LW_COMPARE_JSON(c0["logprobs"]["text_offset"], json({0, 3}));
        // The chosen token is among its alternatives, as vLLM reports it.
        LW_COMPARE_JSON(c0["logprobs"]["top_logprobs"][1], json({{"token:8", -0.25}, {"token:3", -0.1f}}));
        QCOMPARE(r["choices"][1]["text"].get<std::string>(), std::string("!"));
        QCOMPARE(r["choices"][1]["finish_reason"].get<std::string>(), std::string("stop"));
        LW_COMPARE_JSON(r["usage"], json({{"prompt_tokens", 4}, {"completion_tokens", 3}, {"total_tokens", 7}}));
        QVERIFY(lw::completion_response(kHeader, choices, ids, std::nullopt)["choices"][0]["logprobs"].is_null());
    }

    void chatResponseShape() {
        std::vector<lw::ChoiceOutput> choices(1);
        choices[0].add(token_event(65, "A", -0.75f, {{65, -0.75f}, {66, -1.0f}}));
        choices[0].add(finished_event(lw::FinishReason::Stop, 10, 1));
        const json r = lw::chat_response(kHeader, choices, lw::TokenNamer(nullptr, true), true);
        QCOMPARE(r["object"].get<std::string>(), std::string("chat.completion"));
        const json& c = r["choices"][0];
        LW_COMPARE_JSON(c["message"], json({{"role", "assistant"}, {"content", "A"}}));
        QCOMPARE(c["finish_reason"].get<std::string>(), std::string("stop"));
        const json& entry = c["logprobs"]["content"][0];
        QCOMPARE(entry["token"].get<std::string>(), std::string("token:65"));
        QCOMPARE(entry["logprob"].get<float>(), -0.75f);
        LW_COMPARE_JSON(entry["bytes"], json({'t', 'o', 'k', 'e', 'n', ':', '6', '5'}));
        QCOMPARE(entry["top_logprobs"].size(), std::size_t{2});
        QCOMPARE(entry["top_logprobs"][1]["token"].get<std::string>(), std::string("token:66"));
        QCOMPARE(r["usage"]["total_tokens"].get<int>(), 11);
        QVERIFY(lw::chat_response(kHeader, choices, lw::TokenNamer(nullptr, true), false)["choices"][0]["logprobs"]
                    .is_null());
    }

    void chatStreamChunks() {
        lw::CompletionStream stream(lw::Endpoint::ChatCompletions, kHeader, lw::TokenNamer(nullptr, false), 2, true,
                                    true);
        std::string text = stream.start();
        text += stream.on_event(1, token_event(4, "Hi", -0.5f));
        text += stream.on_event(0, token_event(5, "Yo", -0.25f));
        text += stream.on_event(0, finished_event(lw::FinishReason::Stop, 3, 1));
        text += stream.on_event(1, finished_event(lw::FinishReason::Length, 3, 1, "!"));
        text += stream.finish();
        const std::vector<json> events = sse_payloads(text);
        QCOMPARE(events.size(), std::size_t{8});
        for (int i = 0; i < 2; ++i) {
            QCOMPARE(events[i]["object"].get<std::string>(), std::string("chat.completion.chunk"));
            QCOMPARE(events[i]["choices"][0]["index"].get<int>(), i);
            QCOMPARE(events[i]["choices"][0]["delta"]["role"].get<std::string>(), std::string("assistant"));
        }
        QCOMPARE(events[2]["choices"][0]["index"].get<int>(), 1);
        LW_COMPARE_JSON(events[2]["choices"][0]["delta"], json({{"content", "Hi"}}));
        QCOMPARE(events[2]["choices"][0]["logprobs"]["content"][0]["token"].get<std::string>(), std::string("token:4"));
        QVERIFY(events[2]["choices"][0]["finish_reason"].is_null());
        LW_COMPARE_JSON(events[4]["choices"][0]["delta"], json::object());
        QCOMPARE(events[4]["choices"][0]["finish_reason"].get<std::string>(), std::string("stop"));
        LW_COMPARE_JSON(events[5]["choices"][0]["delta"], json({{"content", "!"}}));
        QCOMPARE(events[5]["choices"][0]["finish_reason"].get<std::string>(), std::string("length"));
        QVERIFY(events[6]["choices"].empty());
        LW_COMPARE_JSON(events[6]["usage"],
                        json({{"prompt_tokens", 3}, {"completion_tokens", 2}, {"total_tokens", 5}}));
        LW_COMPARE_JSON(events[7], json("[DONE]"));
    }

    void completionStreamChunks() {
        lw::CompletionStream stream(lw::Endpoint::Completions, kHeader, lw::TokenNamer(nullptr, false), 1, true, false);
        QVERIFY(stream.start().empty());
        std::string text = stream.on_event(0, token_event(1, "ab", -1.0f));
        text += stream.on_event(0, token_event(2, "c", -2.0f));
        text += stream.on_event(0, finished_event(lw::FinishReason::Cancelled, 2, 2));
        text += stream.finish();
        const std::vector<json> events = sse_payloads(text);
        QCOMPARE(events.size(), std::size_t{4});
        QCOMPARE(events[0]["object"].get<std::string>(), std::string("text_completion"));
        QCOMPARE(events[1]["choices"][0]["text"].get<std::string>(), std::string("c"));
        LW_COMPARE_JSON(events[1]["choices"][0]["logprobs"]["text_offset"], json({2}));
        QCOMPARE(events[2]["choices"][0]["finish_reason"].get<std::string>(), std::string("abort"));
        LW_COMPARE_JSON(events[3], json("[DONE]"));
    }

    void streamReportsAFailedGeneration() {
        lw::CompletionStream stream(lw::Endpoint::Completions, kHeader, lw::TokenNamer(nullptr, false), 1, false,
                                    false);
        lw::GenerationEvent failed = finished_event(lw::FinishReason::Error, 2, 0);
        failed.error = "the forward pass failed";
        const std::vector<json> events = sse_payloads(stream.on_event(0, failed) + stream.finish());
        QCOMPARE(events[0]["error"]["message"].get<std::string>(), failed.error);
        LW_COMPARE_JSON(events[1], json("[DONE]"));
    }

    void invalidUtf8IsReplacedOnTheWire() {
        const std::string wire = lw::to_wire(json{{"text", std::string("a\xe2\x82")}});
        QVERIFY(json::parse(wire)["text"].get<std::string>().starts_with("a"));
    }

    void prometheusText() {
        lw::MetricsSnapshot s;
        s.running = 3;
        s.waiting = 2;
        s.pages_free = 10;
        s.pages_kv = 4;
        s.pages_adapter = 6;
        s.prompt_tokens = 100;
        s.generation_tokens = 50;
        s.finished = {5, 6, 1, 0};
        s.adapter_cache.pool.hits = 7;
        s.adapter_cache.host.misses = 2;
        s.adapter_cache.pool.evictions = 1;
        s.adapter_cache.registered = 12;
        s.adapter_cache.uploads = {33554432, 0.25};
        s.adapters.push_back({"qv", 1, lw::AdapterTier::Pool, false, 2, {}, {}});
        s.adapters.push_back({"idle", 2, lw::AdapterTier::Host, false, 0, {}, {}});
        s.time_to_first_token.count = 4;
        s.time_to_first_token.sum = 0.5;
        s.time_to_first_token.p50 = 0.125;
        const QString text = QString::fromStdString(lw::prometheus_text(s, {"base \"1\"", 4}));
        const QString model = "model_name=\"base \\\"1\\\"\"";
        for (const QString& line :
             {"vllm:num_requests_running{" + model + "} 3", "vllm:num_requests_waiting{" + model + "} 2",
              "vllm:prompt_tokens_total{" + model + "} 100", "vllm:generation_tokens_total{" + model + "} 50",
              "vllm:request_success_total{" + model + ",finished_reason=\"length\"} 6",
              "vllm:request_success_total{" + model + ",finished_reason=\"abort\"} 1",
              "vllm:time_to_first_token_seconds{" + model + ",quantile=\"0.5\"} 0.125",
              "vllm:time_to_first_token_seconds_count{" + model + "} 4", QString("lw_pool_pages{kind=\"free\"} 10"),
              QString("lw_pool_pages{kind=\"kv_cache\"} 4"), QString("lw_pool_pages{kind=\"adapter\"} 6"),
              QString("lw_adapter_cache_hits_total{tier=\"pool\"} 7"),
              QString("lw_adapter_cache_misses_total{tier=\"host\"} 2"),
              QString("lw_adapter_cache_evictions_total{tier=\"pool\"} 1"),
              QString("lw_adapters_resident{tier=\"disk\"} 12"), QString("lw_adapter_upload_bytes_total 33554432"),
              QString("lw_adapter_upload_seconds_total 0.25"), QString("# TYPE vllm:num_requests_running gauge")})
            QVERIFY2(text.contains(line + "\n"), qPrintable(line));
        QVERIFY(text.contains(
            R"(vllm:lora_requests_info{running_lora_adapters="qv",max_lora="4",waiting_lora_adapters=""} )"));
        QCOMPARE(lw::prometheus_label_value("a\\b\"c\nd"), std::string("a\\\\b\\\"c\\nd"));
    }
};

QTEST_GUILESS_MAIN(TestOpenaiProtocol)
#include "test_openai_protocol.moc"
