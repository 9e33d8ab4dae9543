// A LoRA adapter as PEFT saves it, reduced to what inference needs: for each
// (layer, module) pair the A [r, in] and B [out, r] matrices and the scale
// (alpha / r, or alpha / sqrt(r) with rsLoRA), after rank_pattern / alpha_pattern.
#pragma once

#include "core/tensor_view.h"
#include "formats/peft_config.h"
#include "model/model_config.h"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace lw {

struct LoraModule {
    int layer = 0;
    std::string module;  // "q_proj", ...
    int rank = 0;
    float scale = 0.0f;
    TensorView a;  // [rank, in_features]
    TensorView b;  // [out_features, rank]
};

struct LoraAdapter {
    std::string name;
    std::filesystem::path path;  // folder or file it was read from
    PeftConfig config;
    std::vector<LoraModule> modules;                   // sorted by (layer, module order of linear_module_names())
    std::vector<std::shared_ptr<const void>> storage;  // keeps the views valid

    int max_rank() const;
    std::size_t weight_bytes() const;
    // Distinct target modules, in linear_module_names() order.
    std::vector<std::string> targets() const;
};

// Loads a PEFT adapter: a folder with adapter_config.json and adapter_model.safetensors
// (preferred, as PEFT) or adapter_model.bin, or one of those files. `name` defaults to
// the folder name. Every tensor must be a lora_A / lora_B of a targeted linear module
// with the rank PEFT would give it; throws lw::Error naming the file and tensor.
LoraAdapter load_lora_adapter(const std::filesystem::path& path, const std::string& name = {});

// Checks the adapter against the base it will run on: the modules its config targets
// in the base are exactly those it has weights for, shapes fit the base's linear
// modules (the error names the tensor, expected and actual shape), ranks are at most
// max_lora_rank and weights are float. Throws lw::Error naming the adapter.
void validate_lora_adapter(const LoraAdapter& adapter, const ModelConfig& base, int max_lora_rank);

}  // namespace lw
