#include "tokenizer/decoder.h"

#include "tokenizer/byte_level.h"
#include "tokenizer/utf8.h"

#include <optional>

namespace lw {

namespace {

std::vector<std::string> decode_byte_level(std::vector<std::string> tokens) {
    std::string bytes;
    for (const std::string& t : tokens) {
        // A token with any character outside the byte map contributes its own UTF-8 bytes.
        std::string mapped;
        bool all_mapped = true;
        for (std::size_t pos = 0; pos < t.size() && all_mapped;) {
            const auto b = byte_level::byte_of(utf8::next(t, pos));
            if (b)
                mapped += static_cast<char>(*b);
            else
                all_mapped = false;
        }
        bytes += all_mapped ? mapped : t;
    }
    return {utf8::lossy(bytes)};
}

std::optional<unsigned char> byte_token(const std::string& t) {
    if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return std::nullopt;
    unsigned value = 0;
    for (char c : t.substr(3, 2)) {
        value <<= 4;
        if (c >= '0' && c <= '9')
            value |= static_cast<unsigned>(c - '0');
        else if (c >= 'a' && c <= 'f')
            value |= static_cast<unsigned>(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            value |= static_cast<unsigned>(c - 'A' + 10);
        else
            return std::nullopt;
    }
    return static_cast<unsigned char>(value);
}

// Runs of <0xNN> tokens become their text when the run is valid UTF-8, else one U+FFFD per byte.
std::vector<std::string> decode_byte_fallback(std::vector<std::string> tokens) {
    std::vector<std::string> out;
    std::string run;
    auto flush = [&] {
        if (run.empty()) return;
        if (!utf8::first_invalid(run))
            out.push_back(run);
        else
            for (std::size_t i = 0; i < run.size(); ++i) out.emplace_back("\xEF\xBF\xBD");
        run.clear();
    };
    for (std::string& t : tokens) {
        if (auto b = byte_token(t)) {
            run += static_cast<char>(*b);
            continue;
        }
        flush();
        out.push_back(std::move(t));
    }
    flush();
    return out;
}

std::vector<char32_t> chars_of(const std::string& s) {
    std::vector<char32_t> out;
    for (std::size_t pos = 0; pos < s.size();) out.push_back(utf8::next(s, pos));
    return out;
}

std::string text_of(const std::vector<char32_t>& cps, std::size_t begin, std::size_t end) {
    std::string out;
    for (std::size_t i = begin; i < end; ++i) utf8::append(out, cps[i]);
    return out;
}

}  // namespace

Decoder::Step Decoder::step(Step::Kind kind) {
    Step s;
    s.kind = kind;
    return s;
}

void Decoder::add_byte_level() {
    steps_.push_back(step(Step::Kind::ByteLevel));
}

void Decoder::add_replace(const std::string& pattern, bool literal, std::string content, const std::string& what) {
    Step s = step(Step::Kind::Replace);
    s.pattern = std::make_shared<const Regex>(pattern, literal, what);
    s.content = std::move(content);
    steps_.push_back(std::move(s));
}

void Decoder::add_byte_fallback() {
    steps_.push_back(step(Step::Kind::ByteFallback));
}

void Decoder::add_fuse() {
    steps_.push_back(step(Step::Kind::Fuse));
}

void Decoder::add_strip(char32_t content, std::size_t start, std::size_t stop) {
    Step s = step(Step::Kind::Strip);
    s.ch = content;
    s.start = start;
    s.stop = stop;
    steps_.push_back(std::move(s));
}

void Decoder::add_metaspace(char32_t replacement, PrependScheme scheme) {
    Step s = step(Step::Kind::Metaspace);
    s.ch = replacement;
    s.scheme = scheme;
    steps_.push_back(std::move(s));
}

std::string Decoder::decode(std::vector<std::string> tokens) const {
    if (steps_.empty()) {
        std::string out;
        for (std::size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
        return out;
    }
    for (const Step& st : steps_) {
        switch (st.kind) {
            case Step::Kind::ByteLevel:
                tokens = decode_byte_level(std::move(tokens));
                break;
            case Step::Kind::ByteFallback:
                tokens = decode_byte_fallback(std::move(tokens));
                break;
            case Step::Kind::Fuse: {
                std::string all;
                for (const std::string& t : tokens) all += t;
                tokens = {std::move(all)};
                break;
            }
            case Step::Kind::Replace:
                for (std::string& t : tokens) {
                    std::string out;
                    std::size_t last = 0;
                    for (auto [begin, end] : st.pattern->find_all(t)) {
                        out.append(t, last, begin - last);
                        out += st.content;
                        last = end;
                    }
                    out.append(t, last);
                    t = std::move(out);
                }
                break;
            case Step::Kind::Strip:
                for (std::string& t : tokens) {
                    const std::vector<char32_t> cps = chars_of(t);
                    std::size_t begin = 0, end = cps.size();
                    while (begin < st.start && begin < end && cps[begin] == st.ch) ++begin;
                    for (std::size_t i = 0; i < st.stop && end > begin && cps[end - 1] == st.ch; ++i) --end;
                    t = text_of(cps, begin, end);
                }
                break;
            case Step::Kind::Metaspace:
                // HF drops every replacement character of the first token (not only a leading one).
                for (std::size_t i = 0; i < tokens.size(); ++i) {
                    std::string out;
                    for (char32_t c : chars_of(tokens[i])) {
                        if (c != st.ch)
                            utf8::append(out, c);
                        else if (i != 0 || st.scheme == PrependScheme::Never)
                            out += ' ';
                    }
                    tokens[i] = std::move(out);
                }
                break;
        }
    }
    std::string out;
    for (const std::string& t : tokens) out += t;
    return out;
}

}  // namespace lw
