#include "rms_norm.h"

#include "cuda_check.h"
#include "half_io.cuh"

namespace lw::cuda {
namespace {

constexpr int kThreads = 256;

// One block per row. With `delta`, x += delta is rounded and stored first, and the norm
// reads the rounded values, as a model keeping its residual stream in T does.
template <class T>
__global__ void rms_norm_kernel(T* x, const T* delta, const T* weight, T* out, int n, float eps) {
    __shared__ float scratch[32];
    T* row = x + static_cast<std::size_t>(blockIdx.x) * n;
    const T* drow = delta ? delta + static_cast<std::size_t>(blockIdx.x) * n : nullptr;
    float sum_sq = 0.0f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        float v = to_f32(row[i]);
        if (drow) {
            const T rounded = from_f32<T>(v + to_f32(drow[i]));
            row[i] = rounded;
            v = to_f32(rounded);
        }
        sum_sq += v * v;
    }
    const float inv_rms = 1.0f / sqrtf(block_sum(sum_sq, scratch) / static_cast<float>(n) + eps);
    T* orow = out + static_cast<std::size_t>(blockIdx.x) * n;
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        orow[i] = from_f32<T>(to_f32(weight[i]) * (to_f32(row[i]) * inv_rms));
}

void launch(DType dtype, void* x, const void* delta, const void* weight, void* out, int rows, int n, float eps,
            cudaStream_t stream, const char* who) {
    if (rows < 0 || n <= 0) fail(who, ": ", rows, " rows of ", n, " values");
    if (x && x == out) fail(who, ": out may not alias x");
    dispatch_half(dtype, who, [&](auto tag) {
        using T = decltype(tag);
        if (rows > 0)
            rms_norm_kernel<T><<<rows, kThreads, 0, stream>>>(static_cast<T*>(x), static_cast<const T*>(delta),
                                                              static_cast<const T*>(weight), static_cast<T*>(out), n,
                                                              eps);
    });
    check(cudaGetLastError(), who);
}

}  // namespace

void rms_norm(DType dtype, const void* x, const void* weight, void* out, int rows, int n, float eps,
              cudaStream_t stream) {
    // The kernel writes x only when given a delta.
    launch(dtype, const_cast<void*>(x), nullptr, weight, out, rows, n, eps, stream, "rms_norm");
}

void add_rms_norm(DType dtype, void* x, const void* delta, const void* weight, void* out, int rows, int n, float eps,
                  cudaStream_t stream) {
    if (!delta) fail("add_rms_norm: no delta");
    launch(dtype, x, delta, weight, out, rows, n, eps, stream, "add_rms_norm");
}

}  // namespace lw::cuda
