// The engine events of one HTTP request (one engine request per choice, "n"), handed
// from the engine's step thread to the HTTP handler's thread.
#pragma once

#include "runtime/request.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace lw {

class ChoiceEvents : public std::enable_shared_from_this<ChoiceEvents> {
public:
    explicit ChoiceEvents(int choices) : choices_(choices) {}

    // The callback to submit choice `index` with; it keeps this object alive.
    EventCallback callback_for(int index);

    // Waits up to `timeout` for events and takes every queued one, oldest first.
    std::vector<std::pair<int, GenerationEvent>> take(std::chrono::milliseconds timeout);
    // True once every choice has delivered its Finished event and it was taken.
    bool done() const;

private:
    const int choices_;
    mutable std::mutex mutex_;
    std::condition_variable arrived_;
    std::deque<std::pair<int, GenerationEvent>> queue_;
    int finished_taken_ = 0;
};

}  // namespace lw
