// WeightMatrix against the reference: dequantize the whole matrix, then a naive
// double-precision matmul. Every float dtype, odd shapes, token counts that take the
// row-dot path (decode) and the sgemm path (prefill), and matrices tall enough to span
// several dequantized blocks of rows.
#include "support/random_weights.h"
#include "support/test_support.h"

#include "backend/cpu/quantized_dot.h"
#include "backend/cpu/thread_pool.h"
#include "backend/cpu/weight_matrix.h"
#include "core/dequantize.h"
#include "core/error.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace {

void check(lw::DType dtype, int out, int in, int tokens, std::size_t skew) {
    std::mt19937 rng(out * 131 + in * 7 + tokens);
    const std::vector<std::byte> bytes = lw::test::random_weights(dtype, std::size_t(out) * std::size_t(in), skew, rng);
    const lw::TensorView view{"w", dtype, {out, in}, std::span(bytes).subspan(skew)};
    std::vector<float> w(std::size_t(out) * std::size_t(in));
    lw::dequantize(view, w);
    std::vector<float> x(std::size_t(tokens) * std::size_t(in));
    std::uniform_real_distribution<float> value(-1.0f, 1.0f);
    for (auto& v : x) v = value(rng);

    lw::ThreadPool threads(3);
    std::vector<float> scratch, y(std::size_t(tokens) * std::size_t(out), NAN);
    const lw::WeightMatrix matrix(view);
    QCOMPARE(matrix.out(), out);
    QCOMPARE(matrix.in(), in);
    matrix.multiply(x.data(), tokens, y.data(), threads, scratch);

    // Types with byte-product kernels may round decode's activations to 8 bits per
    // block of 32: each x moves by at most half its block's scale (absmax / 127).
    const bool rounds_x = lw::row_dot_q8(dtype) != nullptr;
    const QString what =
        QString("%1 [%2, %3] x %4 tokens").arg(lw::dtype_name(dtype).data()).arg(out).arg(in).arg(tokens);
    for (int t = 0; t < tokens; ++t)
        for (int o = 0; o < out; ++o) {
            double want = 0, magnitude = 0, rounding = 0;
            for (int i = 0; i < in; ++i) {
                const double wi = w[std::size_t(o) * std::size_t(in) + std::size_t(i)];
                const double p = double(x[std::size_t(t * in + i)]) * wi;
                want += p;
                magnitude += std::abs(p);
                if (rounds_x) {
                    const auto block = x.begin() + t * in + i / 32 * 32;
                    double amax = 0;
                    for (auto v = block; v != block + 32; ++v) amax = std::max(amax, std::abs(double(*v)));
                    rounding += std::abs(wi) * amax / 254;
                }
            }
            const double got = y[std::size_t(t) * std::size_t(out) + std::size_t(o)];
            QVERIFY2(std::abs(got - want) <= 1e-5 * magnitude + rounding + 1e-6,
                     qPrintable(what + QString(": y[%1][%2] = %3, want %4").arg(t).arg(o).arg(got).arg(want)));
        }

    std::vector<float> row(static_cast<std::size_t>(in));
    matrix.row(out - 1, row.data());
    QVERIFY(std::equal(row.begin(), row.end(), w.end() - in));
}

}  // namespace

class TestWeightMatrix : public QObject {
    Q_OBJECT
private slots:
    void everyDtypeMatchesTheReference() {
        using lw::DType;
        for (DType dtype :
             {DType::F64, DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q6_K}) {
            const int block = int(lw::dtype_info(dtype).block_elems);
            const int narrow = block == 1 ? 37 : 3 * block;  // odd, or an odd number of blocks
            for (int tokens : {1, 3, 9}) {
                check(dtype, 37, narrow, tokens, 0);
                check(dtype, 300, 8192, tokens, 0);  // 128 rows per block: 128 + 128 + 44
            }
        }
    }

    void misalignedF32MatchesTheReference() {
        check(lw::DType::F32, 37, 37, 1, 2);
        check(lw::DType::F32, 300, 8192, 5, 2);
    }

    void rejectsWhatItCannotMultiply() {
        const std::vector<std::byte> bytes(34 * 2);
        LW_EXPECT_ERROR(lw::WeightMatrix(lw::TensorView{"w", lw::DType::Q8_0, {2, 32, 1}, bytes}), "'w'", "2-D");
        LW_EXPECT_ERROR(lw::WeightMatrix(lw::TensorView{"w", lw::DType::Q8_0, {1, 32}, bytes}), "needs 34 bytes");
        LW_EXPECT_ERROR(lw::WeightMatrix(lw::TensorView{"w", lw::DType::I32, {1, 17}, bytes}), "'w'", "I32");
    }
};

QTEST_GUILESS_MAIN(TestWeightMatrix)
#include "test_weight_matrix.moc"
