// The base model's linear layers on cuBLASLt: y = x W^T with W stored [out][in] as
// PyTorch stores it, half-precision inputs, fp32 accumulation. A decode step's products
// are thin (a few rows against a large W) and bound by reading W, and cuBLAS's default
// choice for them is often a split-K kernel plus a separate reduction that reads W well
// below the copy bandwidth. So every shape of decode size (rows <= kTunedRows) runs the
// fastest of cuBLASLt's candidate algorithms, timed once on the step's own buffers
// (the runner tunes decode shapes); others (prefill, bound by compute) take the
// heuristic's first choice.
#pragma once

#include "backend/cuda/cuda_buffer.h"
#include "core/dtype.h"

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <map>
#include <vector>

namespace lw::cuda {

struct GemmArgs {
    DType dtype = DType::F16;  // x and W (F16 or BF16)
    const void* x = nullptr;   // [rows][in]
    const void* w = nullptr;   // [out][in]
    void* y = nullptr;         // [rows][y_stride]: the first `out` columns are written
    int rows = 0;
    int in = 0;
    int out = 0;
    int y_stride = 0;
    bool y_f32 = false;  // y in fp32 (logits) rather than `dtype`
};

class Gemm {
public:
    // Products of at most this many rows have their algorithm timed.
    static constexpr int kTunedRows = 256;

    Gemm();
    ~Gemm();
    Gemm(const Gemm&) = delete;
    Gemm& operator=(const Gemm&) = delete;

    // Queues the product on `stream` with the shape's tuned algorithm, or the
    // heuristic's first choice when it was never tuned; throws lw::Error naming `what`.
    void run(const GemmArgs& args, cudaStream_t stream, const char* what);
    // Times cuBLASLt's candidates for the shape of `args` unless that was done (or it
    // has more than kTunedRows rows), on its buffers: it waits for the stream and writes
    // y. Not during a graph capture; call it before capturing a graph that runs the shape.
    void tune(const GemmArgs& args, cudaStream_t stream, const char* what);
    // Shapes whose algorithm was chosen by timing.
    std::size_t tuned_count() const;

private:
    struct Shape {
        DType dtype;
        int rows, in, out, y_stride;
        bool y_f32;
        int align;  // the smallest alignment of x, W and y, up to 256 bytes
        auto operator<=>(const Shape&) const = default;
    };
    struct Plan {
        cublasLtMatmulDesc_t op = nullptr;
        cublasLtMatrixLayout_t w = nullptr, x = nullptr, y = nullptr;
        std::vector<cublasLtMatmulAlgo_t> candidates;  // the heuristic's, best first
        cublasLtMatmulAlgo_t chosen{};
        bool tuned = false;
    };

    Plan& plan(const GemmArgs& args, const char* what);
    static void destroy(Plan& plan);
    cublasStatus_t matmul(const Plan& plan, const cublasLtMatmulAlgo_t& algo, const GemmArgs& args,
                          cudaStream_t stream) const;
    void time_candidates(Plan& plan, const GemmArgs& args, cudaStream_t stream, const char* what);

    cublasLtHandle_t handle_ = nullptr;
    CudaBuffer workspace_;
    cudaEvent_t start_ = nullptr, stop_ = nullptr;
    std::map<Shape, Plan> plans_;
};

}  // namespace lw::cuda
