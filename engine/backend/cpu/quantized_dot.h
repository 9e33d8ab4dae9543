// Dot products of one stored weight row (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q6_K, ...)
// with an activation vector, converting the row in registers as it is read: a decode
// step's matrix-vector products then read each weight byte once and write no
// dequantized copy.
//
// Two kinds: row_dot keeps the activations in f32, so it differs from
// dequantize-then-dot only by float summation order. row_dot_q8 (Q8_0, Q4_0, Q4_1
// rows) takes the activations rounded to 8 bits per 32-value block, as llama.cpp
// does, and multiplies bytes with bytes: about twice as fast, at the cost of that
// rounding (each x off by at most half its block's scale, absmax / 127).
#pragma once

#include "core/dtype.h"

#include <cstddef>
#include <cstdint>
#include <vector>

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

// An activation vector rounded to 8 bits per block of 32: x[i] ≈ q[i] · scale[i / 32].
struct Q8Activation {
    std::vector<std::int8_t> q;
    std::vector<float> scale;
    std::vector<std::int32_t> q_sum;  // Σ q over each block (Q4_0's offset of 8 multiplies it)
    std::vector<float> sum;           // Σ x over each block, exact (Q4_1's minimum multiplies it)

    // `n` must be a whole number of 32-value blocks.
    void quantize(const float* x, int n);
};

// Σ row[i]·x[i] as row_dot, with x rounded as above.
using RowDotQ8 = float (*)(const std::byte* row, const Q8Activation& x, int n);

// The byte-product kernel for rows of type t on `isa`, or nullptr where t has none
// (it then takes row_dot). Throws lw::Error for an isa this CPU lacks.
RowDotQ8 row_dot_q8(DType t, DotIsa isa);
inline RowDotQ8 row_dot_q8(DType t) {
    return row_dot_q8(t, best_dot_isa());
}

}  // namespace lw
