#include "lora_shrink_expand.h"

#include "core/error.h"
#include "cuda_check.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <type_traits>

namespace lw::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kShrinkRowsPerBlock = 16;  // rank rows per shrink block: small, so decode fills the GPU
constexpr int kUnroll = 4;               // 16-byte loads each lane keeps in flight
constexpr int kMaxRank = 1024;           // keeps the expand block's shared tables under 48 KB

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

__device__ inline const LoraModuleEntry& module_entry(const LoraStepTables& tables, const LoraWorkItem& item,
                                                      const LoraProjection& projection, int fused) {
    return tables.modules[(static_cast<std::size_t>(item.slot) * tables.num_layers + projection.layer) * kLoraModules +
                          projection.module[fused]];
}

__device__ inline const void* const* slot_rows(const LoraStepTables& tables, const LoraWorkItem& item,
                                               std::uint32_t first_row) {
    return tables.rows + static_cast<std::size_t>(item.slot) * tables.rows_per_slot + first_row;
}

// Block (item, fused module, group of rank rows). Each warp takes one A row at a time,
// reads it once with 16-byte loads and dots it with every token of the item.
template <class T>
__global__ void __launch_bounds__(kThreads)
    shrink_kernel(LoraStepTables tables, LoraProjection projection, const uint4* __restrict__ x, float* __restrict__ t,
                  int max_rank) {
    if (static_cast<int>(blockIdx.x) >= *tables.item_count) return;
    const LoraWorkItem item = tables.items[blockIdx.x];
    const int fused = static_cast<int>(blockIdx.y);
    const LoraModuleEntry entry = module_entry(tables, item, projection, fused);
    const int row_end = min(entry.rank, static_cast<int>(blockIdx.z + 1) * kShrinkRowsPerBlock);
    const void* const* a_rows = slot_rows(tables, item, entry.first_row);
    const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
    const int n8 = projection.in_features / 8;

    for (int r = static_cast<int>(blockIdx.z) * kShrinkRowsPerBlock + warp; r < row_end; r += kWarps) {
        const auto* a = static_cast<const uint4*>(a_rows[r]);
        float acc[kLoraTokensPerItem] = {};
        for (int c0 = lane; c0 < n8; c0 += 32 * kUnroll) {
            uint4 av[kUnroll];
#pragma unroll
            for (int u = 0; u < kUnroll; ++u) {
                const int c = c0 + 32 * u;
                av[u] = c < n8 ? __ldg(a + c) : make_uint4(0, 0, 0, 0);
            }
#pragma unroll
            for (int u = 0; u < kUnroll; ++u) {
                const int c = c0 + 32 * u;
                if (c >= n8) continue;
                float af[8];
                to_float8<T>(av[u], af);
#pragma unroll
                for (int k = 0; k < kLoraTokensPerItem; ++k) {
                    if (k >= item.tokens) continue;
                    float xf[8];
                    to_float8<T>(__ldg(x + static_cast<std::size_t>(item.first_token + k) * n8 + c), xf);
#pragma unroll
                    for (int j = 0; j < 8; ++j) acc[k] = fmaf(af[j], xf[j], acc[k]);
                }
            }
        }
#pragma unroll
        for (int k = 0; k < kLoraTokensPerItem; ++k) {
#pragma unroll
            for (int s = 16; s > 0; s /= 2) acc[k] += __shfl_xor_sync(0xffffffffu, acc[k], s);
            if (lane == k && k < item.tokens)
                t[(static_cast<std::size_t>(item.first_token + k) * kLoraMaxFused + fused) * max_rank + r] = acc[k];
        }
    }
}

// Block (item, fused module, group of kThreads * 8 output columns). Each thread owns 8
// columns and reads each B^T row's 16 bytes there once for all the item's tokens; the
// shrunk values (scaled) and the row addresses sit in shared memory.
template <class T>
__global__ void __launch_bounds__(kThreads)
    expand_kernel(LoraStepTables tables, LoraProjection projection, const float* __restrict__ t, T* __restrict__ y,
                  int y_stride, int max_rank) {
    if (static_cast<int>(blockIdx.x) >= *tables.item_count) return;
    const LoraWorkItem item = tables.items[blockIdx.x];
    const int fused = static_cast<int>(blockIdx.y);
    const LoraModuleEntry entry = module_entry(tables, item, projection, fused);
    if (entry.rank == 0) return;

    extern __shared__ __align__(16) unsigned char shared[];
    auto* b_rows = reinterpret_cast<const uint4**>(shared);
    auto* shrunk = reinterpret_cast<float*>(shared + sizeof(void*) * static_cast<std::size_t>(max_rank));
    const void* const* rows = slot_rows(tables, item, entry.first_row + static_cast<std::uint32_t>(entry.rank));
    for (int i = static_cast<int>(threadIdx.x); i < entry.rank; i += kThreads)
        b_rows[i] = static_cast<const uint4*>(rows[i]);
    for (int i = static_cast<int>(threadIdx.x); i < item.tokens * entry.rank; i += kThreads) {
        const int k = i / entry.rank, r = i % entry.rank;
        shrunk[i] =
            entry.scale * t[(static_cast<std::size_t>(item.first_token + k) * kLoraMaxFused + fused) * max_rank + r];
    }
    __syncthreads();

    const int col8 = static_cast<int>(blockIdx.z) * kThreads + static_cast<int>(threadIdx.x);
    if (col8 >= projection.out_features[fused] / 8) return;
    float acc[kLoraTokensPerItem][8] = {};
#pragma unroll kUnroll
    for (int r = 0; r < entry.rank; ++r) {
        float bf[8];
        to_float8<T>(__ldg(b_rows[r] + col8), bf);
#pragma unroll
        for (int k = 0; k < kLoraTokensPerItem; ++k) {
            if (k >= item.tokens) continue;
            const float s = shrunk[k * entry.rank + r];
#pragma unroll
            for (int j = 0; j < 8; ++j) acc[k][j] = fmaf(s, bf[j], acc[k][j]);
        }
    }
#pragma unroll
    for (int k = 0; k < kLoraTokensPerItem; ++k) {
        if (k >= item.tokens) continue;
        auto* out = reinterpret_cast<uint4*>(y + static_cast<std::size_t>(item.first_token + k) * y_stride +
                                             projection.out_offset[fused]) +
                    col8;
        float v[8];
        to_float8<T>(*out, v);
#pragma unroll
        for (int j = 0; j < 8; ++j) v[j] += acc[k][j];
        *out = from_float8<T>(v);
    }
}

bool aligned16(const void* p) {
    return reinterpret_cast<std::uintptr_t>(p) % 16 == 0;
}

void check_arguments(const LoraStepTables& tables, const LoraProjection& p, DType dtype, const void* x, const void* y,
                     int y_stride, const float* scratch, int tokens, int max_rank, int launch_items) {
    const char* who = "lora_shrink_expand";
    if (dtype != DType::F16 && dtype != DType::BF16)
        fail(who, ": activations and adapter rows must be F16 or BF16, not ", dtype_name(dtype));
    if (p.count < 1 || p.count > kLoraMaxFused)
        fail(who, ": layer ", p.layer, " fuses ", p.count, " modules (1 to ", kLoraMaxFused, " allowed)");
    if (p.layer < 0 || p.layer >= tables.num_layers)
        fail(who, ": layer ", p.layer, " is outside the tables' ", tables.num_layers, " layers");
    if (p.in_features <= 0 || p.in_features % 8 != 0)
        fail(who, ": layer ", p.layer, " in_features ", p.in_features, " is not a positive multiple of 8");
    for (int i = 0; i < p.count; ++i) {
        if (p.module[i] < 0 || p.module[i] >= kLoraModules)
            fail(who, ": layer ", p.layer, " module index ", p.module[i], " is not 0..", kLoraModules - 1);
        if (p.out_features[i] <= 0 || p.out_features[i] % 8 != 0 || p.out_offset[i] < 0 || p.out_offset[i] % 8 != 0 ||
            p.out_offset[i] + p.out_features[i] > y_stride)
            fail(who, ": layer ", p.layer, " module ", p.module[i], " writes columns [", p.out_offset[i], ", ",
                 p.out_offset[i] + p.out_features[i], ") of rows of ", y_stride,
                 " (offsets and widths must be multiples of 8 inside the row)");
    }
    if (y_stride % 8 != 0) fail(who, ": y_stride ", y_stride, " is not a multiple of 8");
    if (max_rank < 1 || max_rank > kMaxRank) fail(who, ": max_rank ", max_rank, " is not 1..", kMaxRank);
    if (launch_items < 0 || launch_items > tokens)
        fail(who, ": ", launch_items, " work items for ", tokens, " tokens (an item holds at least one token)");
    if (!aligned16(x) || !aligned16(y) || !aligned16(scratch) || !tables.item_count || !tables.items ||
        !tables.modules || !tables.rows)
        fail(who, ": layer ", p.layer, ": x, y and scratch must be 16-byte aligned device memory and the tables set");
}

template <class T>
void launch(const LoraStepTables& tables, const LoraProjection& p, const void* x, void* y, int y_stride, float* scratch,
            int max_rank, int launch_items, cudaStream_t stream) {
    int max_out = 0;
    for (int i = 0; i < p.count; ++i) max_out = std::max(max_out, p.out_features[i]);
    const dim3 shrink_grid(static_cast<unsigned>(launch_items), static_cast<unsigned>(p.count),
                           static_cast<unsigned>((max_rank + kShrinkRowsPerBlock - 1) / kShrinkRowsPerBlock));
    shrink_kernel<T><<<shrink_grid, kThreads, 0, stream>>>(tables, p, static_cast<const uint4*>(x), scratch, max_rank);
    check(cudaGetLastError(), "LoRA shrink launch");

    const dim3 expand_grid(static_cast<unsigned>(launch_items), static_cast<unsigned>(p.count),
                           static_cast<unsigned>((max_out / 8 + kThreads - 1) / kThreads));
    const std::size_t shared =
        static_cast<std::size_t>(max_rank) * (sizeof(void*) + kLoraTokensPerItem * sizeof(float));
    expand_kernel<T>
        <<<expand_grid, kThreads, shared, stream>>>(tables, p, scratch, static_cast<T*>(y), y_stride, max_rank);
    check(cudaGetLastError(), "LoRA expand launch");
}

}  // namespace

void lora_shrink_expand(const LoraStepTables& tables, const LoraProjection& projection, DType dtype, const void* x,
                        void* y, int y_stride, float* scratch, int tokens, int max_rank, int launch_items,
                        cudaStream_t stream) {
    check_arguments(tables, projection, dtype, x, y, y_stride, scratch, tokens, max_rank, launch_items);
    if (launch_items == 0) return;
    if (dtype == DType::F16)
        launch<__half>(tables, projection, x, y, y_stride, scratch, max_rank, launch_items, stream);
    else
        launch<__nv_bfloat16>(tables, projection, x, y, y_stride, scratch, max_rank, launch_items, stream);
}

}  // namespace lw::cuda
