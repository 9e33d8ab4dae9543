#include "memory/adapter_loader.h"

#include "core/error.h"

#include <chrono>
#include <utility>

namespace lw {

AdapterLoadResult load_adapter_job(const AdapterLoadJob& job) {
    const auto start = std::chrono::steady_clock::now();
    AdapterLoadResult result;
    result.id = job.id;
    try {
        auto adapter = std::make_shared<LoraAdapter>(load_lora_adapter(job.path, job.name));
        validate_lora_adapter(*adapter, *job.base, job.max_lora_rank);
        if (job.page_bytes > 0)
            result.image = std::make_shared<const AdapterImage>(
                build_adapter_image(*adapter, job.base->num_layers, job.page_bytes, job.pool_dtype, job.allocate_host));
        result.adapter = std::move(adapter);
    } catch (const std::exception& e) {
        result.error = cat("loading adapter '", job.name, "' failed: ", e.what());
    }
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
}

AdapterLoader::AdapterLoader(int threads) {
    if (threads <= 0) fail("adapter loader: needs at least one thread, got ", threads);
    try {
        for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { work(); });
    } catch (...) {
        stop();  // the threads already started must not outlive a constructor that failed
        throw;
    }
}

AdapterLoader::~AdapterLoader() {
    stop();
}

void AdapterLoader::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        jobs_.clear();
        job_ready_.notify_all();
    }
    for (auto& w : workers_) w.join();
}

void AdapterLoader::submit(AdapterLoadJob job) {
    std::lock_guard lock(mutex_);
    jobs_.push_back(std::move(job));
    job_ready_.notify_one();
}

std::vector<AdapterLoadResult> AdapterLoader::take_finished() {
    std::lock_guard lock(mutex_);
    return std::exchange(finished_, {});
}

void AdapterLoader::wait_for_result() {
    std::unique_lock lock(mutex_);
    result_ready_.wait(lock, [this] { return !finished_.empty() || (jobs_.empty() && running_ == 0); });
}

void AdapterLoader::work() {
    std::unique_lock lock(mutex_);
    for (;;) {
        job_ready_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (stopping_) return;
        AdapterLoadJob job = std::move(jobs_.front());
        jobs_.pop_front();
        ++running_;
        lock.unlock();
        AdapterLoadResult result = load_adapter_job(job);
        lock.lock();
        --running_;
        finished_.push_back(std::move(result));
        result_ready_.notify_all();
    }
}

}  // namespace lw
