// Python's operators as jinja2 applies them to template values: arithmetic,
// membership, attribute and item access, slicing, and iteration.
#pragma once

#include "chat/jinja_value.h"

#include <string>

namespace lw::jinja {

// op is one of + - * / // % ** ~
Value binary_op(const std::string& op, const Value& a, const Value& b);
Value negate(const Value& v);
// `item in container`
bool contains(const Value& container, const Value& item);

// obj.name: dict methods and string methods first, then keys; missing -> undefined.
Value get_attribute(const Value& obj, const std::string& name);
// obj[key]: keys and indexes first, then attributes; missing -> undefined.
Value get_item(const Value& obj, const Value& key);
// obj[start:stop:step] on lists, tuples and strings; none/undefined parts are omitted.
Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step);

// The items a for loop visits: list/tuple items, dict keys, string characters.
List iterate(const Value& v);
// len(): code points of a string, items of a list or dict; undefined has length 0.
std::int64_t length(const Value& v);

}  // namespace lw::jinja
