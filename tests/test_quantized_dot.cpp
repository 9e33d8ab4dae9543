// The row dot kernels against the reference: dequantize the row (core/dequantize),
// then a double-precision dot. Every float dtype, on every instruction set this CPU
// runs, rows of one to several blocks (odd counts), odd lengths for plain types, and
// rows starting at odd byte addresses. The kernels keep activations in f32 and differ
// from the reference only by float rounding: |got - want| <= 1e-5 · Σ|w·x|.
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

void check(lw::DType dtype, lw::DotIsa isa, int n, std::size_t skew) {
    std::mt19937 rng(n * 31 + int(skew));
    const std::vector<std::byte> bytes = lw::test::random_weights(dtype, std::size_t(n), skew, rng);
    std::vector<float> w(static_cast<std::size_t>(n)), x(static_cast<std::size_t>(n));
    lw::dequantize_row(dtype, bytes.data() + skew, w.data(), n);
    std::uniform_real_distribution<float> value(-1.0f, 1.0f);
    for (auto& v : x) v = value(rng);
    double want = 0, magnitude = 0;
    for (int i = 0; i < n; ++i) {
        want += double(w[std::size_t(i)]) * x[std::size_t(i)];
        magnitude += std::abs(double(w[std::size_t(i)]) * x[std::size_t(i)]);
    }
    const double got = lw::row_dot(dtype, isa)(bytes.data() + skew, x.data(), n);
    QVERIFY2(std::abs(got - want) <= 1e-5 * magnitude,
             qPrintable(QString("%1 on %2, %3 values, skew %4: got %5, want %6 (Σ|w·x| %7)")
                            .arg(lw::dtype_name(dtype).data(), isa_label(isa))
                            .arg(n)
                            .arg(skew)
                            .arg(got, 0, 'g', 9)
                            .arg(want, 0, 'g', 9)
                            .arg(magnitude)));
}

}  // namespace

class TestQuantizedDot : public QObject {
    Q_OBJECT
private slots:
    void everyDtypeAndIsaMatchesTheReference() {
        using lw::DType;
        std::vector<lw::DotIsa> isas{lw::DotIsa::Portable};
        if (lw::dot_isa_supported(lw::DotIsa::Avx2)) isas.push_back(lw::DotIsa::Avx2);
        qInfo("this CPU runs the %s kernels", isa_label(lw::best_dot_isa()));
        for (lw::DotIsa isa : isas)
            for (DType dtype :
                 {DType::F64, DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q6_K})
                for (int n : lengths(dtype))
                    for (std::size_t skew : {0, 1, 3}) check(dtype, isa, n, skew);
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
