#include "backend/cuda/upload_queue.h"

#include "cuda_check.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace lw::cuda {

UploadQueue::UploadQueue(std::size_t capacity) : staging_(CudaBuffer::pinned(capacity, "the upload staging ring")) {
    check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "creating the upload stream");
}

UploadQueue::~UploadQueue() {
    cudaStreamSynchronize(stream_);
    for (const InFlight& f : in_flight_) {
        cudaEventDestroy(f.started);
        cudaEventDestroy(f.done);
    }
    for (cudaEvent_t e : spare_events_) cudaEventDestroy(e);
    cudaStreamDestroy(stream_);
}

void UploadQueue::retire_front() {
    const InFlight& f = in_flight_.front();
    check(cudaEventSynchronize(f.done), "waiting for an upload");
    float ms = 0.0f;
    check(cudaEventElapsedTime(&ms, f.started, f.done), "timing an upload");
    {
        const std::lock_guard lock(stats_mutex_);
        stats_.bytes += f.bytes;
        stats_.seconds += ms / 1e3;
    }
    spare_events_.push_back(f.started);
    spare_events_.push_back(f.done);
    in_flight_.pop_front();
}

UploadStats UploadQueue::stats() const {
    const std::lock_guard lock(stats_mutex_);
    return stats_;
}

void UploadQueue::retire_finished() {
    while (!in_flight_.empty()) {
        const cudaError_t e = cudaEventQuery(in_flight_.front().done);
        if (e == cudaErrorNotReady) return;
        check(e, "checking an upload");
        retire_front();
    }
}

std::size_t UploadQueue::reserve(std::size_t size) {
    const std::size_t offset = head_ + size <= staging_.bytes() ? head_ : 0;
    const auto overlaps = [&](const InFlight& f) {
        return f.size > 0 && f.offset < offset + size && offset < f.offset + f.size;
    };
    // Slots are reused oldest first: retire until nothing in flight overlaps.
    while (std::any_of(in_flight_.begin(), in_flight_.end(), overlaps)) retire_front();
    head_ = offset + size;
    return offset;
}

cudaEvent_t UploadQueue::event() {
    cudaEvent_t e = nullptr;
    if (spare_events_.empty()) {
        check(cudaEventCreate(&e), "creating an upload event");
    } else {
        e = spare_events_.front();
        spare_events_.pop_front();
    }
    return e;
}

cudaEvent_t UploadQueue::start() {
    const cudaEvent_t started = event();
    const cudaError_t e = cudaEventRecord(started, stream_);
    if (e != cudaSuccess) {
        spare_events_.push_back(started);
        check(e, "recording an upload's start");
    }
    return started;
}

void UploadQueue::record(UploadTicket ticket, cudaEvent_t started, std::size_t bytes, std::size_t offset,
                         std::size_t size, std::shared_ptr<const void> owner) {
    const cudaEvent_t done = event();
    if (const cudaError_t e = cudaEventRecord(done, stream_); e != cudaSuccess) {
        spare_events_.push_back(started);
        spare_events_.push_back(done);
        check(e, "recording an upload");
    }
    in_flight_.push_back({ticket, started, done, bytes, offset, size, std::move(owner)});
}

UploadTicket UploadQueue::copy_staged(void* dst, std::span<const std::byte> bytes) {
    retire_finished();
    const UploadTicket ticket = ++last_ticket_;
    for (std::size_t done = 0; done < bytes.size();) {
        const std::size_t size = std::min(bytes.size() - done, staging_.bytes());
        const std::size_t offset = reserve(size);
        std::byte* stage = staging_.as<std::byte>() + offset;
        std::memcpy(stage, bytes.data() + done, size);
        const cudaEvent_t started = start();
        const cudaError_t e =
            cudaMemcpyAsync(static_cast<std::byte*>(dst) + done, stage, size, cudaMemcpyHostToDevice, stream_);
        if (e != cudaSuccess) {
            spare_events_.push_back(started);
            check(e, "queueing an upload");
        }
        record(ticket, started, size, offset, size, nullptr);
        done += size;
    }
    return ticket;
}

UploadTicket UploadQueue::copy_pinned(std::span<const PinnedCopy> copies, std::shared_ptr<const void> owner) {
    retire_finished();
    const UploadTicket ticket = ++last_ticket_;
    const cudaEvent_t started = start();
    std::size_t bytes = 0;
    for (const PinnedCopy& c : copies) {
        const cudaError_t e = c.rows == 1 || (c.dst_pitch == c.width && c.src_pitch == c.width)
                                  ? cudaMemcpyAsync(c.dst, c.src, c.width * c.rows, cudaMemcpyHostToDevice, stream_)
                                  : cudaMemcpy2DAsync(c.dst, c.dst_pitch, c.src, c.src_pitch, c.width, c.rows,
                                                      cudaMemcpyHostToDevice, stream_);
        if (e != cudaSuccess) {
            cudaStreamSynchronize(stream_);  // the copies already queued read `owner`'s bytes
            spare_events_.push_back(started);
            check(e, "queueing an upload from pinned memory");
        }
        bytes += c.width * c.rows;
    }
    record(ticket, started, bytes, 0, 0, std::move(owner));
    return ticket;
}

void UploadQueue::order_before(cudaStream_t stream, UploadTicket upto) {
    retire_finished();
    // The newest copy of a ticket at most `upto`: the events before it have fired first.
    const auto newest =
        std::find_if(in_flight_.rbegin(), in_flight_.rend(), [&](const InFlight& f) { return f.ticket <= upto; });
    if (newest == in_flight_.rend()) return;  // all landed
    check(cudaStreamWaitEvent(stream, newest->done, 0), "ordering uploads before compute");
}

void UploadQueue::synchronize() {
    check(cudaStreamSynchronize(stream_), "waiting for uploads");
    while (!in_flight_.empty()) retire_front();
}

}  // namespace lw::cuda
