// Times greedy generation on the CPU backend through lw::Engine: one chat prompt
// prefilled, then --tokens tokens decoded with EOS ignored, --runs times. Prints one
// JSON object per run (prefill and decode tokens/s, the token ids) on stdout.
//
//   cpu-decode-bench --model SmolLM2-135M-Instruct.Q4_1.gguf --threads 2 --tokens 128
#include "core/error.h"
#include "model/model_loader.h"
#include "runtime/engine.h"

#include <cblas.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
    std::string model;
    std::string prompt = "Write a short story about a robot who learns to paint.";
    int threads = 2;
    int tokens = 128;
    int runs = 3;
};

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string flag = argv[i];
        if (i + 1 >= argc) lw::fail("flag ", flag, " needs a value");
        const std::string value = argv[++i];
        if (flag == "--model")
            o.model = value;
        else if (flag == "--prompt")
            o.prompt = value;
        else if (flag == "--threads")
            o.threads = std::stoi(value);
        else if (flag == "--tokens")
            o.tokens = std::stoi(value);
        else if (flag == "--runs")
            o.runs = std::stoi(value);
        else
            lw::fail("unknown flag ", flag, " (--model --prompt --threads --tokens --runs)");
    }
    if (o.model.empty()) lw::fail("--model is required (a .gguf file or a Hugging Face folder)");
    if (o.threads < 1 || o.tokens < 2 || o.runs < 1) lw::fail("--threads and --runs must be >= 1, --tokens >= 2");
    return o;
}

// The prompt as a single user message through the model's chat template, as lora-serve sends it.
std::vector<lw::TokenId> chat_prompt(const lw::LoadedModel& model, const std::string& text) {
    if (!model.tokenizer) lw::fail(model.path.string(), ": no tokenizer to encode the prompt with");
    if (!model.chat_template) return model.tokenizer->encode(text);
    const nlohmann::ordered_json messages = nlohmann::ordered_json::array({{{"role", "user"}, {"content", text}}});
    return model.tokenizer->encode(model.chat_template->apply(messages, true, model.special.bos, model.special.eos),
                                   false);
}

// When each token arrived, and how the request ended.
struct Run {
    std::mutex mutex;
    std::condition_variable finished;
    std::vector<Clock::time_point> arrivals;
    std::vector<lw::TokenId> tokens;
    bool done = false;
    std::string error;
};

nlohmann::ordered_json time_one(lw::Engine& engine, const std::string& model, const std::vector<lw::TokenId>& prompt,
                                int tokens) {
    lw::GenerationRequest request;
    request.model = model;
    request.prompt = prompt;
    request.sampling.temperature = 0.0f;
    request.max_tokens = tokens;
    request.ignore_eos = true;
    Run run;
    const Clock::time_point start = Clock::now();
    engine.submit(request, [&run](const lw::GenerationEvent& e) {
        const Clock::time_point now = Clock::now();
        std::lock_guard lock(run.mutex);
        if (e.kind == lw::GenerationEvent::Kind::Token) {
            run.arrivals.push_back(now);
            run.tokens.push_back(e.token);
            return;
        }
        if (e.reason != lw::FinishReason::Length)
            run.error = e.error.empty() ? lw::finish_reason_name(e.reason) : e.error;
        run.done = true;
        run.finished.notify_one();
    });
    std::unique_lock lock(run.mutex);
    run.finished.wait(lock, [&] { return run.done; });
    if (!run.error.empty()) lw::fail("request ended early: ", run.error);
    if (static_cast<int>(run.arrivals.size()) != tokens)
        lw::fail("asked for ", tokens, " tokens, got ", run.arrivals.size());

    // The first token comes out of the prefill; every later one is one decode step.
    auto seconds = [](Clock::time_point a, Clock::time_point b) {
        return std::chrono::duration<double>(b - a).count();
    };
    const double prefill_s = seconds(start, run.arrivals.front());
    const double decode_s = seconds(run.arrivals.front(), run.arrivals.back());
    nlohmann::ordered_json out;
    out["prompt_tokens"] = prompt.size();
    out["prefill_s"] = prefill_s;
    out["prefill_tokens_per_s"] = static_cast<double>(prompt.size()) / prefill_s;
    out["decode_tokens"] = tokens - 1;
    out["decode_s"] = decode_s;
    out["decode_tokens_per_s"] = (tokens - 1) / decode_s;
    out["prompt_token_ids"] = prompt;
    out["token_ids"] = run.tokens;
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const Options o = parse(argc, argv);
        openblas_set_num_threads(o.threads);  // prefill's GEMMs: the same cores as the engine's pool
        lw::EngineConfig config;
        config.backend = "cpu";
        config.threads = o.threads;
        lw::Engine engine(config);
        const std::string name = engine.load_base(o.model);
        const std::vector<lw::TokenId> prompt = chat_prompt(*engine.base_of(name), o.prompt);
        for (int r = 0; r < o.runs; ++r) {
            nlohmann::ordered_json result = time_one(engine, name, prompt, o.tokens);
            result["run"] = r;
            result["threads"] = o.threads;
            std::cout << result.dump() << std::endl;
        }
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "cpu-decode-bench: %s\n", e.what());
        return 1;
    }
}
