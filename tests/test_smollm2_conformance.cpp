// The default model and its demo adapters against transformers + PEFT on the same GGUF
// (tests/data/smollm2/expected.json, made by tools/fixtures/make_smollm2_fixtures.py):
// chat prompts rendered with our template and tokenizer give transformers' ids, and the
// CPU engine's greedy answers of the base and of each adapter in resources/adapters,
// all in one batch, match transformers' tokens, with logprobs within kTolerance.
// Needs $LW_SMOLLM2_GGUF (scripts/test.sh fetches the model and sets it).
#include "support/engine_events.h"
#include "support/test_support.h"

#include "model/model_loader.h"
#include "runtime/engine.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

namespace {

// transformers dequantizes the GGUF blocks exactly as we do; what remains is float
// summation order (2.5e-5 with f32 activations) and, in decode, the CPU backend's
// activations rounded to 8 bits per block for its integer dot products (as llama.cpp
// does): up to a few 1e-3 on 2026-11-25.
constexpr double kTolerance = 2e-2;
// A greedy choice this close to its runner-up may flip with such differences; the
// answers are then compared up to that token only.
constexpr double kNearTie = 0.1;

struct Case {
    std::string adapter;  // empty: the bare base
    nlohmann::ordered_json messages;
    std::string prompt_text;
    std::vector<lw::TokenId> prompt, tokens;
    std::vector<double> logprobs, runner_up;
};

std::vector<Case> read_cases() {
    const auto j = nlohmann::json::parse(lw::test::read_file(lw::test::data_path("smollm2/expected.json")));
    std::vector<Case> cases;
    for (const auto& c : j.at("cases")) {
        Case x;
        x.adapter = c.at("adapter").is_null() ? "" : c.at("adapter").get<std::string>();
        x.messages = nlohmann::ordered_json::parse(c.at("messages").dump());
        x.prompt_text = c.at("prompt_text").get<std::string>();
        x.prompt = c.at("prompt").get<std::vector<lw::TokenId>>();
        x.tokens = c.at("tokens").get<std::vector<lw::TokenId>>();
        x.logprobs = c.at("logprobs").get<std::vector<double>>();
        x.runner_up = c.at("runner_up_logprobs").get<std::vector<double>>();
        cases.push_back(std::move(x));
    }
    return cases;
}

}  // namespace

class TestSmolLM2Conformance : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() {
        const char* gguf = std::getenv("LW_SMOLLM2_GGUF");
        if (!gguf || !*gguf)
            QSKIP("set LW_SMOLLM2_GGUF to SmolLM2-135M-Instruct.Q4_1.gguf (scripts/fetch-default-model.sh)");
        gguf_ = gguf;
    }

    void chatPromptsTokenizeAsTransformers() {
        const lw::LoadedModel model = lw::load_model(gguf_);
        QVERIFY(model.chat_template && model.tokenizer);
        for (const Case& c : read_cases()) {
            const std::string text = model.chat_template->apply(c.messages, true, model.special.bos, model.special.eos);
            QCOMPARE(text, c.prompt_text);
            QCOMPARE(model.tokenizer->encode(text, false), c.prompt);
        }
    }

    void baseAndDemoAdaptersAnswerAsPeftInOneBatch() {
        lw::EngineConfig config;
        config.max_loras = 4;
        config.max_lora_rank = 16;
        config.threads = 2;
        lw::Engine engine(config);
        const std::string base = engine.load_base(gguf_);
        const std::vector<Case> cases = read_cases();
        std::set<std::string> adapters;
        for (const Case& c : cases)
            if (!c.adapter.empty()) adapters.insert(c.adapter);
        for (const std::string& a : adapters)
            engine.register_adapter(a, lw::test::source_path("resources/adapters/" + a), base);

        lw::test::Collector events;
        std::vector<lw::RequestId> ids;
        for (const Case& c : cases) {
            lw::GenerationRequest r;
            r.model = c.adapter.empty() ? base : c.adapter;
            r.prompt = c.prompt;
            r.sampling.temperature = 0.0f;
            r.max_tokens = static_cast<int>(c.tokens.size());
            r.ignore_eos = true;
            r.logprobs = true;
            ids.push_back(engine.submit(r, events.callback()));
        }
        QVERIFY(events.wait_finished(cases.size()));

        double worst = 0.0;
        int compared = 0;
        for (std::size_t i = 0; i < cases.size(); ++i) {
            const Case& c = cases[i];
            const lw::test::Outcome o = events.get(ids[i]);
            const std::string who = (c.adapter.empty() ? "base" : c.adapter) + " case " + std::to_string(i);
            QVERIFY2(o.reason == lw::FinishReason::Length, (who + ": " + o.error).c_str());
            for (std::size_t t = 0; t < c.tokens.size(); ++t) {
                if (o.tokens[t] != c.tokens[t]) {
                    const double margin = c.logprobs[t] - c.runner_up[t];
                    QVERIFY2(margin < kNearTie,
                             (who + ": token " + std::to_string(t) + " differs (" + std::to_string(o.tokens[t]) +
                              " vs " + std::to_string(c.tokens[t]) + ") with a margin of " + std::to_string(margin))
                                 .c_str());
                    break;
                }
                worst = std::max(worst, std::abs(o.logprobs[t] - c.logprobs[t]));
                ++compared;
                QVERIFY2(std::abs(o.logprobs[t] - c.logprobs[t]) < kTolerance,
                         (who + ": logprob of token " + std::to_string(t) + " " + std::to_string(o.logprobs[t]) +
                          " vs " + std::to_string(c.logprobs[t]))
                             .c_str());
            }
        }
        qInfo("%d tokens compared, largest logprob difference %.2e", compared, worst);
        QVERIFY(compared >= static_cast<int>(cases.size()) * 4);
    }

private:
    std::string gguf_;
};

QTEST_GUILESS_MAIN(TestSmolLM2Conformance)
#include "test_smollm2_conformance.moc"
