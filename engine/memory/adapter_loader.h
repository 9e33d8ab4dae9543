// Disk -> host loads of LoRA adapters on a small pool of worker threads. The step
// thread submits jobs and later collects the results; a worker holds no lock while it
// reads files, so a slow disk never stalls the step loop.
#pragma once

#include "memory/pooled_adapter.h"
#include "model/lora_adapter.h"
#include "model/model_config.h"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace lw {

struct AdapterLoadJob {
    std::uint64_t id = 0;  // the adapter manager's id, echoed in the result
    std::string name;
    std::filesystem::path path;
    std::shared_ptr<const ModelConfig> base;
    int max_lora_rank = 0;
    std::size_t page_bytes = 0;  // the pool's pages, for the image; 0: build none
    DType pool_dtype = DType::F32;
    HostAllocator allocate_host;  // the image's memory (pinned on a GPU); empty: ordinary
};

struct AdapterLoadResult {
    std::uint64_t id = 0;
    std::shared_ptr<const LoraAdapter> adapter;  // null when the load failed
    std::shared_ptr<const AdapterImage> image;   // its pool pages, ready to copy
    std::string error;                           // why it failed
    double seconds = 0.0;                        // time spent reading and validating
};

// Loads and validates an adapter as registration did (load_lora_adapter, then
// validate_lora_adapter against the base) and builds its pool pages; failures become
// the result's error.
AdapterLoadResult load_adapter_job(const AdapterLoadJob& job);

class AdapterLoader {
public:
    explicit AdapterLoader(int threads);
    ~AdapterLoader();  // drops queued jobs, waits for the running ones
    AdapterLoader(const AdapterLoader&) = delete;
    AdapterLoader& operator=(const AdapterLoader&) = delete;

    void submit(AdapterLoadJob job);
    // Results finished since the last call, in completion order; never blocks.
    std::vector<AdapterLoadResult> take_finished();
    // Blocks until a result is waiting to be taken, or no job is queued or running.
    void wait_for_result();

private:
    void work();
    void stop();

    std::mutex mutex_;
    std::condition_variable job_ready_;
    std::condition_variable result_ready_;
    std::deque<AdapterLoadJob> jobs_;
    std::vector<AdapterLoadResult> finished_;
    int running_ = 0;
    bool stopping_ = false;
    std::vector<std::thread> workers_;
};

}  // namespace lw
