#include "dequantize.h"

#include "core/error.h"
#include "cuda_check.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <type_traits>

namespace lw::cuda {
namespace {

__device__ float f16_at(const std::uint8_t* p) {
    return __half2float(__ushort_as_half(static_cast<unsigned short>(p[0] | (p[1] << 8))));
}

// Value i of a tensor of type T, computed exactly as the CPU reference does.
template <DType T>
__device__ float value_at(const std::uint8_t* src, std::int64_t i) {
    if constexpr (T == DType::F64) {
        double v;
        memcpy(&v, src + i * 8, 8);
        return __double2float_rn(v);
    } else if constexpr (T == DType::F32) {
        float v;
        memcpy(&v, src + i * 4, 4);
        return v;
    } else if constexpr (T == DType::F16) {
        return f16_at(src + i * 2);
    } else if constexpr (T == DType::BF16) {
        const std::uint8_t* p = src + i * 2;
        return __uint_as_float(static_cast<unsigned>(p[0] | (p[1] << 8)) << 16);
    } else if constexpr (T == DType::Q8_0) {
        const std::uint8_t* b = src + (i / 32) * 34;
        return __fmul_rn(static_cast<float>(static_cast<std::int8_t>(b[2 + i % 32])), f16_at(b));
    } else if constexpr (T == DType::Q4_0 || T == DType::Q4_1) {
        const int j = static_cast<int>(i % 32);
        const std::uint8_t* b = src + (i / 32) * (T == DType::Q4_0 ? 18 : 20);
        const std::uint8_t* qs = b + (T == DType::Q4_0 ? 2 : 4);
        const int q = j < 16 ? (qs[j] & 0x0f) : (qs[j - 16] >> 4);
        if constexpr (T == DType::Q4_0) return __fmul_rn(static_cast<float>(q - 8), f16_at(b));
        return __fadd_rn(__fmul_rn(static_cast<float>(q), f16_at(b)), f16_at(b + 2));
    } else {  // Q6_K: see q6_k() in core/dequantize.cpp for the layout
        const int j = static_cast<int>(i % 256);
        const std::uint8_t* b = src + (i / 256) * 210;
        const int half = j / 128, part = (j % 128) / 32, l = j % 32;
        const std::uint8_t low_byte = b[half * 64 + l + (part & 1) * 32];
        const int low = part < 2 ? (low_byte & 0x0f) : (low_byte >> 4);
        const int high = (b[128 + half * 32 + l] >> (2 * part)) & 3;
        const int q = (low | (high << 4)) - 32;
        const auto scale = static_cast<std::int8_t>(b[192 + half * 8 + l / 16 + 2 * part]);
        return __fmul_rn(__fmul_rn(f16_at(b + 208), static_cast<float>(scale)), static_cast<float>(q));
    }
}

template <class Out>
__device__ Out convert(float v) {
    if constexpr (std::is_same_v<Out, __half>) {
        return __float2half_rn(v);
    } else if constexpr (std::is_same_v<Out, __nv_bfloat16>) {
        return __float2bfloat16_rn(v);
    } else {
        return v;
    }
}

template <DType T, class Out>
__global__ void dequantize_kernel(const std::uint8_t* src, Out* dst, std::int64_t n) {
    const std::int64_t stride = static_cast<std::int64_t>(blockDim.x) * gridDim.x;
    for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
        dst[i] = convert<Out>(value_at<T>(src, i));
}

template <DType T, class Out>
void launch(const void* src, void* dst, std::int64_t n, cudaStream_t stream) {
    constexpr int threads = 256;
    const std::int64_t blocks = std::min<std::int64_t>((n + threads - 1) / threads, 65535);
    dequantize_kernel<T, Out><<<static_cast<unsigned>(blocks), threads, 0, stream>>>(
        static_cast<const std::uint8_t*>(src), static_cast<Out*>(dst), n);
    check(cudaGetLastError(), "dequantize launch");
}

template <DType T>
void launch_for(const void* src, void* dst, DequantOutput out, std::int64_t n, cudaStream_t stream) {
    switch (out) {
        case DequantOutput::F32:
            return launch<T, float>(src, dst, n, stream);
        case DequantOutput::F16:
            return launch<T, __half>(src, dst, n, stream);
        case DequantOutput::BF16:
            return launch<T, __nv_bfloat16>(src, dst, n, stream);
    }
}

}  // namespace

void dequantize(DType t, const void* src, void* dst, DequantOutput out, std::int64_t n, cudaStream_t stream) {
    const DTypeInfo& info = dtype_info(t);
    if (!info.is_float) fail("cannot dequantize ", info.name, " values on the GPU: not a float type");
    if (n < 0 || n % static_cast<std::int64_t>(info.block_elems) != 0)
        fail(n, " values of ", info.name, " are not a whole number of ", info.block_elems, "-value blocks");
    if (n == 0) return;
    switch (t) {
        case DType::F64:
            return launch_for<DType::F64>(src, dst, out, n, stream);
        case DType::F32:
            return launch_for<DType::F32>(src, dst, out, n, stream);
        case DType::F16:
            return launch_for<DType::F16>(src, dst, out, n, stream);
        case DType::BF16:
            return launch_for<DType::BF16>(src, dst, out, n, stream);
        case DType::Q8_0:
            return launch_for<DType::Q8_0>(src, dst, out, n, stream);
        case DType::Q4_0:
            return launch_for<DType::Q4_0>(src, dst, out, n, stream);
        case DType::Q4_1:
            return launch_for<DType::Q4_1>(src, dst, out, n, stream);
        case DType::Q6_K:
            return launch_for<DType::Q6_K>(src, dst, out, n, stream);
        default:
            fail("cannot dequantize ", info.name, " values on the GPU");
    }
}

}  // namespace lw::cuda
