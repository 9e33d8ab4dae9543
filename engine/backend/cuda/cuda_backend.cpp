#include "backend/cuda/cuda_backend.h"

#include "backend/cuda/cuda_model_runner.h"
#include "core/error.h"
#include "cuda_check.h"

#include <algorithm>
#include <iostream>
#include <vector>

namespace lw {
namespace {

// Pages start 256 bytes apart at least: every vector load and cp.async is aligned.
constexpr std::size_t kPageAlign = 256;
// Pinned staging for uploads: a rank-16 7B adapter (~33 MB) fits whole.
constexpr std::size_t kStagingBytes = 64u << 20;
// Freed adapter images kept pinned for the next ones: eight rank-16 7B adapters.
constexpr std::size_t kIdlePinnedBytes = 256u << 20;

std::size_t checked_stride(std::size_t page_count, std::size_t page_bytes) {
    if (page_count == 0 || page_bytes == 0)
        fail("cuda backend: a pool of ", page_count, " pages of ", page_bytes, " bytes is empty");
    const std::size_t stride = (page_bytes + kPageAlign - 1) / kPageAlign * kPageAlign;
    if (stride > SIZE_MAX / page_count) fail("cuda backend: ", page_count, " pages of ", page_bytes, " bytes overflow");
    return stride;
}

const CudaBackendOptions& checked(const CudaBackendOptions& o) {
    if (o.dtype != DType::F16 && o.dtype != DType::BF16)
        fail("cuda backend: activations in ", dtype_name(o.dtype), " are not supported (F16 or BF16)");
    if (o.max_num_seqs <= 0 || o.max_num_batched_tokens <= 0 || o.max_lora_rank <= 0 || o.max_loras <= 0)
        fail("cuda backend: max_num_seqs (", o.max_num_seqs, "), max_num_batched_tokens (", o.max_num_batched_tokens,
             "), max_lora_rank (", o.max_lora_rank, ") and max_loras (", o.max_loras, ") must be positive");
    if (cuda::device_count() == 0) fail("cuda backend: no CUDA device is available");
    return o;
}

}  // namespace

CudaBackend::CudaBackend(std::size_t page_count, std::size_t page_bytes, CudaBackendOptions options)
    : page_count_(page_count),
      page_bytes_(page_bytes),
      page_stride_(checked_stride(page_count, page_bytes)),
      options_(checked(options)),
      pool_(cuda::CudaBuffer::device(page_stride_ * page_count,
                                     cat("the page pool (", page_count, " pages of ", page_bytes, " bytes)"))),
      pinned_(cuda::PinnedHostPool::create(kIdlePinnedBytes)),
      uploads_(kStagingBytes) {
    cuda::check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "creating the compute stream");
}

CudaBackend::~CudaBackend() {
    cudaStreamSynchronize(stream_);
    cudaStreamDestroy(stream_);
}

std::string CudaBackend::name() const {
    return cat("cuda (", cuda::device_description(0), ")");
}

HostBuffer CudaBackend::allocate_host(std::size_t bytes) {
    HostBuffer pinned = pinned_->allocate(bytes);
    if (pinned.size() == bytes) return pinned;
    if (!pinning_failed_.exchange(true))
        std::cerr << "cuda backend: cannot pin " << bytes
                  << " bytes of host memory for an adapter image; images that cannot be pinned stay in pageable "
                     "memory and upload through the staging ring\n";
    return HostBuffer::ordinary(bytes);
}

void CudaBackend::write_page(PageId page, std::size_t offset, std::span<const std::byte> bytes) {
    check_page_range(page, offset, bytes.size(), "write to");
    uploads_.copy_staged(pool_base() + page * page_stride_ + offset, bytes);
}

UploadTicket CudaBackend::write_pages(std::span<const PageId> pages, const HostBuffer& bytes,
                                      std::shared_ptr<const void> owner) {
    check_page_upload(pages, bytes.size());
    if (!bytes.pinned()) {
        UploadTicket ticket = 0;
        for (std::size_t i = 0; i < pages.size(); ++i)
            ticket = uploads_.copy_staged(pool_base() + pages[i] * page_stride_,
                                          bytes.bytes().subspan(i * page_bytes_, page_bytes_));
        return ticket;
    }
    // Runs of consecutive pages are page_stride apart in the pool and page_bytes apart in
    // the image: one 2D copy each.
    std::vector<cuda::PinnedCopy> copies;
    for (std::size_t i = 0; i < pages.size();) {
        std::size_t run = 1;
        while (i + run < pages.size() && pages[i + run] == pages[i] + run) ++run;
        copies.push_back({pool_base() + pages[i] * page_stride_, page_stride_, bytes.data() + i * page_bytes_,
                          page_bytes_, page_bytes_, run});
        i += run;
    }
    return uploads_.copy_pinned(copies, std::move(owner));
}

void CudaBackend::read_page(PageId page, std::size_t offset, std::span<std::byte> out) const {
    check_page_range(page, offset, out.size(), "read from");
    uploads_.synchronize();
    cuda::check(cudaStreamSynchronize(stream_), "finishing the compute stream before a page read");
    cuda::check(cudaMemcpy(out.data(), pool_base() + page * page_stride_ + offset, out.size(), cudaMemcpyDeviceToHost),
                "reading a page");
}

std::unique_ptr<ModelRunner> CudaBackend::load_model(const ModelConfig& config, const ModelWeights& weights) {
    return std::make_unique<CudaModelRunner>(config, weights, *this);
}

double CudaBackend::measure_copy_bandwidth() {
    constexpr std::size_t kBytes = std::size_t{256} << 20;
    const cuda::CudaBuffer from = cuda::CudaBuffer::device(kBytes, "the bandwidth probe");
    const cuda::CudaBuffer to = cuda::CudaBuffer::device(kBytes, "the bandwidth probe");
    cudaEvent_t start = nullptr, stop = nullptr;
    cuda::check(cudaEventCreate(&start), "creating a timing event");
    cuda::check(cudaEventCreate(&stop), "creating a timing event");
    double best = 0.0;
    for (int run = 0; run < 5; ++run) {  // the first run warms up
        cudaEventRecord(start, stream_);
        cudaMemcpyAsync(to.get(), from.get(), kBytes, cudaMemcpyDeviceToDevice, stream_);
        cudaEventRecord(stop, stream_);
        cuda::check(cudaEventSynchronize(stop), "timing a device copy");
        float ms = 0.0f;
        cudaEventElapsedTime(&ms, start, stop);
        if (run > 0 && ms > 0.0f) best = std::max(best, 2.0 * static_cast<double>(kBytes) / (ms * 1e-3));
    }
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    return best;
}

}  // namespace lw
