#include "backend/cpu/cpu_backend.h"

#include "backend/cpu/cpu_model_runner.h"
#include "core/error.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

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

void CpuBackend::write_page(PageId page, std::size_t offset, std::span<const std::byte> bytes) {
    check_page_range(page, offset, bytes.size(), "write to");
    std::memcpy(page_data(page) + offset, bytes.data(), bytes.size());
}

void CpuBackend::read_page(PageId page, std::size_t offset, std::span<std::byte> out) const {
    check_page_range(page, offset, out.size(), "read from");
    std::memcpy(out.data(), page_data(page) + offset, out.size());
}

std::unique_ptr<ModelRunner> CpuBackend::load_model(const ModelConfig& config, const ModelWeights& weights) {
    return std::make_unique<CpuModelRunner>(config, weights, *this);
}

double CpuBackend::measure_copy_bandwidth() {
    // Large enough to leave every cache; split over the threads that run the kernels.
    constexpr std::size_t kBytes = std::size_t{256} << 20;
    const std::size_t parts = static_cast<std::size_t>(threads_.size()) * 4;
    const std::size_t part = (kBytes / parts + kPageAlign - 1) / kPageAlign * kPageAlign;
    std::vector<std::byte> from(kBytes, std::byte{1}), to(kBytes, std::byte{0});
    double best = 0.0;
    for (int run = 0; run < 4; ++run) {  // the first run also maps `to`'s pages in
        const auto start = std::chrono::steady_clock::now();
        threads_.parallel_for(parts, [&](std::size_t i) {
            const std::size_t begin = std::min(kBytes, i * part);
            std::memcpy(to.data() + begin, from.data() + begin, std::min(kBytes, begin + part) - begin);
        });
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (run > 0) best = std::max(best, 2.0 * static_cast<double>(kBytes) / seconds);
    }
    return best;
}

}  // namespace lw
