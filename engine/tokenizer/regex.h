// A compiled PCRE2 pattern with UTF and Unicode properties (UCP), as the split
// regexes of tokenizer.json need (\p{L}, \p{N}, \s over all of Unicode).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lw {

class Regex {
public:
    // `what` names the pattern's origin for error messages ("tokenizer.json: pre_tokenizer.pattern").
    // literal: match the pattern text as a plain string.
    Regex(std::string_view pattern, bool literal, const std::string& what);

    // Every non-empty, non-overlapping match in `text` (valid UTF-8), as [begin, end) byte offsets.
    std::vector<std::pair<std::size_t, std::size_t>> find_all(std::string_view text) const;

private:
    struct Code;
    std::shared_ptr<const Code> code_;
};

}  // namespace lw
