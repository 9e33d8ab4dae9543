#include "activation.h"

#include "cuda_check.h"
#include "dependent_launch.cuh"
#include "half_io.cuh"

#include <algorithm>
#include <cstdint>

namespace lw::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxRowBlocks = 65535;  // grid.y: rows beyond it are strided over

// Block (kThreads chunks of kVec values, a row): one token's gate and up chunks read
// as one access each. Rows step by the grid's height.
template <class T, int kVec>
__global__ void __launch_bounds__(kThreads) silu_mul_kernel(const T* gate_up, T* out, int tokens, int intermediate) {
    using C = Chunk<T, kVec>;
    const int chunks = intermediate / kVec;
    const int c = static_cast<int>(blockIdx.x) * kThreads + static_cast<int>(threadIdx.x);
    wait_for_prior_kernel();  // gate|up comes from the GEMM before
    if (c >= chunks) return;
    for (int token = static_cast<int>(blockIdx.y); token < tokens; token += static_cast<int>(gridDim.y)) {
        const auto* row = reinterpret_cast<const C*>(gate_up + static_cast<std::size_t>(token) * 2 * intermediate);
        const C g = row[c], u = row[chunks + c];
        C o;
#pragma unroll
        for (int e = 0; e < kVec; ++e) {
            const float x = to_f32(g.v[e]);
            o.v[e] = from_f32<T>(x / (1.0f + expf(-x)) * to_f32(u.v[e]));
        }
        reinterpret_cast<C*>(out + static_cast<std::size_t>(token) * intermediate)[c] = o;
    }
}

template <class T, int kVec>
void launch(const void* gate_up, void* out, int tokens, int intermediate, cudaStream_t stream) {
    const dim3 grid(static_cast<unsigned>((intermediate / kVec + kThreads - 1) / kThreads),
                    static_cast<unsigned>(std::min(tokens, kMaxRowBlocks)));
    launch_dependent("silu_mul", silu_mul_kernel<T, kVec>, grid, dim3(kThreads), 0, stream,
                     static_cast<const T*>(gate_up), static_cast<T*>(out), tokens, intermediate);
}

bool aligned16(const void* p) {
    return reinterpret_cast<std::uintptr_t>(p) % 16 == 0;
}

}  // namespace

void silu_mul(DType dtype, const void* gate_up, void* out, int tokens, int intermediate, cudaStream_t stream) {
    if (tokens < 0 || intermediate <= 0) fail("silu_mul: ", tokens, " tokens of ", intermediate, " values");
    dispatch_half(dtype, "silu_mul", [&](auto tag) {
        using T = decltype(tag);
        if (tokens == 0) return;
        // 16-byte accesses where rows allow them (every Llama-family width does).
        if (intermediate % 8 == 0 && aligned16(gate_up) && aligned16(out))
            launch<T, 8>(gate_up, out, tokens, intermediate, stream);
        else
            launch<T, 1>(gate_up, out, tokens, intermediate, stream);
    });
    check(cudaGetLastError(), "silu_mul");
}

}  // namespace lw::cuda
