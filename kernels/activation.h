// The SwiGLU activation of the Llama MLP on the GPU, fused with the split of the
// gate|up GEMM output: out = silu(gate) * up, computed in fp32 and rounded once.
#pragma once

#include "core/dtype.h"

#include <cuda_runtime_api.h>

namespace lw::cuda {

// gate_up: [tokens][2 * intermediate] (gate in the first half of each row, up in the
// second); out: [tokens][intermediate]; both in `dtype` (F16 or BF16), device memory.
void silu_mul(DType dtype, const void* gate_up, void* out, int tokens, int intermediate, cudaStream_t stream);

}  // namespace lw::cuda
