// GPT-2's reversible byte <-> printable character mapping used by byte-level BPE:
// every byte becomes one visible Unicode character so that vocabularies are text.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace lw::byte_level {

// Each byte of `bytes` as its mapped character (UTF-8).
std::string encode(std::string_view bytes);

// The byte a mapped character stands for; nullopt for characters outside the map.
std::optional<unsigned char> byte_of(char32_t c);

}  // namespace lw::byte_level
