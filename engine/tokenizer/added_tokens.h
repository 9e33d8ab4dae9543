// Added tokens (tokenizer.json "added_tokens"): strings that are cut out of the
// input before normalization and pre-tokenization and map straight to one id,
// with HF's single_word / lstrip / rstrip / normalized rules.
#pragma once

#include "core/token_id.h"
#include "tokenizer/normalizer.h"

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace lw {

struct AddedToken {
    TokenId id = 0;
    std::string content;
    bool single_word = false;
    bool lstrip = false;
    bool rstrip = false;
    bool normalized = false;  // matched in the normalized text rather than the raw input
    bool special = false;     // dropped by decode(skip_special_tokens=true)
};

// A run of input text: either an added token, or normalized text for the pre-tokenizer.
struct Segment {
    std::string text;
    std::optional<TokenId> token;
    bool at_start = false;  // text that begins at offset 0 of the input
};

class AddedTokens {
public:
    // `normalizer` is what normalized tokens are matched after (it must outlive this object).
    void build(std::vector<AddedToken> tokens, const Normalizer* normalizer);

    // Cuts `text` at added tokens (raw ones first, then normalized ones in the normalized text).
    std::vector<Segment> split(std::string_view text) const;

    const AddedToken* by_id(TokenId id) const;
    std::optional<TokenId> by_content(std::string_view content) const;
    const std::vector<AddedToken>& all() const { return tokens_; }

private:
    struct Matcher {
        // Candidate token indices by first byte, longest content first.
        std::vector<std::vector<std::size_t>> by_first_byte = std::vector<std::vector<std::size_t>>(256);
        std::vector<std::string> patterns;  // per token index; empty when not in this matcher
    };
    void split_with(const Matcher& m, const Segment& seg, std::vector<Segment>& out) const;

    std::vector<AddedToken> tokens_;
    std::unordered_map<TokenId, std::size_t> index_by_id_;
    std::unordered_map<std::string, std::size_t> index_by_content_;
    Matcher raw_, normalized_;
    const Normalizer* normalizer_ = nullptr;
};

}  // namespace lw
