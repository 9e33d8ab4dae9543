// Loads a base model from what users have on disk: a Hugging Face folder
// (config.json, safetensors, tokenizer files, chat template) or a .gguf file.
#pragma once

#include "chat/chat_template.h"
#include "model/model_config.h"
#include "model/model_weights.h"
#include "tokenizer/tokenizer.h"

#include <filesystem>
#include <optional>
#include <string>

namespace lw {

struct SpecialTokens {
    std::string bos;  // text of the BOS token for chat templates ("<s>"), may be empty
    std::string eos;
};

struct LoadedModel {
    std::string name;            // folder name or GGUF file stem
    std::filesystem::path path;  // what was loaded
    std::string format;          // "safetensors" or "gguf"
    ModelConfig config;
    ModelWeights weights;
    std::optional<Tokenizer> tokenizer;         // absent if the folder has none
    std::optional<ChatTemplate> chat_template;  // absent if none is provided
    SpecialTokens special;
};

// Throws lw::Error naming the file and what is wrong.
LoadedModel load_model(const std::filesystem::path& path);

}  // namespace lw
