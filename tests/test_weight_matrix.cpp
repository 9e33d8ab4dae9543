// WeightMatrix against the reference: dequantize the whole matrix, then a naive
// double-precision matmul. Every float dtype, odd shapes, one token and several,
// and matrices tall enough to span several dequantized blocks of rows.
#include "support/test_support.h"

#include "backend/cpu/thread_pool.h"
#include "backend/cpu/weight_matrix.h"
#include "core/dequantize.h"
#include "core/error.h"
#include "core/half.h"

#include <cmath>
#include <cstring>
#include <random>

namespace {

template <class T>
void put(std::vector<std::byte>& bytes, std::size_t at, T v) {
    std::memcpy(bytes.data() + at, &v, sizeof v);
}

// Random values of `dtype` for an [out, in] matrix, starting `skew` bytes into the buffer.
std::vector<std::byte> random_bytes(lw::DType dtype, int out, int in, std::size_t skew, std::mt19937& rng) {
    const lw::DTypeInfo& info = lw::dtype_info(dtype);
    const std::size_t n = std::size_t(out) * std::size_t(in);
    std::vector<std::byte> bytes(skew + lw::dtype_bytes(dtype, std::int64_t(n)));
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_real_distribution<float> value(-1.0f, 1.0f);
    for (auto& b : bytes) b = std::byte(byte(rng));
    auto f16 = [&](std::size_t at) { put(bytes, at, lw::f32_to_f16(value(rng) * 0.1f)); };
    for (std::size_t i = 0; i < n / info.block_elems; ++i) {
        const std::size_t at = skew + i * info.block_bytes;
        switch (dtype) {
            case lw::DType::F64:
                put(bytes, at, double(value(rng)));
                break;
            case lw::DType::F32:
                put(bytes, at, value(rng));
                break;
            case lw::DType::F16:
                put(bytes, at, lw::f32_to_f16(value(rng)));
                break;
            case lw::DType::BF16:
                put(bytes, at, lw::f32_to_bf16(value(rng)));
                break;
            case lw::DType::Q8_0:
            case lw::DType::Q4_0:
                f16(at);
                break;
            case lw::DType::Q4_1:
                f16(at);      // scale
                f16(at + 2);  // minimum
                break;
            case lw::DType::Q6_K:
                f16(at + 208);
                break;
            default:
                lw::fail("no test data for ", info.name);
        }
    }
    return bytes;
}

void check(lw::DType dtype, int out, int in, int tokens, std::size_t skew) {
    std::mt19937 rng(out * 131 + in * 7 + tokens);
    const std::vector<std::byte> bytes = random_bytes(dtype, out, in, skew, rng);
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

    const QString what =
        QString("%1 [%2, %3] x %4 tokens").arg(lw::dtype_name(dtype).data()).arg(out).arg(in).arg(tokens);
    for (int t = 0; t < tokens; ++t)
        for (int o = 0; o < out; ++o) {
            double want = 0, magnitude = 0;
            for (int i = 0; i < in; ++i) {
                const double p =
                    double(x[std::size_t(t * in + i)]) * w[std::size_t(o) * std::size_t(in) + std::size_t(i)];
                want += p;
                magnitude += std::abs(p);
            }
            const double got = y[std::size_t(t) * std::size_t(out) + std::size_t(o)];
            QVERIFY2(std::abs(got - want) <= 1e-5 * magnitude + 1e-6,
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
            for (int tokens : {1, 5}) {
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
