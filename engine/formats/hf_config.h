// A Hugging Face config.json for the Llama family (LlamaForCausalLM,
// MistralForCausalLM, Qwen2ForCausalLM) read into ModelConfig with the defaults
// transformers applies. Both the transformers 4 keys (rope_theta, rope_scaling,
// torch_dtype) and the transformers 5 ones (rope_parameters, dtype) are understood.
#pragma once

#include "model/model_config.h"

#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace lw {

// Throws lw::Error naming `source` and the key when a field is missing, mistyped or
// describes something the engine cannot run (another architecture, yarn rope, ...).
// The result has passed validate_model_config.
ModelConfig parse_hf_config(const nlohmann::json& config, const std::string& source);
ModelConfig parse_hf_config_text(std::string_view text, const std::string& source);
ModelConfig read_hf_config(const std::filesystem::path& path);

// generation_config.json: its eos_token_id (an id or a list), when set, replaces the
// config's, as transformers' generate() uses it.
void apply_generation_config(const nlohmann::json& generation_config, const std::string& source, ModelConfig& c);

// Reads and parses a JSON file; throws lw::Error naming the file.
nlohmann::json read_json_file(const std::filesystem::path& path);

}  // namespace lw
