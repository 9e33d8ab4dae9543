// What both modes start from: an engine with the base model loaded (synthetic or from
// disk) and the adapters registered, with what that took.
#pragma once

#include "bench_options.h"
#include "runtime/engine.h"
#include "synthetic_adapters.h"

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

namespace lw::bench {

struct BenchSetup {
    std::unique_ptr<Engine> engine;
    std::string base;  // the base model's name in the engine
    ModelConfig config;
    std::size_t weight_bytes_per_step = 0;   // base weights a decode step reads (all but the embedding table)
    DType weight_dtype = DType::F16;         // as stored (the embedding table's)
    std::vector<std::string> adapter_names;  // adapter i is folder i % distinct files
    AdapterSet adapters;
    double model_seconds = 0.0, adapter_write_seconds = 0.0, register_seconds = 0.0;
};

// Throws lw::Error naming what could not be built, loaded or registered.
BenchSetup make_bench_setup(const BenchOptions& o);

// A prompt of `length` random token ids (never 0-2, the usual special tokens).
std::vector<TokenId> random_prompt(int length, int vocab, std::uint64_t seed);

// The setup's description for the JSON report.
nlohmann::json describe_setup(const BenchSetup& s, const BenchOptions& o);

}  // namespace lw::bench
