#include "chat/jinja_text.h"

#include "chat/jinja_value.h"

#include <algorithm>

namespace lw::jinja {

std::vector<char32_t> to_code_points(std::string_view s) {
    std::vector<char32_t> out;
    out.reserve(s.size());
    std::size_t i = 0;
    while (i < s.size()) {
        const auto b = static_cast<unsigned char>(s[i]);
        int len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xe ? 3 : (b >> 3) == 0x1e ? 4 : 0;
        char32_t cp = len == 1 ? b : len == 2 ? (b & 0x1f) : len == 3 ? (b & 0x0f) : (b & 0x07);
        bool ok = len > 0 && i + len <= s.size();
        for (int k = 1; ok && k < len; ++k) {
            const auto c = static_cast<unsigned char>(s[i + k]);
            ok = (c & 0xc0) == 0x80;
            cp = (cp << 6) | (c & 0x3f);
        }
        if (ok && len > 1) {
            static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
            ok = cp >= kMin[len] && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
        }
        if (!ok) {
            out.push_back(0xfffd);
            ++i;
            continue;
        }
        out.push_back(cp);
        i += len;
    }
    return out;
}

void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xc0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xe0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
        out += static_cast<char>(0xf0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    }
}

std::string from_code_points(const std::vector<char32_t>& cps) {
    std::string out;
    out.reserve(cps.size());
    for (char32_t cp : cps) append_utf8(out, cp);
    return out;
}

std::size_t code_point_count(std::string_view s) {
    return to_code_points(s).size();
}

bool is_python_space(char32_t cp) {
    return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f ||
           cp == 0x3000;
}

std::string strip(std::string_view s, StripSide side, const std::optional<std::string>& chars) {
    const auto cps = to_code_points(s);
    const auto strip_set = chars ? to_code_points(*chars) : std::vector<char32_t>();
    const auto strippable = [&](char32_t cp) {
        return chars ? std::find(strip_set.begin(), strip_set.end(), cp) != strip_set.end() : is_python_space(cp);
    };
    std::size_t begin = 0, end = cps.size();
    if (side != StripSide::Right)
        while (begin < end && strippable(cps[begin])) ++begin;
    if (side != StripSide::Left)
        while (end > begin && strippable(cps[end - 1])) --end;
    return from_code_points(
        {cps.begin() + static_cast<std::ptrdiff_t>(begin), cps.begin() + static_cast<std::ptrdiff_t>(end)});
}

namespace {

// Simple case mappings for the scripts chat messages commonly use: ASCII, Latin-1,
// Latin Extended-A, Greek and Cyrillic.
char32_t upper_of(char32_t c) {
    if (c >= 'a' && c <= 'z') return c - 32;
    if ((c >= 0xe0 && c <= 0xfe && c != 0xf7)) return c - 32;
    if (c == 0xff) return 0x178;
    if (c >= 0x100 && c <= 0x17f && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 && c != 0x17f) {
        const bool odd_is_lower = !(c >= 0x139 && c <= 0x148) && !(c >= 0x179 && c <= 0x17e);
        if (odd_is_lower && (c & 1)) return c - 1;
        if (!odd_is_lower && !(c & 1)) return c - 1;
        return c;
    }
    if (c >= 0x3b1 && c <= 0x3c9 && c != 0x3c2) return c - 32;
    if (c == 0x3c2) return 0x3a3;
    if (c >= 0x430 && c <= 0x44f) return c - 32;
    if (c >= 0x450 && c <= 0x45f) return c - 80;
    return c;
}

char32_t lower_of(char32_t c) {
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c >= 0xc0 && c <= 0xde && c != 0xd7) return c + 32;
    if (c == 0x178) return 0xff;
    if (c >= 0x100 && c <= 0x17f && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 && c != 0x17f) {
        const bool odd_is_lower = !(c >= 0x139 && c <= 0x148) && !(c >= 0x179 && c <= 0x17e);
        if (odd_is_lower && !(c & 1)) return c + 1;
        if (!odd_is_lower && (c & 1)) return c + 1;
        return c;
    }
    if (c >= 0x391 && c <= 0x3a9 && c != 0x3a2) return c + 32;
    if (c >= 0x410 && c <= 0x42f) return c + 32;
    if (c >= 0x400 && c <= 0x40f) return c + 80;
    return c;
}

bool is_cased(char32_t c) {
    return upper_of(c) != c || lower_of(c) != c || c == 0xdf;
}

void append_upper(std::string& out, char32_t c) {
    if (c == 0xdf) {
        out += "SS";  // German sharp s, as Python upper-cases it
        return;
    }
    append_utf8(out, upper_of(c));
}

}  // namespace

std::string to_upper(std::string_view s) {
    std::string out;
    for (char32_t c : to_code_points(s)) append_upper(out, c);
    return out;
}

std::string to_lower(std::string_view s) {
    std::string out;
    for (char32_t c : to_code_points(s)) append_utf8(out, lower_of(c));
    return out;
}

std::string capitalize(std::string_view s) {
    std::string out;
    bool first = true;
    for (char32_t c : to_code_points(s)) {
        if (first)
            append_upper(out, c);
        else
            append_utf8(out, lower_of(c));
        first = false;
    }
    return out;
}

std::string python_title(std::string_view s) {
    std::string out;
    bool previous_cased = false;
    for (char32_t c : to_code_points(s)) {
        if (previous_cased)
            append_utf8(out, lower_of(c));
        else
            append_upper(out, c);
        previous_cased = is_cased(c);
    }
    return out;
}

std::string jinja_title(std::string_view s) {
    std::string out;
    bool word_start = true;
    for (char32_t c : to_code_points(s)) {
        const bool separator = is_python_space(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
        if (separator)
            append_utf8(out, c);
        else if (word_start)
            append_upper(out, c);
        else
            append_utf8(out, lower_of(c));
        word_start = separator;
    }
    return out;
}

std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep, std::int64_t maxsplit) {
    std::vector<std::string> parts;
    if (sep) {
        if (sep->empty()) runtime_error("split(): empty separator");
        std::size_t start = 0;
        while (maxsplit < 0 || static_cast<std::int64_t>(parts.size()) < maxsplit) {
            const auto at = s.find(*sep, start);
            if (at == std::string_view::npos) break;
            parts.emplace_back(s.substr(start, at - start));
            start = at + sep->size();
        }
        parts.emplace_back(s.substr(start));
        return parts;
    }
    const auto cps = to_code_points(s);
    std::size_t i = 0;
    while (i < cps.size()) {
        while (i < cps.size() && is_python_space(cps[i])) ++i;
        if (i == cps.size()) break;
        if (maxsplit >= 0 && static_cast<std::int64_t>(parts.size()) == maxsplit) {
            std::vector<char32_t> rest(cps.begin() + static_cast<std::ptrdiff_t>(i), cps.end());
            parts.push_back(strip(from_code_points(rest), StripSide::Right));
            break;
        }
        std::string word;
        while (i < cps.size() && !is_python_space(cps[i])) append_utf8(word, cps[i++]);
        parts.push_back(std::move(word));
    }
    return parts;
}

std::string replace(std::string_view s, std::string_view from, std::string_view to, std::int64_t count) {
    std::string out;
    if (from.empty()) {
        // Python inserts `to` before every code point and at the end.
        const auto cps = to_code_points(s);
        check_string_size(s.size() + to.size() * (cps.size() + 1));
        std::int64_t done = 0;
        for (char32_t c : cps) {
            if (count < 0 || done < count) {
                out += to;
                ++done;
            }
            append_utf8(out, c);
        }
        if (count < 0 || done < count) out += to;
        return out;
    }
    std::size_t start = 0;
    std::int64_t done = 0;
    while (count < 0 || done < count) {
        const auto at = s.find(from, start);
        if (at == std::string_view::npos) break;
        out.append(s.substr(start, at - start));
        out.append(to);
        check_string_size(out.size());
        start = at + from.size();
        ++done;
    }
    out.append(s.substr(start));
    check_string_size(out.size());
    return out;
}

}  // namespace lw::jinja
