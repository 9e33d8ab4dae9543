// The tokenizer a GGUF file embeds (tokenizer.ggml.* keys), as plain data. The GGUF
// reader fills it; the tokenizer builds from it without knowing about GGUF.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lw {

struct GgufVocab {
    std::string model;  // tokenizer.ggml.model: "gpt2" (byte-level BPE) or "llama" (sentencepiece)
    std::string pre;    // tokenizer.ggml.pre: pre-tokenizer name ("llama-bpe", "qwen2", "smollm", ...)
    std::vector<std::string> tokens;
    std::vector<float> scores;  // may be empty
    std::vector<std::int32_t>
        token_types;                  // llama.cpp's: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
    std::vector<std::string> merges;  // "a b" pairs, gpt2 model only
    std::optional<std::int32_t> bos_id, eos_id, unk_id, pad_id, eot_id;
    std::optional<bool> add_bos, add_eos, add_space_prefix;
};

}  // namespace lw
