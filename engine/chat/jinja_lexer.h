// Splits a template into text and tag tokens the way jinja2's lexer does with
// transformers' settings: trim_blocks, lstrip_blocks, '-' and '+' whitespace
// control, comments, raw blocks, and no trailing newline kept.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace lw::jinja {

struct Token {
    enum class Kind {
        Text,
        VariableBegin,
        VariableEnd,
        BlockBegin,
        BlockEnd,
        Name,
        String,
        Integer,
        Float,
        Operator,
        End
    };
    Kind kind;
    std::string text;    // text data, name, operator, or the decoded string literal
    std::size_t offset;  // where the token starts in the normalised source
};

// Where an offset lies, for messages: 1-based line and column (in code points).
struct SourceLocation {
    int line;
    int column;
};

class Source {
public:
    // Normalises newlines (\r\n, \r -> \n) and drops one trailing newline, as jinja2 does.
    Source(std::string_view text, std::string name);
    const std::string& text() const { return text_; }
    const std::string& name() const { return name_; }
    SourceLocation locate(std::size_t offset) const;
    // "name:line:column"
    std::string where(std::size_t offset) const;

private:
    std::string text_;
    std::string name_;
};

// Throws lw::Error naming the source, line and column on malformed input.
std::vector<Token> tokenize(const Source& source);

}  // namespace lw::jinja
