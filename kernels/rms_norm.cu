#include "rms_norm.h"

#include "cuda_check.h"
#include "dependent_launch.cuh"
#include "half_io.cuh"

#include <cstdint>

namespace lw::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kCached = 4;  // chunks a thread keeps in registers between the two passes

// x (+ delta, rounded and stored back) for chunk c of a row; adds its squares to sum_sq.
template <class T, int kVec>
__device__ __forceinline__ Chunk<T, kVec> residual_chunk(Chunk<T, kVec>* __restrict__ row,
                                                         const Chunk<T, kVec>* __restrict__ drow, int c,
                                                         float& sum_sq) {
    Chunk<T, kVec> x = row[c];
    if (drow) {
        const Chunk<T, kVec> d = drow[c];
#pragma unroll
        for (int e = 0; e < kVec; ++e) x.v[e] = from_f32<T>(to_f32(x.v[e]) + to_f32(d.v[e]));
        row[c] = x;
    }
#pragma unroll
    for (int e = 0; e < kVec; ++e) sum_sq += to_f32(x.v[e]) * to_f32(x.v[e]);
    return x;
}

template <class T, int kVec>
__device__ __forceinline__ void write_normed(const Chunk<T, kVec>& x, const Chunk<T, kVec>* __restrict__ weight,
                                             Chunk<T, kVec>* __restrict__ orow, int c, float inv_rms) {
    const Chunk<T, kVec> w = weight[c];
    Chunk<T, kVec> o;
#pragma unroll
    for (int e = 0; e < kVec; ++e) o.v[e] = from_f32<T>(to_f32(w.v[e]) * (to_f32(x.v[e]) * inv_rms));
    orow[c] = o;
}

// One block per row, kVec values per access. With `delta`, x += delta is rounded and
// stored first, and the norm reads the rounded values, as a model keeping its residual
// stream in T does. A thread's first kCached chunks stay in registers for the second
// pass, with all their loads issued before the first is used; longer rows read the rest
// again.
template <class T, int kVec>
__global__ void __launch_bounds__(kThreads)
    rms_norm_kernel(T* x, const T* delta, const T* weight, T* out, int n, float eps) {
    using C = Chunk<T, kVec>;
    __shared__ float scratch[32];
    const std::size_t offset = static_cast<std::size_t>(blockIdx.x) * (n / kVec);
    auto* row = reinterpret_cast<C*>(x) + offset;
    const auto* drow = delta ? reinterpret_cast<const C*>(delta) + offset : nullptr;
    const auto* w = reinterpret_cast<const C*>(weight);
    auto* orow = reinterpret_cast<C*>(out) + offset;
    const int chunks = n / kVec, first = static_cast<int>(threadIdx.x);
    wait_for_prior_kernel();  // x and delta come from the kernels before

    float sum_sq = 0.0f;
    C cached[kCached];
#pragma unroll
    for (int j = 0; j < kCached; ++j)
        if (first + j * kThreads < chunks) cached[j] = residual_chunk(row, drow, first + j * kThreads, sum_sq);
    for (int c = first + kCached * kThreads; c < chunks; c += kThreads) residual_chunk(row, drow, c, sum_sq);
    const float inv_rms = 1.0f / sqrtf(block_sum(sum_sq, scratch) / static_cast<float>(n) + eps);
#pragma unroll
    for (int j = 0; j < kCached; ++j)
        if (first + j * kThreads < chunks) write_normed(cached[j], w, orow, first + j * kThreads, inv_rms);
    for (int c = first + kCached * kThreads; c < chunks; c += kThreads) write_normed(row[c], w, orow, c, inv_rms);
}

bool aligned16(const void* p) {
    return reinterpret_cast<std::uintptr_t>(p) % 16 == 0;
}

void launch(DType dtype, void* x, const void* delta, const void* weight, void* out, int rows, int n, float eps,
            cudaStream_t stream, const char* who) {
    if (rows < 0 || n <= 0) fail(who, ": ", rows, " rows of ", n, " values");
    if (x && x == out) fail(who, ": out may not alias x");
    // 16-byte accesses where every row starts 16-byte aligned: model widths are multiples of 8.
    const bool wide = n % 8 == 0 && aligned16(x) && aligned16(delta) && aligned16(weight) && aligned16(out);
    dispatch_half(dtype, who, [&](auto tag) {
        using T = decltype(tag);
        if (rows == 0) return;
        launch_dependent(who, wide ? rms_norm_kernel<T, 8> : rms_norm_kernel<T, 1>, dim3(rows), dim3(kThreads), 0,
                         stream, static_cast<T*>(x), static_cast<const T*>(delta), static_cast<const T*>(weight),
                         static_cast<T*>(out), n, eps);
    });
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
