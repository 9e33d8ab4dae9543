// tokenizer.json "post_processor": the special tokens add_special_tokens puts around
// a single sequence (TemplateProcessing, e.g. "<s> $A"). ByteLevel post-processing
// only moves offsets, so it leaves ids alone.
#pragma once

#include "core/token_id.h"

#include <vector>

namespace lw {

struct PostProcessor {
    std::vector<TokenId> prefix;  // before $A
    std::vector<TokenId> suffix;  // after $A

    void apply(std::vector<TokenId>& ids) const {
        ids.insert(ids.begin(), prefix.begin(), prefix.end());
        ids.insert(ids.end(), suffix.begin(), suffix.end());
    }
};

}  // namespace lw
