// tokenizer.json "pre_tokenizer": splits normalized text into the pieces BPE sees.
// Supports what the Llama family uses: ByteLevel, Split (PCRE2 regex or string,
// every split behaviour), Metaspace, Digits, and Sequences of them.
#pragma once

#include "tokenizer/regex.h"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace lw {

// One piece of text on its way to the model. `at_start`: the piece begins at offset
// 0 of the original input (Metaspace's prepend_scheme "first" asks).
struct Piece {
    std::string text;
    bool at_start = false;
};

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };
enum class PrependScheme { First, Never, Always };

class PreTokenizer {
public:
    void add_byte_level(bool add_prefix_space, bool use_regex);
    void add_split(const std::string& pattern, bool literal, SplitBehavior behavior, bool invert,
                   const std::string& what);
    void add_metaspace(std::string replacement, PrependScheme scheme, bool split);
    void add_digits(bool individual);

    // True when a ByteLevel step maps the bytes (the vocabulary is byte-level).
    bool byte_level() const { return byte_level_; }
    std::vector<Piece> apply(std::string text, bool at_start) const;

private:
    struct Step {
        enum class Kind { ByteLevel, Split, Metaspace } kind = Kind::ByteLevel;
        bool add_prefix_space = false;       // ByteLevel
        std::shared_ptr<const Regex> regex;  // ByteLevel (use_regex) and Split
        SplitBehavior behavior = SplitBehavior::Isolated;
        bool invert = false;
        std::string replacement;  // Metaspace
        PrependScheme scheme = PrependScheme::Always;
        bool split = false;
    };
    std::vector<Step> steps_;
    bool byte_level_ = false;
};

}  // namespace lw
