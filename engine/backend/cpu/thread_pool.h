// A fixed set of worker threads for the CPU kernels' data parallelism (attention over
// tokens and heads, LoRA over tokens). GEMMs are left to OpenBLAS's own threads.
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
    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable done_;
    const std::function<void(std::size_t)>* job_ = nullptr;
    std::size_t job_size_ = 0;
    std::atomic<std::size_t> next_{0};
    std::size_t generation_ = 0;  // bumped for every job, so each worker joins it once
    int busy_ = 0;
    bool stopping_ = false;
};

}  // namespace lw
