#include "lora_shrink_expand.h"

#include "core/error.h"
#include "cuda_check.h"
#include "dependent_launch.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <type_traits>

namespace lw::cuda {
namespace {

// Warps of a shrink block: small blocks for one-token items, so that a rank-16 module
// spreads over 4 SMs; larger ones for longer items, which then read their x rows fewer times.
template <int kTokens>
constexpr int kShrinkWarps = kTokens == 1 ? 2 : 8;
constexpr int kRowsPerWarp = 2;  // A rows a warp dots with the item's tokens
template <int kTokens>
constexpr int kRowsPerBlock = kShrinkWarps<kTokens>* kRowsPerWarp;  // rank rows of one shrink block
// 16-byte chunks of each A row a shrink lane requests before using the first.
template <int kTokens>
constexpr int kShrinkUnroll = kTokens == 1 ? 8 : 4;
constexpr int kExpandThreads = 64;  // expand blocks: 512 columns each, so that decode spreads over every SM
// B^T rows each expand thread requests before using the first: more when it holds one token.
template <int kTokens>
constexpr int kUnroll = kTokens == 1 ? 32 : 16;
constexpr int kMaxRank = 1024;  // keeps the expand block's shared tables under 48 KB

// Eight values of a 16-byte vector of halves or bfloat16s, as floats.
template <class T>
__device__ inline void to_float8(const uint4& v, float (&f)[8]) {
    if constexpr (std::is_same_v<T, __half>) {
        const auto* p = reinterpret_cast<const __half2*>(&v);
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const float2 q = __half22float2(p[i]);
            f[2 * i] = q.x;
            f[2 * i + 1] = q.y;
        }
    } else {
        const auto* p = reinterpret_cast<const __nv_bfloat162*>(&v);
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const float2 q = __bfloat1622float2(p[i]);
            f[2 * i] = q.x;
            f[2 * i + 1] = q.y;
        }
    }
}

template <class T>
__device__ inline uint4 from_float8(const float (&f)[8]) {
    uint4 v;
    if constexpr (std::is_same_v<T, __half>) {
        auto* p = reinterpret_cast<__half2*>(&v);
#pragma unroll
        for (int i = 0; i < 4; ++i) p[i] = __floats2half2_rn(f[2 * i], f[2 * i + 1]);
    } else {
        auto* p = reinterpret_cast<__nv_bfloat162*>(&v);
#pragma unroll
        for (int i = 0; i < 4; ++i) p[i] = __floats2bfloat162_rn(f[2 * i], f[2 * i + 1]);
    }
    return v;
}

__device__ inline LoraModuleEntry module_entry(const LoraStepTables& tables, int slot, int layer, int module) {
    return tables.modules[(static_cast<std::size_t>(slot) * tables.num_layers + layer) * kLoraModules + module];
}

// The addresses of a module's A rows (half 0) or B^T rows (half 1) in a slot's table.
__device__ inline const void* const* module_rows(const LoraStepTables& tables, int slot, int layer, int module,
                                                 int half) {
    return tables.rows +
           ((static_cast<std::size_t>(slot) * tables.num_layers + layer) * kLoraModules + module) * 2 *
               tables.max_rank +
           static_cast<std::size_t>(half) * tables.max_rank;
}

// Block (item, fused module, kRowsPerBlock rank rows): each warp dots kRowsPerWarp whole
// A rows with every token of the item, each lane requesting kShrinkUnroll 16-byte
// chunks of both rows before using the first. The rows' addresses come straight from
// the slot's table (null past the module's rank), so A's bytes are two dependent loads
// away from the launch; the first of them are requested before waiting for x.
template <class T, int kTokens>
__global__ void __launch_bounds__(kShrinkWarps<kTokens> * 32)
    shrink_kernel(LoraStepTables tables, LoraProjection projection, const uint4* __restrict__ x,
                  float* __restrict__ t) {
    const LoraWorkItem item = tables.items[blockIdx.x];
    const int fused = static_cast<int>(blockIdx.y);
    const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
    const int row0 = static_cast<int>(blockIdx.z) * kRowsPerBlock<kTokens> + warp * kRowsPerWarp;
    const void* const* rows = module_rows(tables, item.slot, projection.layer, projection.module[fused], 0);
    const uint4* a[kRowsPerWarp];
#pragma unroll
    for (int i = 0; i < kRowsPerWarp; ++i)
        a[i] = item.tokens > 0 && row0 + i < tables.max_rank ? static_cast<const uint4*>(rows[row0 + i]) : nullptr;

    const int n8 = projection.in_features / 8;
    uint4 av[kRowsPerWarp][kShrinkUnroll<kTokens>];
    const auto load_a = [&](int c0) {
#pragma unroll
        for (int i = 0; i < kRowsPerWarp; ++i)
#pragma unroll
            for (int u = 0; u < kShrinkUnroll<kTokens>; ++u) {
                const int c = c0 + 32 * u;
                av[i][u] = a[i] && c < n8 ? __ldg(a[i] + c) : make_uint4(0, 0, 0, 0);
            }
    };
    load_a(lane);
    wait_for_prior_kernel();  // x comes from the kernel before
    if (!a[0]) return;        // an empty item, or past the rank (rows are filled from the first)

    float acc[kRowsPerWarp][kTokens] = {};
    for (int c0 = lane; c0 < n8; c0 += 32 * kShrinkUnroll<kTokens>) {
        if (c0 != lane) load_a(c0);
#pragma unroll
        for (int k = 0; k < kTokens; ++k) {
            if (k >= item.tokens) break;
            const uint4* xk = x + static_cast<std::size_t>(item.first_token + k) * n8;
            uint4 xv[kShrinkUnroll<kTokens>];
#pragma unroll
            for (int u = 0; u < kShrinkUnroll<kTokens>; ++u)
                xv[u] = c0 + 32 * u < n8 ? __ldg(xk + c0 + 32 * u) : make_uint4(0, 0, 0, 0);
#pragma unroll
            for (int u = 0; u < kShrinkUnroll<kTokens>; ++u) {
                float xf[8];
                to_float8<T>(xv[u], xf);
#pragma unroll
                for (int i = 0; i < kRowsPerWarp; ++i) {
                    float af[8];
                    to_float8<T>(av[i][u], af);
#pragma unroll
                    for (int j = 0; j < 8; ++j) acc[i][k] = fmaf(af[j], xf[j], acc[i][k]);
                }
            }
        }
    }
#pragma unroll
    for (int i = 0; i < kRowsPerWarp; ++i)
#pragma unroll
        for (int k = 0; k < kTokens; ++k) {
            if (k >= item.tokens) break;
            float sum = acc[i][k];
#pragma unroll
            for (int s = 16; s > 0; s /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, s);
            if (lane == 0 && a[i])
                t[(static_cast<std::size_t>(item.first_token + k) * kLoraMaxFused + fused) * tables.max_rank + row0 +
                  i] = sum;
        }
}

// Block (item, fused module, kExpandThreads * 8 output columns). Each thread owns 8
// columns and reads each B^T row's 16 bytes there once for all the item's tokens; the
// shrunk values (scaled) and the addresses of rows past the first kUnroll sit in shared
// memory. The first B^T rows are requested before waiting for y and the shrunk values.
template <class T, int kTokens>
__global__ void __launch_bounds__(kExpandThreads)
    expand_kernel(LoraStepTables tables, LoraProjection projection, const float* __restrict__ t, T* __restrict__ y,
                  int y_stride) {
    const LoraWorkItem item = tables.items[blockIdx.x];
    const int fused = static_cast<int>(blockIdx.y), module = projection.module[fused];
    const int n8 = projection.out_features[fused] / 8;
    const int col8 = static_cast<int>(blockIdx.z) * kExpandThreads + static_cast<int>(threadIdx.x);
    const void* const* rows = module_rows(tables, item.slot, projection.layer, module, 1);
    const uint4* first_rows[kUnroll<kTokens>];
#pragma unroll
    for (int u = 0; u < kUnroll<kTokens>; ++u)
        first_rows[u] = item.tokens > 0 && u < tables.max_rank ? static_cast<const uint4*>(rows[u]) : nullptr;
    const LoraModuleEntry entry = module_entry(tables, item.slot, projection.layer, module);
    uint4 bv[kUnroll<kTokens>];
#pragma unroll
    for (int u = 0; u < kUnroll<kTokens>; ++u)
        bv[u] = first_rows[u] && col8 < n8 ? __ldg(first_rows[u] + col8) : make_uint4(0, 0, 0, 0);
    wait_for_prior_kernel();  // y comes from the GEMM before, the shrunk values from the shrink
    if (item.tokens == 0 || entry.rank == 0 || static_cast<int>(blockIdx.z) * kExpandThreads >= n8) return;
    uint4* out[kTokens];
    uint4 yv[kTokens];
#pragma unroll
    for (int k = 0; k < kTokens; ++k) {
        out[k] = reinterpret_cast<uint4*>(
                     y + static_cast<std::size_t>(item.first_token + min(k, item.tokens - 1)) * y_stride +
                     projection.out_offset[fused]) +
                 col8;
        if (k < item.tokens && col8 < n8) yv[k] = *out[k];
    }

    extern __shared__ __align__(16) unsigned char shared[];
    auto* b_rows = reinterpret_cast<const uint4**>(shared);
    auto* shrunk = reinterpret_cast<float*>(shared + sizeof(void*) * static_cast<std::size_t>(tables.max_rank));
    for (int i = kUnroll<kTokens> + static_cast<int>(threadIdx.x); i < entry.rank; i += kExpandThreads)
        b_rows[i] = static_cast<const uint4*>(rows[i]);
    for (int i = static_cast<int>(threadIdx.x); i < item.tokens * entry.rank; i += kExpandThreads) {
        const int k = i / entry.rank, r = i % entry.rank;
        shrunk[i] = entry.scale *
                    t[(static_cast<std::size_t>(item.first_token + k) * kLoraMaxFused + fused) * tables.max_rank + r];
    }
    __syncthreads();
    if (col8 >= n8) return;

    float acc[kTokens][8] = {};
    for (int r0 = 0; r0 < entry.rank; r0 += kUnroll<kTokens>) {
        if (r0 > 0) {
#pragma unroll
            for (int u = 0; u < kUnroll<kTokens>; ++u)
                bv[u] = r0 + u < entry.rank ? __ldg(b_rows[r0 + u] + col8) : make_uint4(0, 0, 0, 0);
        }
#pragma unroll
        for (int u = 0; u < kUnroll<kTokens>; ++u) {
            if (r0 + u >= entry.rank) continue;
            float bf[8];
            to_float8<T>(bv[u], bf);
#pragma unroll
            for (int k = 0; k < kTokens; ++k) {
                if (k >= item.tokens) continue;
                const float s = shrunk[k * entry.rank + r0 + u];
#pragma unroll
                for (int j = 0; j < 8; ++j) acc[k][j] = fmaf(s, bf[j], acc[k][j]);
            }
        }
    }
#pragma unroll
    for (int k = 0; k < kTokens; ++k) {
        if (k >= item.tokens) continue;
        float v[8];
        to_float8<T>(yv[k], v);
#pragma unroll
        for (int j = 0; j < 8; ++j) v[j] += acc[k][j];
        *out[k] = from_float8<T>(v);
    }
}

bool aligned16(const void* p) {
    return reinterpret_cast<std::uintptr_t>(p) % 16 == 0;
}

// What both launches need; `who` names the launch in errors.
void check_common(const char* who, const LoraStepTables& tables, const LoraProjection& p, DType dtype,
                  const float* scratch, int tokens, int launch_items) {
    if (dtype != DType::F16 && dtype != DType::BF16)
        fail(who, ": activations and adapter rows must be F16 or BF16, not ", dtype_name(dtype));
    if (p.count < 1 || p.count > kLoraMaxFused)
        fail(who, ": layer ", p.layer, " fuses ", p.count, " modules (1 to ", kLoraMaxFused, " allowed)");
    if (p.layer < 0 || p.layer >= tables.num_layers)
        fail(who, ": layer ", p.layer, " is outside the tables' ", tables.num_layers, " layers");
    for (int i = 0; i < p.count; ++i)
        if (p.module[i] < 0 || p.module[i] >= kLoraModules)
            fail(who, ": layer ", p.layer, " module index ", p.module[i], " is not 0..", kLoraModules - 1);
    if (tables.max_rank < 1 || tables.max_rank > kMaxRank)
        fail(who, ": max_rank ", tables.max_rank, " is not 1..", kMaxRank);
    if (tables.tokens_per_item != kLoraTokensPerItem && tables.tokens_per_item != kLoraDecodeTokensPerItem)
        fail(who, ": items of up to ", tables.tokens_per_item, " tokens (", kLoraTokensPerItem, " or ",
             kLoraDecodeTokensPerItem, " allowed)");
    if (launch_items < 0 || launch_items > tokens)
        fail(who, ": ", launch_items, " work items for ", tokens, " tokens (an item holds at least one token)");
    if (!aligned16(scratch) || !tables.items || !tables.modules || !tables.rows)
        fail(who, ": layer ", p.layer, ": scratch must be 16-byte aligned device memory and the tables set");
}

// Calls fn.template operator()<T, kTokens>() for the dtype and the tables' item size.
template <class Fn>
void dispatch(DType dtype, const LoraStepTables& tables, Fn&& fn) {
    const bool decode = tables.tokens_per_item == kLoraDecodeTokensPerItem;
    if (dtype == DType::F16) {
        if (decode)
            fn.template operator()<__half, kLoraDecodeTokensPerItem>();
        else
            fn.template operator()<__half, kLoraTokensPerItem>();
    } else {
        if (decode)
            fn.template operator()<__nv_bfloat16, kLoraDecodeTokensPerItem>();
        else
            fn.template operator()<__nv_bfloat16, kLoraTokensPerItem>();
    }
}

}  // namespace

void lora_shrink(const LoraStepTables& tables, const LoraProjection& projection, DType dtype, const void* x,
                 float* scratch, int tokens, int launch_items, cudaStream_t stream) {
    const char* who = "lora_shrink";
    check_common(who, tables, projection, dtype, scratch, tokens, launch_items);
    if (projection.in_features <= 0 || projection.in_features % 8 != 0)
        fail(who, ": layer ", projection.layer, " in_features ", projection.in_features,
             " is not a positive multiple of 8");
    if (!aligned16(x)) fail(who, ": layer ", projection.layer, ": x must be 16-byte aligned device memory");
    if (launch_items == 0) return;
    dispatch(dtype, tables, [&]<class T, int kTokens>() {
        const dim3 grid(static_cast<unsigned>(launch_items), static_cast<unsigned>(projection.count),
                        static_cast<unsigned>((tables.max_rank + kRowsPerBlock<kTokens> - 1) / kRowsPerBlock<kTokens>));
        launch_dependent(who, shrink_kernel<T, kTokens>, grid, dim3(kShrinkWarps<kTokens> * 32), 0, stream, tables,
                         projection, static_cast<const uint4*>(x), scratch);
    });
}

void lora_expand(const LoraStepTables& tables, const LoraProjection& projection, DType dtype, const float* scratch,
                 void* y, int y_stride, int tokens, int launch_items, cudaStream_t stream) {
    const char* who = "lora_expand";
    check_common(who, tables, projection, dtype, scratch, tokens, launch_items);
    for (int i = 0; i < projection.count; ++i)
        if (projection.out_features[i] <= 0 || projection.out_features[i] % 8 != 0 || projection.out_offset[i] < 0 ||
            projection.out_offset[i] % 8 != 0 || projection.out_offset[i] + projection.out_features[i] > y_stride)
            fail(who, ": layer ", projection.layer, " module ", projection.module[i], " writes columns [",
                 projection.out_offset[i], ", ", projection.out_offset[i] + projection.out_features[i], ") of rows of ",
                 y_stride, " (offsets and widths must be multiples of 8 inside the row)");
    if (y_stride % 8 != 0) fail(who, ": y_stride ", y_stride, " is not a multiple of 8");
    if (!aligned16(y)) fail(who, ": layer ", projection.layer, ": y must be 16-byte aligned device memory");
    if (launch_items == 0) return;
    int max_out = 0;
    for (int i = 0; i < projection.count; ++i) max_out = std::max(max_out, projection.out_features[i]);
    const dim3 grid(static_cast<unsigned>(launch_items), static_cast<unsigned>(projection.count),
                    static_cast<unsigned>((max_out / 8 + kExpandThreads - 1) / kExpandThreads));
    dispatch(dtype, tables, [&]<class T, int kTokens>() {
        const std::size_t shared =
            static_cast<std::size_t>(tables.max_rank) * (sizeof(void*) + kTokens * sizeof(float));
        launch_dependent(who, expand_kernel<T, kTokens>, grid, dim3(kExpandThreads), shared, stream, tables, projection,
                         scratch, static_cast<T*>(y), y_stride);
    });
}

}  // namespace lw::cuda
