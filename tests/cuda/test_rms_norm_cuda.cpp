// RMSNorm and its residual-add variant on the GPU against backend/cpu/rms_norm, in fp16
// and bf16: x += delta is bit-exact with the CPU's rounding of the fp32 sum, and the
// norm within two units of the output type's last place.
#include "support/test_support.h"

#include "backend/cpu/rms_norm.h"
#include "cuda_test_support.h"
#include "rms_norm.h"

using namespace lw;
using namespace lw::test;

class TestRmsNormCuda : public QObject {
    Q_OBJECT
private slots:
    void rejectsBadInput() {
        LW_EXPECT_ERROR(cuda::rms_norm(DType::F32, nullptr, nullptr, nullptr, 1, 8, 1e-6f, nullptr), "rms_norm", "F32");
        int dummy = 0;
        LW_EXPECT_ERROR(cuda::rms_norm(DType::F16, &dummy, &dummy, &dummy, 1, 8, 1e-6f, nullptr), "alias");
        LW_EXPECT_ERROR(cuda::rms_norm(DType::F16, nullptr, nullptr, nullptr, 1, 0, 1e-6f, nullptr), "rms_norm",
                        "0 values");
        LW_EXPECT_ERROR(cuda::add_rms_norm(DType::F16, nullptr, nullptr, nullptr, nullptr, 1, 8, 1e-6f, nullptr),
                        "add_rms_norm", "delta");
    }

    void matchesTheCpu() {
        LW_REQUIRE_GPU();
        std::mt19937 rng(7);
        for (DType dtype : {DType::F16, DType::BF16})
            // 16-byte and single-value accesses, rows held in registers and rows longer than that.
            for (auto [rows, n] :
                 {std::pair{1, 64}, {5, 4096}, {3, 1000}, {17, 5120}, {2, 100}, {2, 1100}, {2, 12288}}) {
                const auto x = random_half(dtype, static_cast<std::size_t>(rows) * n, rng, -3.0f, 3.0f);
                const auto delta = random_half(dtype, x.size(), rng);
                const auto weight = random_half(dtype, static_cast<std::size_t>(n), rng, 0.5f, 1.5f);
                DeviceArray<std::uint16_t> dx(x), ddelta(delta), dw(weight), dout(x.size());
                const std::string what =
                    std::string(dtype_label(dtype)) + " " + std::to_string(rows) + "x" + std::to_string(n);

                cuda::rms_norm(dtype, dx.get(), dw.get(), dout.get(), rows, n, 1e-5f, nullptr);
                const auto wf = from_half(dtype, weight);
                std::vector<float> expected(x.size());
                const auto xf = from_half(dtype, x);
                for (int r = 0; r < rows; ++r)
                    lw::rms_norm(&xf[static_cast<std::size_t>(r) * n], wf.data(), n, 1e-5f,
                                 &expected[static_cast<std::size_t>(r) * n]);
                expect_close(from_half(dtype, dout.download()), expected, 1e-6f, 2 * half_epsilon(dtype),
                             what + " rms_norm");

                cuda::add_rms_norm(dtype, dx.get(), ddelta.get(), dw.get(), dout.get(), rows, n, 1e-5f, nullptr);
                std::vector<std::uint16_t> summed(x.size());
                for (std::size_t i = 0; i < x.size(); ++i)
                    summed[i] = to_half(dtype, from_half(dtype, x[i]) + from_half(dtype, delta[i]));
                QVERIFY2(dx.download() == summed, qPrintable(QString::fromStdString(what + ": x += delta")));
                const auto sf = from_half(dtype, summed);
                for (int r = 0; r < rows; ++r)
                    lw::rms_norm(&sf[static_cast<std::size_t>(r) * n], wf.data(), n, 1e-5f,
                                 &expected[static_cast<std::size_t>(r) * n]);
                expect_close(from_half(dtype, dout.download()), expected, 1e-6f, 2 * half_epsilon(dtype),
                             what + " add_rms_norm");
            }
    }
};

QTEST_APPLESS_MAIN(TestRmsNormCuda)
#include "test_rms_norm_cuda.moc"
