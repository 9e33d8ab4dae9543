#include "backend/cuda/gemm.h"

#include "core/error.h"

namespace lw::cuda {

void gemm(cublasHandle_t handle, const GemmArgs& a, const char* what) {
    if (a.rows == 0) return;
    const cudaDataType in_type = a.dtype == DType::BF16 ? CUDA_R_16BF : CUDA_R_16F;
    const cudaDataType out_type = a.y_f32 ? CUDA_R_32F : in_type;
    const float alpha = 1.0f, beta = 0.0f;
    // Column-major view: y^T [out x rows] = (W as [in x out] col-major)^T . x^T [in x rows].
    const cublasStatus_t s =
        cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, a.out, a.rows, a.in, &alpha, a.w, in_type, a.in, a.x, in_type,
                     a.in, &beta, a.y, out_type, a.y_stride, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    if (s != CUBLAS_STATUS_SUCCESS)
        fail("cuBLAS GEMM of ", what, " (", a.rows, " x ", a.in, " -> ", a.out, "): ", cublasGetStatusString(s));
}

}  // namespace lw::cuda
