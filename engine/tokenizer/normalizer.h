// tokenizer.json "normalizer": the text rewrites applied before pre-tokenization
// (Prepend, Replace, NFC, and Sequences of them: what the Llama family uses).
#pragma once

#include "tokenizer/regex.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lw {

class Normalizer {
public:
    void add_prepend(std::string text);
    // Replaces every match of `pattern` (a plain string when literal) by `content`.
    void add_replace(const std::string& pattern, bool literal, std::string content, const std::string& what);
    void add_nfc();

    bool empty() const { return steps_.empty(); }
    std::string apply(std::string_view text) const;

private:
    struct Step {
        enum class Kind { Prepend, Replace, Nfc } kind;
        std::string text;  // prepended text or replacement content
        std::optional<Regex> pattern;
    };
    std::vector<Step> steps_;
};

}  // namespace lw
