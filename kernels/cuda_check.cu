#include "cuda_check.h"

#include "core/error.h"

#include <cuda_runtime.h>

namespace lw::cuda {

int device_count() {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();  // clear the sticky "no device" error
        return 0;
    }
    return n;
}

std::string device_description(int device) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, device) != cudaSuccess) {
        cudaGetLastError();
        return {};
    }
    return lw::cat(p.name, ", sm_", p.major, p.minor, ", ", static_cast<double>(p.totalGlobalMem) / (1u << 30), " GiB");
}

void check(int status, const char* what) {
    if (status != cudaSuccess) lw::fail("CUDA ", what, ": ", cudaGetErrorString(static_cast<cudaError_t>(status)));
}

}  // namespace lw::cuda
