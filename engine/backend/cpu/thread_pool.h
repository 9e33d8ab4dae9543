// A fixed set of worker threads for the CPU kernels' data parallelism (matrix rows in
// decode, attention over tokens and heads, LoRA over tokens). Prefill's GEMMs are left
// to OpenBLAS's own threads.
//
// A decode step hands out a few hundred jobs of some tens of microseconds each, so:
// threads spin (yielding) briefly between jobs before they sleep, since a wake-up
// alone would cost as much as a job; and the caller never waits for a worker that has
// not joined a job yet, it does the items itself: on a machine with more runnable
// threads than cores, a descheduled worker slows a job down to one thread, not to a halt.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace lw {

class ThreadPool {
public:
    // `threads` counts the caller, which works too: 1 runs everything inline.
    explicit ThreadPool(int threads);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return static_cast<int>(workers_.size()) + 1; }

    // Calls fn(i) for every i in [0, n), spread over the threads; returns when all are
    // done. `fn` must not throw (the kernels validate their input before they start)
    // nor call parallel_for itself.
    void parallel_for(std::size_t n, const std::function<void(std::size_t)>& fn);

private:
    void work_loop();
    void run_items();

    std::vector<std::thread> workers_;
    std::mutex call_mutex_;  // one parallel_for at a time
    std::mutex mutex_;       // for sleeping on wake_ and done_
    std::condition_variable wake_;
    std::condition_variable done_;
    // The current job: written by the caller only while no worker is inside it.
    const std::function<void(std::size_t)>* job_ = nullptr;
    std::size_t job_size_ = 0;
    std::atomic<std::size_t> next_{0};        // the next item to hand out
    std::atomic<std::size_t> completed_{0};   // items done
    std::atomic<std::size_t> generation_{0};  // bumped for every job
    std::atomic<bool> open_{false};           // whether workers may still join the current job
    std::atomic<int> inside_{0};              // workers joining or running the current job
    std::atomic<bool> stopping_{false};
};

}  // namespace lw
