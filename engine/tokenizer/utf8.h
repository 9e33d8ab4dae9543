// UTF-8 helpers the tokenizer needs: validation with the offending offset, code
// point iteration, and Rust's from_utf8_lossy (which HF decoders use) so that
// invalid byte runs turn into exactly the same U+FFFD characters.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace lw::utf8 {

// Offset of the first byte that is not part of a valid UTF-8 sequence, or nullopt.
std::optional<std::size_t> first_invalid(std::string_view s);

// Length of the sequence a valid lead byte starts (1..4); 1 for anything else.
std::size_t sequence_length(unsigned char lead);

// Decodes the code point at s[pos] (s must be valid UTF-8) and advances pos.
char32_t next(std::string_view s, std::size_t& pos);

void append(std::string& out, char32_t cp);

// Replaces each maximal invalid subsequence with U+FFFD, as Rust's String::from_utf8_lossy.
std::string lossy(std::string_view bytes);

// Length of the longest prefix that ends on a character boundary, treating a trailing
// incomplete (but so far valid) sequence as not yet complete.
std::size_t complete_prefix(std::string_view bytes);

// The bytes of a valid sequence that starts at s[pos], 0 when none starts there.
std::size_t valid_sequence_at(std::string_view s, std::size_t pos);

}  // namespace lw::utf8
