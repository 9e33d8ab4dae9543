#include "chat/jinja_operators.h"

#include "chat/jinja_builtins.h"
#include "chat/jinja_text.h"
#include "core/error.h"

#include <cmath>
#include <limits>

namespace lw::jinja {

namespace {

[[noreturn]] void unsupported(const std::string& op, const Value& a, const Value& b) {
    runtime_error(cat("unsupported operand type(s) for ", op, ": '", a.type_name(), "' and '", b.type_name(), "'"));
}

void check_overflow(bool overflow) {
    if (overflow) runtime_error("integer overflow");
}

Value repeat(const Value& seq, std::int64_t times) {
    if (times <= 0)
        return seq.is_string()                    ? Value(std::string())
               : seq.kind() == Value::Kind::Tuple ? Value::tuple({})
                                                  : Value::list({});
    const auto n = static_cast<std::uint64_t>(times);
    if (seq.is_string()) {
        const auto& s = seq.as_string();
        if (!s.empty() && n > kMaxStringBytes / s.size()) check_string_size(kMaxStringBytes + 1);
        std::string out;
        out.reserve(s.size() * n);
        for (std::uint64_t i = 0; i < n; ++i) out += s;
        return seq.is_markup() ? Value::markup(std::move(out)) : Value(std::move(out));
    }
    const auto& items = seq.as_list();
    if (!items.empty() && n > kMaxListItems / items.size())
        runtime_error(cat("list of more than ", kMaxListItems, " items"));
    List out;
    for (std::uint64_t i = 0; i < n; ++i) out.insert(out.end(), items.begin(), items.end());
    return seq.kind() == Value::Kind::Tuple ? Value::tuple(std::move(out)) : Value::list(std::move(out));
}

Value arithmetic(const std::string& op, const Value& a, const Value& b) {
    const bool ints = a.kind() != Value::Kind::Float && b.kind() != Value::Kind::Float;
    if (ints) {
        const std::int64_t x = a.as_int(), y = b.as_int();
        std::int64_t r = 0;
        if (op == "+" || op == "-" || op == "*") {
            check_overflow(op == "+"   ? __builtin_add_overflow(x, y, &r)
                           : op == "-" ? __builtin_sub_overflow(x, y, &r)
                                       : __builtin_mul_overflow(x, y, &r));
            return Value(r);
        }
        if (op == "//" || op == "%") {
            if (y == 0) runtime_error("integer division or modulo by zero");
            if (x == std::numeric_limits<std::int64_t>::min() && y == -1) runtime_error("integer overflow");
            std::int64_t q = x / y, m = x % y;
            if (m != 0 && ((m < 0) != (y < 0))) {
                --q;
                m += y;
            }
            return Value(op == "//" ? q : m);
        }
        if (op == "**" && y >= 0) {
            std::int64_t result = 1, base = x;
            for (std::int64_t e = y; e > 0; e >>= 1) {
                if (e & 1) check_overflow(__builtin_mul_overflow(result, base, &result));
                if (e > 1) check_overflow(__builtin_mul_overflow(base, base, &base));
            }
            return Value(result);
        }
    }
    const double x = a.as_double(), y = b.as_double();
    if (op == "+") return Value(x + y);
    if (op == "-") return Value(x - y);
    if (op == "*") return Value(x * y);
    if (op == "/") {
        if (y == 0) runtime_error("division by zero");
        return Value(x / y);
    }
    if (op == "//" || op == "%") {
        if (y == 0) runtime_error("float division or modulo by zero");
        // CPython's float_divmod.
        double m = std::fmod(x, y);
        double div = (x - m) / y;
        if (m != 0 && ((y < 0) != (m < 0))) {
            m += y;
            div -= 1.0;
        }
        if (op == "%") return Value(m);
        if (div == 0) return Value(std::copysign(0.0, x / y));
        double floored = std::floor(div);
        if (div - floored > 0.5) floored += 1.0;
        return Value(floored);
    }
    if (op == "**") {
        if (x == 0 && y < 0) runtime_error("0.0 cannot be raised to a negative power");
        return Value(std::pow(x, y));
    }
    unsupported(op, a, b);
}

}  // namespace

Value binary_op(const std::string& op, const Value& a, const Value& b) {
    if (op == "~") {
        std::string s = a.str() + b.str();
        check_string_size(s.size());
        return Value(std::move(s));
    }
    a.require_defined();
    b.require_defined();
    if (a.is_number() && b.is_number()) return arithmetic(op, a, b);
    if (op == "+") {
        if (a.is_string() && b.is_string()) {
            check_string_size(a.as_string().size() + b.as_string().size());
            if (!a.is_markup() && !b.is_markup()) return Value(a.as_string() + b.as_string());
            // Markup + str escapes the plain side, as markupsafe does.
            const auto side = [](const Value& v) { return v.is_markup() ? v.as_string() : html_escape(v.as_string()); };
            return Value::markup(side(a) + side(b));
        }
        if (a.is_sequence() && a.kind() == b.kind()) {
            if (a.as_list().size() + b.as_list().size() > kMaxListItems)
                runtime_error(cat("list of more than ", kMaxListItems, " items"));
            List items = a.as_list();
            items.insert(items.end(), b.as_list().begin(), b.as_list().end());
            return a.kind() == Value::Kind::Tuple ? Value::tuple(std::move(items)) : Value::list(std::move(items));
        }
        if (a.is_string()) runtime_error(cat("can only concatenate str (not \"", b.type_name(), "\") to str"));
    }
    if (op == "*") {
        if ((a.is_string() || a.is_sequence()) && b.is_number() && b.kind() != Value::Kind::Float)
            return repeat(a, b.as_int());
        if ((b.is_string() || b.is_sequence()) && a.is_number() && a.kind() != Value::Kind::Float)
            return repeat(b, a.as_int());
    }
    unsupported(op, a, b);
}

Value negate(const Value& v) {
    v.require_defined();
    if (v.kind() == Value::Kind::Float) return Value(-v.as_double());
    if (v.is_number()) {
        if (v.as_int() == std::numeric_limits<std::int64_t>::min()) runtime_error("integer overflow");
        return Value(-v.as_int());
    }
    runtime_error(cat("bad operand type for unary -: '", v.type_name(), "'"));
}

bool contains(const Value& container, const Value& item) {
    switch (container.kind()) {
        case Value::Kind::Undefined:
            return false;
        case Value::Kind::String:
            if (!item.is_string())
                runtime_error(cat("'in <string>' requires string as left operand, not ", item.type_name()));
            return container.as_string().find(item.as_string()) != std::string::npos;
        case Value::Kind::List:
        case Value::Kind::Tuple:
            for (const auto& v : container.as_list())
                if (v.equals(item)) return true;
            return false;
        case Value::Kind::Dict:
        case Value::Kind::Namespace:
            return item.is_string() && container.as_dict().find(item.as_string()) != nullptr;
        default:
            runtime_error(cat("argument of type '", container.type_name(), "' is not iterable"));
    }
}

Value get_attribute(const Value& obj, const std::string& name) {
    obj.require_defined();
    if (obj.is_string() || obj.kind() == Value::Kind::Dict) {
        if (auto method = bound_method(obj, name); !method.is_undefined()) return method;
    }
    if (obj.is_mapping()) {
        if (const Value* v = obj.as_dict().find(name)) return *v;
    }
    return Value::undefined(cat("'", obj.type_name(), " object' has no attribute '", name, "'"));
}

Value get_item(const Value& obj, const Value& key) {
    obj.require_defined();
    if ((obj.is_sequence() || obj.is_string()) && key.is_number() && key.kind() != Value::Kind::Float) {
        const std::int64_t n = length(obj);
        std::int64_t i = key.as_int();
        if (i < 0) i += n;
        if (i < 0 || i >= n)
            return Value::undefined(cat("'", obj.type_name(), " object' has no element ", key.as_int()));
        if (obj.is_sequence()) return obj.as_list()[static_cast<std::size_t>(i)];
        std::string ch;
        append_utf8(ch, to_code_points(obj.as_string())[static_cast<std::size_t>(i)]);
        return Value(std::move(ch));
    }
    if (obj.is_mapping() && key.is_string()) {
        if (const Value* v = obj.as_dict().find(key.as_string())) return *v;
        return Value::undefined(cat("'", obj.type_name(), " object' has no attribute '", key.as_string(), "'"));
    }
    if (key.is_string()) return get_attribute(obj, key.as_string());
    return Value::undefined(cat("'", obj.type_name(), " object' has no element ", key.repr()));
}

Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step) {
    obj.require_defined();
    const auto bound = [](const Value& v, const char* what) -> std::optional<std::int64_t> {
        if (v.is_undefined() || v.is_none()) return std::nullopt;
        if (!v.is_number() || v.kind() == Value::Kind::Float)
            runtime_error(cat("slice ", what, " must be an integer or None, not ", v.type_name()));
        return v.as_int();
    };
    const std::int64_t s = bound(step, "step").value_or(1);
    if (s == 0) runtime_error("slice step cannot be zero");
    const bool is_string = obj.is_string();
    if (!is_string && !obj.is_sequence()) runtime_error(cat("'", obj.type_name(), "' object is not subscriptable"));
    const auto cps = is_string ? to_code_points(obj.as_string()) : std::vector<char32_t>();
    const std::int64_t n =
        is_string ? static_cast<std::int64_t>(cps.size()) : static_cast<std::int64_t>(obj.as_list().size());
    // Python's slice.indices().
    const auto clamp = [&](std::optional<std::int64_t> v, std::int64_t fallback) {
        if (!v) return fallback;
        std::int64_t i = *v;
        if (i < 0) i = std::max<std::int64_t>(i + n, s < 0 ? -1 : 0);
        return std::min(i, s < 0 ? n - 1 : n);
    };
    const std::int64_t first = clamp(bound(start, "start"), s < 0 ? n - 1 : 0);
    const std::int64_t last = clamp(bound(stop, "stop"), s < 0 ? -1 : n);
    std::vector<std::size_t> picked;
    for (std::int64_t i = first; s > 0 ? i < last : i > last; i += s) picked.push_back(static_cast<std::size_t>(i));
    if (is_string) {
        std::string out;
        for (auto i : picked) append_utf8(out, cps[i]);
        return Value(std::move(out));
    }
    List out;
    for (auto i : picked) out.push_back(obj.as_list()[i]);
    return obj.kind() == Value::Kind::Tuple ? Value::tuple(std::move(out)) : Value::list(std::move(out));
}

List iterate(const Value& v) {
    switch (v.kind()) {
        case Value::Kind::Undefined:
            return {};
        case Value::Kind::List:
        case Value::Kind::Tuple:
            return v.as_list();
        case Value::Kind::Dict: {
            List keys;
            for (const auto& [k, x] : v.as_dict().items) keys.emplace_back(k);
            return keys;
        }
        case Value::Kind::String: {
            List chars;
            for (char32_t c : to_code_points(v.as_string())) {
                std::string ch;
                append_utf8(ch, c);
                chars.emplace_back(std::move(ch));
            }
            return chars;
        }
        default:
            runtime_error(cat("'", v.type_name(), "' object is not iterable"));
    }
}

std::int64_t length(const Value& v) {
    switch (v.kind()) {
        case Value::Kind::Undefined:
            return 0;
        case Value::Kind::String:
            return static_cast<std::int64_t>(code_point_count(v.as_string()));
        case Value::Kind::List:
        case Value::Kind::Tuple:
            return static_cast<std::int64_t>(v.as_list().size());
        case Value::Kind::Dict:
            return static_cast<std::int64_t>(v.as_dict().items.size());
        default:
            runtime_error(cat("object of type '", v.type_name(), "' has no len()"));
    }
}

}  // namespace lw::jinja
