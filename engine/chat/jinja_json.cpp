#include "chat/jinja_json.h"

#include "chat/jinja_text.h"
#include "core/error.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace lw::jinja {

namespace {

Value from_json_at(const nlohmann::ordered_json& j, int depth) {
    if (depth > kMaxValueDepth) fail("chat template context nested deeper than ", kMaxValueDepth, " levels");
    switch (j.type()) {
        case nlohmann::ordered_json::value_t::null:
            return Value::none();
        case nlohmann::ordered_json::value_t::boolean:
            return Value(j.get<bool>());
        case nlohmann::ordered_json::value_t::number_integer:
            return Value(j.get<std::int64_t>());
        case nlohmann::ordered_json::value_t::number_unsigned: {
            const auto u = j.get<std::uint64_t>();
            if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
                fail("chat template context holds integer ", u, ", larger than the supported 64-bit range");
            return Value(static_cast<std::int64_t>(u));
        }
        case nlohmann::ordered_json::value_t::number_float:
            return Value(j.get<double>());
        case nlohmann::ordered_json::value_t::string:
            return Value(j.get<std::string>());
        case nlohmann::ordered_json::value_t::array: {
            List items;
            items.reserve(j.size());
            for (const auto& item : j) items.push_back(from_json_at(item, depth + 1));
            return Value::list(std::move(items));
        }
        case nlohmann::ordered_json::value_t::object: {
            Dict d;
            d.items.reserve(j.size());
            for (const auto& [k, v] : j.items()) d.items.emplace_back(k, from_json_at(v, depth + 1));
            return Value::dict(std::move(d));
        }
        default:
            fail("chat template context holds a JSON value of unsupported type ", j.type_name());
    }
}

void write_string(std::string& out, const std::string& s, bool ensure_ascii) {
    out += '"';
    for (char32_t c : to_code_points(s)) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            default: {
                char buf[16];
                if (c < 0x20 || (ensure_ascii && c > 0x7e)) {
                    if (c >= 0x10000) {
                        const char32_t v = c - 0x10000;
                        std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", static_cast<unsigned>(0xd800 + (v >> 10)),
                                      static_cast<unsigned>(0xdc00 + (v & 0x3ff)));
                    } else {
                        std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
                    }
                    out += buf;
                } else {
                    append_utf8(out, c);
                }
            }
        }
    }
    out += '"';
}

class JsonWriter {
public:
    JsonWriter(const JsonOptions& options) : o_(options) {
        if (o_.item_separator.empty())
            item_sep_ = o_.indent ? "," : ", ";
        else
            item_sep_ = o_.item_separator;
    }

    void write(const Value& v, int level) {
        check_string_size(out.size());
        switch (v.kind()) {
            case Value::Kind::None:
                out += "null";
                return;
            case Value::Kind::Bool:
                out += v.as_bool() ? "true" : "false";
                return;
            case Value::Kind::Int:
                out += std::to_string(v.as_int());
                return;
            case Value::Kind::Float: {
                const double d = v.as_double();
                if (std::isnan(d))
                    out += "NaN";
                else if (std::isinf(d))
                    out += d < 0 ? "-Infinity" : "Infinity";
                else
                    out += python_float_repr(d);
                return;
            }
            case Value::Kind::String:
                write_string(out, v.as_string(), o_.ensure_ascii);
                return;
            case Value::Kind::List:
            case Value::Kind::Tuple: {
                const auto& items = v.as_list();
                if (items.empty()) {
                    out += "[]";
                    return;
                }
                out += '[';
                for (std::size_t i = 0; i < items.size(); ++i) {
                    if (i) out += item_sep_;
                    newline(level + 1);
                    write(items[i], level + 1);
                }
                newline(level);
                out += ']';
                return;
            }
            case Value::Kind::Dict: {
                auto items = v.as_dict().items;
                if (items.empty()) {
                    out += "{}";
                    return;
                }
                if (o_.sort_keys)
                    std::stable_sort(items.begin(), items.end(),
                                     [](const auto& a, const auto& b) { return a.first < b.first; });
                out += '{';
                for (std::size_t i = 0; i < items.size(); ++i) {
                    if (i) out += item_sep_;
                    newline(level + 1);
                    write_string(out, items[i].first, o_.ensure_ascii);
                    out += o_.key_separator;
                    write(items[i].second, level + 1);
                }
                newline(level);
                out += '}';
                return;
            }
            default:
                runtime_error(cat("Object of type ", v.type_name(), " is not JSON serializable"));
        }
    }

    std::string out;

private:
    void newline(int level) {
        if (!o_.indent) return;
        check_string_size(out.size() + o_.indent->size() * static_cast<std::size_t>(level));
        out += '\n';
        for (int i = 0; i < level; ++i) out += *o_.indent;
    }

    const JsonOptions& o_;
    std::string item_sep_;
};

}  // namespace

Value from_json(const nlohmann::ordered_json& j) {
    return from_json_at(j, 0);
}

std::string to_json(const Value& v, const JsonOptions& options) {
    JsonWriter writer(options);
    writer.write(v, 0);
    check_string_size(writer.out.size());
    return std::move(writer.out);
}

}  // namespace lw::jinja
