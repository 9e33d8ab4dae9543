#include "backend/cuda/side_stream.h"

#include "cuda_check.h"

namespace lw::cuda {

SideStream::SideStream() {
    check(cudaStreamCreateWithFlags(&side_, cudaStreamNonBlocking), "creating a side stream");
    check(cudaEventCreateWithFlags(&forked_, cudaEventDisableTiming), "creating a side stream's fork event");
    check(cudaEventCreateWithFlags(&joined_, cudaEventDisableTiming), "creating a side stream's join event");
}

SideStream::~SideStream() {
    if (joined_) cudaEventDestroy(joined_);
    if (forked_) cudaEventDestroy(forked_);
    if (side_) cudaStreamDestroy(side_);
}

cudaStream_t SideStream::fork(cudaStream_t main) {
    check(cudaEventRecord(forked_, main), "forking the side stream");
    check(cudaStreamWaitEvent(side_, forked_, 0), "forking the side stream");
    return side_;
}

void SideStream::join(cudaStream_t main) {
    check(cudaEventRecord(joined_, side_), "joining the side stream");
    check(cudaStreamWaitEvent(main, joined_, 0), "joining the side stream");
}

}  // namespace lw::cuda
