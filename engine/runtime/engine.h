// The engine: base models and their adapters on one device, requests for any of them
// batched together step after step (continuous batching, chunked prefill, preemption
// by recompute), KV cache and adapter weights paged through one pool. The step loop
// runs on the engine's own thread; every public method is thread-safe.
#pragma once

#include "core/dtype.h"
#include "runtime/request.h"

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace lw {

struct LoadedModel;
struct MetricsSnapshot;  // engine/metrics/metrics_snapshot.h

struct EngineConfig {
    std::string backend = "cpu";          // "cpu" or "cuda" (falls back to cpu, saying so once, without a GPU)
    std::size_t pool_bytes = 256u << 20;  // the unified page pool
    std::size_t page_bytes = 64u << 10;
    int max_loras = 4;       // adapters resident in the pool at once
    int max_cpu_loras = 16;  // adapters kept in host RAM
    int max_lora_rank = 64;
    int max_num_seqs = 64;             // sequences in one step
    int max_num_batched_tokens = 512;  // token budget of one step (prefill chunks + decodes)
    int threads = 0;                   // CPU threads; 0 = all cores
};

class Engine {
public:
    explicit Engine(EngineConfig config);
    ~Engine();  // cancels what runs, stops the step loop, frees everything
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // Loads a base model (HF folder or .gguf); returns its name (the folder name or
    // GGUF file stem, made unique). Throws lw::Error naming the file.
    std::string load_base(const std::filesystem::path& path);
    // Serves a model built in memory (lora-bench's synthetic models); its weights are
    // checked against its config first. Returns its name, made unique.
    std::string load_base(LoadedModel model);
    // Registers a PEFT adapter for a loaded base; throws lw::Error naming the adapter.
    void register_adapter(const std::string& name, const std::filesystem::path& path, const std::string& base);
    // Removes an adapter; throws lw::Error while requests (running or queued) use it.
    void unregister_adapter(const std::string& name);

    // Queues a request; events arrive through `on_event` on the step thread, the last
    // one always Finished. Throws RequestError for an unknown model or bad parameters.
    // Callbacks run with no engine lock held: they may call submit, cancel or metrics.
    RequestId submit(GenerationRequest request, EventCallback on_event);
    // Queues several requests at once, so that the same step admits them together (a
    // benchmark's batch); ids in the same order. All or none: throws as submit() for the
    // first bad one, queuing nothing.
    struct Submission {
        GenerationRequest request;
        EventCallback on_event;
    };
    std::vector<RequestId> submit_all(std::vector<Submission> submissions);
    // Stops a request (queued or running); its pages are freed and it finishes with
    // FinishReason::Cancelled. Unknown or finished ids are ignored.
    void cancel(RequestId id);

    struct ModelInfo {
        std::string name;
        std::string parent;  // empty for a base; the base's name for an adapter
        std::filesystem::path path;
    };
    std::vector<ModelInfo> models() const;
    // The base a model name (base or adapter) runs on, to tokenize and template with;
    // throws RequestError(UnknownModel).
    std::shared_ptr<const LoadedModel> base_of(const std::string& model) const;

    MetricsSnapshot metrics() const;
    std::string backend_name() const;
    // The dtype of KV entries and adapter rows in the pool, and the device's measured
    // copy bandwidth in bytes/s (Backend::measure_copy_bandwidth; waits for the step
    // in flight): lora-bench's bytes per step and bandwidth floor.
    DType pool_dtype() const;
    double measure_copy_bandwidth();

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace lw
