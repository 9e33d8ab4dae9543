#include "chat/jinja_value.h"

#include "chat/jinja_text.h"
#include "core/error.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace lw::jinja {

void runtime_error(const std::string& message) {
    throw RuntimeError(message);
}

void check_string_size(std::size_t bytes) {
    if (bytes > kMaxStringBytes)
        runtime_error(cat("string of ", bytes, " bytes exceeds the limit of ", kMaxStringBytes));
}

namespace {

int depth_of(const List& items) {
    int depth = 0;
    for (const auto& v : items) depth = std::max(depth, v.depth());
    if (depth + 1 > kMaxValueDepth) runtime_error(cat("values nested deeper than ", kMaxValueDepth, " levels"));
    return depth + 1;
}

int depth_of(const Dict& d) {
    int depth = 0;
    for (const auto& [k, v] : d.items) depth = std::max(depth, v.depth());
    if (depth + 1 > kMaxValueDepth) runtime_error(cat("values nested deeper than ", kMaxValueDepth, " levels"));
    return depth + 1;
}

}  // namespace

Value Value::undefined(std::string hint) {
    Value v;
    v.data_ = std::move(hint);
    return v;
}

Value Value::none() {
    Value v;
    v.kind_ = Kind::None;
    v.data_ = std::monostate{};
    return v;
}

Value::Value(bool b) : kind_(Kind::Bool), data_(b) {}
Value::Value(std::int64_t i) : kind_(Kind::Int), data_(i) {}
Value::Value(double f) : kind_(Kind::Float), data_(f) {}
Value::Value(std::string s) : kind_(Kind::String), data_(std::move(s)) {}

Value Value::markup(std::string s) {
    Value v(std::move(s));
    v.markup_ = true;
    return v;
}

std::string html_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&#34;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out += c;
        }
    }
    check_string_size(out.size());
    return out;
}

Value Value::list(List items) {
    Value v;
    v.kind_ = Kind::List;
    v.depth_ = depth_of(items);
    v.data_ = std::make_shared<const List>(std::move(items));
    return v;
}

Value Value::tuple(List items) {
    Value v = list(std::move(items));
    v.kind_ = Kind::Tuple;
    return v;
}

Value Value::dict(Dict d) {
    Value v;
    v.kind_ = Kind::Dict;
    v.depth_ = depth_of(d);
    v.data_ = std::make_shared<Dict>(std::move(d));
    return v;
}

Value Value::namespace_of(Dict d) {
    Value v = dict(std::move(d));
    v.kind_ = Kind::Namespace;
    return v;
}

Value Value::function(FunctionPtr f) {
    Value v;
    v.kind_ = Kind::Function;
    v.data_ = std::move(f);
    return v;
}

std::int64_t Value::as_int() const {
    if (kind_ == Kind::Bool) return as_bool() ? 1 : 0;
    return std::get<std::int64_t>(data_);
}

double Value::as_double() const {
    if (kind_ == Kind::Float) return std::get<double>(data_);
    return static_cast<double>(as_int());
}

std::string Value::type_name() const {
    switch (kind_) {
        case Kind::Undefined:
            return "Undefined";
        case Kind::None:
            return "NoneType";
        case Kind::Bool:
            return "bool";
        case Kind::Int:
            return "int";
        case Kind::Float:
            return "float";
        case Kind::String:
            return "str";
        case Kind::List:
            return "list";
        case Kind::Tuple:
            return "tuple";
        case Kind::Dict:
            return "dict";
        case Kind::Namespace:
            return "Namespace";
        case Kind::Function:
            return "function";
    }
    return "?";
}

void Value::require_defined() const {
    if (kind_ == Kind::Undefined)
        runtime_error(undefined_hint().empty() ? std::string("value is undefined") : undefined_hint());
}

bool Value::truthy() const {
    switch (kind_) {
        case Kind::Undefined:
        case Kind::None:
            return false;
        case Kind::Bool:
            return as_bool();
        case Kind::Int:
            return as_int() != 0;
        case Kind::Float:
            return as_double() != 0.0;
        case Kind::String:
            return !as_string().empty();
        case Kind::List:
        case Kind::Tuple:
            return !as_list().empty();
        case Kind::Dict:
            return !as_dict().items.empty();
        case Kind::Namespace:
        case Kind::Function:
            return true;
    }
    return false;
}

std::string python_float_repr(double d) {
    if (std::isnan(d)) return "nan";
    if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
    char buf[64];
    const auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
    const std::string sci(buf, res.ptr);  // shortest round trip: "-1.2345e+20"
    const auto e_at = sci.find('e');
    std::string mantissa = sci.substr(0, e_at);
    const int exponent = std::stoi(sci.substr(e_at + 1));
    std::string sign;
    if (mantissa[0] == '-') {
        sign = "-";
        mantissa.erase(0, 1);
    }
    std::string digits;
    for (char c : mantissa)
        if (c != '.') digits += c;
    std::string out = sign;
    if (exponent >= -5 + 1 && exponent < 16) {
        const int point = exponent + 1;  // digits before the decimal point
        if (point <= 0) {
            out += "0." + std::string(static_cast<std::size_t>(-point), '0') + digits;
        } else if (point >= static_cast<int>(digits.size())) {
            out += digits + std::string(static_cast<std::size_t>(point) - digits.size(), '0') + ".0";
        } else {
            out += digits.substr(0, static_cast<std::size_t>(point)) + "." +
                   digits.substr(static_cast<std::size_t>(point));
        }
        return out;
    }
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char exp[16];
    std::snprintf(exp, sizeof exp, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    return out + exp;
}

std::string python_string_repr(std::string_view s) {
    const bool has_single = s.find('\'') != std::string_view::npos;
    const bool has_double = s.find('"') != std::string_view::npos;
    const char quote = has_single && !has_double ? '"' : '\'';
    std::string out(1, quote);
    for (char32_t c : to_code_points(s)) {
        if (c == static_cast<char32_t>(quote) || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c < 0x20 || (c >= 0x7f && c <= 0xa0) || c == 0xad) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(c));
            out += buf;
        } else if (c == 0x2028 || c == 0x2029 || (c >= 0x200b && c <= 0x200f) || c == 0xfeff) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
            out += buf;
        } else {
            append_utf8(out, c);
        }
    }
    out += quote;
    return out;
}

std::string Value::str() const {
    switch (kind_) {
        case Kind::Undefined:
            return "";
        case Kind::String:
            return as_string();
        default:
            return repr();
    }
}

std::string Value::repr() const {
    switch (kind_) {
        case Kind::Undefined:
            return "Undefined";
        case Kind::None:
            return "None";
        case Kind::Bool:
            return as_bool() ? "True" : "False";
        case Kind::Int:
            return std::to_string(as_int());
        case Kind::Float:
            return python_float_repr(as_double());
        case Kind::String:
            return python_string_repr(as_string());
        case Kind::List:
        case Kind::Tuple: {
            const bool tuple = kind_ == Kind::Tuple;
            std::string out = tuple ? "(" : "[";
            const auto& items = as_list();
            for (std::size_t i = 0; i < items.size(); ++i) {
                if (i) out += ", ";
                out += items[i].repr();
                check_string_size(out.size());
            }
            if (tuple && items.size() == 1) out += ",";
            return out + (tuple ? ")" : "]");
        }
        case Kind::Dict:
        case Kind::Namespace: {
            std::string out = kind_ == Kind::Namespace ? "<Namespace {" : "{";
            bool first = true;
            for (const auto& [k, v] : as_dict().items) {
                if (!first) out += ", ";
                first = false;
                out += python_string_repr(k) + ": " + v.repr();
                check_string_size(out.size());
            }
            return out + (kind_ == Kind::Namespace ? "}>" : "}");
        }
        case Kind::Function:
            return "<function " + as_function().name + ">";
    }
    return "";
}

bool Value::equals(const Value& other) const {
    if (is_number() && other.is_number()) {
        if (kind_ == Kind::Float || other.kind_ == Kind::Float) return as_double() == other.as_double();
        return as_int() == other.as_int();
    }
    if (kind_ != other.kind_) return false;
    switch (kind_) {
        case Kind::Undefined:
        case Kind::None:
            return true;
        case Kind::String:
            return as_string() == other.as_string();
        case Kind::List:
        case Kind::Tuple: {
            const auto& a = as_list();
            const auto& b = other.as_list();
            if (a.size() != b.size()) return false;
            for (std::size_t i = 0; i < a.size(); ++i)
                if (!a[i].equals(b[i])) return false;
            return true;
        }
        case Kind::Dict: {
            const auto& a = as_dict().items;
            const auto& b = other.as_dict();
            if (a.size() != b.items.size()) return false;
            for (const auto& [k, v] : a) {
                const Value* w = b.find(k);
                if (!w || !v.equals(*w)) return false;
            }
            return true;
        }
        case Kind::Namespace:
            return std::get<DictPtr>(data_) == std::get<DictPtr>(other.data_);
        case Kind::Function:
            return std::get<FunctionPtr>(data_) == std::get<FunctionPtr>(other.data_);
        default:
            return false;
    }
}

bool Value::less(const Value& other) const {
    if (is_number() && other.is_number()) {
        if (kind_ == Kind::Float || other.kind_ == Kind::Float) return as_double() < other.as_double();
        return as_int() < other.as_int();
    }
    if (is_string() && other.is_string()) return as_string() < other.as_string();  // UTF-8 keeps code point order
    if (kind_ == other.kind_ && is_sequence()) {
        const auto& a = as_list();
        const auto& b = other.as_list();
        for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
            if (a[i].less(b[i])) return true;
            if (b[i].less(a[i])) return false;
        }
        return a.size() < b.size();
    }
    runtime_error(cat("'<' not supported between instances of '", type_name(), "' and '", other.type_name(), "'"));
}

const Value* Dict::find(std::string_view key) const {
    for (const auto& [k, v] : items)
        if (k == key) return &v;
    return nullptr;
}

void Dict::set(const std::string& key, Value value) {
    for (auto& [k, v] : items)
        if (k == key) {
            v = std::move(value);
            return;
        }
    items.emplace_back(key, std::move(value));
}

Value CallArgs::get(std::size_t index, std::string_view name, Value fallback) const {
    if (index < positional.size()) return positional[index];
    for (const auto& [k, v] : keyword)
        if (k == name) return v;
    return fallback;
}

void CallArgs::check(std::string_view callee, std::size_t max_positional,
                     std::initializer_list<std::string_view> names) const {
    if (positional.size() > max_positional)
        runtime_error(cat(callee, "() takes at most ", max_positional, " positional arguments but ", positional.size(),
                          " were given"));
    for (const auto& [k, v] : keyword)
        if (std::find(names.begin(), names.end(), k) == names.end())
            runtime_error(cat(callee, "() got an unexpected keyword argument '", k, "'"));
}

}  // namespace lw::jinja
