#pragma once

#include <cstdint>

namespace lw {

// A vocabulary index, as models, tokenizers and samplers exchange them.
using TokenId = std::int32_t;

}  // namespace lw
