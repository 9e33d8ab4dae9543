// The parts a Tokenizer is assembled from; tokenizer_json.cpp and
// gguf_vocab_tokenizer.cpp fill them, tokenizer.cpp runs them.
#pragma once

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/decoder.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/post_processor.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"

#include <optional>
#include <string>
#include <vector>

namespace lw {

struct Tokenizer::Impl {
    std::string source;  // file or GGUF the tokenizer came from, for messages
    std::string scheme;  // "byte-level BPE", "sentencepiece BPE"
    Normalizer normalizer;
    PreTokenizer pre_tokenizer;
    std::optional<BpeModel> model;
    AddedTokens added;
    Decoder decoder;
    PostProcessor post;
    std::optional<TokenId> bos, eos;

    // Filled by finish(): every id's raw entry and flags.
    std::vector<std::string> id_to_token;
    std::vector<std::uint8_t> present, special, byte_token;

    // Builds the added-token matcher and the id tables once the parts are set.
    void finish(std::vector<AddedToken> added_tokens);
};

}  // namespace lw
