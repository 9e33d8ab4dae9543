// Device-side helpers the activation kernels share: fp16/bf16 values read as fp32 and
// written back rounded to nearest even, a dispatch from lw::DType to the CUDA type,
// vectors of values moved as one access, and a block-wide fp32 sum.
#pragma once

#include "core/dtype.h"
#include "core/error.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <type_traits>

namespace lw::cuda {

__device__ __forceinline__ float to_f32(__half v) {
    return __half2float(v);
}
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) {
    return __bfloat162float(v);
}

template <class T>
__device__ __forceinline__ T from_f32(float v) {
    if constexpr (std::is_same_v<T, __half>)
        return __float2half_rn(v);
    else
        return __float2bfloat16_rn(v);
}

// kVec consecutive values moved as one access (16 bytes for 8 halves).
template <class T, int kVec>
struct alignas(sizeof(T) * kVec) Chunk {
    T v[kVec];
};

// Calls fn(T{}) with T = __half or __nv_bfloat16 for `dtype`; throws naming `who` otherwise.
template <class Fn>
void dispatch_half(DType dtype, const char* who, Fn&& fn) {
    if (dtype == DType::F16)
        fn(__half{});
    else if (dtype == DType::BF16)
        fn(__nv_bfloat16{});
    else
        fail(who, ": activations in ", dtype_name(dtype), ", expected F16 or BF16");
}

// Sum of `v` over the block (blockDim.x a multiple of 32, at most 1024); every thread
// gets the result. `scratch` holds 32 floats of shared memory.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    __syncthreads();  // scratch may still be read by a previous call
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < static_cast<int>(blockDim.x / 32) ? scratch[lane] : 0.0f;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

}  // namespace lw::cuda
