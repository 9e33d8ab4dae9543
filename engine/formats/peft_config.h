// adapter_config.json as PEFT writes it for a LoRA adapter, and PEFT's rules for
// which modules it targets and with which rank and alpha. Only plain LoRA on the
// seven linear modules of a decoder layer is accepted; anything that changes other
// weights (bias, modules_to_save, DoRA, embeddings, lm_head) is a clear error.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lw {

struct PeftConfig {
    int r = 8;
    double lora_alpha = 8.0;
    bool use_rslora = false;
    // Exactly one of these is used: a list of module-name suffixes, or a regex that
    // must match the full module name (PEFT's rule). "all-linear" becomes the list.
    std::vector<std::string> target_modules;
    std::optional<std::string> target_modules_regex;
    // Modules left out even when targeted: a list of suffixes or a full-match regex.
    std::vector<std::string> exclude_modules;
    std::optional<std::string> exclude_modules_regex;
    // Keys are regexes matched against the end of the module name; in file order,
    // because PEFT takes the first key that matches.
    std::vector<std::pair<std::string, int>> rank_pattern;
    std::vector<std::pair<std::string, double>> alpha_pattern;
    // Only for list targets (PEFT ignores it with a regex): the layer indices to adapt,
    // found after one of layers_pattern ("layers") in the module name.
    std::optional<std::vector<int>> layers_to_transform;
    std::vector<std::string> layers_pattern;
    std::string base_model_name_or_path;  // informational
    std::string source;                   // the adapter_config.json path, for messages
};

// Parses and checks adapter_config.json text; `source` names it in messages.
// Throws lw::Error naming the source and the field at fault.
PeftConfig parse_peft_config(std::string_view json_text, const std::string& source);
PeftConfig read_peft_config(const std::filesystem::path& path);

// PEFT's check_target_module_exists for a module of the base model, named as in the
// base model ("model.layers.3.mlp.down_proj").
bool peft_targets_module(const PeftConfig& c, const std::string& module_name);
// PEFT's get_pattern_key: the rank, alpha and scale (alpha / r, or alpha / sqrt(r)
// with rsLoRA) the module gets after rank_pattern and alpha_pattern.
int peft_rank(const PeftConfig& c, const std::string& module_name);
double peft_alpha(const PeftConfig& c, const std::string& module_name);
double peft_scale(const PeftConfig& c, const std::string& module_name);

}  // namespace lw
