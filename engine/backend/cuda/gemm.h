// The base model's linear layers on cuBLAS: y = x W^T with W stored [out][in] as
// PyTorch stores it, half-precision inputs, fp32 accumulation.
#pragma once

#include "core/dtype.h"

#include <cublas_v2.h>

namespace lw::cuda {

struct GemmArgs {
    DType dtype = DType::F16;  // x and W (F16 or BF16)
    const void* x = nullptr;   // [rows][in]
    const void* w = nullptr;   // [out][in]
    void* y = nullptr;         // [rows][y_stride]: the first `out` columns are written
    int rows = 0;
    int in = 0;
    int out = 0;
    int y_stride = 0;
    bool y_f32 = false;  // y in fp32 (logits) rather than `dtype`
};

// Queues the product on the handle's stream; throws lw::Error naming `what` on failure.
void gemm(cublasHandle_t handle, const GemmArgs& args, const char* what);

}  // namespace lw::cuda
