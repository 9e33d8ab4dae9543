// Text <-> token ids, exactly as Hugging Face `tokenizers` does it for the Llama
// family: BPE with the byte-level scheme (GPT-2, Llama-3, Qwen2, SmolLM2) or the
// sentencepiece scheme (Llama-2, Mistral), added/special tokens, normalizers,
// pre-tokenizers, post-processor (BOS/EOS) and decoders.
#pragma once

#include "core/token_id.h"
#include "tokenizer/gguf_vocab.h"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace lw {

class Tokenizer {
public:
    // tokenizer.json as Hugging Face writes it. Throws lw::Error naming the file and
    // the field for anything malformed or unsupported.
    static Tokenizer from_json_file(const std::filesystem::path& path);
    static Tokenizer from_json_text(std::string_view json, const std::string& source);
    // The vocabulary embedded in a GGUF file (models "gpt2" and "llama").
    static Tokenizer from_gguf_vocab(const GgufVocab& vocab, const std::string& source);

    Tokenizer(Tokenizer&&) noexcept;
    Tokenizer& operator=(Tokenizer&&) noexcept;
    ~Tokenizer();

    // add_special_tokens: apply the post-processor (e.g. prepend BOS), as HF's
    // encode(text, add_special_tokens=...) does. Special tokens written in the text
    // ("<|im_start|>") are always recognised, as HF does for added tokens.
    // Invalid UTF-8 input throws lw::Error.
    std::vector<TokenId> encode(std::string_view text, bool add_special_tokens = true) const;
    // HF's decode(ids, skip_special_tokens=...). Ids out of range throw lw::Error.
    std::string decode(std::span<const TokenId> ids, bool skip_special_tokens = false) const;

    std::size_t vocab_size() const;  // including added tokens
    std::optional<TokenId> token_to_id(std::string_view token) const;
    std::string id_to_token(TokenId id) const;  // the raw vocabulary entry
    bool is_special(TokenId id) const;
    // A <0xNN> token of a byte-fallback vocabulary: its text depends on the ids around it.
    bool is_byte_token(TokenId id) const;
    // From the GGUF keys, or for tokenizer.json guessed from the post-processor and the
    // usual names; tokenizer_config.json readers override them with set_bos_eos().
    std::optional<TokenId> bos_id() const;
    std::optional<TokenId> eos_id() const;
    void set_bos_eos(std::optional<TokenId> bos, std::optional<TokenId> eos);

    // Describes the scheme for humans: "byte-level BPE, 49152 tokens".
    std::string describe() const;

    struct Impl;

private:
    explicit Tokenizer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// Decodes a stream of ids incrementally: each push returns the newly completed
// text, never half a UTF-8 character, and concatenating every push() and the final
// finish() gives exactly decode(all ids).
class StreamingDecoder {
public:
    explicit StreamingDecoder(const Tokenizer& tok, bool skip_special_tokens = false);
    std::string push(TokenId id);
    std::string finish();

private:
    const Tokenizer* tok_;
    bool skip_special_;
    // The ids still needed: at most one already-emitted id as left context (so that
    // sentencepiece's leading-space strip sees what a full decode sees), then the ids
    // not yet fully emitted.
    std::vector<TokenId> ids_;
    std::string context_text_;       // decode of the context id, if any
    std::size_t emitted_bytes_ = 0;  // bytes after context_text_ already returned
};

}  // namespace lw
