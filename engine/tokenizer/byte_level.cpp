#include "tokenizer/byte_level.h"

#include "tokenizer/utf8.h"

#include <array>

namespace lw::byte_level {

namespace {

// Printable Latin-1 bytes stand for themselves; the other 68 map to U+0100 onwards in order.
constexpr std::size_t kShifted = 68;

bool printable(char32_t c) {
    return (c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF);
}

struct Tables {
    std::array<char32_t, 256> byte_to_char{};
    std::array<std::string, 256> byte_to_utf8;
    std::array<unsigned char, kShifted> shifted_to_byte{};  // index: character - 256
    Tables() {
        char32_t next = 256;
        for (int b = 0; b < 256; ++b) {
            if (printable(static_cast<char32_t>(b))) {
                byte_to_char[b] = static_cast<char32_t>(b);
            } else {
                shifted_to_byte[next - 256] = static_cast<unsigned char>(b);
                byte_to_char[b] = next++;
            }
            utf8::append(byte_to_utf8[b], byte_to_char[b]);
        }
    }
};

const Tables& tables() {
    static const Tables t;
    return t;
}

}  // namespace

std::string encode(std::string_view bytes) {
    const Tables& t = tables();
    std::string out;
    out.reserve(bytes.size() * 2);
    for (char c : bytes) out += t.byte_to_utf8[static_cast<unsigned char>(c)];
    return out;
}

std::optional<unsigned char> byte_of(char32_t c) {
    if (c < 256) return printable(c) ? std::optional<unsigned char>(static_cast<unsigned char>(c)) : std::nullopt;
    if (c >= 256 + kShifted) return std::nullopt;
    return tables().shifted_to_byte[c - 256];
}

}  // namespace lw::byte_level
