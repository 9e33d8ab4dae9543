// lora-serve's HTTP API through real HTTP on loopback, over an in-process engine with
// the tiny Llama (no tokenizer: token-id prompts) and its PEFT adapters, plus the real
// SmolLM2 GGUF for text, chat and /tokenize when $LW_SMOLLM2_GGUF names it. Covers
// every endpoint, streaming, the errors, adapters loaded and unloaded under load, a
// client leaving mid-stream, and 64 concurrent streams after which every page is free.
#include "metrics/metrics_snapshot.h"
#include "runtime/engine.h"
#include "server/http_server.h"
#include "support/test_support.h"

#include <QTest>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

using nlohmann::json;

namespace {

constexpr int kTinyContext = 256;
constexpr const char* kNeedsSmol = "needs the real SmolLM2 GGUF: set LW_SMOLLM2_GGUF (scripts/fetch-default-model.sh)";
const char* const kAdapterFolders[] = {"peft/qv_r8", "peft/all_r4_rslora_bin", "peft/layers_subset",
                                       "peft/regex_targets"};

struct Reply {
    int status = 0;
    json body;
    std::string text;
};

// A server over `engine` on a free loopback port, served on its own thread.
class ServerOnThread {
public:
    ServerOnThread(lw::Engine& engine, lw::HttpServerConfig config) : server_(engine, std::move(config)) {
        port_ = server_.bind("127.0.0.1", 0);
        thread_ = std::thread([this] { server_.run(); });
    }
    ~ServerOnThread() {
        server_.stop();
        thread_.join();
    }
    int port() const { return port_; }

private:
    lw::HttpServer server_;
    int port_ = 0;
    std::thread thread_;
};

class Client {
public:
    explicit Client(int port, std::string api_key = {}) : client_("127.0.0.1", port), key_(std::move(api_key)) {
        client_.set_read_timeout(120, 0);
    }

    Reply post(const std::string& path, const std::string& body) {
        return reply(client_.Post(path.c_str(), headers(), body, "application/json"));
    }
    Reply post(const std::string& path, const json& body) { return post(path, body.dump()); }
    Reply get(const std::string& path) { return reply(client_.Get(path.c_str(), headers())); }

    // POSTs a streaming request; `on_data` sees the bytes as they come and returns
    // false to hang up. Returns the status and every "data:" payload received.
    std::pair<int, std::vector<json>> stream(const std::string& path, const json& body,
                                             const std::function<bool(const std::string&)>& on_data = {}) {
        httplib::Request req;
        req.method = "POST";
        req.path = path;
        req.headers = headers();
        req.body = body.dump();
        req.set_header("Content-Type", "application/json");
        std::string received;
        req.content_receiver = [&](const char* data, std::size_t size, std::uint64_t, std::uint64_t) {
            received.append(data, size);
            return !on_data || on_data(received);
        };
        httplib::Response res;
        httplib::Error error = httplib::Error::Success;
        if (!client_.send(req, res, error) && !on_data)
            qWarning("stream failed: %s", httplib::to_string(error).c_str());
        std::vector<json> events;
        std::size_t pos = 0;
        for (std::size_t end; (end = received.find("\n\n", pos)) != std::string::npos; pos = end + 2) {
            if (received.compare(pos, 6, "data: ") != 0) continue;
            const std::string data = received.substr(pos + 6, end - pos - 6);
            events.push_back(data == "[DONE]" ? json(data) : json::parse(data));
        }
        return {res.status, events};
    }

private:
    httplib::Headers headers() const {
        return key_.empty() ? httplib::Headers{} : httplib::Headers{{"Authorization", "Bearer " + key_}};
    }
    static Reply reply(const httplib::Result& r) {
        if (!r) return {0, nullptr, "no reply: " + httplib::to_string(r.error())};
        Reply out{r->status, json::parse(r->body, nullptr, false), r->body};
        return out;
    }

    httplib::Client client_;
    std::string key_;
};

json tokens_request(const std::string& model, int max_tokens, std::vector<int> prompt = {1, 5, 9, 14}) {
    return {{"model", model}, {"prompt", prompt}, {"max_tokens", max_tokens}, {"temperature", 0}, {"ignore_eos", true}};
}

std::string error_param(const Reply& r) {
    const json& p = r.body["error"]["param"];
    return p.is_string() ? p.get<std::string>() : std::string();
}

// The token ids of a completions logprobs block ("token:ID" names).
std::vector<int> logprob_ids(const json& logprobs) {
    std::vector<int> ids;
    for (const auto& t : logprobs["tokens"]) ids.push_back(std::stoi(t.get<std::string>().substr(6)));
    return ids;
}

}  // namespace

class TestServer : public QObject {
    Q_OBJECT

    std::unique_ptr<lw::Engine> engine_;
    std::unique_ptr<ServerOnThread> server_;
    std::string tiny_;
    std::string smol_;  // empty without $LW_SMOLLM2_GGUF
    std::vector<std::string> adapters_;

    Client client() { return Client(server_->port()); }

    // Waits (bounded) until nothing runs or waits and no KV page is held.
    lw::MetricsSnapshot settled() {
        lw::MetricsSnapshot m = engine_->metrics();
        for (int i = 0; i < 500 && (m.running || m.waiting || m.pages_kv); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            m = engine_->metrics();
        }
        return m;
    }

private slots:
    void initTestCase() {
        lw::EngineConfig config;
        config.pool_bytes = 64u << 20;
        config.max_loras = 4;
        config.max_cpu_loras = 8;
        config.threads = 2;
        engine_ = std::make_unique<lw::Engine>(config);
        tiny_ = engine_->load_base(lw::test::data_path("models/tiny_llama"));
        // 16 adapter names over the 4 tiny adapters: more than max_loras, so the tiers churn.
        for (int i = 0; i < 16; ++i) {
            adapters_.push_back("a" + std::to_string(i));
            engine_->register_adapter(adapters_.back(), lw::test::data_path(kAdapterFolders[i % 4]), tiny_);
        }
        if (const char* gguf = std::getenv("LW_SMOLLM2_GGUF"); gguf && *gguf) smol_ = engine_->load_base(gguf);
        server_ = std::make_unique<ServerOnThread>(*engine_, lw::HttpServerConfig{{}, tiny_, config.max_loras});
    }
    void cleanupTestCase() {
        server_.reset();
        engine_.reset();
    }

    void health() {
        const Reply r = client().get("/health");
        QCOMPARE(r.status, 200);
    }

    void listsBasesAndAdapters() {
        const Reply r = client().get("/v1/models");
        QCOMPARE(r.status, 200);
        QCOMPARE(r.body["object"].get<std::string>(), std::string("list"));
        std::map<std::string, json> by_id;
        for (const auto& m : r.body["data"]) by_id[m["id"].get<std::string>()] = m;
        QVERIFY(by_id.contains(tiny_));
        QVERIFY(by_id[tiny_]["parent"].is_null());
        QCOMPARE(by_id[tiny_]["max_model_len"].get<int>(), kTinyContext);
        for (const auto& a : adapters_) {
            QVERIFY2(by_id.contains(a), a.c_str());
            QCOMPARE(by_id[a]["parent"].get<std::string>(), tiny_);
            QCOMPARE(by_id[a]["object"].get<std::string>(), std::string("model"));
        }
        QCOMPARE(by_id.size(), adapters_.size() + (smol_.empty() ? 1 : 2));
    }

    void completionOnBaseAndAdapter() {
        Client c = client();
        json request = tokens_request(tiny_, 6);
        request["logprobs"] = 2;
        const Reply base = c.post("/v1/completions", request);
        QVERIFY2(base.status == 200, base.text.c_str());
        QCOMPARE(base.body["object"].get<std::string>(), std::string("text_completion"));
        QCOMPARE(base.body["model"].get<std::string>(), tiny_);
        const json& choice = base.body["choices"][0];
        QCOMPARE(choice["finish_reason"].get<std::string>(), std::string("length"));
        LW_COMPARE_JSON(base.body["usage"],
                        json({{"prompt_tokens", 4}, {"completion_tokens", 6}, {"total_tokens", 10}}));
        QCOMPARE(choice["logprobs"]["tokens"].size(), std::size_t{6});
        for (const auto& top : choice["logprobs"]["top_logprobs"]) QVERIFY(top.size() >= 2 && top.size() <= 3);
        // Greedy is reproducible; an adapter changes the distribution.
        LW_COMPARE_JSON(c.post("/v1/completions", request).body["choices"][0]["logprobs"], choice["logprobs"]);
        request["model"] = "a0";
        const Reply adapted = c.post("/v1/completions", request);
        QVERIFY2(adapted.status == 200, adapted.text.c_str());
        QCOMPARE(adapted.body["model"].get<std::string>(), std::string("a0"));
        QVERIFY(adapted.body["choices"][0]["logprobs"]["token_logprobs"] != choice["logprobs"]["token_logprobs"]);
    }

    void severalChoicesWithSeeds() {
        json request = tokens_request("a1", 5);
        request["n"] = 3;
        request["temperature"] = 1.0;
        request["seed"] = 7;
        request["logprobs"] = 0;
        Client c = client();
        const Reply r = c.post("/v1/completions", request);
        QVERIFY2(r.status == 200, r.text.c_str());
        QCOMPARE(r.body["choices"].size(), std::size_t{3});
        for (int i = 0; i < 3; ++i) QCOMPARE(r.body["choices"][i]["index"].get<int>(), i);
        QCOMPARE(r.body["usage"]["completion_tokens"].get<int>(), 15);
        QCOMPARE(r.body["usage"]["prompt_tokens"].get<int>(), 4);
        // The same seed gives the same tokens again (logprobs may differ in the last bits
        // with what shares the batch).
        const json again = c.post("/v1/completions", request).body["choices"];
        for (int i = 0; i < 3; ++i)
            QCOMPARE(logprob_ids(again[i]["logprobs"]), logprob_ids(r.body["choices"][i]["logprobs"]));
    }

    // vLLM's extra parameters reach the engine: each changes the result as it should.
    void vllmExtrasTakeEffect() {
        Client c = client();
        json request = tokens_request(tiny_, 4);
        request["logprobs"] = 0;
        const Reply greedy = c.post("/v1/completions", request);
        QCOMPARE(greedy.status, 200);
        const std::vector<int> tokens = logprob_ids(greedy.body["choices"][0]["logprobs"]);
        QCOMPARE(tokens.size(), std::size_t{4});

        json stopped = request;
        stopped["stop_token_ids"] = {tokens[1]};
        Reply r = c.post("/v1/completions", stopped);
        QCOMPARE(r.body["choices"][0]["finish_reason"].get<std::string>(), std::string("stop"));
        QCOMPARE(logprob_ids(r.body["choices"][0]["logprobs"]), std::vector<int>(tokens.begin(), tokens.begin() + 2));

        stopped["min_tokens"] = 4;  // the stop token is suppressed before four tokens
        r = c.post("/v1/completions", stopped);
        QCOMPARE(r.body["usage"]["completion_tokens"].get<int>(), 4);
        QVERIFY(logprob_ids(r.body["choices"][0]["logprobs"])[1] != tokens[1]);

        json top1 = request;  // top_k 1 at any temperature is greedy
        top1["temperature"] = 1.5;
        top1["top_k"] = 1;
        top1["seed"] = 3;
        r = c.post("/v1/completions", top1);
        QCOMPARE(logprob_ids(r.body["choices"][0]["logprobs"]), tokens);
    }

    void streamingMatchesTheWholeResponse() {
        json request = tokens_request("a2", 8);
        request["logprobs"] = 0;
        Client c = client();
        const Reply whole = c.post("/v1/completions", request);
        QCOMPARE(whole.status, 200);
        request["stream"] = true;
        request["stream_options"] = {{"include_usage", true}};
        const auto [status, events] = c.stream("/v1/completions", request);
        QCOMPARE(status, 200);
        QVERIFY(events.size() >= 3);
        LW_COMPARE_JSON(events.back(), json("[DONE]"));
        const json& usage = events[events.size() - 2];
        QVERIFY(usage["choices"].empty());
        QCOMPARE(usage["usage"]["completion_tokens"].get<int>(), 8);
        std::vector<int> streamed;
        std::string finish;
        for (std::size_t i = 0; i + 2 < events.size(); ++i) {
            const json& choice = events[i]["choices"][0];
            QCOMPARE(events[i]["object"].get<std::string>(), std::string("text_completion"));
            if (!choice["logprobs"].is_null())
                for (int id : logprob_ids(choice["logprobs"])) streamed.push_back(id);
            if (!choice["finish_reason"].is_null()) finish = choice["finish_reason"];
        }
        QCOMPARE(streamed, logprob_ids(whole.body["choices"][0]["logprobs"]));
        QCOMPARE(finish, std::string("length"));
    }

    void errors() {
        Client c = client();
        Reply r = c.post("/v1/completions", tokens_request("no-such-adapter", 4));
        QCOMPARE(r.status, 404);
        QCOMPARE(r.body["error"]["code"].get<std::string>(), std::string("model_not_found"));
        QCOMPARE(error_param(r), std::string("model"));
        r = c.post("/v1/chat/completions",
                   json{{"model", "nope"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}});
        QCOMPARE(r.status, 404);

        json bad = tokens_request(tiny_, 4);
        bad["temperature"] = -1;
        r = c.post("/v1/completions", bad);
        QCOMPARE(r.status, 400);
        QCOMPARE(error_param(r), std::string("temperature"));

        r = c.post("/v1/completions", std::string("{\"model\": "));
        QCOMPARE(r.status, 400);
        QCOMPARE(r.body["error"]["code"].get<std::string>(), std::string("invalid_json"));

        r = c.post("/v1/completions", tokens_request(tiny_, 4, std::vector<int>(kTinyContext + 10, 3)));
        QCOMPARE(r.status, 400);
        QCOMPARE(r.body["error"]["code"].get<std::string>(), std::string("context_length_exceeded"));
        QCOMPARE(error_param(r), std::string("prompt"));
        r = c.post("/v1/completions", tokens_request(tiny_, kTinyContext));
        QCOMPARE(r.status, 400);
        QCOMPARE(error_param(r), std::string("max_tokens"));
        r = c.post("/v1/completions", tokens_request(tiny_, 2147483647));  // prompt + max_tokens overflows an int
        QCOMPARE(r.status, 400);
        QCOMPARE(error_param(r), std::string("max_tokens"));
        QVERIFY2(r.body.dump().find("2147483") != std::string::npos, r.body.dump().c_str());

        r = c.post("/v1/completions", tokens_request(tiny_, 4, {1, 100000}));
        QCOMPARE(r.status, 400);
        QCOMPARE(error_param(r), std::string("prompt"));

        r = c.post("/v1/completions", json{{"model", tiny_}, {"prompt", "text needs a tokenizer"}});
        QCOMPARE(r.status, 400);
        QVERIFY(r.body["error"]["message"].get<std::string>().find("no tokenizer") != std::string::npos);
        r = c.post("/tokenize", json{{"model", tiny_}, {"prompt", "x"}});
        QCOMPARE(r.status, 400);

        r = c.get("/v1/no-such-route");
        QCOMPARE(r.status, 404);
        QVERIFY(r.body["error"]["message"].is_string());
        // The server still serves after all that.
        QCOMPARE(c.post("/v1/completions", tokens_request(tiny_, 2)).status, 200);
    }

    void apiKey() {
        ServerOnThread guarded(*engine_, lw::HttpServerConfig{"sesame", tiny_, 4});
        QCOMPARE(Client(guarded.port()).get("/health").status, 200);
        Reply r = Client(guarded.port()).get("/v1/models");
        QCOMPARE(r.status, 401);
        QCOMPARE(r.body["error"]["code"].get<std::string>(), std::string("invalid_api_key"));
        QCOMPARE(Client(guarded.port(), "wrong").post("/v1/completions", tokens_request(tiny_, 2)).status, 401);
        QCOMPARE(Client(guarded.port(), "sesame").get("/v1/models").status, 200);
        QCOMPARE(Client(guarded.port(), "sesame").post("/v1/completions", tokens_request(tiny_, 2)).status, 200);
    }

    void loadAndUnloadAdapters() {
        Client c = client();
        const json load = {{"lora_name", "late"}, {"lora_path", lw::test::data_path("peft/qv_r8").string()}};
        Reply r = c.post("/v1/load_lora_adapter", load);
        QVERIFY2(r.status == 200, r.text.c_str());
        QVERIFY(r.text.find("late") != std::string::npos);
        QCOMPARE(c.post("/v1/completions", tokens_request("late", 3)).status, 200);
        r = c.post("/v1/load_lora_adapter", load);
        QCOMPARE(r.status, 400);
        QCOMPARE(error_param(r), std::string("lora_name"));
        r = c.post("/v1/load_lora_adapter", json{{"lora_name", "broken"}, {"lora_path", "/no/such/adapter"}});
        QCOMPARE(r.status, 400);
        QCOMPARE(error_param(r), std::string("lora_path"));
        r = c.post("/v1/load_lora_adapter",
                   json{{"lora_name", "x"}, {"lora_path", lw::test::data_path("peft/wrong_base").string()}});
        QCOMPARE(r.status, 400);
        r = c.post("/v1/load_lora_adapter", json{{"lora_name", "x"}});
        QCOMPARE(error_param(r), std::string("lora_path"));

        QCOMPARE(c.post("/v1/unload_lora_adapter", json{{"lora_name", "late"}}).status, 200);
        QCOMPARE(c.post("/v1/completions", tokens_request("late", 3)).status, 404);
        QCOMPARE(c.post("/v1/unload_lora_adapter", json{{"lora_name", "late"}}).status, 404);
        QCOMPARE(c.post("/v1/unload_lora_adapter", json{{"lora_name", tiny_}}).status, 404);  // a base is no adapter
    }

    void unloadingAnAdapterInUseIsRefused() {
        Client loader = client();
        const json load = {{"lora_name", "busy"},
                           {"lora_path", lw::test::data_path("peft/all_r4_rslora_bin").string()}};
        QCOMPARE(loader.post("/v1/load_lora_adapter", load).status, 200);
        // An unload sent once a stream's first token is in hand finds its requests
        // alive unless the engine already generated every token of all eight; a few
        // attempts make that race all but impossible to lose every time.
        int refused = 0;
        for (int attempt = 0; attempt < 10 && refused == 0; ++attempt) {
            json request = tokens_request("busy", kTinyContext - 8);
            request["stream"] = true;
            request["n"] = 8;
            int unload_status = 0;
            const auto [status, events] = client().stream("/v1/completions", request, [&](const std::string& got) {
                if (unload_status == 0 && got.find("\"text\"") != std::string::npos)
                    unload_status = loader.post("/v1/unload_lora_adapter", json{{"lora_name", "busy"}}).status;
                return true;
            });
            QCOMPARE(status, 200);
            LW_COMPARE_JSON(events.back(), json("[DONE]"));
            if (unload_status == 409) {
                ++refused;
            } else {
                QCOMPARE(unload_status, 200);  // it had finished: load it again for another try
                QCOMPARE(loader.post("/v1/load_lora_adapter", load).status, 200);
            }
        }
        QCOMPARE(refused, 1);
        settled();
        QCOMPARE(loader.post("/v1/unload_lora_adapter", json{{"lora_name", "busy"}}).status, 200);
    }

    void clientLeavingMidStreamCancels() {
        // Each try hangs up at the first event of eight long streams; those the engine
        // had not finished by the time the server's next write failed are cancelled.
        // Every try must leave no request and no KV page behind.
        std::uint64_t cancelled = 0;
        for (int attempt = 0; attempt < 10 && cancelled == 0; ++attempt) {
            const lw::MetricsSnapshot before = settled();
            json request = tokens_request("a3", kTinyContext - 8);
            request["stream"] = true;
            request["n"] = 8;
            bool received = false;
            client().stream("/v1/completions", request, [&](const std::string& got) {
                received = got.find("data: ") != std::string::npos;
                return !received;
            });
            QVERIFY(received);
            const lw::MetricsSnapshot after = settled();
            QCOMPARE(after.running, std::size_t{0});
            QCOMPARE(after.pages_kv, std::size_t{0});
            cancelled = after.finished[2] - before.finished[2];
            QCOMPARE(cancelled + after.finished[1] - before.finished[1], std::uint64_t{8});
        }
        QVERIFY(cancelled >= 1);
    }

    void metricsEndpoint() {
        const Reply r = client().get("/metrics");
        QCOMPARE(r.status, 200);
        for (const char* line : {"vllm:num_requests_running{", "vllm:num_requests_waiting{", "vllm:lora_requests_info{",
                                 "vllm:prompt_tokens_total{", "vllm:time_to_first_token_seconds_count{",
                                 "lw_pool_pages{kind=\"free\"}", "lw_adapter_cache_loads_total{tier=\"pool\"}"})
            QVERIFY2(r.text.find(line) != std::string::npos, line);
        const lw::MetricsSnapshot m = engine_->metrics();
        QVERIFY(r.text.find("vllm:generation_tokens_total{model_name=\"" + tiny_ + "\"} ") != std::string::npos);
        QVERIFY(m.generation_tokens > 0);
    }

    // 64 concurrent streams over 16 adapters and the base, while another client loads
    // and unloads adapters; afterwards nothing runs and no KV page is held.
    void loadTest() {
        constexpr int kClients = 64, kTokens = 6;
        std::atomic<int> ok{0};
        std::vector<std::string> failures(kClients);
        std::vector<std::thread> threads;
        for (int i = 0; i < kClients; ++i)
            threads.emplace_back([&, i] {
                const std::string model = i % 17 == 16 ? tiny_ : adapters_[i % 17];
                json request = tokens_request(model, kTokens, {1 + i % 7, 20 + i, 3, 40 + i % 5});
                request["stream"] = true;
                request["temperature"] = 0.8;
                request["seed"] = i;
                request["logprobs"] = 0;
                const auto [status, events] = Client(server_->port()).stream("/v1/completions", request);
                int tokens = 0;
                for (const auto& e : events)
                    if (e.is_object() && !e["choices"].empty() && !e["choices"][0]["logprobs"].is_null())
                        tokens += static_cast<int>(e["choices"][0]["logprobs"]["tokens"].size());
                if (status == 200 && !events.empty() && events.back() == json("[DONE]") && tokens == kTokens)
                    ++ok;
                else
                    failures[i] =
                        lw::cat(model, ": status ", status, ", ", events.size(), " events, ", tokens, " tokens");
            });
        int churned = 0;
        {
            Client churn = client();
            for (int round = 0; round < 8; ++round) {
                const std::string name = "churn" + std::to_string(round);
                churned += churn
                               .post("/v1/load_lora_adapter",
                                     json{{"lora_name", name},
                                          {"lora_path", lw::test::data_path(kAdapterFolders[round % 4]).string()}})
                               .status == 200;
                churned += churn.post("/v1/completions", tokens_request(name, 2)).status == 200;
                churned += churn.post("/v1/unload_lora_adapter", json{{"lora_name", name}}).status == 200;
            }
        }
        for (auto& t : threads) t.join();
        for (const auto& f : failures) QVERIFY2(f.empty(), f.c_str());
        QCOMPARE(ok.load(), kClients);
        QCOMPARE(churned, 24);
        const lw::MetricsSnapshot m = settled();
        QCOMPARE(m.running + m.waiting, std::size_t{0});
        QCOMPARE(m.pages_kv, std::size_t{0});
        QCOMPARE(m.pages_free + m.pages_adapter, m.pages.size());
    }

    void textCompletionAndChat() {
        if (smol_.empty()) QSKIP(kNeedsSmol);
        Client c = client();
        Reply r = c.post("/v1/completions", json{{"model", smol_},
                                                 {"prompt", "The capital of France is"},
                                                 {"max_tokens", 5},
                                                 {"temperature", 0},
                                                 {"logprobs", 1}});
        QVERIFY2(r.status == 200, r.text.c_str());
        const json& choice = r.body["choices"][0];
        QVERIFY(!choice["text"].get<std::string>().empty());
        std::string joined;
        for (const auto& t : choice["logprobs"]["tokens"]) joined += t.get<std::string>();
        QCOMPARE(joined, choice["text"].get<std::string>());

        const json chat = {{"model", smol_},   {"messages", {{{"role", "user"}, {"content", "Say hello."}}}},
                           {"max_tokens", 6},  {"temperature", 0},
                           {"logprobs", true}, {"top_logprobs", 2}};
        r = c.post("/v1/chat/completions", chat);
        QVERIFY2(r.status == 200, r.text.c_str());
        QCOMPARE(r.body["object"].get<std::string>(), std::string("chat.completion"));
        const json& message = r.body["choices"][0]["message"];
        QCOMPARE(message["role"].get<std::string>(), std::string("assistant"));
        const std::string content = message["content"];
        QVERIFY(!content.empty());
        QCOMPARE(r.body["choices"][0]["logprobs"]["content"][0]["top_logprobs"].size(), std::size_t{2});

        json streamed = chat;
        streamed["stream"] = true;
        const auto [status, events] = c.stream("/v1/chat/completions", streamed);
        QCOMPARE(status, 200);
        QCOMPARE(events.front()["choices"][0]["delta"]["role"].get<std::string>(), std::string("assistant"));
        std::string text;
        for (const auto& e : events)
            if (e.is_object() && e["choices"][0]["delta"].contains("content"))
                text += e["choices"][0]["delta"]["content"];
        QCOMPARE(text, content);
        LW_COMPARE_JSON(events.back(), json("[DONE]"));

        json ids = chat;
        ids["return_tokens_as_token_ids"] = true;
        r = c.post("/v1/chat/completions", ids);
        QVERIFY(r.body["choices"][0]["logprobs"]["content"][0]["token"].get<std::string>().starts_with("token:"));

        json stopped = {
            {"model", smol_}, {"prompt", "1, 2, 3, 4,"}, {"max_tokens", 20}, {"temperature", 0}, {"stop", ","}};
        r = c.post("/v1/completions", stopped);
        QCOMPARE(r.status, 200);
        QCOMPARE(r.body["choices"][0]["finish_reason"].get<std::string>(), std::string("stop"));
        QVERIFY(r.body["choices"][0]["text"].get<std::string>().find(',') == std::string::npos);
    }

    void tokenizeAndDetokenize() {
        if (smol_.empty()) QSKIP(kNeedsSmol);
        Client c = client();
        Reply r = c.post("/tokenize", json{{"model", smol_}, {"prompt", "Hello world"}, {"return_token_strs", true}});
        QVERIFY2(r.status == 200, r.text.c_str());
        const std::vector<int> tokens = r.body["tokens"];
        QCOMPARE(r.body["count"].get<std::size_t>(), tokens.size());
        QVERIFY(r.body["max_model_len"].get<int>() > 0);
        QCOMPARE(r.body["token_strs"].size(), tokens.size());
        r = c.post("/detokenize", json{{"model", smol_}, {"tokens", tokens}});
        QCOMPARE(r.status, 200);
        QVERIFY(r.body["prompt"].get<std::string>().ends_with("Hello world"));

        r = c.post("/tokenize", json{{"model", smol_},
                                     {"messages", {{{"role", "user"}, {"content", "Hi"}}}},
                                     {"add_generation_prompt", true}});
        QCOMPARE(r.status, 200);
        const std::vector<int> chat_tokens = r.body["tokens"];
        r = c.post("/detokenize", json{{"model", smol_}, {"tokens", chat_tokens}});
        const std::string rendered = r.body["prompt"];
        QVERIFY2(rendered.find("Hi") != std::string::npos && rendered.ends_with("assistant\n"), rendered.c_str());
        // The chat prompt the server completes from is the one /tokenize shows.
        r = c.post("/v1/chat/completions",
                   json{{"model", smol_}, {"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"max_tokens", 1}});
        QCOMPARE(r.body["usage"]["prompt_tokens"].get<std::size_t>(), chat_tokens.size());

        r = c.post("/detokenize", json{{"model", smol_}, {"tokens", {-1}}});
        QCOMPARE(r.status, 400);
        QCOMPARE(error_param(r), std::string("tokens"));
    }

    // Last: with every adapter unloaded, every page of the pool is free.
    void everyPageFreeAtTheEnd() {
        Client c = client();
        for (const auto& a : adapters_) QCOMPARE(c.post("/v1/unload_lora_adapter", json{{"lora_name", a}}).status, 200);
        const lw::MetricsSnapshot m = settled();
        QCOMPARE(m.pages_free, m.pages.size());
    }
};

QTEST_GUILESS_MAIN(TestServer)
#include "test_server.moc"
