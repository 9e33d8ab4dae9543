#include "core/host_buffer.h"

#include "core/error.h"

#include <cstdlib>
#include <cstring>
#include <utility>

namespace lw {
namespace {

constexpr std::size_t kAlign = 64;  // a cache line, and the widest vector load

}  // namespace

HostBuffer HostBuffer::ordinary(std::size_t size) {
    if (size == 0) return {};
    const std::size_t rounded = (size + kAlign - 1) / kAlign * kAlign;
    auto* data = static_cast<std::byte*>(std::aligned_alloc(kAlign, rounded));
    if (!data) fail("cannot allocate ", size, " bytes of host memory");
    std::memset(data, 0, size);
    return HostBuffer(
        data, size, [](std::byte* p) { std::free(p); }, false);
}

HostBuffer::HostBuffer(std::byte* data, std::size_t size, Deleter deleter, bool pinned)
    : data_(data), size_(size), deleter_(std::move(deleter)), pinned_(pinned) {}

HostBuffer::~HostBuffer() {
    reset();
}

HostBuffer::HostBuffer(HostBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      deleter_(std::exchange(other.deleter_, {})),
      pinned_(std::exchange(other.pinned_, false)) {}

HostBuffer& HostBuffer::operator=(HostBuffer&& other) noexcept {
    if (this != &other) {
        reset();
        data_ = std::exchange(other.data_, nullptr);
        size_ = std::exchange(other.size_, 0);
        deleter_ = std::exchange(other.deleter_, {});
        pinned_ = std::exchange(other.pinned_, false);
    }
    return *this;
}

void HostBuffer::reset() {
    if (data_ && deleter_) deleter_(data_);
    data_ = nullptr;
    size_ = 0;
}

}  // namespace lw
