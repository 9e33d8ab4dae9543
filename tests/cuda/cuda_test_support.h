// What the CUDA kernel suites share: typed device buffers, fp16/bf16 values as the
// host sees them (uint16 bits, rounded to nearest even), and tolerance checks that
// name the element at fault.
#pragma once

#include "core/dtype.h"
#include "core/half.h"
#include "cuda_check.h"

#include <QTest>
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace lw::test {

// `count` values of T in device memory, freed on scope exit.
template <class T>
class DeviceArray {
public:
    explicit DeviceArray(std::size_t count) : count_(count) {
        lw::cuda::check(cudaMalloc(reinterpret_cast<void**>(&p_), count == 0 ? 1 : count * sizeof(T)), "cudaMalloc");
    }
    explicit DeviceArray(const std::vector<T>& host) : DeviceArray(host.size()) { upload(host); }
    ~DeviceArray() { cudaFree(p_); }
    DeviceArray(const DeviceArray&) = delete;
    DeviceArray& operator=(const DeviceArray&) = delete;

    T* get() const { return p_; }
    void upload(const std::vector<T>& host) {
        lw::cuda::check(cudaMemcpy(p_, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice), "upload");
    }
    std::vector<T> download() const {
        std::vector<T> host(count_);
        lw::cuda::check(cudaDeviceSynchronize(), "kernel");
        lw::cuda::check(cudaMemcpy(host.data(), p_, count_ * sizeof(T), cudaMemcpyDeviceToHost), "download");
        return host;
    }

private:
    T* p_ = nullptr;
    std::size_t count_;
};

// Half-precision values as bits, in `dtype` (F16 or BF16).
inline std::uint16_t to_half(DType dtype, float v) {
    return dtype == DType::F16 ? f32_to_f16(v) : f32_to_bf16(v);
}
inline float from_half(DType dtype, std::uint16_t h) {
    return dtype == DType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
}
inline std::vector<float> from_half(DType dtype, const std::vector<std::uint16_t>& h) {
    std::vector<float> out;
    out.reserve(h.size());
    for (auto v : h) out.push_back(from_half(dtype, v));
    return out;
}

// `n` values uniform in [lo, hi), rounded to `dtype`.
inline std::vector<std::uint16_t> random_half(DType dtype, std::size_t n, std::mt19937& rng, float lo = -1.0f,
                                              float hi = 1.0f) {
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<std::uint16_t> out(n);
    for (auto& v : out) v = to_half(dtype, dist(rng));
    return out;
}

// The spacing of `dtype` values just above 1: the unit of the tolerances.
inline float half_epsilon(DType dtype) {
    return dtype == DType::F16 ? 0x1p-10f : 0x1p-7f;
}

// Fails the test at the first element where |actual - expected| > abs_tol + rel_tol * |expected|
// (NaN never passes), naming `what` and the index.
inline void expect_close(const std::vector<float>& actual, const std::vector<float>& expected, float abs_tol,
                         float rel_tol, const std::string& what) {
    QCOMPARE(actual.size(), expected.size());
    double worst = 0.0;
    for (std::size_t i = 0; i < actual.size(); ++i) {
        const double err = std::abs(static_cast<double>(actual[i]) - expected[i]);
        const double allowed = abs_tol + rel_tol * std::abs(expected[i]);
        if (!(err <= allowed))
            QFAIL(qPrintable(QString::fromStdString(what + ": element " + std::to_string(i) + " is " +
                                                    std::to_string(actual[i]) + ", expected " +
                                                    std::to_string(expected[i]))));
        worst = std::max(worst, err);
    }
    qInfo("%s: max abs error %.3g over %zu values", what.c_str(), worst, actual.size());
}

inline const char* dtype_label(DType dtype) {
    return dtype == DType::F16 ? "f16" : "bf16";
}

}  // namespace lw::test

// Skips the test function where no GPU is present.
#define LW_REQUIRE_GPU() \
    if (lw::cuda::device_count() == 0) QSKIP("no CUDA device")
