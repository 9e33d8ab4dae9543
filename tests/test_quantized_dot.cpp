// The row dot kernels against the reference: dequantize the row (core/dequantize),
// then a double-precision dot. Every float dtype, on every instruction set this CPU
// runs, rows of one to several blocks (odd counts), odd lengths for plain types, and
// rows starting at odd byte addresses. The f32 kernels differ from the reference only
// by float rounding: |got - want| <= 1e-5 · Σ|w·x|. The byte-product kernels likewise,
// against the reference dotted with the activations as they rounded them.
#include "support/random_weights.h"
#include "support/test_support.h"

#include "backend/cpu/quantized_dot.h"
#include "core/dequantize.h"
#include "core/error.h"

#include <cmath>
#include <random>

namespace {

const char* isa_label(lw::DotIsa isa) {
    return isa == lw::DotIsa::Avx2 ? "avx2" : "portable";
}

// Row lengths that exercise the kernels' main loops and their tails.
std::vector<int> lengths(lw::DType dtype) {
    const int block = int(lw::dtype_info(dtype).block_elems);
    if (block == 1) return {1, 7, 8, 9, 16, 37, 200, 2048 + 5};
    return {block, 3 * block, 7 * block, 9 * block};
}

std::vector<lw::DotIsa> supported_isas() {
    std::vector<lw::DotIsa> isas{lw::DotIsa::Portable};
    if (lw::dot_isa_supported(lw::DotIsa::Avx2)) isas.push_back(lw::DotIsa::Avx2);
    return isas;
}

// A kernel's result against the reference Σ w·x in double, within float rounding.
void expect_close(double got, const std::vector<float>& w, const std::vector<float>& x, const QString& what) {
    double want = 0, magnitude = 0;
    for (std::size_t i = 0; i < w.size(); ++i) {
        want += double(w[i]) * x[i];
        magnitude += std::abs(double(w[i]) * x[i]);
    }
    QVERIFY2(
        std::abs(got - want) <= 1e-5 * magnitude,
        qPrintable(what +
                   QString(": got %1, want %2 (Σ|w·x| %3)").arg(got, 0, 'g', 9).arg(want, 0, 'g', 9).arg(magnitude)));
}

void check_q8(lw::DType dtype, lw::DotIsa isa, int n, std::size_t skew) {
    std::mt19937 rng(n * 37 + int(skew));
    const std::vector<std::byte> bytes = lw::test::random_weights(dtype, std::size_t(n), skew, rng);
    std::vector<float> w(static_cast<std::size_t>(n)), x(static_cast<std::size_t>(n));
    lw::dequantize_row(dtype, bytes.data() + skew, w.data(), n);
    std::uniform_real_distribution<float> value(-1.0f, 1.0f);
    for (auto& v : x) v = value(rng);
    lw::Q8Activation rounded;
    rounded.quantize(x.data(), n);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(rounded.q[i]) * rounded.scale[i / 32];
    double got = lw::row_dot_q8(dtype, isa)(bytes.data() + skew, rounded, n);
    if (dtype == lw::DType::Q4_1)  // its minimum m multiplies the exact Σx, not the rounded one
        for (int b = 0; b < n / 32; ++b) {
            float m, rounded_sum = 0;
            lw::dequantize_row(lw::DType::F16, bytes.data() + skew + std::size_t(b) * 20 + 2, &m, 1);
            for (int j = 0; j < 32; ++j) rounded_sum += x[std::size_t(b * 32 + j)];
            got -= double(m) * (double(rounded.sum[std::size_t(b)]) - rounded_sum);
        }
    expect_close(got, w, x,
                 QString("%1 on %2 (bytes), %3 values, skew %4")
                     .arg(lw::dtype_name(dtype).data(), isa_label(isa))
                     .arg(n)
                     .arg(skew));
}

void check(lw::DType dtype, lw::DotIsa isa, int n, std::size_t skew) {
    std::mt19937 rng(n * 31 + int(skew));
    const std::vector<std::byte> bytes = lw::test::random_weights(dtype, std::size_t(n), skew, rng);
    std::vector<float> w(static_cast<std::size_t>(n)), x(static_cast<std::size_t>(n));
    lw::dequantize_row(dtype, bytes.data() + skew, w.data(), n);
    std::uniform_real_distribution<float> value(-1.0f, 1.0f);
    for (auto& v : x) v = value(rng);
    const double got = lw::row_dot(dtype, isa)(bytes.data() + skew, x.data(), n);
    expect_close(
        got, w, x,
        QString("%1 on %2, %3 values, skew %4").arg(lw::dtype_name(dtype).data(), isa_label(isa)).arg(n).arg(skew));
}

}  // namespace

class TestQuantizedDot : public QObject {
    Q_OBJECT
private slots:
    void everyDtypeAndIsaMatchesTheReference() {
        using lw::DType;
        qInfo("this CPU runs the %s kernels", isa_label(lw::best_dot_isa()));
        for (lw::DotIsa isa : supported_isas())
            for (DType dtype :
                 {DType::F64, DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q6_K})
                for (int n : lengths(dtype))
                    for (std::size_t skew : {0, 1, 3}) check(dtype, isa, n, skew);
    }

    void byteKernelsMatchTheReferenceOnRoundedActivations() {
        using lw::DType;
        for (lw::DotIsa isa : supported_isas())
            for (DType dtype : {DType::Q8_0, DType::Q4_0, DType::Q4_1})
                for (int n : lengths(dtype))
                    for (std::size_t skew : {0, 1, 3}) check_q8(dtype, isa, n, skew);
        for (DType dtype : {DType::F32, DType::F16, DType::BF16, DType::Q6_K})
            QVERIFY(lw::row_dot_q8(dtype, lw::DotIsa::Portable) == nullptr);  // these take row_dot
    }

    void activationsRoundWithinHalfTheirBlockScale() {
        std::vector<float> x(96);
        std::mt19937 rng(3);
        std::uniform_real_distribution<float> value(-3.0f, 3.0f);
        for (auto& v : x) v = value(rng);
        std::fill(x.begin() + 32, x.begin() + 64, 0.0f);  // an all-zero block has scale 0
        lw::Q8Activation rounded;
        rounded.quantize(x.data(), 96);
        QCOMPARE(rounded.scale[1], 0.0f);
        for (int b = 0; b < 3; ++b) {
            float sum = 0;
            int q_sum = 0;
            for (int j = 0; j < 32; ++j) {
                const std::size_t i = std::size_t(b * 32 + j);
                QVERIFY(std::abs(float(rounded.q[i]) * rounded.scale[std::size_t(b)] - x[i]) <=
                        rounded.scale[std::size_t(b)] * 0.5001f);
                QVERIFY(std::abs(int(rounded.q[i])) <= 127);
                sum += x[i];
                q_sum += rounded.q[i];
            }
            QCOMPARE(rounded.sum[std::size_t(b)], sum);
            QCOMPARE(rounded.q_sum[std::size_t(b)], q_sum);
        }
    }

    void q4_0MatchesTheReferenceExactlyWhenOneValueIsSet() {
        // One nonzero activation picks one weight: Q4_0's fma (q·d - 8d) must round as
        // the reference's (q - 8)·d does, bit for bit.
        std::mt19937 rng(7);
        const std::vector<std::byte> bytes = lw::test::random_weights(lw::DType::Q4_0, 64, 0, rng);
        std::vector<float> w(64);
        lw::dequantize_row(lw::DType::Q4_0, bytes.data(), w.data(), 64);
        for (int i = 0; i < 64; ++i) {
            std::vector<float> x(64, 0.0f);
            x[std::size_t(i)] = 1.0f;
            QCOMPARE(lw::row_dot(lw::DType::Q4_0)(bytes.data(), x.data(), 64), w[std::size_t(i)]);
        }
    }

    void rejectsTypesThatAreNotFloat() {
        LW_EXPECT_ERROR(lw::row_dot(lw::DType::I32, lw::DotIsa::Portable), "I32", "not a float type");
        LW_EXPECT_ERROR(lw::row_dot(lw::DType::Bool), "BOOL", "not a float type");
    }
};

QTEST_GUILESS_MAIN(TestQuantizedDot)
#include "test_quantized_dot.moc"
