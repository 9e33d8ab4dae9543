#include "backend/cpu/thread_pool.h"

#include <chrono>

namespace lw {
namespace {

// How long a thread spins for the next job (or the caller for the last items) before
// it sleeps: longer than the gaps inside a decode step, far shorter than a person
// notices on an idle engine.
constexpr auto kSpin = std::chrono::microseconds(200);

// Spins until `ready()` or kSpin has passed; returns ready(). Yields rather than
// pausing: where there are more runnable threads than cores, the thread being waited
// for may need this very core.
template <class Ready>
bool spin_until(Ready ready) {
    const auto deadline = std::chrono::steady_clock::now() + kSpin;
    for (int i = 1; !ready(); ++i) {
        std::this_thread::yield();
        if (i % 16 == 0 && std::chrono::steady_clock::now() > deadline) return ready();
    }
    return true;
}

}  // namespace

ThreadPool::ThreadPool(int threads) {
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { work_loop(); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
}

void ThreadPool::parallel_for(std::size_t n, const std::function<void(std::size_t)>& fn) {
    if (workers_.empty() || n <= 1) {
        for (std::size_t i = 0; i < n; ++i) fn(i);
        return;
    }
    std::lock_guard call(call_mutex_);
    job_ = &fn;
    job_size_ = n;
    next_ = 0;
    completed_ = 0;
    open_ = true;
    {
        // Under the mutex, so that a worker about to sleep sees the new generation or the notify.
        std::lock_guard lock(mutex_);
        ++generation_;
    }
    wake_.notify_all();
    run_items();
    auto all_done = [&] { return completed_ == n; };
    if (!spin_until(all_done)) {
        std::unique_lock lock(mutex_);
        done_.wait(lock, all_done);
    }
    // Close the job; workers that have joined it find no items left and leave at once.
    // (Sequentially consistent: a worker either sees it closed, or is seen inside.)
    open_ = false;
    while (inside_ != 0) std::this_thread::yield();
}

void ThreadPool::run_items() {
    for (std::size_t i = next_++; i < job_size_; i = next_++) {
        (*job_)(i);
        if (++completed_ == job_size_) {
            // Through the mutex, so that a caller about to sleep sees completed_ or the notify.
            std::lock_guard lock(mutex_);
            done_.notify_one();
        }
    }
}

void ThreadPool::work_loop() {
    std::size_t seen = 0;
    while (true) {
        auto called = [&] { return stopping_ || generation_ != seen; };
        if (!spin_until(called)) {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, called);
        }
        if (stopping_) return;
        seen = generation_;
        ++inside_;
        if (open_ && generation_ == seen) run_items();  // else that job has ended: wait for the next
        --inside_;
    }
}

}  // namespace lw
