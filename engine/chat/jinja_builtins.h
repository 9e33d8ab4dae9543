// jinja2's built-in filters and tests, the str/dict methods templates call, and the
// globals transformers provides (range, namespace, dict, raise_exception, strftime_now).
#pragma once

#include "chat/jinja_value.h"

#include <chrono>
#include <string>
#include <string_view>

namespace lw::jinja {

bool is_filter(std::string_view name);
bool is_test(std::string_view name);

// value | name(args...)
Value apply_filter(const std::string& name, const Value& value, const CallArgs& args);
// value is name(args...)
bool apply_test(const std::string& name, const Value& value, const CallArgs& args);

// obj.name as a callable for str and dict methods; undefined when there is no such method.
Value bound_method(const Value& obj, const std::string& name);

// The error raise_exception() throws; the interpreter reports it with the template location.
class TemplateRaised : public RuntimeError {
public:
    using RuntimeError::RuntimeError;
};

// Global functions; strftime_now formats `now` in local time.
Dict make_globals(std::chrono::system_clock::time_point now);

}  // namespace lw::jinja
