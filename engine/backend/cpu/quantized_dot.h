// Dot products of one stored weight row (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q6_K, ...)
// with an f32 activation vector, converting the row in registers as it is read: a
// decode step's matrix-vector products then read each weight byte once and write no
// dequantized copy. The activations stay f32 (unlike llama.cpp, which rounds them to
// 8 bits), so a dot differs from dequantize-then-dot only by float summation order.
#pragma once

#include "core/dtype.h"

#include <cstddef>

namespace lw {

// Σ row[i]·x[i] over the n values of `row` (a whole number of its dtype's blocks; the
// row may start at any byte address).
using RowDot = float (*)(const std::byte* row, const float* x, int n);

enum class DotIsa {
    Portable,  // plain C++: any CPU
    Avx2,      // x86-64 with AVX2, FMA and F16C
};

// The fastest instruction set this CPU runs (checked once, at run time).
DotIsa best_dot_isa();
bool dot_isa_supported(DotIsa isa);

// The kernel for rows of type t on `isa`. Throws lw::Error for a type that is not
// float-like or an isa this CPU lacks.
RowDot row_dot(DType t, DotIsa isa);
inline RowDot row_dot(DType t) {
    return row_dot(t, best_dot_isa());
}

}  // namespace lw
