// Unicode Normalization Form C, for the NFC normalizer (Qwen2's tokenizer.json).
#pragma once

#include <string>
#include <string_view>

namespace lw::unicode {

// `text` must be valid UTF-8.
std::string nfc(std::string_view text);

}  // namespace lw::unicode
