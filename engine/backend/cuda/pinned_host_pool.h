// Pinned host memory for adapter images, recycled. Pinning is slow (cudaHostAlloc: about
// 19 ms for 33 MB on the H200 machine) and unpinning worse: cudaFreeHost waits for the
// whole device to go idle and blocks every other thread's CUDA calls meanwhile (42 ms
// behind a 2 GiB upload), which would stall forwards whenever the host tier drops an
// image. So a freed block waits here for the next image of its size, and is unpinned only
// when the idle blocks exceed a cap. Thread-safe: images are built on worker threads.
#pragma once

#include "core/host_buffer.h"

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>

namespace lw::cuda {

class PinnedHostPool : public std::enable_shared_from_this<PinnedHostPool> {
public:
    // `idle_cap`: bytes of freed blocks kept pinned for reuse.
    static std::shared_ptr<PinnedHostPool> create(std::size_t idle_cap);
    ~PinnedHostPool();  // unpins the idle blocks
    PinnedHostPool(const PinnedHostPool&) = delete;
    PinnedHostPool& operator=(const PinnedHostPool&) = delete;

    // `bytes` zeroed pinned bytes, an idle block of that size when there is one; an
    // empty buffer when pinning fails. The buffer keeps the pool alive.
    HostBuffer allocate(std::size_t bytes);

private:
    explicit PinnedHostPool(std::size_t idle_cap) : idle_cap_(idle_cap) {}
    void give_back(std::byte* data, std::size_t bytes);

    std::size_t idle_cap_;
    std::mutex mutex_;
    std::multimap<std::size_t, std::byte*> idle_;  // by size
    std::size_t idle_bytes_ = 0;
};

}  // namespace lw::cuda
