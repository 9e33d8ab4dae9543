// The few Unicode character properties the tokenizer pipeline asks about, with
// the meaning Rust's char methods give them (HF tokenizers is written in Rust).
#pragma once

namespace lw::unicode {

// char::is_whitespace: the White_Space property.
bool is_whitespace(char32_t c);

// char::is_alphanumeric || c == '_': what HF's single_word added tokens treat as a word character.
bool is_word_char(char32_t c);

}  // namespace lw::unicode
