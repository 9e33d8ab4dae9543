// Programmatic dependent launch (Hopper and later). A kernel queued with
// launch_dependent() may be scheduled while the kernel before it on the stream is still
// finishing, so that its launch, its block scheduling and whatever it does before
// wait_for_prior_kernel() overlap that kernel's tail; in a decode step of hundreds of
// short kernels those gaps add up. Rules for such a kernel: before the wait it may read
// only what no kernel of the step writes (weights, adapter rows, the step's input tables,
// uploaded before the step) and write nothing; and every block waits before it exits,
// early exits included, so that the kernel never finishes before the one before it (the
// next kernel's wait then covers everything earlier on the stream). Where there is no
// kernel before it, or the GPU predates Hopper, the wait returns at once.
#pragma once

#include "core/error.h"

#include <cuda_runtime.h>

#include <cstddef>

namespace lw::cuda {

__device__ __forceinline__ void wait_for_prior_kernel() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// Queues kernel<<<grid, block, shared, stream>>>(args...) as a dependent launch;
// throws lw::Error naming `who` when the launch is refused.
template <class... Params, class... Args>
void launch_dependent(const char* who, void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t shared,
                      cudaStream_t stream, Args&&... args) {
    cudaLaunchAttribute attribute{};
    attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attribute.val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t config{};
    config.gridDim = grid;
    config.blockDim = block;
    config.dynamicSmemBytes = shared;
    config.stream = stream;
    config.attrs = &attribute;
    config.numAttrs = 1;
    const cudaError_t e = cudaLaunchKernelEx(&config, kernel, static_cast<Params>(args)...);
    if (e != cudaSuccess) fail(who, ": launch failed: ", cudaGetErrorString(e));
}

}  // namespace lw::cuda
