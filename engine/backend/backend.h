// The compute interface the engine drives, implemented on the CPU (backend/cpu) and on
// CUDA. A Backend is one device: it owns the bytes of the unified page pool. A
// ModelRunner is one base model on that device: its weights, and a forward pass over a
// batch whose sequences may each use a different adapter (or none), with KV cache and
// adapter rows read from pool pages.
#pragma once

#include "core/dtype.h"
#include "core/error.h"
#include "core/host_buffer.h"
#include "core/token_id.h"
#include "memory/kv_layout.h"
#include "memory/page_pool.h"
#include "memory/pooled_adapter.h"
#include "memory/upload_stats.h"
#include "model/model_config.h"
#include "model/model_weights.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace lw {

// One sequence's share of a step: a chunk of its prompt (prefill) or its newest token
// (decode). Its KV block table already has pages for position + tokens.size() positions.
struct StepSequence {
    std::span<const TokenId> tokens;
    int position = 0;                        // cache positions already filled (= tokens[0]'s position)
    KvBlockTable* kv = nullptr;              // the runner writes the new K/V and advances kv->tokens
    const PooledAdapter* adapter = nullptr;  // nullptr: the bare base model
    bool wants_logits = false;               // logits for the chunk's last token
};

struct StepBatch {
    std::vector<StepSequence> sequences;
};

// The newest upload ticket among the batch's adapters: all a forward must wait for.
UploadTicket newest_upload(const StepBatch& batch);

// What a device sampler does: temperature (0 = greedy), top-k, top-p and min-p, drawing
// from the sequence's own seeded stream. Requests that need more (penalties, logprob
// alternatives, suppressed tokens before min_tokens) take the host path with logits.
struct DeviceSampling {
    float temperature = 0.0f;
    int top_k = 0;  // 0 or -1: every token
    float top_p = 1.0f;
    float min_p = 0.0f;
    std::uint64_t seed = 0;
    std::uint64_t step = 0;  // tokens the sequence sampled before: where its stream stands
};

struct DeviceSample {
    TokenId token = 0;
    float logprob = 0.0f;  // of the model's raw distribution, as the host sampler reports it
};

class ModelRunner {
public:
    virtual ~ModelRunner() = default;
    virtual const ModelConfig& config() const = 0;
    virtual const KvLayout& kv_layout() const = 0;
    // Runs the batch. `logits` holds vocab_size floats for each sequence that wants
    // them, in batch order. Throws lw::Error on malformed input (naming the sequence).
    virtual void forward(const StepBatch& batch, std::span<float> logits) = 0;

    // Whether forward_sampled works: the device draws tokens so that only their ids
    // and logprobs cross to the host.
    virtual bool samples_on_device() const { return false; }
    // Runs the batch and samples the next token of each sequence that wants logits
    // with samplers[k] into out[k] (both in batch order). Throws lw::Error where the
    // runner does not sample on the device.
    virtual void forward_sampled(const StepBatch& batch, std::span<const DeviceSampling> samplers,
                                 std::span<DeviceSample> out);
};

class Backend {
public:
    virtual ~Backend() = default;
    virtual std::string name() const = 0;  // "cpu (8 threads, OpenBLAS)", "cuda (NVIDIA H100 ...)"
    virtual std::size_t page_count() const = 0;
    virtual std::size_t page_bytes() const = 0;
    // The dtype adapter rows and KV entries are stored in on this device.
    virtual DType pool_dtype() const = 0;

    // Host memory for adapter images, zeroed: pinned where the device copies straight
    // from pinned memory, else ordinary. Images are built on worker threads, so this may
    // be called from any thread.
    virtual HostBuffer allocate_host(std::size_t bytes) { return HostBuffer::ordinary(bytes); }
    // allocate_host as a callable, for code that builds images without a backend at hand.
    HostAllocator host_allocator() {
        return [this](std::size_t bytes) { return allocate_host(bytes); };
    }

    // Copies host bytes into a page. On a GPU this is queued on the upload stream (the
    // bytes are staged first, so the caller may drop them at once).
    virtual void write_page(PageId page, std::size_t offset, std::span<const std::byte> bytes) = 0;
    // Copies whole pages (adapter uploads): `bytes` holds pages.size() pages back to back,
    // page i going to pages[i]. A GPU queues the copies, reading pinned bytes directly;
    // `owner` keeps `bytes` alive until they have been read, so the caller may drop its
    // own references at once. Returns the upload's ticket: tickets increase with every
    // upload. By default, page by page through write_page.
    virtual UploadTicket write_pages(std::span<const PageId> pages, const HostBuffer& bytes,
                                     std::shared_ptr<const void> owner);
    // Makes the device's later work (forwards, and whatever reuses pages that uploads
    // were writing) wait for the uploads up to ticket `upto`. Nothing to do where copies
    // are done when write_pages returns.
    virtual void order_uploads_before_compute(UploadTicket upto);
    // The uploads that have landed so far (upload_stats.h). Any thread may ask.
    virtual UploadStats upload_stats() const;
    // Copies bytes back (tests, debugging).
    virtual void read_page(PageId page, std::size_t offset, std::span<std::byte> out) const = 0;

    // Prepares a base model on this device (weights converted or uploaded as needed).
    // `weights` must outlive the runner, which may keep views into them.
    virtual std::unique_ptr<ModelRunner> load_model(const ModelConfig& config, const ModelWeights& weights) = 0;

    // The device's memory bandwidth in bytes/s, measured by timing a large copy within
    // device memory (bytes read + bytes written over the time): lora-bench's yardstick
    // for memory-bound decode steps. Throws lw::Error where a backend cannot measure it.
    virtual double measure_copy_bandwidth() { fail("backend ", name(), " cannot measure its copy bandwidth"); }

protected:
    // Throws lw::Error naming the backend unless [offset, offset + size) lies within page
    // `page` of the pool; `what` is "write to" or "read from".
    void check_page_range(PageId page, std::size_t offset, std::size_t size, const char* what) const;
    // Throws lw::Error naming the backend unless `bytes` holds exactly pages.size() pages
    // and every page lies in the pool.
    void check_page_upload(std::span<const PageId> pages, std::size_t bytes) const;

private:
    UploadTicket last_ticket_ = 0;  // the default write_pages' tickets
    mutable std::mutex upload_stats_mutex_;
    UploadStats upload_stats_;  // the default write_pages' copies
};

}  // namespace lw
