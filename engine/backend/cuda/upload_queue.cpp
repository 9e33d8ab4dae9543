#include "backend/cuda/upload_queue.h"

#include "cuda_check.h"

#include <algorithm>
#include <cstring>

namespace lw::cuda {

UploadQueue::UploadQueue(std::size_t capacity) : staging_(CudaBuffer::pinned(capacity, "the upload staging ring")) {
    check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "creating the upload stream");
    check(cudaEventCreateWithFlags(&last_, cudaEventDisableTiming), "creating the upload event");
}

UploadQueue::~UploadQueue() {
    cudaStreamSynchronize(stream_);
    for (const InFlight& f : in_flight_) cudaEventDestroy(f.done);
    for (cudaEvent_t e : spare_events_) cudaEventDestroy(e);
    cudaEventDestroy(last_);
    cudaStreamDestroy(stream_);
}

void UploadQueue::retire_front() {
    check(cudaEventSynchronize(in_flight_.front().done), "waiting for an upload");
    spare_events_.push_back(in_flight_.front().done);
    in_flight_.pop_front();
}

std::size_t UploadQueue::reserve(std::size_t size) {
    const std::size_t offset = head_ + size <= staging_.bytes() ? head_ : 0;
    const auto overlaps = [&](const InFlight& f) { return f.offset < offset + size && offset < f.offset + f.size; };
    // Slots are reused oldest first: retire until nothing in flight overlaps.
    while (std::any_of(in_flight_.begin(), in_flight_.end(), overlaps)) retire_front();
    head_ = offset + size;
    return offset;
}

void UploadQueue::copy(void* dst, std::span<const std::byte> bytes) {
    for (std::size_t done = 0; done < bytes.size();) {
        const std::size_t size = std::min(bytes.size() - done, staging_.bytes());
        const std::size_t offset = reserve(size);
        std::byte* stage = staging_.as<std::byte>() + offset;
        std::memcpy(stage, bytes.data() + done, size);
        check(cudaMemcpyAsync(static_cast<std::byte*>(dst) + done, stage, size, cudaMemcpyHostToDevice, stream_),
              "queueing an upload");
        cudaEvent_t event = nullptr;
        if (spare_events_.empty()) {
            check(cudaEventCreateWithFlags(&event, cudaEventDisableTiming), "creating an upload event");
        } else {
            event = spare_events_.front();
            spare_events_.pop_front();
        }
        check(cudaEventRecord(event, stream_), "recording an upload");
        in_flight_.push_back({offset, size, event});
        done += size;
    }
    check(cudaEventRecord(last_, stream_), "recording the last upload");
}

void UploadQueue::order_before(cudaStream_t stream) {
    check(cudaStreamWaitEvent(stream, last_, 0), "ordering uploads before compute");
}

void UploadQueue::synchronize() {
    check(cudaStreamSynchronize(stream_), "waiting for uploads");
    while (!in_flight_.empty()) retire_front();
}

}  // namespace lw::cuda
