// A LoRA adapter as PEFT saves it, reduced to what inference needs: for each
// (layer, module) pair the A [r, in] and B [out, r] matrices and the scale
// (alpha / r, or alpha / sqrt(r) with rsLoRA), after rank_pattern / alpha_pattern.
#pragma once

#include "core/tensor_view.h"
#include "model/model_config.h"

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lw {

struct PeftConfig {
    int r = 8;
    float lora_alpha = 8.0f;
    bool use_rslora = false;
    // Exactly one of these is used: a list of module-name suffixes, or a regex that
    // must match the full module name (PEFT's rule).
    std::vector<std::string> target_modules;
    std::optional<std::string> target_modules_regex;
    std::map<std::string, int> rank_pattern;     // key: regex / suffix, as PEFT
    std::map<std::string, float> alpha_pattern;  // likewise
    std::optional<std::vector<int>> layers_to_transform;
    std::string base_model_name_or_path;  // informational
    std::string source;                    // the adapter_config.json path, for messages
};

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
    std::vector<LoraModule> modules;  // sorted by (layer, module order of linear_module_names())
    std::vector<std::shared_ptr<const void>> storage;  // keeps the views valid

    int max_rank() const;
    std::size_t weight_bytes() const;
    // Distinct target modules, in linear_module_names() order.
    std::vector<std::string> targets() const;
};

} // namespace lw
