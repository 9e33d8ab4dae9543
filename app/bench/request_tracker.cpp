#include "request_tracker.h"

namespace lw::bench {

std::size_t RequestTracker::submit(GenerationRequest request) {
    auto tracked = std::make_unique<TrackedRequest>();
    tracked->model = request.model;
    tracked->prompt_tokens = static_cast<int>(request.prompt.size());
    TrackedRequest* r = tracked.get();
    std::unique_lock lock(mutex_);
    const std::size_t index = requests_.size();
    requests_.push_back(std::move(tracked));
    ++unfinished_;
    r->submitted = BenchClock::now();
    lock.unlock();  // events may arrive (on the step thread) before submit returns
    RequestId id = 0;
    try {
        id = engine_.submit(std::move(request), [this, r](const GenerationEvent& e) {
            const auto now = BenchClock::now();
            std::lock_guard guard(mutex_);
            if (e.kind == GenerationEvent::Kind::Token) {
                r->tokens.push_back(now);
                return;
            }
            r->finish = e.reason;
            r->error = e.error;
            --unfinished_;
            finished_.notify_all();
        });
    } catch (...) {
        lock.lock();
        requests_.pop_back();
        --unfinished_;
        throw;
    }
    lock.lock();
    ids_.push_back(id);
    return index;
}

bool RequestTracker::wait_all(BenchClock::time_point deadline) {
    std::unique_lock lock(mutex_);
    return finished_.wait_until(lock, deadline, [&] { return unfinished_ == 0; });
}

void RequestTracker::cancel_all() {
    std::vector<RequestId> ids;
    {
        std::lock_guard lock(mutex_);
        for (std::size_t i = 0; i < requests_.size(); ++i)
            if (!requests_[i]->finish) ids.push_back(ids_[i]);
    }
    for (RequestId id : ids) engine_.cancel(id);
    std::unique_lock lock(mutex_);
    finished_.wait(lock, [&] { return unfinished_ == 0; });
}

std::vector<TrackedRequest> RequestTracker::requests() const {
    std::lock_guard lock(mutex_);
    std::vector<TrackedRequest> out;
    for (const auto& r : requests_) out.push_back(*r);
    return out;
}

}  // namespace lw::bench
