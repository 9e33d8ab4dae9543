// Finds stop strings in text that arrives piece by piece. Text that might be the start
// of a stop string is held back until the next piece settles it, so a client never sees
// any part of a stop string (vLLM excludes them from the output).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace lw {

class StopChecker {
public:
    explicit StopChecker(std::vector<std::string> stops);

    struct Result {
        std::string text;      // safe to show now
        bool stopped = false;  // a stop string completed: `text` ends right before it
    };
    // Adds the next piece of text.
    Result push(std::string_view piece);
    // The text held back at the end (a partial match that never completed).
    std::string flush();

private:
    // Length of the longest suffix of held_ that begins some stop string.
    std::size_t partial_match_length() const;

    std::vector<std::string> stops_;
    std::string held_;
};

}  // namespace lw
