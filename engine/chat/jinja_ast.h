// The parsed form of a template: expressions and statements, each remembering
// where it started in the source so runtime errors can point at it.
#pragma once

#include "chat/jinja_value.h"

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace lw::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
    enum class Kind {
        Literal,    // value
        Name,       // name
        List,       // args
        Tuple,      // args
        Dict,       // args: key, value, key, value, ...
        Attribute,  // args[0].name
        Item,       // args[0][args[1]]
        Slice,      // args[0][args[1]:args[2]:args[3]] (null parts omitted)
        Call,       // args[0](args[1..], kwargs)
        Filter,     // args[0] | name(args[1..], kwargs)
        Test,       // args[0] is name(args[1..], kwargs)
        Unary,      // name is "-", "+" or "not"; args[0]
        Binary,     // args[0] name args[1]; name is an arithmetic operator, "~", "and" or "or"
        Compare,    // args[0] ops[0] args[1] ops[1] args[2] ...
        Condition,  // args[1] if args[0] else args[2] (args[2] null when there is no else)
    };
    Kind kind;
    std::size_t offset;
    Value value;
    std::string name;
    std::vector<ExprPtr> args;
    std::vector<std::pair<std::string, ExprPtr>> kwargs;
    std::vector<std::string> ops;
};

struct Stmt;
using Body = std::vector<std::unique_ptr<Stmt>>;

// A `for` or `set` target: one name, several names to unpack, or namespace.attribute.
struct Target {
    std::vector<std::string> names;
    bool unpack = false;
    std::string attribute;  // set ns.attribute = ...: names[0] is the namespace
};

struct Stmt {
    enum class Kind {
        Text,      // text
        Output,    // {{ expr }}
        If,        // branches: (condition, body) ...; else_body
        For,       // target in expr [if condition]: body [else else_body]
        Set,       // target = expr
        SetBlock,  // {% set target %}body{% endset %}
        Macro,     // name(params) body
        Break,
        Continue,
        Generation,  // transformers' {% generation %}: renders its body
    };
    Kind kind;
    std::size_t offset;
    std::string text;
    ExprPtr expr;
    ExprPtr condition;
    Target target;
    std::vector<std::pair<ExprPtr, Body>> branches;
    Body body;
    Body else_body;
    std::vector<std::pair<std::string, ExprPtr>> params;  // macro parameters and their defaults
};

}  // namespace lw::jinja
