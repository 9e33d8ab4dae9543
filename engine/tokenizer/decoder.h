// tokenizer.json "decoder": token strings -> text, as HF's decode_chain runs them
// (ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace, and Sequences).
#pragma once

#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/regex.h"

#include <memory>
#include <string>
#include <vector>

namespace lw {

class Decoder {
public:
    void add_byte_level();
    void add_replace(const std::string& pattern, bool literal, std::string content, const std::string& what);
    void add_byte_fallback();
    void add_fuse();
    void add_strip(char32_t content, std::size_t start, std::size_t stop);
    void add_metaspace(char32_t replacement, PrependScheme scheme);

    bool empty() const { return steps_.empty(); }
    // With no steps, HF joins the tokens with spaces.
    std::string decode(std::vector<std::string> tokens) const;

private:
    struct Step {
        enum class Kind { ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace } kind = Kind::ByteLevel;
        std::shared_ptr<const Regex> pattern;
        std::string content;
        char32_t ch = 0;
        std::size_t start = 0, stop = 0;
        PrependScheme scheme = PrependScheme::Always;
    };
    static Step step(Step::Kind kind);
    std::vector<Step> steps_;
};

}  // namespace lw
