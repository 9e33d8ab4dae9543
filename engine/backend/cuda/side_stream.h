// A second stream for work that may run beside the compute stream's next kernels (the
// LoRA shrink beside its projection's GEMM): fork() makes it wait for what the compute
// stream has queued so far, join() makes the compute stream wait for what it has queued
// since. Both are plain event records and waits, so a graph capture on the compute
// stream takes the side stream's work in as a parallel branch.
#pragma once

#include <cuda_runtime_api.h>

namespace lw::cuda {

class SideStream {
public:
    SideStream();  // throws lw::Error when the stream or its events cannot be made
    ~SideStream();
    SideStream(const SideStream&) = delete;
    SideStream& operator=(const SideStream&) = delete;

    // Returns the side stream, ordered after everything queued on `main` so far.
    cudaStream_t fork(cudaStream_t main);
    // Orders what `main` queues next after everything queued on the side stream so far.
    void join(cudaStream_t main);

private:
    cudaStream_t side_ = nullptr;
    cudaEvent_t forked_ = nullptr, joined_ = nullptr;
};

}  // namespace lw::cuda
