#include "bench_setup.h"

#include "model/model_loader.h"
#include "model/synthetic_model.h"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <random>

namespace lw::bench {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

bool is_shape(const std::string& model) {
    const auto& shapes = synthetic_model_shapes();
    return std::find(shapes.begin(), shapes.end(), model) != shapes.end();
}

LoadedModel load_bench_model(const BenchOptions& o) {
    if (is_shape(o.model))
        return make_synthetic_model(synthetic_model_config(o.model), o.model, {o.dtype, o.seed, 0.02f, 0});
    if (!std::filesystem::exists(o.model))
        fail(
            "--model '", o.model, "' is neither a known shape (",
            [] {
                std::string s;
                for (const auto& name : synthetic_model_shapes()) s += (s.empty() ? "" : ", ") + name;
                return s;
            }(),
            ") nor an existing folder or .gguf file");
    return load_model(o.model);
}

// A decode step reads every weight once but the embedding table, of which it gathers
// one row per token (tied embeddings are read whole as the LM head).
std::size_t weights_read_per_step(const ModelWeights& w, const ModelConfig& c) {
    std::size_t bytes = w.total_bytes();
    if (!c.tie_word_embeddings) bytes -= w.get("model.embed_tokens.weight").data.size();
    return bytes;
}

}  // namespace

BenchSetup make_bench_setup(const BenchOptions& o) {
    BenchSetup s;
    auto start = std::chrono::steady_clock::now();
    LoadedModel model = load_bench_model(o);
    s.config = model.config;
    s.weight_bytes_per_step = weights_read_per_step(model.weights, model.config);
    s.weight_dtype = model.weights.get("model.embed_tokens.weight").dtype;
    s.engine = std::make_unique<Engine>(o.engine);
    s.base = s.engine->load_base(std::move(model));
    s.model_seconds = seconds_since(start);

    if (o.adapters > 0) {
        start = std::chrono::steady_clock::now();
        s.adapters = make_synthetic_adapters(s.config, o.adapters, o.ranks, o.targets, o.distinct_files, o.seed,
                                             o.adapter_cache);
        s.adapter_write_seconds = seconds_since(start);
        start = std::chrono::steady_clock::now();
        for (int i = 0; i < o.adapters; ++i) {
            s.adapter_names.push_back(cat("bench-", i));
            s.engine->register_adapter(s.adapter_names.back(), s.adapters.folder_of(i), s.base);
        }
        s.register_seconds = seconds_since(start);
    }
    return s;
}

std::vector<TokenId> random_prompt(int length, int vocab, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<TokenId> token(std::min(3, vocab - 1), vocab - 1);
    std::vector<TokenId> prompt(static_cast<std::size_t>(length));
    for (TokenId& t : prompt) t = token(rng);
    return prompt;
}

nlohmann::json describe_setup(const BenchSetup& s, const BenchOptions& o) {
    const ModelConfig& c = s.config;
    return {{"model",
             {{"name", o.model},
              {"synthetic", is_shape(o.model)},
              {"dtype", dtype_name(s.weight_dtype)},
              {"hidden_size", c.hidden_size},
              {"intermediate_size", c.intermediate_size},
              {"num_layers", c.num_layers},
              {"num_heads", c.num_heads},
              {"num_kv_heads", c.num_kv_heads},
              {"vocab_size", c.vocab_size},
              {"load_seconds", s.model_seconds}}},
            {"adapters",
             {{"registered", s.adapter_names.size()},
              {"distinct_files", s.adapters.folders.size()},
              {"files_written", s.adapters.written},
              {"ranks", o.ranks},
              {"targets", o.targets},
              {"cache", o.adapter_cache.string()},
              {"write_seconds", s.adapter_write_seconds},
              {"register_seconds", s.register_seconds}}},
            {"engine",
             {{"backend", s.engine->backend_name()},
              {"pool_bytes", o.engine.pool_bytes},
              {"page_bytes", o.engine.page_bytes},
              {"max_loras", o.engine.max_loras},
              {"max_cpu_loras", o.engine.max_cpu_loras},
              {"max_lora_rank", o.engine.max_lora_rank},
              {"max_num_seqs", o.engine.max_num_seqs},
              {"max_num_batched_tokens", o.engine.max_num_batched_tokens}}}};
}

}  // namespace lw::bench
