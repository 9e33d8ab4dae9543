// Converts any float-like stored tensor (F64/F32/F16/BF16 and the GGUF block
// quantizations) to float32: the reference the CPU backend and the tests rely on.
#pragma once

#include "core/dtype.h"
#include "core/tensor_view.h"

#include <cstddef>
#include <cstdint>
#include <span>

namespace lw {

// Converts `n` consecutive values of type t starting at `src` (n must be a whole
// number of blocks). Throws lw::Error for non-float types.
void dequantize_row(DType t, const std::byte* src, float* dst, std::int64_t n);

// Converts a whole tensor; `out` must hold numel() floats.
void dequantize(const TensorView& t, std::span<float> out);

}  // namespace lw
