// One [out, in] weight matrix in the precision it is stored in (a view into the
// model's weights, never copied), multiplied in fp32. A few tokens (decode) are
// dotted with each stored row directly (quantized_dot.h: Q8_0/Q4_0/Q4_1 rows with the
// activations rounded to 8 bits, as llama.cpp does; other types with f32), rows spread
// over the thread pool. More tokens (prefill) go to cblas_sgemm: F32 rows as they are, other types
// dequantized a block of rows at a time into a scratch buffer, so a model takes no
// more memory than its file.
#pragma once

#include "backend/cpu/quantized_dot.h"
#include "backend/cpu/thread_pool.h"
#include "core/tensor_view.h"

#include <cstddef>
#include <vector>

namespace lw {

class WeightMatrix {
public:
    WeightMatrix() = default;
    // `w` must be 2-D, convertible to float, and outlive this object. Throws lw::Error.
    explicit WeightMatrix(const TensorView& w);

    int out() const { return out_; }
    int in() const { return in_; }

    // y[tokens][out] = x[tokens][in] · W^T. `scratch` is reused between calls.
    void multiply(const float* x, int tokens, float* y, ThreadPool& threads, std::vector<float>& scratch) const;
    // Row r of W as f32 into dst[in]: an embedding lookup converts only what it gathers.
    void row(int r, float* dst) const;

private:
    const std::byte* row_data(int r) const;
    void multiply_by_rows(const float* x, int tokens, float* y, ThreadPool& threads) const;
    void multiply_by_sgemm(const float* x, int tokens, float* y, ThreadPool& threads,
                           std::vector<float>& scratch) const;

    TensorView view_;
    RowDot dot_ = nullptr;
    RowDotQ8 dot_q8_ = nullptr;  // preferred where the dtype has one
    std::size_t row_bytes_ = 0;
    int out_ = 0;
    int in_ = 0;
};

}  // namespace lw
