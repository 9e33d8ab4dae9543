#include "backend/cuda/pinned_host_pool.h"

#include <cuda_runtime_api.h>

#include <cstring>

namespace lw::cuda {

std::shared_ptr<PinnedHostPool> PinnedHostPool::create(std::size_t idle_cap) {
    return std::shared_ptr<PinnedHostPool>(new PinnedHostPool(idle_cap));
}

PinnedHostPool::~PinnedHostPool() {
    for (const auto& [bytes, data] : idle_) cudaFreeHost(data);
}

HostBuffer PinnedHostPool::allocate(std::size_t bytes) {
    if (bytes == 0) return {};
    std::byte* data = nullptr;
    {
        std::lock_guard lock(mutex_);
        if (const auto it = idle_.find(bytes); it != idle_.end()) {
            data = it->second;
            idle_bytes_ -= bytes;
            idle_.erase(it);
        }
    }
    if (!data) {
        void* pinned = nullptr;
        if (cudaHostAlloc(&pinned, bytes, cudaHostAllocDefault) != cudaSuccess) {
            cudaGetLastError();  // an allocation failure is not sticky: clear it
            return {};
        }
        data = static_cast<std::byte*>(pinned);
    }
    std::memset(data, 0, bytes);
    return HostBuffer(
        data, bytes, [pool = shared_from_this(), bytes](std::byte* p) { pool->give_back(p, bytes); }, true);
}

void PinnedHostPool::give_back(std::byte* data, std::size_t bytes) {
    {
        std::lock_guard lock(mutex_);
        if (idle_bytes_ + bytes <= idle_cap_) {
            idle_.emplace(bytes, data);
            idle_bytes_ += bytes;
            return;
        }
    }
    cudaFreeHost(data);  // past the cap: waits for the device, rarely
}

}  // namespace lw::cuda
