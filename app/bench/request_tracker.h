// Submits requests to the engine and keeps, for each, when it was submitted, when each
// token arrived and how it finished: the client's view of latency (TTFT and
// inter-token gaps include queueing, adapter loads and callbacks).
#pragma once

#include "runtime/engine.h"

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace lw::bench {

using BenchClock = std::chrono::steady_clock;

struct TrackedRequest {
    std::string model;
    int prompt_tokens = 0;
    BenchClock::time_point submitted;
    std::vector<BenchClock::time_point> tokens;  // arrival of each generated token
    std::optional<FinishReason> finish;
    std::string error;
};

class RequestTracker {
public:
    explicit RequestTracker(Engine& engine) : engine_(engine) {}
    // Cancels what still runs and waits for it: the engine's callbacks point here.
    ~RequestTracker() { cancel_all(); }
    RequestTracker(const RequestTracker&) = delete;
    RequestTracker& operator=(const RequestTracker&) = delete;
    // Submits the requests together (Engine::submit_all: one step admits them all);
    // throws what it throws, tracking none of them.
    void submit(std::vector<GenerationRequest> requests);
    // Waits until every submitted request has finished or `deadline` passes; returns
    // whether all finished.
    bool wait_all(BenchClock::time_point deadline);
    // Cancels every unfinished request and waits for their Finished events.
    void cancel_all();
    // A copy of the requests, in submission order (call once all have finished).
    std::vector<TrackedRequest> requests() const;

private:
    Engine& engine_;
    mutable std::mutex mutex_;
    std::condition_variable finished_;
    std::vector<std::unique_ptr<TrackedRequest>> requests_;
    std::vector<RequestId> ids_;
    std::size_t unfinished_ = 0;
};

}  // namespace lw::bench
