// RMSNorm on the GPU, as backend/cpu/rms_norm.cpp computes it (fp32 math):
// out = x / sqrt(mean(x^2) + eps) * weight, one row of `n` values at a time.
#pragma once

#include "core/dtype.h"

#include <cuda_runtime_api.h>

namespace lw::cuda {

// x, out: [rows][n] and weight: [n], all in `dtype` (F16 or BF16), device memory.
// out may not alias x.
void rms_norm(DType dtype, const void* x, const void* weight, void* out, int rows, int n, float eps,
              cudaStream_t stream);

// The residual stream's update fused with the next norm: x += delta (rounded to
// `dtype` in place), then out = rmsnorm(x) * weight from that rounded x. Same layouts.
void add_rms_norm(DType dtype, void* x, const void* delta, const void* weight, void* out, int rows, int n, float eps,
                  cudaStream_t stream);

}  // namespace lw::cuda
