// Parses template tokens into statements, following jinja2's grammar and operator
// precedence for the subset chat templates use. Anything else fails at parse time.
#pragma once

#include "chat/jinja_ast.h"
#include "chat/jinja_lexer.h"

namespace lw::jinja {

// Nesting beyond this (blocks inside blocks, brackets inside brackets) is rejected
// so hostile templates cannot exhaust the stack.
inline constexpr int kMaxNestingDepth = 64;

// Throws lw::Error naming the source, line and column of the first problem.
Body parse(const Source& source);

}  // namespace lw::jinja
