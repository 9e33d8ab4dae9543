#include "activation.h"

#include "cuda_check.h"
#include "half_io.cuh"

#include <algorithm>

namespace lw::cuda {
namespace {

template <class T>
__global__ void silu_mul_kernel(const T* gate_up, T* out, std::int64_t total, int intermediate) {
    const std::int64_t stride = static_cast<std::int64_t>(blockDim.x) * gridDim.x;
    for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
        const std::int64_t token = i / intermediate, j = i % intermediate;
        const T* row = gate_up + token * 2 * intermediate;
        const float g = to_f32(row[j]), u = to_f32(row[intermediate + j]);
        out[i] = from_f32<T>(g / (1.0f + expf(-g)) * u);
    }
}

}  // namespace

void silu_mul(DType dtype, const void* gate_up, void* out, int tokens, int intermediate, cudaStream_t stream) {
    if (tokens < 0 || intermediate <= 0) fail("silu_mul: ", tokens, " tokens of ", intermediate, " values");
    const std::int64_t total = static_cast<std::int64_t>(tokens) * intermediate;
    dispatch_half(dtype, "silu_mul", [&](auto tag) {
        using T = decltype(tag);
        constexpr int threads = 256;
        const auto blocks = static_cast<unsigned>(std::min<std::int64_t>((total + threads - 1) / threads, 65535));
        if (total > 0)
            silu_mul_kernel<T><<<blocks, threads, 0, stream>>>(static_cast<const T*>(gate_up), static_cast<T*>(out),
                                                               total, intermediate);
    });
    check(cudaGetLastError(), "silu_mul");
}

}  // namespace lw::cuda
