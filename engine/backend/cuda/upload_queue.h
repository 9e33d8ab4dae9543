// Host -> device copies on their own stream, so that adapter uploads overlap other
// work. Pinned host bytes are copied straight from where they are: the caller hands over
// an owner that the queue holds until the copy's event has fired. Pageable bytes are
// first staged in a pinned ring buffer (only pinned memory copies asynchronously, and
// the caller may drop them once copy_staged returns); a slot of the ring is reused once
// the event recorded after its copy has fired. Every upload gets a ticket, increasing:
// events on one stream fire in order, so waiting for the newest event of a ticket at
// most T waits for every upload up to T. Events around each upload's copies time them on
// the upload stream (upload_stats.h).
#pragma once

#include "backend/cuda/cuda_buffer.h"
#include "memory/upload_stats.h"
#include "memory/upload_ticket.h"

#include <cuda_runtime_api.h>

#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <span>

namespace lw::cuda {

// Rows of bytes from pinned host memory to the device: `rows` rows of `width` bytes,
// `src_pitch` apart on the host and `dst_pitch` apart on the device (pool pages, page
// by page).
struct PinnedCopy {
    void* dst = nullptr;
    std::size_t dst_pitch = 0;
    const std::byte* src = nullptr;
    std::size_t src_pitch = 0;
    std::size_t width = 0;
    std::size_t rows = 0;
};

class UploadQueue {
public:
    // `capacity`: bytes of pinned staging; a single staged copy may be larger (it is split).
    explicit UploadQueue(std::size_t capacity);
    ~UploadQueue();
    UploadQueue(const UploadQueue&) = delete;
    UploadQueue& operator=(const UploadQueue&) = delete;

    // Queues a copy of pageable `bytes` to device address `dst`; returns once they are staged.
    UploadTicket copy_staged(void* dst, std::span<const std::byte> bytes);
    // Queues copies straight from pinned host memory, which `owner` keeps alive: it is
    // held until they have landed.
    UploadTicket copy_pinned(std::span<const PinnedCopy> copies, std::shared_ptr<const void> owner);
    // Makes work queued on `stream` from now on wait for every upload up to ticket `upto`.
    void order_before(cudaStream_t stream, UploadTicket upto);
    // Blocks until every queued copy has landed.
    void synchronize();
    // The uploads found landed so far (when a later call looked). Any thread may ask.
    UploadStats stats() const;

    cudaStream_t stream() const { return stream_; }

private:
    struct InFlight {
        UploadTicket ticket;
        cudaEvent_t started, done;
        std::size_t bytes;   // copied between the two events
        std::size_t offset;  // the staging slot, when size > 0
        std::size_t size;
        std::shared_ptr<const void> owner;  // pinned bytes being read
    };
    std::size_t reserve(std::size_t size);  // a staging offset free for `size` bytes
    cudaEvent_t event();                    // a spare one, or a new one
    // Records the event before an upload's copies.
    cudaEvent_t start();
    // Records the event after an upload's copies (`bytes` of them, since `started`); `size`
    // > 0: they read the staging slot at `offset`.
    void record(UploadTicket ticket, cudaEvent_t started, std::size_t bytes, std::size_t offset, std::size_t size,
                std::shared_ptr<const void> owner);
    void retire_front();
    void retire_finished();  // without waiting: the copies that have landed

    CudaBuffer staging_;
    cudaStream_t stream_ = nullptr;
    std::deque<InFlight> in_flight_;  // oldest first; staging slots in ring order
    std::deque<cudaEvent_t> spare_events_;
    std::size_t head_ = 0;
    UploadTicket last_ticket_ = 0;
    mutable std::mutex stats_mutex_;
    UploadStats stats_;
};

}  // namespace lw::cuda
