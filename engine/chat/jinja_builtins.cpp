#include "chat/jinja_builtins.h"

#include "chat/jinja_json.h"
#include "chat/jinja_operators.h"
#include "chat/jinja_text.h"
#include "core/error.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>

namespace lw::jinja {

namespace {

using FilterFn = Value (*)(const Value&, const CallArgs&);
using TestFn = bool (*)(const Value&, const CallArgs&);

bool is_int(const Value& v) {
    return v.kind() == Value::Kind::Int || v.kind() == Value::Kind::Bool;
}

std::int64_t int_arg(const Value& v, std::string_view what) {
    if (!is_int(v)) runtime_error(cat(what, " must be an integer, not ", v.type_name()));
    return v.as_int();
}

std::string string_arg(const Value& v, std::string_view what) {
    if (!v.is_string()) runtime_error(cat(what, " must be a string, not ", v.type_name()));
    return v.as_string();
}

std::optional<std::string> optional_string_arg(const Value& v, std::string_view what) {
    if (v.is_undefined() || v.is_none()) return std::nullopt;
    return string_arg(v, what);
}

// Python int(str, base) for bases 2..36, with an optional 0x/0o/0b prefix matching the base.
std::optional<std::int64_t> parse_int(const std::string& text, std::int64_t base) {
    std::string s = strip(text, StripSide::Both);
    if (s.empty() || base < 2 || base > 36) return std::nullopt;
    bool negative = false;
    std::size_t i = 0;
    if (s[0] == '+' || s[0] == '-') {
        negative = s[0] == '-';
        ++i;
    }
    if (i + 1 < s.size() && s[i] == '0') {
        const char prefix = static_cast<char>(std::tolower(static_cast<unsigned char>(s[i + 1])));
        if ((prefix == 'x' && base == 16) || (prefix == 'o' && base == 8) || (prefix == 'b' && base == 2)) i += 2;
    }
    if (i >= s.size()) return std::nullopt;
    std::int64_t v = 0;
    bool previous_digit = false;
    for (; i < s.size(); ++i) {
        const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(s[i])));
        if (c == '_' && previous_digit && i + 1 < s.size()) {
            previous_digit = false;
            continue;
        }
        const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'z' ? c - 'a' + 10 : 99;
        if (d >= base) return std::nullopt;
        if (__builtin_mul_overflow(v, base, &v) || __builtin_add_overflow(v, d, &v)) return std::nullopt;
        previous_digit = true;
    }
    if (!previous_digit) return std::nullopt;
    return negative ? -v : v;
}

std::optional<double> parse_float(const std::string& text) {
    std::string s = strip(text, StripSide::Both);
    std::string lowered = to_lower(s);
    const std::string unsigned_part =
        !lowered.empty() && (lowered[0] == '+' || lowered[0] == '-') ? lowered.substr(1) : lowered;
    const double sign = !lowered.empty() && lowered[0] == '-' ? -1.0 : 1.0;
    if (unsigned_part == "inf" || unsigned_part == "infinity") return sign * HUGE_VAL;
    if (unsigned_part == "nan") return std::nan("");
    if (s.empty() || s.find_first_not_of("0123456789+-.eE_") != std::string::npos) return std::nullopt;
    std::string digits;
    for (char c : s)
        if (c != '_') digits += c;
    char* end = nullptr;
    const double d = std::strtod(digits.c_str(), &end);
    if (end != digits.c_str() + digits.size()) return std::nullopt;
    return d;
}

// make_attrgetter: "a.b.0" looks up a, then b, then index 0.
Value lookup_path(const Value& item, const Value& path) {
    if (is_int(path)) return get_item(item, path);
    Value v = item;
    for (const auto& part : split(string_arg(path, "attribute"), std::string("."), -1)) {
        const auto index = parse_int(part, 10);
        v = index && !part.empty() && std::isdigit(static_cast<unsigned char>(part[0])) ? get_item(v, Value(*index))
                                                                                        : get_item(v, Value(part));
    }
    return v;
}

// The sort key of jinja2's sort, unique, min and max: strings fold case unless asked not to.
Value sort_key(const Value& item, const Value& attribute, bool case_sensitive) {
    Value key = attribute.is_undefined() || attribute.is_none() ? item : lookup_path(item, attribute);
    if (!case_sensitive && key.is_string()) return Value(to_lower(key.as_string()));
    return key;
}

CallArgs shifted(const CallArgs& args, std::size_t drop) {
    CallArgs rest;
    rest.positional.assign(
        args.positional.begin() + static_cast<std::ptrdiff_t>(std::min(drop, args.positional.size())),
        args.positional.end());
    rest.keyword = args.keyword;
    return rest;
}

// select/reject/selectattr/rejectattr.
Value select(const Value& value, const CallArgs& args, bool with_attribute, bool keep) {
    const Value attribute = with_attribute ? args.get(0, "") : Value();
    const std::size_t test_at = with_attribute ? 1 : 0;
    if (with_attribute && attribute.is_undefined()) runtime_error("selectattr()/rejectattr() need an attribute name");
    const bool has_test = args.positional.size() > test_at;
    const std::string test = has_test ? string_arg(args.positional[test_at], "test name") : std::string();
    if (has_test && !is_test(test)) runtime_error(cat("no test named '", test, "'"));
    const CallArgs test_args = shifted(args, test_at + 1);
    List out;
    if (!value.truthy()) return Value::list({});  // jinja2 skips falsy inputs such as none
    for (const auto& item : iterate(value)) {
        const Value subject = with_attribute ? lookup_path(item, attribute) : item;
        const bool passed = has_test ? apply_test(test, subject, test_args) : subject.truthy();
        if (passed == keep) out.push_back(item);
    }
    return Value::list(std::move(out));
}

std::string indent_text(const std::string& text, const Value& width, bool first, bool blank) {
    std::string pad;
    if (width.is_string()) {
        pad = width.as_string();
    } else {
        const std::int64_t n = int_arg(width, "indent width");
        if (n > 0) {
            check_string_size(static_cast<std::size_t>(n));
            pad.assign(static_cast<std::size_t>(n), ' ');
        }
    }
    // str.splitlines() boundaries.
    std::vector<std::string> lines;
    std::string line;
    const auto cps = to_code_points(text + "\n");
    for (std::size_t i = 0; i < cps.size(); ++i) {
        const char32_t c = cps[i];
        if (c == '\n' || c == '\r' || c == 0x0b || c == 0x0c || (c >= 0x1c && c <= 0x1e) || c == 0x85 || c == 0x2028 ||
            c == 0x2029) {
            if (c == '\r' && i + 1 < cps.size() && cps[i + 1] == '\n') ++i;
            lines.push_back(std::move(line));
            line.clear();
        } else {
            append_utf8(line, c);
        }
    }
    if (!line.empty()) lines.push_back(std::move(line));
    check_string_size(text.size() + pad.size() * (lines.size() + 1));
    std::string out;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        if (i) out += '\n';
        if (i && (blank || !lines[i].empty())) out += pad;
        out += lines[i];
    }
    return first ? pad + out : out;
}

Value round_filter(const Value& value, const CallArgs& args) {
    args.check("round", 2, {"precision", "method"});
    const std::int64_t precision = int_arg(args.get(0, "precision", Value(0)), "round precision");
    const std::string method = string_arg(args.get(1, "method", Value("common")), "round method");
    if (!value.is_number()) runtime_error(cat("round needs a number, not ", value.type_name()));
    if (precision < -308 || precision > 308) runtime_error("round precision out of range");
    const double x = value.as_double();
    if (method == "common") {
        if (is_int(value) && precision >= 0) return Value(value.as_int());  // round(int, n) stays an int
        if (precision == 0) return Value(std::nearbyint(x));
        if (precision > 0) {
            char buf[512];
            std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(precision), x);
            return Value(std::strtod(buf, nullptr));
        }
        const double scale = std::pow(10.0, static_cast<double>(-precision));
        const double rounded = std::nearbyint(x / scale) * scale;
        if (is_int(value)) return Value(static_cast<std::int64_t>(rounded));
        return Value(rounded);
    }
    const double scale = std::pow(10.0, static_cast<double>(precision));
    if (method == "ceil") return Value(std::ceil(x * scale) / scale);
    if (method == "floor") return Value(std::floor(x * scale) / scale);
    runtime_error("round method must be 'common', 'ceil' or 'floor'");
}

Value int_filter(const Value& value, const CallArgs& args) {
    args.check("int", 2, {"default", "base"});
    const Value fallback = args.get(0, "default", Value(0));
    const std::int64_t base = int_arg(args.get(1, "base", Value(10)), "int base");
    if (is_int(value)) return Value(value.as_int());
    if (value.kind() == Value::Kind::Float) {
        const double d = value.as_double();
        if (!std::isfinite(d) || std::fabs(d) >= 9.2e18)
            runtime_error(cat("cannot convert float ", value.repr(), " to integer"));
        return Value(static_cast<std::int64_t>(d));
    }
    if (value.is_string()) {
        if (auto i = parse_int(value.as_string(), base)) return Value(*i);
        if (auto d = parse_float(value.as_string()); d && std::isfinite(*d) && std::fabs(*d) < 9.2e18)
            return Value(static_cast<std::int64_t>(*d));
    }
    return fallback;
}

Value float_filter(const Value& value, const CallArgs& args) {
    args.check("float", 1, {"default"});
    if (value.is_number()) return Value(value.as_double());
    if (value.is_string())
        if (auto d = parse_float(value.as_string())) return Value(*d);
    return args.get(0, "default", Value(0.0));
}

Value tojson_filter(const Value& value, const CallArgs& args) {
    args.check("tojson", 4, {"ensure_ascii", "indent", "separators", "sort_keys"});
    JsonOptions options;
    options.ensure_ascii = args.get(0, "ensure_ascii", Value(false)).truthy();
    const Value indent = args.get(1, "indent", Value::none());
    if (indent.is_string()) {
        options.indent = indent.as_string();
    } else if (!indent.is_none() && !indent.is_undefined()) {
        const std::int64_t n = int_arg(indent, "tojson indent");
        check_string_size(static_cast<std::size_t>(std::max<std::int64_t>(n, 0)));
        options.indent = std::string(static_cast<std::size_t>(std::max<std::int64_t>(n, 0)), ' ');
    }
    const Value separators = args.get(2, "separators", Value::none());
    if (!separators.is_none() && !separators.is_undefined()) {
        if (!separators.is_sequence() || separators.as_list().size() != 2)
            runtime_error("tojson separators must be a pair of strings");
        options.item_separator = string_arg(separators.as_list()[0], "tojson item separator");
        options.key_separator = string_arg(separators.as_list()[1], "tojson key separator");
        if (options.item_separator.empty()) options.item_separator = std::string();
    }
    options.sort_keys = args.get(3, "sort_keys", Value(false)).truthy();
    return Value(to_json(value, options));
}

Value sort_filter(const Value& value, const CallArgs& args) {
    args.check("sort", 3, {"reverse", "case_sensitive", "attribute"});
    const bool reverse = args.get(0, "reverse", Value(false)).truthy();
    const bool case_sensitive = args.get(1, "case_sensitive", Value(false)).truthy();
    const Value attribute = args.get(2, "attribute");
    List items = iterate(value);
    std::vector<std::pair<Value, Value>> keyed;
    for (auto& item : items) keyed.emplace_back(sort_key(item, attribute, case_sensitive), item);
    std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
        return reverse ? b.first.less(a.first) : a.first.less(b.first);
    });
    List out;
    for (auto& [k, v] : keyed) out.push_back(v);
    return Value::list(std::move(out));
}

Value unique_filter(const Value& value, const CallArgs& args) {
    args.check("unique", 2, {"case_sensitive", "attribute"});
    const bool case_sensitive = args.get(0, "case_sensitive", Value(false)).truthy();
    const Value attribute = args.get(1, "attribute");
    List out, seen;
    for (const auto& item : iterate(value)) {
        Value key = sort_key(item, attribute, case_sensitive);
        if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return s.equals(key); })) continue;
        seen.push_back(std::move(key));
        out.push_back(item);
    }
    return Value::list(std::move(out));
}

Value extreme(const Value& value, const CallArgs& args, bool want_max) {
    args.check(want_max ? "max" : "min", 2, {"case_sensitive", "attribute"});
    const bool case_sensitive = args.get(0, "case_sensitive", Value(false)).truthy();
    const Value attribute = args.get(1, "attribute");
    const List items = iterate(value);
    if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
    std::size_t best = 0;
    Value best_key = sort_key(items[0], attribute, case_sensitive);
    for (std::size_t i = 1; i < items.size(); ++i) {
        Value key = sort_key(items[i], attribute, case_sensitive);
        if (want_max ? best_key.less(key) : key.less(best_key)) {
            best = i;
            best_key = std::move(key);
        }
    }
    return items[best];
}

Value map_filter(const Value& value, const CallArgs& args) {
    List out;
    if (!value.truthy()) return Value::list({});  // jinja2 skips falsy inputs such as none
    if (args.positional.empty()) {
        args.check("map", 0, {"attribute", "default"});
        const Value attribute = args.get(0, "attribute");
        if (attribute.is_undefined()) runtime_error("map() needs a filter name or attribute=");
        const Value fallback = args.get(1, "default");
        for (const auto& item : iterate(value)) {
            Value v = lookup_path(item, attribute);
            out.push_back(v.is_undefined() && !fallback.is_undefined() ? fallback : v);
        }
        return Value::list(std::move(out));
    }
    const std::string filter = string_arg(args.positional[0], "map filter name");
    if (!is_filter(filter)) runtime_error(cat("no filter named '", filter, "'"));
    const CallArgs rest = shifted(args, 1);
    for (const auto& item : iterate(value)) out.push_back(apply_filter(filter, item, rest));
    return Value::list(std::move(out));
}

Value items_of(const Value& value) {
    if (value.is_undefined()) return Value::list({});
    if (value.kind() != Value::Kind::Dict)
        runtime_error(cat("can only get item pairs from a mapping, not ", value.type_name()));
    List out;
    for (const auto& [k, v] : value.as_dict().items) out.push_back(Value::tuple({Value(k), v}));
    return Value::list(std::move(out));
}

Value join_filter(const Value& value, const CallArgs& args) {
    args.check("join", 2, {"d", "attribute"});
    const std::string sep = args.get(0, "d", Value("")).str();
    const Value attribute = args.get(1, "attribute");
    std::string out;
    bool first = true;
    for (const auto& item : iterate(value)) {
        if (!first) out += sep;
        first = false;
        out += (attribute.is_undefined() ? item : lookup_path(item, attribute)).str();
        check_string_size(out.size());
    }
    return Value(std::move(out));
}

const std::map<std::string_view, FilterFn>& filters() {
    static const std::map<std::string_view, FilterFn> table = {
        {"abs",
         [](const Value& v, const CallArgs&) {
             if (!v.is_number()) runtime_error(cat("bad operand type for abs(): '", v.type_name(), "'"));
             if (v.kind() == Value::Kind::Float) return Value(std::fabs(v.as_double()));
             return v.as_int() < 0 ? negate(v) : Value(v.as_int());
         }},
        {"capitalize", [](const Value& v, const CallArgs&) { return Value(capitalize(v.str())); }},
        {"count", [](const Value& v, const CallArgs&) { return Value(length(v)); }},
        {"default",
         [](const Value& v, const CallArgs& a) {
             a.check("default", 2, {"default_value", "boolean"});
             const bool boolean = a.get(1, "boolean", Value(false)).truthy();
             return v.is_undefined() || (boolean && !v.truthy()) ? a.get(0, "default_value", Value("")) : v;
         }},
        {"dictsort",
         [](const Value& v, const CallArgs& a) {
             a.check("dictsort", 3, {"case_sensitive", "by", "reverse"});
             const bool case_sensitive = a.get(0, "case_sensitive", Value(false)).truthy();
             const std::string by = string_arg(a.get(1, "by", Value("key")), "dictsort by");
             const bool reverse = a.get(2, "reverse", Value(false)).truthy();
             if (by != "key" && by != "value") runtime_error("dictsort by must be 'key' or 'value'");
             List pairs = items_of(v).as_list();
             const std::size_t at = by == "key" ? 0 : 1;
             std::stable_sort(pairs.begin(), pairs.end(), [&](const Value& x, const Value& y) {
                 const Value kx = sort_key(x.as_list()[at], Value(), case_sensitive);
                 const Value ky = sort_key(y.as_list()[at], Value(), case_sensitive);
                 return reverse ? ky.less(kx) : kx.less(ky);
             });
             return Value::list(std::move(pairs));
         }},
        {"escape",
         [](const Value& v, const CallArgs&) { return v.is_markup() ? v : Value::markup(html_escape(v.str())); }},
        {"first",
         [](const Value& v, const CallArgs&) {
             const List items = iterate(v);
             return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
         }},
        {"float", float_filter},
        {"indent",
         [](const Value& v, const CallArgs& a) {
             a.check("indent", 3, {"width", "first", "blank"});
             return Value(indent_text(v.str(), a.get(0, "width", Value(4)), a.get(1, "first", Value(false)).truthy(),
                                      a.get(2, "blank", Value(false)).truthy()));
         }},
        {"int", int_filter},
        {"items", [](const Value& v, const CallArgs&) { return items_of(v); }},
        {"join", join_filter},
        {"last",
         [](const Value& v, const CallArgs&) {
             const List items = iterate(v);
             return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
         }},
        {"length", [](const Value& v, const CallArgs&) { return Value(length(v)); }},
        {"list", [](const Value& v, const CallArgs&) { return Value::list(iterate(v)); }},
        {"lower", [](const Value& v, const CallArgs&) { return Value(to_lower(v.str())); }},
        {"map", map_filter},
        {"max", [](const Value& v, const CallArgs& a) { return extreme(v, a, true); }},
        {"min", [](const Value& v, const CallArgs& a) { return extreme(v, a, false); }},
        {"reject", [](const Value& v, const CallArgs& a) { return select(v, a, false, false); }},
        {"rejectattr", [](const Value& v, const CallArgs& a) { return select(v, a, true, false); }},
        {"replace",
         [](const Value& v, const CallArgs& a) {
             a.check("replace", 3, {"old", "new", "count"});
             const Value count = a.get(2, "count", Value::none());
             return Value(replace(v.str(), a.get(0, "old").str(), a.get(1, "new").str(),
                                  count.is_none() ? -1 : int_arg(count, "replace count")));
         }},
        {"reverse",
         [](const Value& v, const CallArgs&) {
             if (v.is_string()) {
                 auto cps = to_code_points(v.as_string());
                 std::reverse(cps.begin(), cps.end());
                 return Value(from_code_points(cps));
             }
             List items = iterate(v);
             std::reverse(items.begin(), items.end());
             return Value::list(std::move(items));
         }},
        {"round", round_filter},
        {"safe", [](const Value& v, const CallArgs&) { return Value::markup(v.str()); }},
        {"select", [](const Value& v, const CallArgs& a) { return select(v, a, false, true); }},
        {"selectattr", [](const Value& v, const CallArgs& a) { return select(v, a, true, true); }},
        {"sort", sort_filter},
        {"string", [](const Value& v, const CallArgs&) { return Value(v.str()); }},
        {"sum",
         [](const Value& v, const CallArgs& a) {
             a.check("sum", 2, {"attribute", "start"});
             const Value attribute = a.get(0, "attribute");
             Value total = a.get(1, "start", Value(0));
             for (const auto& item : iterate(v))
                 total = binary_op("+", total, attribute.is_undefined() ? item : lookup_path(item, attribute));
             return total;
         }},
        {"title", [](const Value& v, const CallArgs&) { return Value(jinja_title(v.str())); }},
        {"tojson", tojson_filter},
        {"trim",
         [](const Value& v, const CallArgs& a) {
             a.check("trim", 1, {"chars"});
             return Value(strip(v.str(), StripSide::Both, optional_string_arg(a.get(0, "chars"), "trim chars")));
         }},
        {"unique", unique_filter},
        {"upper", [](const Value& v, const CallArgs&) { return Value(to_upper(v.str())); }},
    };
    return table;
}

const std::map<std::string_view, std::string_view>& filter_aliases() {
    static const std::map<std::string_view, std::string_view> aliases = {{"d", "default"}, {"e", "escape"}};
    return aliases;
}

bool compare_test(const Value& v, const CallArgs& a, const char* op) {
    const Value other = a.get(0, "other");
    const std::string_view o = op;
    if (o == "==") return v.equals(other);
    if (o == "!=") return !v.equals(other);
    v.require_defined();
    other.require_defined();
    if (o == "<") return v.less(other);
    if (o == "<=") return !other.less(v);
    if (o == ">") return other.less(v);
    return !v.less(other);
}

std::int64_t number_for_test(const Value& v, std::string_view test) {
    if (!is_int(v)) runtime_error(cat("test '", test, "' needs an integer, not ", v.type_name()));
    return v.as_int();
}

const std::map<std::string_view, TestFn>& tests() {
    static const std::map<std::string_view, TestFn> table = {
        {"boolean", [](const Value& v, const CallArgs&) { return v.kind() == Value::Kind::Bool; }},
        {"callable", [](const Value& v, const CallArgs&) { return v.kind() == Value::Kind::Function; }},
        {"defined", [](const Value& v, const CallArgs&) { return !v.is_undefined(); }},
        {"divisibleby",
         [](const Value& v, const CallArgs& a) {
             const std::int64_t d = number_for_test(a.get(0, "num"), "divisibleby");
             if (d == 0) runtime_error("divisibleby 0");
             return binary_op("%", v, Value(d)).as_double() == 0;
         }},
        {"eq", [](const Value& v, const CallArgs& a) { return compare_test(v, a, "=="); }},
        {"equalto", [](const Value& v, const CallArgs& a) { return compare_test(v, a, "=="); }},
        {"even", [](const Value& v, const CallArgs&) { return number_for_test(v, "even") % 2 == 0; }},
        {"false", [](const Value& v, const CallArgs&) { return v.kind() == Value::Kind::Bool && !v.as_bool(); }},
        {"float", [](const Value& v, const CallArgs&) { return v.kind() == Value::Kind::Float; }},
        {"ge", [](const Value& v, const CallArgs& a) { return compare_test(v, a, ">="); }},
        {"gt", [](const Value& v, const CallArgs& a) { return compare_test(v, a, ">"); }},
        {"greaterthan", [](const Value& v, const CallArgs& a) { return compare_test(v, a, ">"); }},
        {"in", [](const Value& v, const CallArgs& a) { return contains(a.get(0, "seq"), v); }},
        {"integer", [](const Value& v, const CallArgs&) { return v.kind() == Value::Kind::Int; }},
        {"iterable",
         [](const Value& v, const CallArgs&) {
             return v.is_undefined() || v.is_string() || v.is_sequence() || v.kind() == Value::Kind::Dict;
         }},
        {"le", [](const Value& v, const CallArgs& a) { return compare_test(v, a, "<="); }},
        {"lessthan", [](const Value& v, const CallArgs& a) { return compare_test(v, a, "<"); }},
        {"lower",
         [](const Value& v, const CallArgs&) {
             const std::string s = v.str();
             return to_lower(s) == s && to_upper(s) != s;
         }},
        {"lt", [](const Value& v, const CallArgs& a) { return compare_test(v, a, "<"); }},
        {"mapping", [](const Value& v, const CallArgs&) { return v.kind() == Value::Kind::Dict; }},
        {"ne", [](const Value& v, const CallArgs& a) { return compare_test(v, a, "!="); }},
        {"none", [](const Value& v, const CallArgs&) { return v.is_none(); }},
        {"number", [](const Value& v, const CallArgs&) { return v.is_number(); }},
        {"odd", [](const Value& v, const CallArgs&) { return number_for_test(v, "odd") % 2 != 0; }},
        {"sequence",
         [](const Value& v, const CallArgs&) {
             return v.is_undefined() || v.is_string() || v.is_sequence() || v.kind() == Value::Kind::Dict;
         }},
        {"string", [](const Value& v, const CallArgs&) { return v.is_string(); }},
        {"true", [](const Value& v, const CallArgs&) { return v.kind() == Value::Kind::Bool && v.as_bool(); }},
        {"undefined", [](const Value& v, const CallArgs&) { return v.is_undefined(); }},
        {"upper",
         [](const Value& v, const CallArgs&) {
             const std::string s = v.str();
             return to_upper(s) == s && to_lower(s) != s;
         }},
    };
    return table;
}

const std::map<std::string_view, std::string_view>& test_aliases() {
    static const std::map<std::string_view, std::string_view> aliases = {{"==", "eq"}, {"!=", "ne"}, {"<", "lt"},
                                                                         {"<=", "le"}, {">", "gt"},  {">=", "ge"}};
    return aliases;
}

std::string_view canonical(std::string_view name, const std::map<std::string_view, std::string_view>& aliases) {
    const auto it = aliases.find(name);
    return it == aliases.end() ? name : it->second;
}

Value make_function(std::string name, std::function<Value(const CallArgs&)> fn) {
    return Value::function(std::make_shared<const Function>(Function{std::move(name), std::move(fn)}));
}

// Python's str.find/count over code points.
std::int64_t code_point_index(const std::string& s, std::size_t byte_offset) {
    return static_cast<std::int64_t>(code_point_count(std::string_view(s).substr(0, byte_offset)));
}

bool affix_matches(const std::string& s, const Value& affix, bool prefix) {
    const auto one = [&](const Value& a) {
        const std::string x = string_arg(a, prefix ? "startswith argument" : "endswith argument");
        return prefix ? s.starts_with(x) : s.ends_with(x);
    };
    if (affix.kind() == Value::Kind::Tuple) {
        for (const auto& a : affix.as_list())
            if (one(a)) return true;
        return false;
    }
    return one(affix);
}

// str.format() with "{}", "{0}" and "{name}" fields and "{{"/"}}" escapes; format specs
// and conversions are refused.
std::string python_format(const std::string& s, const CallArgs& a) {
    std::string out;
    std::int64_t next_auto = 0;
    bool manual = false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if ((c == '{' || c == '}') && i + 1 < s.size() && s[i + 1] == c) {
            out += c;
            ++i;
            continue;
        }
        if (c == '}') runtime_error("single '}' encountered in format string");
        if (c != '{') {
            out += c;
            continue;
        }
        const auto close = s.find('}', i);
        if (close == std::string::npos) runtime_error("single '{' encountered in format string");
        const std::string field = s.substr(i + 1, close - i - 1);
        if (field.find_first_of(":!.[{") != std::string::npos)
            runtime_error(cat("format field '{", field, "}' is not supported (only {}, {0} and {name})"));
        Value v;
        if (field.empty() || std::isdigit(static_cast<unsigned char>(field[0]))) {
            if ((field.empty() && manual) || (!field.empty() && next_auto > 0))
                runtime_error("cannot mix automatic and manual field numbering in format string");
            manual = manual || !field.empty();
            const auto index = field.empty() ? std::optional<std::int64_t>(next_auto++) : parse_int(field, 10);
            if (!index || *index < 0 || static_cast<std::size_t>(*index) >= a.positional.size())
                runtime_error(cat("format field '{", field, "}' has no matching argument"));
            v = a.positional[static_cast<std::size_t>(*index)];
        } else {
            v = a.get(a.positional.size(), field);
            if (v.is_undefined()) runtime_error(cat("format field '{", field, "}' has no matching argument"));
        }
        out += v.str();
        check_string_size(out.size());
        i = close;
    }
    return out;
}

Value string_method(const std::string& s, const std::string& name, const CallArgs& a) {
    const auto side = name == "lstrip" ? StripSide::Left : name == "rstrip" ? StripSide::Right : StripSide::Both;
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
        a.check(name, 1, {"chars"});
        return Value(strip(s, side, optional_string_arg(a.get(0, "chars"), "chars")));
    }
    if (name == "split") {
        a.check(name, 2, {"sep", "maxsplit"});
        List parts;
        for (auto& p : split(s, optional_string_arg(a.get(0, "sep"), "sep"),
                             int_arg(a.get(1, "maxsplit", Value(-1)), "maxsplit")))
            parts.emplace_back(std::move(p));
        return Value::list(std::move(parts));
    }
    if (name == "startswith" || name == "endswith") {
        a.check(name, 1, {});
        return Value(affix_matches(s, a.get(0, ""), name == "startswith"));
    }
    if (name == "format") return Value(python_format(s, a));
    if (name == "upper") return Value(to_upper(s));
    if (name == "lower") return Value(to_lower(s));
    if (name == "title") return Value(python_title(s));
    if (name == "capitalize") return Value(capitalize(s));
    if (name == "replace") {
        a.check(name, 3, {});
        const Value count = a.get(2, "", Value(-1));
        return Value(replace(s, string_arg(a.get(0, ""), "replace old"), string_arg(a.get(1, ""), "replace new"),
                             int_arg(count, "replace count")));
    }
    if (name == "find") {
        a.check(name, 1, {});
        const auto at = s.find(string_arg(a.get(0, ""), "find argument"));
        return Value(at == std::string::npos ? std::int64_t{-1} : code_point_index(s, at));
    }
    if (name == "count") {
        a.check(name, 1, {});
        const std::string sub = string_arg(a.get(0, ""), "count argument");
        if (sub.empty()) return Value(static_cast<std::int64_t>(code_point_count(s) + 1));
        std::int64_t n = 0;
        for (auto at = s.find(sub); at != std::string::npos; at = s.find(sub, at + sub.size())) ++n;
        return Value(n);
    }
    if (name == "join") {
        a.check(name, 1, {});
        std::string out;
        bool first = true;
        for (const auto& item : iterate(a.get(0, ""))) {
            if (!first) out += s;
            first = false;
            out += string_arg(item, "join item");
            check_string_size(out.size());
        }
        return Value(std::move(out));
    }
    runtime_error(cat("'str' object has no method '", name, "'"));
}

Value dict_method(const Value& d, const std::string& name, const CallArgs& a) {
    if (name == "get") {
        a.check(name, 2, {});
        const Value key = a.get(0, "");
        const Value* v = key.is_string() ? d.as_dict().find(key.as_string()) : nullptr;
        return v ? *v : a.get(1, "", Value::none());
    }
    a.check(name, 0, {});
    List out;
    for (const auto& [k, v] : d.as_dict().items) {
        if (name == "items")
            out.push_back(Value::tuple({Value(k), v}));
        else if (name == "keys")
            out.emplace_back(k);
        else
            out.push_back(v);
    }
    return Value::list(std::move(out));
}

std::string strftime_now(std::chrono::system_clock::time_point now, const std::string& format) {
    if (format.size() > 256) runtime_error("strftime_now format longer than 256 characters");
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    std::tm local{};
    localtime_r(&t, &local);
    if (format.empty()) return "";
    std::string buf(4096, '\0');
    const std::size_t n = std::strftime(buf.data(), buf.size(), format.c_str(), &local);
    buf.resize(n);
    return buf;
}

Dict keyword_dict(const CallArgs& a, std::string_view callee) {
    Dict d;
    if (!a.positional.empty()) {
        if (a.positional.size() > 1 || a.positional[0].kind() != Value::Kind::Dict)
            runtime_error(cat(callee, "() takes a mapping and keyword arguments"));
        d = a.positional[0].as_dict();
    }
    for (const auto& [k, v] : a.keyword) d.set(k, v);
    return d;
}

}  // namespace

bool is_filter(std::string_view name) {
    return filters().count(canonical(name, filter_aliases())) > 0;
}
bool is_test(std::string_view name) {
    return tests().count(canonical(name, test_aliases())) > 0;
}

Value apply_filter(const std::string& name, const Value& value, const CallArgs& args) {
    const auto it = filters().find(canonical(name, filter_aliases()));
    if (it == filters().end()) runtime_error(cat("no filter named '", name, "'"));
    return it->second(value, args);
}

bool apply_test(const std::string& name, const Value& value, const CallArgs& args) {
    const auto it = tests().find(canonical(name, test_aliases()));
    if (it == tests().end()) runtime_error(cat("no test named '", name, "'"));
    return it->second(value, args);
}

Value bound_method(const Value& obj, const std::string& name) {
    static const std::string_view string_methods[] = {"strip",    "lstrip", "rstrip", "split", "startswith",
                                                      "endswith", "upper",  "lower",  "title", "capitalize",
                                                      "replace",  "find",   "count",  "join",  "format"};
    static const std::string_view dict_methods[] = {"get", "items", "keys", "values"};
    if (obj.is_string()) {
        if (std::find(std::begin(string_methods), std::end(string_methods), name) == std::end(string_methods))
            return {};
        return make_function("str." + name,
                             [s = obj.as_string(), name](const CallArgs& a) { return string_method(s, name, a); });
    }
    if (obj.kind() == Value::Kind::Dict) {
        if (std::find(std::begin(dict_methods), std::end(dict_methods), name) == std::end(dict_methods)) return {};
        return make_function("dict." + name, [obj, name](const CallArgs& a) { return dict_method(obj, name, a); });
    }
    return {};
}

Dict make_globals(std::chrono::system_clock::time_point now) {
    Dict g;
    g.set("range", make_function("range", [](const CallArgs& a) {
              a.check("range", 3, {});
              if (a.positional.empty()) runtime_error("range expected at least 1 argument, got 0");
              std::int64_t start = 0, stop = 0, step = 1;
              if (a.positional.size() == 1) {
                  stop = int_arg(a.positional[0], "range stop");
              } else {
                  start = int_arg(a.positional[0], "range start");
                  stop = int_arg(a.positional[1], "range stop");
                  if (a.positional.size() == 3) step = int_arg(a.positional[2], "range step");
              }
              if (step == 0) runtime_error("range() arg 3 must not be zero");
              List out;
              for (std::int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
                  if (out.size() >= kMaxListItems) runtime_error(cat("range() of more than ", kMaxListItems, " items"));
                  out.emplace_back(i);
                  if ((step > 0 && i > INT64_MAX - step) || (step < 0 && i < INT64_MIN - step)) break;
              }
              return Value::list(std::move(out));
          }));
    g.set("namespace", make_function("namespace", [](const CallArgs& a) {
              Dict d = keyword_dict(a, "namespace");
              for (const auto& [k, v] : d.items)
                  if (k.starts_with("_")) runtime_error(cat("namespace attribute '", k, "' must not start with '_'"));
              return Value::namespace_of(std::move(d));
          }));
    g.set("dict", make_function("dict", [](const CallArgs& a) { return Value::dict(keyword_dict(a, "dict")); }));
    g.set("raise_exception", make_function("raise_exception", [](const CallArgs& a) -> Value {
              throw TemplateRaised(a.get(0, "message").str());
          }));
    g.set("strftime_now", make_function("strftime_now", [now](const CallArgs& a) {
              a.check("strftime_now", 1, {});
              return Value(strftime_now(now, string_arg(a.get(0, "format"), "strftime_now format")));
          }));
    return g;
}

}  // namespace lw::jinja
