#include "request_tracker.h"

namespace lw::bench {

void RequestTracker::submit(std::vector<GenerationRequest> requests) {
    std::vector<Engine::Submission> submissions;
    std::unique_lock lock(mutex_);
    const std::size_t first = requests_.size();
    const auto now = BenchClock::now();
    for (GenerationRequest& request : requests) {
        auto tracked = std::make_unique<TrackedRequest>();
        tracked->model = request.model;
        tracked->prompt_tokens = static_cast<int>(request.prompt.size());
        tracked->submitted = now;
        TrackedRequest* r = tracked.get();
        requests_.push_back(std::move(tracked));
        ++unfinished_;
        submissions.push_back({std::move(request), [this, r](const GenerationEvent& e) {
                                   const auto at = BenchClock::now();
                                   std::lock_guard guard(mutex_);
                                   if (e.kind == GenerationEvent::Kind::Token) {
                                       r->tokens.push_back(at);
                                       return;
                                   }
                                   r->finish = e.reason;
                                   r->error = e.error;
                                   --unfinished_;
                                   finished_.notify_all();
                               }});
    }
    lock.unlock();  // events may arrive (on the step thread) before submit_all returns
    std::vector<RequestId> ids;
    try {
        ids = engine_.submit_all(std::move(submissions));
    } catch (...) {
        lock.lock();
        requests_.resize(first);
        unfinished_ -= requests.size();
        throw;
    }
    lock.lock();
    ids_.insert(ids_.end(), ids.begin(), ids.end());
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
