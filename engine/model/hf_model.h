// A Hugging Face model folder's config and weights: config.json (plus
// generation_config.json's eos_token_id) and the tensors of model.safetensors, or of
// the shards that model.safetensors.index.json names, each shard mapped once.
#pragma once

#include "model/model_config.h"
#include "model/model_weights.h"

#include <filesystem>
#include <string>

namespace lw {

struct HfModel {
    std::string name;  // the folder's name
    ModelConfig config;
    // Exactly the tensors inference uses (expected_tensor_shapes); others in the
    // files, such as rotary_emb.inv_freq, are left out.
    ModelWeights weights;
};

// Throws lw::Error naming the file (and tensor or key) when anything is missing,
// malformed or does not fit the config.
HfModel load_hf_model(const std::filesystem::path& folder);

}  // namespace lw
