#include "tokenizer/unicode_props.h"

#include "tokenizer/regex.h"
#include "tokenizer/utf8.h"

#include <string>

namespace lw::unicode {

bool is_whitespace(char32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

bool is_word_char(char32_t c) {
    if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    static const Regex word(R"([\p{Alphabetic}\p{N}])", false, "word character class");
    std::string s;
    utf8::append(s, c);
    return !word.find_all(s).empty();
}

}  // namespace lw::unicode
