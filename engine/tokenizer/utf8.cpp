#include "tokenizer/utf8.h"

namespace lw::utf8 {

namespace {

// Bounds of the second byte of a sequence (the later ones are always 0x80..0xBF),
// from the Unicode table of well-formed UTF-8 byte sequences.
struct LeadInfo {
    std::size_t length;  // 0: not a lead byte
    unsigned char second_lo, second_hi;
};

LeadInfo lead_info(unsigned char b) {
    if (b < 0x80) return {1, 0, 0};
    if (b < 0xC2) return {0, 0, 0};
    if (b < 0xE0) return {2, 0x80, 0xBF};
    if (b == 0xE0) return {3, 0xA0, 0xBF};
    if (b == 0xED) return {3, 0x80, 0x9F};
    if (b < 0xF0) return {3, 0x80, 0xBF};
    if (b == 0xF0) return {4, 0x90, 0xBF};
    if (b < 0xF4) return {4, 0x80, 0xBF};
    if (b == 0xF4) return {4, 0x80, 0x8F};
    return {0, 0, 0};
}

// Bytes from `pos` that form a valid prefix of a sequence (at most its full length).
std::size_t valid_prefix_at(std::string_view s, std::size_t pos, LeadInfo info) {
    std::size_t n = 1;
    while (n < info.length && pos + n < s.size()) {
        const auto b = static_cast<unsigned char>(s[pos + n]);
        const bool ok = n == 1 ? (b >= info.second_lo && b <= info.second_hi) : (b >= 0x80 && b <= 0xBF);
        if (!ok) break;
        ++n;
    }
    return n;
}

}  // namespace

std::size_t valid_sequence_at(std::string_view s, std::size_t pos) {
    const LeadInfo info = lead_info(static_cast<unsigned char>(s[pos]));
    if (info.length == 0) return 0;
    const std::size_t n = valid_prefix_at(s, pos, info);
    return n == info.length ? n : 0;
}

std::optional<std::size_t> first_invalid(std::string_view s) {
    std::size_t pos = 0;
    while (pos < s.size()) {
        if (static_cast<unsigned char>(s[pos]) < 0x80) {
            ++pos;
            continue;
        }
        const std::size_t n = valid_sequence_at(s, pos);
        if (n == 0) return pos;
        pos += n;
    }
    return std::nullopt;
}

std::size_t sequence_length(unsigned char lead) {
    const std::size_t n = lead_info(lead).length;
    return n == 0 ? 1 : n;
}

char32_t next(std::string_view s, std::size_t& pos) {
    const auto lead = static_cast<unsigned char>(s[pos]);
    const std::size_t n = sequence_length(lead);
    if (pos + n > s.size()) {  // not valid UTF-8: hand back the byte itself
        ++pos;
        return lead;
    }
    char32_t cp = n == 1 ? lead : lead & (0x7F >> n);
    for (std::size_t i = 1; i < n; ++i) cp = (cp << 6) | (static_cast<unsigned char>(s[pos + i]) & 0x3F);
    pos += n;
    return cp;
}

void append(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

std::string lossy(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size());
    std::size_t pos = 0;
    while (pos < bytes.size()) {
        const LeadInfo info = lead_info(static_cast<unsigned char>(bytes[pos]));
        if (info.length == 0) {
            out += "\xEF\xBF\xBD";
            ++pos;
            continue;
        }
        const std::size_t n = valid_prefix_at(bytes, pos, info);
        if (n == info.length)
            out.append(bytes.substr(pos, n));
        else
            out += "\xEF\xBF\xBD";  // one replacement per maximal invalid subpart
        pos += n;
    }
    return out;
}

std::size_t complete_prefix(std::string_view bytes) {
    // Only the last three bytes can belong to an unfinished sequence.
    const std::size_t from = bytes.size() > 3 ? bytes.size() - 3 : 0;
    for (std::size_t pos = bytes.size(); pos-- > from;) {
        const auto b = static_cast<unsigned char>(bytes[pos]);
        if ((b & 0xC0) == 0x80) continue;  // continuation byte: keep looking for its lead
        const LeadInfo info = lead_info(b);
        if (info.length <= 1) return bytes.size();
        const std::size_t have = bytes.size() - pos;
        if (have >= info.length) return bytes.size();
        return valid_prefix_at(bytes, pos, info) == have ? pos : bytes.size();
    }
    return bytes.size();
}

}  // namespace lw::utf8
