// Models built in memory from a named shape (llama-7b, mistral-7b, ...) with random
// weights, for lora-bench and tests: nothing to download, the same bytes for the
// same seed on any machine. Weights are drawn from N(0, init_std) as Hugging Face
// initialises Llama (0.02), norms are 1, so activations stay finite through every layer.
#pragma once

#include "core/dtype.h"
#include "model/model_config.h"
#include "model/model_loader.h"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace lw {

struct SyntheticModelOptions {
    DType dtype = DType::F16;  // F16, BF16 or F32
    std::uint64_t seed = 0;
    float init_std = 0.02f;
    int threads = 0;  // fill threads; 0 = all cores
};

// The shapes known by name, as in their Hugging Face config.json files:
// llama-7b, llama-13b, mistral-7b, smollm2-135m, and "tiny" (a few layers, for tests).
const std::vector<std::string>& synthetic_model_shapes();
// Throws lw::Error listing the known shapes when `shape` is not one of them.
ModelConfig synthetic_model_config(const std::string& shape);

// A model of `config` named `name`, weights random as above; throws lw::Error for an
// unsupported dtype or an inconsistent config.
LoadedModel make_synthetic_model(const ModelConfig& config, const std::string& name,
                                 const SyntheticModelOptions& options = {});

// Fills `out` (a whole number of `dtype` elements) with N(0, std) values determined by
// `seed` alone, on `threads` threads (0 = all cores). Used for adapters too.
void fill_normal(std::span<std::byte> out, DType dtype, std::uint64_t seed, float std, int threads = 0);

}  // namespace lw
