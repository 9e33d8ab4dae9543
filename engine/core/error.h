// One error type for the whole engine. Messages always say what was being read
// (file, tensor, field, request) so a user can act on them without a debugger.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace lw {

class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Joins any streamable values into one string: cat("tensor ", name, " has ", n, " dims").
template <class... Args>
std::string cat(Args&&... args) {
    std::ostringstream out;
    (out << ... << std::forward<Args>(args));
    return out.str();
}

// Throws lw::Error with the joined message.
template <class... Args>
[[noreturn]] void fail(Args&&... args) {
    throw Error(cat(std::forward<Args>(args)...));
}

}  // namespace lw
