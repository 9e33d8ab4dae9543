#include "backend/cpu/cpu_backend.h"

#include "backend/cpu/cpu_model_runner.h"
#include "core/error.h"

#include <cstring>

namespace lw {
namespace {

constexpr std::size_t kPageAlign = 64;  // a cache line, and the widest vector load

int default_threads() {
    return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace

CpuBackend::CpuBackend(std::size_t page_count, std::size_t page_bytes, int threads)
    : page_count_(page_count),
      page_bytes_(page_bytes),
      page_stride_((page_bytes + kPageAlign - 1) / kPageAlign * kPageAlign),
      threads_(threads > 0 ? threads : default_threads()) {
    if (page_count == 0 || page_bytes == 0)
        fail("cpu backend: a pool of ", page_count, " pages of ", page_bytes, " bytes is empty");
    if (page_stride_ > SIZE_MAX / page_count)
        fail("cpu backend: ", page_count, " pages of ", page_bytes, " bytes overflow");
    // Left uninitialised: the OS maps pages in as they are first written.
    memory_.reset(static_cast<std::byte*>(std::aligned_alloc(kPageAlign, page_stride_ * page_count)));
    if (!memory_) fail("cpu backend: cannot allocate ", page_count, " pages of ", page_bytes, " bytes");
}

std::string CpuBackend::name() const {
    return cat("cpu (", threads_.size(), " threads, OpenBLAS)");
}

void CpuBackend::check_range(PageId page, std::size_t offset, std::size_t size, const char* what) const {
    if (page >= page_count_) fail("cpu backend: ", what, " page ", page, " of a pool of ", page_count_);
    if (offset > page_bytes_ || size > page_bytes_ - offset)
        fail("cpu backend: ", what, " ", size, " bytes at offset ", offset, " of page ", page, " overruns its ",
             page_bytes_, " bytes");
}

void CpuBackend::write_page(PageId page, std::size_t offset, std::span<const std::byte> bytes) {
    check_range(page, offset, bytes.size(), "write to");
    std::memcpy(page_data(page) + offset, bytes.data(), bytes.size());
}

void CpuBackend::read_page(PageId page, std::size_t offset, std::span<std::byte> out) const {
    check_range(page, offset, out.size(), "read from");
    std::memcpy(out.data(), page_data(page) + offset, out.size());
}

std::unique_ptr<ModelRunner> CpuBackend::load_model(const ModelConfig& config, const ModelWeights& weights) {
    return std::make_unique<CpuModelRunner>(config, weights, *this);
}

}  // namespace lw
