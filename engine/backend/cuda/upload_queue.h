// Host -> device copies on their own stream, so that adapter uploads overlap other
// work. Each copy is first staged in a pinned ring buffer (the caller's bytes may be
// gone once copy() returns, and only pinned memory copies asynchronously); a slot of
// the ring is reused once the event recorded after its copy has fired.
#pragma once

#include "backend/cuda/cuda_buffer.h"

#include <cuda_runtime_api.h>

#include <cstddef>
#include <deque>
#include <span>

namespace lw::cuda {

class UploadQueue {
public:
    // `capacity`: bytes of pinned staging; a single copy may be larger (it is split).
    explicit UploadQueue(std::size_t capacity);
    ~UploadQueue();
    UploadQueue(const UploadQueue&) = delete;
    UploadQueue& operator=(const UploadQueue&) = delete;

    // Queues a copy of `bytes` to device address `dst`; returns once they are staged.
    void copy(void* dst, std::span<const std::byte> bytes);
    // Makes work queued on `stream` from now on wait for every copy queued so far.
    void order_before(cudaStream_t stream);
    // Blocks until every queued copy has landed.
    void synchronize();

    cudaStream_t stream() const { return stream_; }

private:
    struct InFlight {
        std::size_t offset;
        std::size_t size;
        cudaEvent_t done;
    };
    std::size_t reserve(std::size_t size);  // a staging offset free for `size` bytes
    void retire_front();

    CudaBuffer staging_;
    cudaStream_t stream_ = nullptr;
    cudaEvent_t last_ = nullptr;      // recorded after the newest copy
    std::deque<InFlight> in_flight_;  // oldest first, in ring order
    std::deque<cudaEvent_t> spare_events_;
    std::size_t head_ = 0;
};

}  // namespace lw::cuda
