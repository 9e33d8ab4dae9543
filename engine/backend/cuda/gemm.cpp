#include "backend/cuda/gemm.h"

#include "core/error.h"
#include "cuda_check.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <limits>

namespace lw::cuda {
namespace {

// What NVIDIA recommends for Hopper.
constexpr std::size_t kWorkspaceBytes = 32u << 20;
// Candidates timed per tuned shape, and the timed runs of each after one warm-up run.
constexpr int kCandidates = 8;
constexpr int kTimedRuns = 3;

void check_lt(cublasStatus_t s, const char* what, const char* step) {
    if (s != CUBLAS_STATUS_SUCCESS) fail("cuBLASLt GEMM of ", what, ": ", step, ": ", cublasLtGetStatusString(s));
}

int alignment(const GemmArgs& a) {
    const auto bits = reinterpret_cast<std::uintptr_t>(a.x) | reinterpret_cast<std::uintptr_t>(a.w) |
                      reinterpret_cast<std::uintptr_t>(a.y) | std::uintptr_t{256};
    return static_cast<int>(std::uintptr_t{1} << std::countr_zero(bits));
}

}  // namespace

Gemm::Gemm() : workspace_(CudaBuffer::device(kWorkspaceBytes, "cuBLASLt's workspace")) {
    check_lt(cublasLtCreate(&handle_), "the model", "creating a cuBLASLt handle");
    check(cudaEventCreate(&start_), "creating a GEMM timing event");
    check(cudaEventCreate(&stop_), "creating a GEMM timing event");
}

Gemm::~Gemm() {
    for (auto& [shape, p] : plans_) destroy(p);
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
    cublasLtDestroy(handle_);
}

std::size_t Gemm::tuned_count() const {
    return static_cast<std::size_t>(
        std::count_if(plans_.begin(), plans_.end(), [](const auto& kv) { return kv.second.tuned; }));
}

Gemm::Plan& Gemm::plan(const GemmArgs& a, const char* what) {
    const Shape shape{a.dtype, a.rows, a.in, a.out, a.y_stride, a.y_f32, alignment(a)};
    if (const auto it = plans_.find(shape); it != plans_.end()) return it->second;
    if (a.dtype != DType::F16 && a.dtype != DType::BF16)
        fail("GEMM of ", what, ": ", dtype_name(a.dtype), " inputs are not supported (F16 or BF16)");
    if (a.rows < 0 || a.in <= 0 || a.out <= 0 || a.y_stride < a.out)
        fail("GEMM of ", what, ": ", a.rows, " x ", a.in, " -> ", a.out, " into rows of ", a.y_stride,
             " is not a valid product");

    // Column-major view: y^T [out x rows] = (W as [in x out] col-major)^T . x^T [in x rows].
    const cudaDataType in_type = a.dtype == DType::BF16 ? CUDA_R_16BF : CUDA_R_16F;
    const cudaDataType out_type = a.y_f32 ? CUDA_R_32F : in_type;
    Plan p;
    check_lt(cublasLtMatmulDescCreate(&p.op, CUBLAS_COMPUTE_32F, CUDA_R_32F), what, "describing the product");
    const cublasOperation_t transpose = CUBLAS_OP_T, keep = CUBLAS_OP_N;
    cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSA, &transpose, sizeof(transpose));
    cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSB, &keep, sizeof(keep));
    check_lt(cublasLtMatrixLayoutCreate(&p.w, in_type, a.in, a.out, a.in), what, "describing W");
    check_lt(cublasLtMatrixLayoutCreate(&p.x, in_type, a.in, std::max(a.rows, 1), a.in), what, "describing x");
    check_lt(cublasLtMatrixLayoutCreate(&p.y, out_type, a.out, std::max(a.rows, 1), a.y_stride), what, "describing y");

    cublasLtMatmulPreference_t preference = nullptr;
    check_lt(cublasLtMatmulPreferenceCreate(&preference), what, "creating a preference");
    const std::uint64_t workspace = workspace_.bytes();
    const auto align = static_cast<std::uint32_t>(shape.align);
    cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace,
                                         sizeof(workspace));
    for (const auto attribute :
         {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
          CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
        cublasLtMatmulPreferenceSetAttribute(preference, attribute, &align, sizeof(align));
    cublasLtMatmulHeuristicResult_t results[kCandidates] = {};
    int found = 0;
    const int wanted = a.rows <= kTunedRows ? kCandidates : 1;
    const cublasStatus_t s =
        cublasLtMatmulAlgoGetHeuristic(handle_, p.op, p.w, p.x, p.y, p.y, preference, wanted, results, &found);
    cublasLtMatmulPreferenceDestroy(preference);
    for (int i = 0; i < found; ++i)
        if (results[i].state == CUBLAS_STATUS_SUCCESS) p.candidates.push_back(results[i].algo);
    if (s != CUBLAS_STATUS_SUCCESS || p.candidates.empty()) {
        destroy(p);
        fail("cuBLASLt has no algorithm for the GEMM of ", what, " (", a.rows, " x ", a.in, " -> ", a.out, ", ",
             dtype_name(a.dtype), ")");
    }
    p.chosen = p.candidates.front();
    return plans_.emplace(shape, std::move(p)).first->second;
}

void Gemm::destroy(Plan& p) {
    cublasLtMatrixLayoutDestroy(p.w);
    cublasLtMatrixLayoutDestroy(p.x);
    cublasLtMatrixLayoutDestroy(p.y);
    cublasLtMatmulDescDestroy(p.op);
}

cublasStatus_t Gemm::matmul(const Plan& p, const cublasLtMatmulAlgo_t& algo, const GemmArgs& a,
                            cudaStream_t stream) const {
    const float alpha = 1.0f, beta = 0.0f;
    return cublasLtMatmul(handle_, p.op, &alpha, a.w, p.w, a.x, p.x, &beta, a.y, p.y, a.y, p.y, &algo, workspace_.get(),
                          workspace_.bytes(), stream);
}

void Gemm::time_candidates(Plan& p, const GemmArgs& a, cudaStream_t stream, const char* what) {
    float best = std::numeric_limits<float>::infinity();
    for (const cublasLtMatmulAlgo_t& algo : p.candidates) {
        // A candidate that cannot run (the heuristic only estimates) is not chosen.
        if (matmul(p, algo, a, stream) != CUBLAS_STATUS_SUCCESS) continue;
        check(cudaEventRecord(start_, stream), "timing a GEMM");
        for (int i = 0; i < kTimedRuns; ++i) matmul(p, algo, a, stream);
        check(cudaEventRecord(stop_, stream), "timing a GEMM");
        check(cudaEventSynchronize(stop_), cat("timing the GEMM of ", what).c_str());
        float ms = 0.0f;
        check(cudaEventElapsedTime(&ms, start_, stop_), "timing a GEMM");
        if (ms < best) {
            best = ms;
            p.chosen = algo;
        }
    }
    if (best == std::numeric_limits<float>::infinity())
        fail("no cuBLASLt algorithm could run the GEMM of ", what, " (", a.rows, " x ", a.in, " -> ", a.out, ")");
    p.tuned = true;
}

void Gemm::tune(const GemmArgs& a, cudaStream_t stream, const char* what) {
    if (a.rows <= 0 || a.rows > kTunedRows) return;
    Plan& p = plan(a, what);
    if (!p.tuned) time_candidates(p, a, stream, what);
}

void Gemm::run(const GemmArgs& a, cudaStream_t stream, const char* what) {
    if (a.rows == 0) return;
    const Plan& p = plan(a, what);
    check_lt(matmul(p, p.chosen, a, stream), what, "queueing it");
}

}  // namespace lw::cuda
