// The CPU as a device: the unified page pool's bytes in host RAM (each page 64-byte
// aligned for vector loads), a thread pool for the kernels, and fp32 everywhere.
#pragma once

#include "backend/backend.h"
#include "backend/cpu/thread_pool.h"

#include <cstdlib>
#include <memory>

namespace lw {

class CpuBackend final : public Backend {
public:
    // `threads` 0: one per hardware thread.
    CpuBackend(std::size_t page_count, std::size_t page_bytes, int threads = 0);

    std::string name() const override;
    std::size_t page_count() const override { return page_count_; }
    std::size_t page_bytes() const override { return page_bytes_; }
    DType pool_dtype() const override { return DType::F32; }
    void write_page(PageId page, std::size_t offset, std::span<const std::byte> bytes) override;
    void read_page(PageId page, std::size_t offset, std::span<std::byte> out) const override;
    std::unique_ptr<ModelRunner> load_model(const ModelConfig& config, const ModelWeights& weights) override;
    // A parallel memcpy of 256 MiB in host RAM, best of a few runs.
    double measure_copy_bandwidth() override;

    // A page's bytes, for the kernels (which have checked `page` against page_count()).
    std::byte* page_data(PageId page) const { return memory_.get() + page * page_stride_; }
    ThreadPool& threads() { return threads_; }

private:
    struct FreeAligned {
        void operator()(std::byte* p) const { std::free(p); }
    };

    std::size_t page_count_;
    std::size_t page_bytes_;
    std::size_t page_stride_;  // page_bytes rounded up to the alignment
    std::unique_ptr<std::byte, FreeAligned> memory_;
    ThreadPool threads_;
};

}  // namespace lw
