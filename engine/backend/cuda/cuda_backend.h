// One NVIDIA GPU as a device: the unified page pool is ONE cudaMalloc'd allocation
// (page p at base + p * page_stride, pages 256-byte aligned), adapter pages are written
// through an upload stream (straight from pinned adapter images, or staged), a forward
// waits for the uploads of its batch's adapters, and every runner's kernels run in
// order on the backend's compute stream. The pool holds KV entries and adapter
// rows in the backend's activation dtype (F16 unless the options say BF16), whatever
// the stored dtype of a model's weights: every model on the device computes in it.
#pragma once

#include "backend/backend.h"
#include "backend/cuda/cuda_buffer.h"
#include "backend/cuda/pinned_host_pool.h"
#include "backend/cuda/upload_queue.h"

#include <cuda_runtime_api.h>

#include <atomic>
#include <memory>

namespace lw {

struct CudaBackendOptions {
    DType dtype = DType::F16;  // activations, KV cache and adapter rows: F16 or BF16
    // What one step may hold: runners allocate their buffers for this once.
    int max_num_seqs = 256;
    int max_num_batched_tokens = 2048;
    // What the LoRA tables are sized for: the largest rank, and adapters in the pool at once.
    int max_lora_rank = 64;
    int max_loras = 4;
    // Replay decode steps as CUDA graphs (decode_graphs.h).
    bool decode_graphs = true;
};

class CudaBackend final : public Backend {
public:
    // Throws lw::Error when there is no GPU, the pool does not fit, or the options are bad.
    CudaBackend(std::size_t page_count, std::size_t page_bytes, CudaBackendOptions options = {});
    ~CudaBackend() override;

    std::string name() const override;
    std::size_t page_count() const override { return page_count_; }
    std::size_t page_bytes() const override { return page_bytes_; }
    DType pool_dtype() const override { return options_.dtype; }
    // Pinned (recycled through pinned_host_pool), or ordinary memory with one note on
    // stderr when pinning fails.
    HostBuffer allocate_host(std::size_t bytes) override;
    void write_page(PageId page, std::size_t offset, std::span<const std::byte> bytes) override;
    // Pinned bytes: one DMA per run of consecutive pages, straight from them; pageable
    // bytes: staged page by page.
    UploadTicket write_pages(std::span<const PageId> pages, const HostBuffer& bytes,
                             std::shared_ptr<const void> owner) override;
    // Makes the compute stream wait for the uploads up to `upto` (a forward's adapters').
    void order_uploads_before_compute(UploadTicket upto) override { uploads_.order_before(stream_, upto); }
    UploadStats upload_stats() const override { return uploads_.stats(); }
    void read_page(PageId page, std::size_t offset, std::span<std::byte> out) const override;
    std::unique_ptr<ModelRunner> load_model(const ModelConfig& config, const ModelWeights& weights) override;
    // Device-to-device copies of 256 MiB timed with events, best of a few runs.
    double measure_copy_bandwidth() override;

    const CudaBackendOptions& options() const { return options_; }
    std::byte* pool_base() const { return pool_.as<std::byte>(); }
    std::size_t page_stride() const { return page_stride_; }
    cudaStream_t stream() const { return stream_; }

private:
    std::size_t page_count_;
    std::size_t page_bytes_;
    std::size_t page_stride_;
    CudaBackendOptions options_;
    cuda::CudaBuffer pool_;
    cudaStream_t stream_ = nullptr;
    std::shared_ptr<cuda::PinnedHostPool> pinned_;  // before uploads_, which may hold its blocks
    std::atomic<bool> pinning_failed_ = false;      // said once on stderr
    mutable cuda::UploadQueue uploads_;
};

}  // namespace lw
