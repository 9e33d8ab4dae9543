// Python str semantics over UTF-8: strings index, slice and measure by code point,
// strip Unicode whitespace, and change case, as jinja2 templates expect.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lw::jinja {

// Decodes UTF-8 leniently: an invalid byte becomes U+FFFD so no input is rejected.
std::vector<char32_t> to_code_points(std::string_view s);
std::string from_code_points(const std::vector<char32_t>& cps);
void append_utf8(std::string& out, char32_t cp);
std::size_t code_point_count(std::string_view s);

// str.isspace() for one code point.
bool is_python_space(char32_t cp);

enum class StripSide { Left, Right, Both };
// str.strip() / lstrip() / rstrip(); `chars` replaces whitespace when given.
std::string strip(std::string_view s, StripSide side, const std::optional<std::string>& chars = std::nullopt);

std::string to_upper(std::string_view s);
std::string to_lower(std::string_view s);
// str.capitalize(): first character upper case, the rest lower case.
std::string capitalize(std::string_view s);
// str.title(): upper case after every non-letter, lower case elsewhere.
std::string python_title(std::string_view s);
// jinja2's title filter: capitalizes words separated by whitespace, '-', '(', '{', '[' or '<'.
std::string jinja_title(std::string_view s);

// str.split(sep, maxsplit); no separator splits on runs of whitespace.
std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep, std::int64_t maxsplit);
// str.replace(old, new, count); count < 0 replaces all.
std::string replace(std::string_view s, std::string_view from, std::string_view to, std::int64_t count);

}  // namespace lw::jinja
