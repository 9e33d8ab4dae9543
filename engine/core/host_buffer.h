// Owned host bytes, freed by whoever allocated them: ordinary memory, or memory that a
// device copies from directly (pinned, page-locked). The core knows no device API: a
// backend hands out its kind of buffer (Backend::allocate_host) and says how to free it.
#pragma once

#include <cstddef>
#include <functional>
#include <span>

namespace lw {

class HostBuffer {
public:
    using Deleter = std::function<void(std::byte*)>;

    // `size` zeroed bytes of ordinary memory, 64-byte aligned; throws lw::Error when
    // there is no room.
    static HostBuffer ordinary(std::size_t size);

    HostBuffer() = default;
    // Takes `data` (`size` bytes), which `deleter` frees.
    HostBuffer(std::byte* data, std::size_t size, Deleter deleter, bool pinned);
    ~HostBuffer();
    HostBuffer(HostBuffer&& other) noexcept;
    HostBuffer& operator=(HostBuffer&& other) noexcept;
    HostBuffer(const HostBuffer&) = delete;
    HostBuffer& operator=(const HostBuffer&) = delete;

    std::byte* data() { return data_; }
    const std::byte* data() const { return data_; }
    std::size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    // Page-locked: a device may read it with DMA while the host goes on.
    bool pinned() const { return pinned_; }
    std::span<std::byte> bytes() { return {data_, size_}; }
    std::span<const std::byte> bytes() const { return {data_, size_}; }

private:
    void reset();

    std::byte* data_ = nullptr;
    std::size_t size_ = 0;
    Deleter deleter_;
    bool pinned_ = false;
};

// Allocates host buffers of a given size; may be called from any thread.
using HostAllocator = std::function<HostBuffer(std::size_t size)>;

}  // namespace lw
