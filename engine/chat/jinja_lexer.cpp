#include "chat/jinja_lexer.h"

#include "chat/jinja_text.h"
#include "core/error.h"

#include <cctype>
#include <cstdint>
#include <cstring>
#include <limits>

namespace lw::jinja {

Source::Source(std::string_view text, std::string name) : name_(std::move(name)) {
    text_.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\r') {
            text_ += '\n';
            if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
        } else {
            text_ += text[i];
        }
    }
    if (!text_.empty() && text_.back() == '\n') text_.pop_back();
}

SourceLocation Source::locate(std::size_t offset) const {
    SourceLocation loc{1, 1};
    const std::size_t end = std::min(offset, text_.size());
    std::size_t line_start = 0;
    for (std::size_t i = 0; i < end; ++i)
        if (text_[i] == '\n') {
            ++loc.line;
            line_start = i + 1;
        }
    loc.column = static_cast<int>(code_point_count(std::string_view(text_).substr(line_start, end - line_start))) + 1;
    return loc;
}

std::string Source::where(std::size_t offset) const {
    const auto loc = locate(offset);
    return cat(name_, ":", loc.line, ":", loc.column);
}

namespace {

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_name_start(char c) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
}
bool is_name_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

// Length in bytes of the Python whitespace run starting at `pos`.
std::size_t python_space_run(std::string_view s, std::size_t pos) {
    std::size_t i = pos;
    while (i < s.size()) {
        if (is_space(s[i]) || (s[i] >= 0x1c && s[i] <= 0x1f)) {
            ++i;
            continue;
        }
        if (static_cast<unsigned char>(s[i]) < 0x80) break;
        // Decode one multi-byte code point to test it.
        std::size_t len = 1;
        while (i + len < s.size() && len < 4 && (static_cast<unsigned char>(s[i + len]) & 0xc0) == 0x80) ++len;
        const auto cps = to_code_points(s.substr(i, len));
        if (cps.size() != 1 || !is_python_space(cps[0])) break;
        i += len;
    }
    return i - pos;
}

bool all_python_space(std::string_view s) {
    return !s.empty() && python_space_run(s, 0) == s.size();
}

class Lexer {
public:
    explicit Lexer(const Source& source) : src_(source), s_(source.text()) {}

    std::vector<Token> run() {
        while (pos_ < s_.size()) lex_root();
        tokens_.push_back({Token::Kind::End, "", s_.size()});
        return std::move(tokens_);
    }

private:
    [[noreturn]] void error(std::size_t at, const std::string& message) const { fail(src_.where(at), ": ", message); }

    bool starts(std::size_t at, std::string_view what) const { return s_.compare(at, what.size(), what) == 0; }

    // Emits text, applying the '-' sign or lstrip_blocks of the tag that follows it.
    void emit_text(std::size_t begin, std::size_t end, char sign, bool lstrip_applies) {
        std::string_view text = std::string_view(s_).substr(begin, end - begin);
        if (sign == '-') {
            std::string_view rest = text;
            while (!rest.empty()) {
                // Trim trailing Python whitespace code point by code point.
                std::size_t last = rest.size() - 1;
                while (last > 0 && (static_cast<unsigned char>(rest[last]) & 0xc0) == 0x80) --last;
                if (python_space_run(rest, last) != rest.size() - last) break;
                rest = rest.substr(0, last);
            }
            text = rest;
        } else if (sign != '+' && lstrip_applies) {
            const auto nl = text.rfind('\n');
            const std::size_t line_start = nl == std::string_view::npos ? 0 : nl + 1;
            const bool line_starting = begin == 0 || s_[begin - 1] == '\n';
            if ((line_start > 0 || line_starting) && all_python_space(text.substr(line_start)))
                text = text.substr(0, line_start);
        }
        if (!text.empty()) tokens_.push_back({Token::Kind::Text, std::string(text), begin});
    }

    // Skips what follows a closing delimiter: whitespace after '-', a newline under trim_blocks.
    void after_end(char sign, bool trim_newline) {
        if (sign == '-')
            pos_ += python_space_run(s_, pos_);
        else if (sign != '+' && trim_newline && pos_ < s_.size() && s_[pos_] == '\n')
            ++pos_;
    }

    void lex_root() {
        std::size_t at = pos_;
        while (true) {
            at = s_.find('{', at);
            if (at == std::string::npos || at + 1 >= s_.size()) {
                emit_text(pos_, s_.size(), 0, false);
                pos_ = s_.size();
                return;
            }
            const char kind = s_[at + 1];
            if (kind == '{' || kind == '%' || kind == '#') break;
            ++at;
        }
        const char kind = s_[at + 1];
        const char sign = at + 2 < s_.size() && (s_[at + 2] == '-' || s_[at + 2] == '+') ? s_[at + 2] : 0;
        const std::size_t inner = at + 2 + (sign ? 1 : 0);
        if (kind == '%' && lex_raw(at, sign, inner)) return;
        emit_text(pos_, at, sign, kind != '{');
        pos_ = inner;
        if (kind == '#') return lex_comment(at);
        tokens_.push_back({kind == '{' ? Token::Kind::VariableBegin : Token::Kind::BlockBegin, "", at});
        lex_tag(kind == '{', at);
    }

    void lex_comment(std::size_t begin) {
        for (std::size_t i = pos_; i + 1 < s_.size(); ++i) {
            char sign = 0;
            if ((s_[i] == '-' || s_[i] == '+') && starts(i + 1, "#}"))
                sign = s_[i];
            else if (!starts(i, "#}"))
                continue;
            pos_ = i + (sign ? 3 : 2);
            after_end(sign, true);
            return;
        }
        error(begin, "missing end of comment tag '#}'");
    }

    // {% raw %}...{% endraw %}: returns false when the tag at `at` is not raw.
    bool lex_raw(std::size_t at, char sign, std::size_t inner) {
        std::size_t p = inner + python_space_run(s_, inner);
        if (!starts(p, "raw")) return false;
        p += 3;
        p += python_space_run(s_, p);
        std::size_t body;
        if (starts(p, "-%}"))
            body = p + 3 + python_space_run(s_, p + 3);
        else if (starts(p, "%}"))
            body = p + 2;
        else
            return false;
        emit_text(pos_, at, sign, true);
        for (std::size_t end = s_.find("{%", body); end != std::string::npos; end = s_.find("{%", end + 1)) {
            const char end_sign = end + 2 < s_.size() && (s_[end + 2] == '-' || s_[end + 2] == '+') ? s_[end + 2] : 0;
            std::size_t q = end + 2 + (end_sign ? 1 : 0);
            q += python_space_run(s_, q);
            if (!starts(q, "endraw")) continue;
            q += 6;
            q += python_space_run(s_, q);
            char close_sign = 0;
            if (starts(q, "+%}") || starts(q, "-%}"))
                close_sign = s_[q++];
            else if (!starts(q, "%}"))
                continue;
            emit_text(body, end, end_sign, true);
            pos_ = q + 2;
            after_end(close_sign, true);
            return true;
        }
        error(at, "missing end of raw directive '{% endraw %}'");
    }

    // Tokens inside {{ ... }} or {% ... %} up to the closing delimiter.
    void lex_tag(bool variable, std::size_t begin) {
        std::string brackets;
        while (true) {
            while (pos_ < s_.size() && is_space(s_[pos_])) ++pos_;
            if (pos_ >= s_.size())
                error(begin, variable ? "unexpected end of template, expected '}}'"
                                      : "unexpected end of template, expected '%}'");
            if (brackets.empty() && lex_tag_end(variable)) return;
            const char c = s_[pos_];
            if (is_digit(c))
                lex_number();
            else if (is_name_start(c))
                lex_name();
            else if (c == '\'' || c == '"')
                lex_string();
            else
                lex_operator(brackets);
        }
    }

    bool lex_tag_end(bool variable) {
        const std::string_view close = variable ? "}}" : "%}";
        char sign = 0;
        if (s_[pos_] == '-' && starts(pos_ + 1, close))
            sign = '-';
        else if (!variable && s_[pos_] == '+' && starts(pos_ + 1, close))
            sign = '+';
        else if (!starts(pos_, close))
            return false;
        tokens_.push_back({variable ? Token::Kind::VariableEnd : Token::Kind::BlockEnd, "", pos_});
        pos_ += close.size() + (sign ? 1 : 0);
        after_end(sign, !variable);
        return true;
    }

    void lex_number() {
        const std::size_t begin = pos_;
        std::string digits;
        const auto take_digits = [&] {
            const std::size_t start = pos_;
            while (pos_ < s_.size() && (is_digit(s_[pos_]) || (s_[pos_] == '_' && pos_ + 1 < s_.size() &&
                                                               is_digit(s_[pos_ + 1]) && pos_ > start))) {
                if (s_[pos_] != '_') digits += s_[pos_];
                ++pos_;
            }
        };
        if (s_[pos_] == '0' && pos_ + 1 < s_.size() && std::strchr("xXoObB", s_[pos_ + 1]) && s_[pos_ + 1] != 0) {
            const int base = std::tolower(s_[pos_ + 1]) == 'x' ? 16 : std::tolower(s_[pos_ + 1]) == 'o' ? 8 : 2;
            pos_ += 2;
            std::uint64_t v = 0;
            std::size_t n = 0;
            for (; pos_ < s_.size(); ++pos_) {
                const char c = static_cast<char>(std::tolower(s_[pos_]));
                if (c == '_') continue;
                const int d = is_digit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : 99;
                if (d >= base) break;
                if (v > (std::numeric_limits<std::uint64_t>::max() >> 4)) error(begin, "integer literal too large");
                v = v * static_cast<std::uint64_t>(base) + static_cast<std::uint64_t>(d);
                ++n;
            }
            if (n == 0 || v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
                error(begin, "invalid integer literal");
            tokens_.push_back({Token::Kind::Integer, std::to_string(v), begin});
            return;
        }
        take_digits();
        bool is_float = false;
        if (pos_ + 1 < s_.size() && s_[pos_] == '.' && is_digit(s_[pos_ + 1])) {
            is_float = true;
            digits += '.';
            ++pos_;
            take_digits();
        }
        if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
            std::size_t p = pos_ + 1;
            if (p < s_.size() && (s_[p] == '+' || s_[p] == '-')) ++p;
            if (p < s_.size() && is_digit(s_[p])) {
                is_float = true;
                digits += 'e';
                digits.append(s_, pos_ + 1, p - pos_ - 1);
                pos_ = p;
                take_digits();
            }
        }
        if (!is_float && digits.size() > 18 && digits > std::to_string(std::numeric_limits<std::int64_t>::max()))
            error(begin, "integer literal too large");
        if (!is_float && digits.size() > 19) error(begin, "integer literal too large");
        tokens_.push_back({is_float ? Token::Kind::Float : Token::Kind::Integer, digits, begin});
    }

    void lex_name() {
        const std::size_t begin = pos_;
        while (pos_ < s_.size() && is_name_char(s_[pos_])) ++pos_;
        tokens_.push_back({Token::Kind::Name, s_.substr(begin, pos_ - begin), begin});
    }

    static int hex_value(char c) {
        if (is_digit(c)) return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }

    // A quoted literal, decoded as Python's unicode-escape codec decodes it.
    void lex_string() {
        const std::size_t begin = pos_;
        const char quote = s_[pos_++];
        std::string out;
        while (true) {
            if (pos_ >= s_.size()) error(begin, "unterminated string literal");
            const char c = s_[pos_++];
            if (c == quote) break;
            if (c != '\\') {
                out += c;
                continue;
            }
            if (pos_ >= s_.size()) error(begin, "unterminated string literal");
            const char e = s_[pos_++];
            switch (e) {
                case '\n':
                    break;
                case '\\':
                    out += '\\';
                    break;
                case '\'':
                    out += '\'';
                    break;
                case '"':
                    out += '"';
                    break;
                case 'a':
                    out += '\a';
                    break;
                case 'b':
                    out += '\b';
                    break;
                case 'f':
                    out += '\f';
                    break;
                case 'n':
                    out += '\n';
                    break;
                case 'r':
                    out += '\r';
                    break;
                case 't':
                    out += '\t';
                    break;
                case 'v':
                    out += '\v';
                    break;
                case 'x':
                case 'u':
                case 'U': {
                    const int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                    char32_t cp = 0;
                    for (int k = 0; k < n; ++k) {
                        const int d = pos_ < s_.size() ? hex_value(s_[pos_]) : -1;
                        if (d < 0)
                            error(pos_ - 2 - static_cast<std::size_t>(k),
                                  cat("truncated \\", e, " escape in string literal"));
                        cp = cp * 16 + static_cast<char32_t>(d);
                        ++pos_;
                    }
                    if (cp > 0x10ffff) error(begin, "illegal Unicode character in string literal");
                    append_utf8(out, cp);
                    break;
                }
                default:
                    if (e >= '0' && e <= '7') {
                        char32_t cp = static_cast<char32_t>(e - '0');
                        for (int k = 0; k < 2 && pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '7'; ++k)
                            cp = cp * 8 + static_cast<char32_t>(s_[pos_++] - '0');
                        append_utf8(out, cp);
                    } else {
                        out += '\\';
                        out += e;
                    }
            }
        }
        tokens_.push_back({Token::Kind::String, std::move(out), begin});
    }

    void lex_operator(std::string& brackets) {
        static constexpr std::string_view kTwo[] = {"//", "**", "==", "!=", ">=", "<="};
        for (auto op : kTwo)
            if (starts(pos_, op)) {
                tokens_.push_back({Token::Kind::Operator, std::string(op), pos_});
                pos_ += 2;
                return;
            }
        const char c = s_[pos_];
        if (!std::strchr("+-/*%~[](){}><=.:|,;", c) || c == 0) {
            const auto cps = to_code_points(std::string_view(s_).substr(pos_, 4));
            std::string shown;
            append_utf8(shown, cps.empty() ? U'?' : cps[0]);
            error(pos_, cat("unexpected character '", shown, "'"));
        }
        if (c == '(' || c == '[' || c == '{') {
            brackets += c == '(' ? ')' : c == '[' ? ']' : '}';
        } else if (c == ')' || c == ']' || c == '}') {
            if (brackets.empty()) error(pos_, cat("unexpected '", c, "'"));
            if (brackets.back() != c) error(pos_, cat("unexpected '", c, "', expected '", brackets.back(), "'"));
            brackets.pop_back();
        }
        tokens_.push_back({Token::Kind::Operator, std::string(1, c), pos_});
        ++pos_;
    }

    const Source& src_;
    const std::string& s_;
    std::size_t pos_ = 0;
    std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(const Source& source) {
    return Lexer(source).run();
}

}  // namespace lw::jinja
