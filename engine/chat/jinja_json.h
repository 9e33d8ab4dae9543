// Between template values and JSON: contexts come in as JSON, and the tojson filter
// writes what Python's json.dumps writes with transformers' defaults.
#pragma once

#include "chat/jinja_value.h"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace lw::jinja {

// null -> none, objects -> dicts in document order. Throws lw::Error past kMaxValueDepth.
Value from_json(const nlohmann::ordered_json& j);

struct JsonOptions {
    std::optional<std::string> indent;  // none: one line; else newline + indent per level
    std::string item_separator;         // ", " on one line, "," when indented, unless given
    std::string key_separator = ": ";
    bool ensure_ascii = false;
    bool sort_keys = false;
};

// json.dumps(value, ...). Throws RuntimeError for values JSON cannot hold.
std::string to_json(const Value& v, const JsonOptions& options);

}  // namespace lw::jinja
