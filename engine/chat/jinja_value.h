// The values a chat template computes with: a small Python-like variant (undefined,
// none, bool, int, float, str, list, tuple, dict, namespace, callable) with the
// Python semantics jinja2 inherits: truthiness, equality, ordering, str() and repr().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace lw::jinja {

// A runtime error without a location; the interpreter adds source, line and column.
class RuntimeError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

[[noreturn]] void runtime_error(const std::string& message);

// Bounds that keep hostile templates from exhausting memory or the stack.
inline constexpr std::size_t kMaxStringBytes = 32u << 20;
inline constexpr std::size_t kMaxListItems = 1u << 20;
inline constexpr int kMaxValueDepth = 200;

// Throws RuntimeError when a string of `bytes` would exceed kMaxStringBytes.
void check_string_size(std::size_t bytes);

class Value;
struct Dict;
struct Function;

using List = std::vector<Value>;
using ListPtr = std::shared_ptr<const List>;
using DictPtr = std::shared_ptr<Dict>;
using FunctionPtr = std::shared_ptr<const Function>;

class Value {
public:
    enum class Kind { Undefined, None, Bool, Int, Float, String, List, Tuple, Dict, Namespace, Function };

    Value() = default;  // undefined
    // `hint` is the error raised when the undefined value is used: "'x' is undefined".
    static Value undefined(std::string hint);
    static Value none();
    Value(bool b);
    Value(std::int64_t i);
    Value(int i) : Value(static_cast<std::int64_t>(i)) {}
    Value(double f);
    Value(std::string s);
    Value(const char* s) : Value(std::string(s)) {}
    static Value list(List items);
    static Value tuple(List items);
    static Value dict(Dict d);
    static Value namespace_of(Dict d);
    static Value function(FunctionPtr f);
    // A string marked safe (jinja2's Markup): `+` HTML-escapes plain strings joined to it.
    static Value markup(std::string s);

    Kind kind() const { return kind_; }
    bool is_undefined() const { return kind_ == Kind::Undefined; }
    bool is_none() const { return kind_ == Kind::None; }
    bool is_string() const { return kind_ == Kind::String; }
    bool is_markup() const { return markup_; }
    bool is_number() const { return kind_ == Kind::Int || kind_ == Kind::Float || kind_ == Kind::Bool; }
    bool is_sequence() const { return kind_ == Kind::List || kind_ == Kind::Tuple; }
    bool is_mapping() const { return kind_ == Kind::Dict || kind_ == Kind::Namespace; }

    bool as_bool() const { return std::get<bool>(data_); }
    std::int64_t as_int() const;  // Int or Bool
    double as_double() const;     // Int, Bool or Float
    const std::string& as_string() const { return std::get<std::string>(data_); }
    const List& as_list() const { return *std::get<ListPtr>(data_); }
    const Dict& as_dict() const { return *std::get<DictPtr>(data_); }
    Dict& namespace_dict() const { return *std::get<DictPtr>(data_); }
    const Function& as_function() const { return *std::get<FunctionPtr>(data_); }
    const std::string& undefined_hint() const { return std::get<std::string>(data_); }

    // Nesting depth of containers (0 for scalars); bounded by kMaxValueDepth.
    int depth() const { return depth_; }

    // Python's type name: "str", "int", "list", "dict", "NoneType", ...
    std::string type_name() const;

    bool truthy() const;
    // Python str(): what {{ value }} prints (undefined prints nothing).
    std::string str() const;
    // Python repr().
    std::string repr() const;
    // Python ==.
    bool equals(const Value& other) const;
    // Python <; throws RuntimeError for unorderable types.
    bool less(const Value& other) const;

    // Undefined values throw their hint when used as more than a placeholder.
    void require_defined() const;

private:
    Kind kind_ = Kind::Undefined;
    int depth_ = 0;
    bool markup_ = false;
    std::variant<std::monostate, bool, std::int64_t, double, std::string, ListPtr, DictPtr, FunctionPtr> data_ =
        std::string();
};

// An ordered mapping with string keys, as Python dicts keep insertion order.
struct Dict {
    std::vector<std::pair<std::string, Value>> items;

    const Value* find(std::string_view key) const;
    // Replaces the value of an existing key or appends a new one.
    void set(const std::string& key, Value value);
};

// Positional and keyword arguments of a call.
struct CallArgs {
    std::vector<Value> positional;
    std::vector<std::pair<std::string, Value>> keyword;

    // The argument at `index` or named `name`, or `fallback` if neither was given.
    Value get(std::size_t index, std::string_view name, Value fallback = Value()) const;
    // Throws when more than `max_positional` positional arguments or an unknown keyword is given.
    void check(std::string_view callee, std::size_t max_positional,
               std::initializer_list<std::string_view> names) const;
};

// Builtins, bound methods and macros.
struct Function {
    std::string name;
    std::function<Value(const CallArgs&)> call;
};

// Python float repr: 1.0, 0.0001, 1e-05, 1e+16, inf, nan.
std::string python_float_repr(double d);
// markupsafe.escape(): & < > " ' as HTML entities.
std::string html_escape(std::string_view s);
// Python repr of a str: 'it', "it's", with \n, \t, \\ and control characters escaped.
std::string python_string_repr(std::string_view s);

}  // namespace lw::jinja
