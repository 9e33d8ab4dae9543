// Runs a parsed template: scopes as jinja2 has them (a for-loop iteration and a
// macro call get their own; if does not), the loop object, macros, namespaces,
// break/continue, and limits on work and output so hostile templates stop.
#pragma once

#include "chat/jinja_ast.h"
#include "chat/jinja_lexer.h"
#include "chat/jinja_value.h"

#include <chrono>
#include <string>

namespace lw::jinja {

// Loop iterations plus macro calls one render may perform.
inline constexpr std::size_t kMaxRenderSteps = 1u << 20;
inline constexpr int kMaxMacroDepth = 16;

// Renders `body` with the variables of `context`; throws lw::Error naming the source,
// line and column of the expression or statement that failed.
std::string render(const Source& source, const Body& body, const Dict& context,
                   std::chrono::system_clock::time_point now);

}  // namespace lw::jinja
