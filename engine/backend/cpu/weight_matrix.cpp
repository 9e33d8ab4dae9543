#include "backend/cpu/weight_matrix.h"

#include "core/dequantize.h"
#include "core/error.h"

#include <cblas.h>

#include <algorithm>
#include <cstdint>
#include <limits>

namespace lw {
namespace {

// Floats of dequantized rows per GEMM: big enough to keep sgemm efficient, small
// enough (4 MiB) to stay in cache next to the activations.
constexpr std::size_t kScratchFloats = std::size_t{1} << 20;

// Up to this many tokens, dotting stored rows beats dequantizing them for sgemm: the
// rows are read once either way, and a dequantized copy costs more than the dots.
constexpr int kRowDotMaxTokens = 4;

// Rows per thread pool item: few enough items to keep the hand-out cheap, enough to
// balance the threads on the smallest projections.
constexpr int kRowsPerItem = 16;

}  // namespace

WeightMatrix::WeightMatrix(const TensorView& w) : view_(w) {
    const DTypeInfo& info = dtype_info(w.dtype);
    if (!info.is_float) fail("tensor '", w.name, "': cannot multiply ", info.name, " weights");
    if (w.shape.size() != 2) fail("tensor '", w.name, "': a weight matrix must be 2-D, got ", shape_string(w.shape));
    constexpr std::int64_t kMax = std::numeric_limits<int>::max();
    if (w.shape[0] <= 0 || w.shape[1] <= 0 || w.shape[0] > kMax || w.shape[1] > kMax)
        fail("tensor '", w.name, "': unsupported shape ", shape_string(w.shape));
    out_ = static_cast<int>(w.shape[0]);
    in_ = static_cast<int>(w.shape[1]);
    dot_ = row_dot(w.dtype);
    dot_q8_ = row_dot_q8(w.dtype);
    row_bytes_ = dtype_bytes(w.dtype, in_);  // throws when a row is not whole blocks
    if (w.data.size() != row_bytes_ * static_cast<std::size_t>(out_))
        fail("tensor '", w.name, "': ", shape_string(w.shape), " ", info.name, " needs ",
             row_bytes_ * static_cast<std::size_t>(out_), " bytes, found ", w.data.size());
}

const std::byte* WeightMatrix::row_data(int r) const {
    return view_.data.data() + static_cast<std::size_t>(r) * row_bytes_;
}

void WeightMatrix::row(int r, float* dst) const {
    dequantize_row(view_.dtype, row_data(r), dst, in_);
}

void WeightMatrix::multiply(const float* x, int tokens, float* y, ThreadPool& threads,
                            std::vector<float>& scratch) const {
    if (tokens <= kRowDotMaxTokens)
        multiply_by_rows(x, tokens, y, threads);
    else
        multiply_by_sgemm(x, tokens, y, threads, scratch);
}

void WeightMatrix::multiply_by_rows(const float* x, int tokens, float* y, ThreadPool& threads) const {
    std::vector<Q8Activation> rounded;  // for byte-product kernels: each token's x rounded once
    if (dot_q8_) {
        rounded.resize(static_cast<std::size_t>(tokens));
        for (int t = 0; t < tokens; ++t)
            rounded[static_cast<std::size_t>(t)].quantize(x + static_cast<std::size_t>(t) * in_, in_);
    }
    const int items = (out_ + kRowsPerItem - 1) / kRowsPerItem;
    threads.parallel_for(static_cast<std::size_t>(items), [&](std::size_t item) {
        const int first = static_cast<int>(item) * kRowsPerItem;
        const int last = std::min(out_, first + kRowsPerItem);
        for (int r = first; r < last; ++r)
            for (int t = 0; t < tokens; ++t) {  // the row stays in L1 for the later tokens
                const auto token = static_cast<std::size_t>(t);
                y[token * out_ + r] =
                    dot_q8_ ? dot_q8_(row_data(r), rounded[token], in_) : dot_(row_data(r), x + token * in_, in_);
            }
    });
}

void WeightMatrix::multiply_by_sgemm(const float* x, int tokens, float* y, ThreadPool& threads,
                                     std::vector<float>& scratch) const {
    // F32 in place, unless the file left it misaligned for float loads.
    const auto address = reinterpret_cast<std::uintptr_t>(view_.data.data());
    if (view_.dtype == DType::F32 && address % alignof(float) == 0) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, tokens, out_, in_, 1.0f, x, in_,
                    reinterpret_cast<const float*>(view_.data.data()), in_, 0.0f, y, out_);
        return;
    }
    // Block by block: the pool's threads dequantize the rows (which cannot throw: the
    // constructor checked them), then one sgemm runs on OpenBLAS's threads, never both at once.
    const int block = static_cast<int>(
        std::clamp<std::size_t>(kScratchFloats / static_cast<std::size_t>(in_), 1, static_cast<std::size_t>(out_)));
    scratch.resize(static_cast<std::size_t>(block) * static_cast<std::size_t>(in_));
    for (int first = 0; first < out_; first += block) {
        const int rows = std::min(block, out_ - first);
        threads.parallel_for(static_cast<std::size_t>(rows), [&](std::size_t i) {
            row(first + static_cast<int>(i), scratch.data() + i * static_cast<std::size_t>(in_));
        });
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, tokens, rows, in_, 1.0f, x, in_, scratch.data(), in_, 0.0f,
                    y + first, out_);
    }
}

}  // namespace lw
