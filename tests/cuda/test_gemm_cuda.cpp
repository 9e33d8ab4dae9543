// The base GEMMs on cuBLASLt (y = x W^T) against an fp32 product of the same rounded
// inputs: within one unit of the output's last place (plus the fp32 sum's own error),
// whether the shape runs the heuristic's algorithm or the one its timing chose, with y
// rows wider than the product and with fp32 output (logits).
#include "support/test_support.h"

#include "backend/cuda/gemm.h"
#include "core/error.h"
#include "cuda_test_support.h"

using namespace lw;
using namespace lw::test;

namespace {

struct Case {
    int rows, in, out, y_stride;
    bool y_f32;
};

std::string label(DType dtype, const Case& c) {
    return cat(dtype_label(dtype), " ", c.rows, "x", c.in, "->", c.out, c.y_stride != c.out ? " strided" : "",
               c.y_f32 ? " f32" : "");
}

}  // namespace

class TestGemmCuda : public QObject {
    Q_OBJECT
private slots:
    void rejectsBadShapes() {
        LW_REQUIRE_GPU();
        cuda::Gemm gemm;
        LW_EXPECT_ERROR(gemm.run({DType::F32, nullptr, nullptr, nullptr, 2, 8, 8, 8, false}, nullptr, "q|k|v"), "q|k|v",
                        "F32");
        LW_EXPECT_ERROR(gemm.run({DType::F16, nullptr, nullptr, nullptr, 2, 8, 16, 8, false}, nullptr, "down_proj"),
                        "down_proj", "rows of 8");
    }

    void matchesAnFp32Product() {
        LW_REQUIRE_GPU();
        std::mt19937 rng(5);
        cuda::Gemm gemm;
        const std::vector<Case> cases = {
            {1, 4096, 4096, 4096, false}, {3, 320, 264, 272, false},   {64, 1024, 2048, 2048, false},
            {5, 512, 1000, 1000, true},   {300, 256, 512, 512, false},
        };
        std::size_t expected_tuned = 0;
        for (DType dtype : {DType::F16, DType::BF16})
            for (const Case& c : cases) {
                const auto x = random_half(dtype, static_cast<std::size_t>(c.rows) * c.in, rng);
                const auto w = random_half(dtype, static_cast<std::size_t>(c.out) * c.in, rng);
                std::vector<float> expected(static_cast<std::size_t>(c.rows) * c.y_stride, 0.0f);
                for (int r = 0; r < c.rows; ++r)
                    for (int o = 0; o < c.out; ++o) {
                        float sum = 0.0f;
                        for (int k = 0; k < c.in; ++k)
                            sum += from_half(dtype, x[static_cast<std::size_t>(r) * c.in + k]) *
                                   from_half(dtype, w[static_cast<std::size_t>(o) * c.in + k]);
                        expected[static_cast<std::size_t>(r) * c.y_stride + o] = sum;
                    }
                const DeviceArray<std::uint16_t> dx(x), dw(w);
                const std::size_t y_values = static_cast<std::size_t>(c.rows) * c.y_stride;
                // The columns past `out` are never written: zero them on both sides.
                DeviceArray<std::uint16_t> y16(c.y_f32 ? 1 : y_values);
                DeviceArray<float> y32(c.y_f32 ? y_values : 1);
                void* y = c.y_f32 ? static_cast<void*>(y32.get()) : static_cast<void*>(y16.get());
                const cuda::GemmArgs args{dtype, dx.get(), dw.get(), y, c.rows, c.in, c.out, c.y_stride, c.y_f32};
                const auto result = [&] { return c.y_f32 ? y32.download() : from_half(dtype, y16.download()); };
                const float abs_tol = 1e-5f * static_cast<float>(c.in);
                const float rel_tol = c.y_f32 ? 1e-5f : half_epsilon(dtype);

                cuda::check(cudaMemset(y, 0, y_values * (c.y_f32 ? 4 : 2)), "clearing y");
                gemm.run(args, nullptr, "the heuristic's");
                expect_close(result(), expected, abs_tol, rel_tol, label(dtype, c) + " (heuristic)");

                gemm.tune(args, nullptr, "a tuned");
                if (c.rows <= cuda::Gemm::kTunedRows) ++expected_tuned;
                QCOMPARE(gemm.tuned_count(), expected_tuned);
                cuda::check(cudaMemset(y, 0, y_values * (c.y_f32 ? 4 : 2)), "clearing y");
                gemm.run(args, nullptr, "the tuned");
                expect_close(result(), expected, abs_tol, rel_tol, label(dtype, c) + " (tuned)");
                gemm.tune(args, nullptr, "a tuned");  // once per shape
                QCOMPARE(gemm.tuned_count(), expected_tuned);
            }
    }

    void emptyProductsDoNothing() {
        LW_REQUIRE_GPU();
        cuda::Gemm gemm;
        gemm.run({DType::F16, nullptr, nullptr, nullptr, 0, 64, 64, 64, false}, nullptr, "nothing");
        gemm.tune({DType::F16, nullptr, nullptr, nullptr, 0, 64, 64, 64, false}, nullptr, "nothing");
        QCOMPARE(gemm.tuned_count(), std::size_t{0});
    }
};

QTEST_APPLESS_MAIN(TestGemmCuda)
#include "test_gemm_cuda.moc"
