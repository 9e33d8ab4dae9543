// SiLU(gate) * up on the GPU, reading the fused gate|up GEMM output, against the CPU
// runner's formula in fp32: within one unit of the output type's last place.
#include "support/test_support.h"

#include "activation.h"
#include "cuda_test_support.h"

using namespace lw;
using namespace lw::test;

class TestActivationCuda : public QObject {
    Q_OBJECT
private slots:
    void rejectsBadInput() {
        LW_EXPECT_ERROR(cuda::silu_mul(DType::F32, nullptr, nullptr, 1, 8, nullptr), "silu_mul", "F32");
        LW_EXPECT_ERROR(cuda::silu_mul(DType::BF16, nullptr, nullptr, 2, 0, nullptr), "silu_mul", "0 values");
    }

    void matchesTheCpu() {
        LW_REQUIRE_GPU();
        std::mt19937 rng(11);
        for (DType dtype : {DType::F16, DType::BF16})
            for (auto [tokens, ffn] : {std::pair{1, 11008}, {7, 333}, {64, 1536}, {0, 8}, {70000, 16}}) {
                const auto gate_up = random_half(dtype, static_cast<std::size_t>(tokens) * 2 * ffn, rng, -6.0f, 6.0f);
                DeviceArray<std::uint16_t> din(gate_up), dout(static_cast<std::size_t>(tokens) * ffn);
                cuda::silu_mul(dtype, din.get(), dout.get(), tokens, ffn, nullptr);
                std::vector<float> expected;
                for (int t = 0; t < tokens; ++t)
                    for (int j = 0; j < ffn; ++j) {
                        const float g = from_half(dtype, gate_up[static_cast<std::size_t>(t) * 2 * ffn + j]);
                        const float u = from_half(dtype, gate_up[static_cast<std::size_t>(t) * 2 * ffn + ffn + j]);
                        expected.push_back(g / (1.0f + std::exp(-g)) * u);
                    }
                expect_close(from_half(dtype, dout.download()), expected, 1e-6f, half_epsilon(dtype),
                             std::string(dtype_label(dtype)) + " silu_mul " + std::to_string(tokens) + "x" +
                                 std::to_string(ffn));
            }
    }
};

QTEST_APPLESS_MAIN(TestActivationCuda)
#include "test_activation_cuda.moc"
