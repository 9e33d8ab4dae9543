// Weight dequantization on the GPU: the arithmetic of core/dequantize.cpp (ggml's
// reference dequantizers) with every product and sum rounded separately, never fused,
// so fp32 results are bit-exact with the CPU; fp16/bf16 outputs are those values
// rounded to nearest even, for weights the backend keeps in half precision.
#pragma once

#include "core/dtype.h"

#include <cuda_runtime_api.h>

#include <cstdint>

namespace lw::cuda {

enum class DequantOutput { F32, F16, BF16 };

// Converts `n` values of type `t` at device address `src` into `dst` (device memory
// for n values of `out`), asynchronously on `stream`. `n` must be a whole number of
// blocks. Throws lw::Error for types that do not convert to float and on launch errors.
void dequantize(DType t, const void* src, void* dst, DequantOutput out, std::int64_t n, cudaStream_t stream = nullptr);

}  // namespace lw::cuda
