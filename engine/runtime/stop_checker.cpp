#include "runtime/stop_checker.h"

#include "core/error.h"

#include <algorithm>

namespace lw {

StopChecker::StopChecker(std::vector<std::string> stops) : stops_(std::move(stops)) {
    for (const std::string& s : stops_)
        if (s.empty()) fail("stop strings must not be empty");
}

StopChecker::Result StopChecker::push(std::string_view piece) {
    held_ += piece;
    std::size_t first = std::string::npos;
    for (const std::string& s : stops_) first = std::min(first, held_.find(s));
    if (first != std::string::npos) {
        Result r{held_.substr(0, first), true};
        held_.clear();
        return r;
    }
    const std::size_t keep = partial_match_length();
    Result r{held_.substr(0, held_.size() - keep), false};
    held_.erase(0, held_.size() - keep);
    return r;
}

std::string StopChecker::flush() {
    return std::exchange(held_, {});
}

std::size_t StopChecker::partial_match_length() const {
    std::size_t longest = 0;
    for (const std::string& s : stops_) {
        // Suffixes of held_ shorter than the stop string itself (a whole match was found above).
        for (std::size_t n = std::min(held_.size(), s.size() - 1); n > longest; --n) {
            if (std::string_view(held_).substr(held_.size() - n) == std::string_view(s).substr(0, n)) {
                longest = n;
                break;
            }
        }
    }
    return longest;
}

}  // namespace lw
