// The GPU dequantizers against the CPU reference (itself checked against gguf's):
// every tensor type of types_v3.gguf, to fp32 bit for bit, and to fp16/bf16 equal to
// the CPU values rounded to nearest even. Skips where there is no GPU.
#include "support/test_support.h"

#include "core/dequantize.h"
#include "core/half.h"
#include "cuda_check.h"
#include "dequantize.h"
#include "formats/gguf.h"

#include <cuda_runtime_api.h>

#include <cstring>
#include <set>
#include <vector>

namespace {

// Device buffer freed on scope exit.
struct DeviceBuffer {
    void* p = nullptr;
    explicit DeviceBuffer(std::size_t bytes) { lw::cuda::check(cudaMalloc(&p, bytes == 0 ? 1 : bytes), "cudaMalloc"); }
    ~DeviceBuffer() { cudaFree(p); }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

// Runs the GPU dequantizer on `n` values at host address `src` and returns the output bytes.
std::vector<std::uint8_t> on_gpu(lw::DType t, std::span<const std::byte> src, lw::cuda::DequantOutput out,
                                 std::int64_t n) {
    const std::size_t out_bytes = static_cast<std::size_t>(n) * (out == lw::cuda::DequantOutput::F32 ? 4 : 2);
    DeviceBuffer in(src.size()), result(out_bytes);
    lw::cuda::check(cudaMemcpy(in.p, src.data(), src.size(), cudaMemcpyHostToDevice), "upload");
    lw::cuda::dequantize(t, in.p, result.p, out, n);
    std::vector<std::uint8_t> host(out_bytes);
    lw::cuda::check(cudaMemcpy(host.data(), result.p, out_bytes, cudaMemcpyDeviceToHost), "download");
    return host;
}

// Checks the three outputs of one input against the CPU reference.
void compare(lw::DType t, std::span<const std::byte> src, std::int64_t n, const std::string& what) {
    std::vector<float> cpu(static_cast<std::size_t>(n));
    lw::dequantize_row(t, src.data(), cpu.data(), n);
    std::vector<std::uint16_t> f16, bf16;
    for (float v : cpu) {
        f16.push_back(lw::f32_to_f16(v));
        bf16.push_back(lw::f32_to_bf16(v));
    }
    const auto f32 = on_gpu(t, src, lw::cuda::DequantOutput::F32, n);
    QVERIFY2(std::memcmp(f32.data(), cpu.data(), f32.size()) == 0, qPrintable(QString::fromStdString(what + " f32")));
    const auto h = on_gpu(t, src, lw::cuda::DequantOutput::F16, n);
    QVERIFY2(std::memcmp(h.data(), f16.data(), h.size()) == 0, qPrintable(QString::fromStdString(what + " f16")));
    const auto b = on_gpu(t, src, lw::cuda::DequantOutput::BF16, n);
    QVERIFY2(std::memcmp(b.data(), bf16.data(), b.size()) == 0, qPrintable(QString::fromStdString(what + " bf16")));
}

}  // namespace

class TestDequantizeCuda : public QObject {
    Q_OBJECT
private slots:
    void rejectsBadInputBeforeLaunching() {
        LW_EXPECT_ERROR(lw::cuda::dequantize(lw::DType::I32, nullptr, nullptr, lw::cuda::DequantOutput::F32, 4), "I32",
                        "not a float type");
        LW_EXPECT_ERROR(lw::cuda::dequantize(lw::DType::Q6_K, nullptr, nullptr, lw::cuda::DequantOutput::F16, 100),
                        "Q6_K", "100", "256");
    }

    void matchesTheCpuOnEveryType() {
        if (lw::cuda::device_count() == 0) QSKIP("no CUDA device: the GPU dequantizers need one to run");
        const auto file = lw::GgufFile::open(lw::test::data_path("gguf/types_v3.gguf"));
        std::set<lw::DType> seen;
        for (const auto& info : file.tensors()) {
            const lw::TensorView t = file.tensor(info);
            compare(t.dtype, t.data, t.numel(), info.name);
            seen.insert(t.dtype);
        }
        QCOMPARE(seen.size(), std::size_t(7));
        const double f64[4] = {0.1, -3.0e40, 1.0e-42, 65504.0};
        compare(lw::DType::F64, std::as_bytes(std::span(f64)), 4, "f64");
    }
};

QTEST_APPLESS_MAIN(TestDequantizeCuda)
#include "test_dequantize_cuda.moc"
