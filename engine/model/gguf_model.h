// A llama.cpp GGUF file read as a base model: its metadata mapped onto ModelConfig,
// its tensors renamed to Hugging Face names (Q/K rows put back into HF order, so HF
// LoRA adapters apply unchanged), and its embedded vocabulary and chat template.
#pragma once

#include "model/model_config.h"
#include "model/model_weights.h"
#include "tokenizer/gguf_vocab.h"

#include <filesystem>
#include <optional>
#include <string>

namespace lw {

struct GgufModel {
    std::string name;  // the file stem
    ModelConfig config;
    ModelWeights weights;
    GgufVocab vocab;
    std::optional<std::string> chat_template;  // tokenizer.chat_template
};

// Throws lw::Error naming the file (and key or tensor) on anything malformed or unsupported.
GgufModel load_gguf_model(const std::filesystem::path& path);

}  // namespace lw
