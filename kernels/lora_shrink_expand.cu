#include "lora_shrink_expand.h"

#include "core/error.h"
#include "cuda_check.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <type_traits>

namespace lw::cuda {
namespace {

constexpr int kThreads = 256;  // shrink blocks
constexpr int kWarps = kThreads / 32;
constexpr int kExpandThreads = 64;  // expand blocks: 512 columns each, so that decode spreads over every SM
constexpr int kUnroll = 16;         // B^T rows each expand thread requests before using the first
constexpr int kShrinkUnroll = 4;    // A chunks each shrink lane requests (with every token's x chunk)
constexpr int kMaxRank = 1024;      // keeps the expand block's shared tables under 48 KB
// Shrink shapes: decode-sized steps give each A row to 4 warps (a quarter of the row each)
// so that enough loads are in flight; larger steps give a warp a whole row, which reads
// each token's x fewer times.
constexpr int kDecodeRowsPerBlock = 2;
constexpr int kPrefillRowsPerBlock = 8;
constexpr int kDecodeMaxItems = 128;

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

// Block (item, fused module, kRows rank rows). kWarps / kRows warps share each A row,
// each reading its share once with 16-byte loads and dotting it with every token of the
// item; the partial sums meet in shared memory.
template <class T, int kRows>
__global__ void __launch_bounds__(kThreads)
    shrink_kernel(LoraStepTables tables, LoraProjection projection, const uint4* __restrict__ x, float* __restrict__ t,
                  int max_rank) {
    constexpr int kSplit = kWarps / kRows;
    cudaTriggerProgrammaticLaunchCompletion();  // the expand may start loading B^T rows
    const LoraWorkItem item = tables.items[blockIdx.x];
    if (item.tokens == 0) return;
    const int fused = static_cast<int>(blockIdx.y);
    const LoraModuleEntry entry = module_entry(tables, item, projection, fused);
    const int first_row = static_cast<int>(blockIdx.z) * kRows;
    if (first_row >= entry.rank) return;

    const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
    const int row = first_row + warp / kSplit, part = warp % kSplit;
    const int n8 = projection.in_features / 8;
    float acc[kLoraTokensPerItem] = {};
    if (row < entry.rank) {
        const auto* a = static_cast<const uint4*>(slot_rows(tables, item, entry.first_row)[row]);
        constexpr int kStride = 32 * kSplit;
        for (int c0 = part * 32 + lane; c0 < n8; c0 += kStride * kShrinkUnroll) {
            uint4 av[kShrinkUnroll];
#pragma unroll
            for (int u = 0; u < kShrinkUnroll; ++u) {
                const int c = c0 + kStride * u;
                av[u] = c < n8 ? __ldg(a + c) : make_uint4(0, 0, 0, 0);
            }
#pragma unroll
            for (int u = 0; u < kShrinkUnroll; ++u) {
                const int c = c0 + kStride * u;
                if (c >= n8) continue;
                // Every token's x chunk requested before the first is used.
                uint4 xv[kLoraTokensPerItem];
#pragma unroll
                for (int k = 0; k < kLoraTokensPerItem; ++k)
                    xv[k] = k < item.tokens ? __ldg(x + static_cast<std::size_t>(item.first_token + k) * n8 + c)
                                            : make_uint4(0, 0, 0, 0);
                float af[8];
                to_float8<T>(av[u], af);
#pragma unroll
                for (int k = 0; k < kLoraTokensPerItem; ++k) {
                    if (k >= item.tokens) continue;
                    float xf[8];
                    to_float8<T>(xv[k], xf);
#pragma unroll
                    for (int j = 0; j < 8; ++j) acc[k] = fmaf(af[j], xf[j], acc[k]);
                }
            }
        }
    }
    __shared__ float partial[kWarps][kLoraTokensPerItem];
#pragma unroll
    for (int k = 0; k < kLoraTokensPerItem; ++k) {
#pragma unroll
        for (int s = 16; s > 0; s /= 2) acc[k] += __shfl_xor_sync(0xffffffffu, acc[k], s);
        if (lane == 0) partial[warp][k] = acc[k];
    }
    __syncthreads();
    if (static_cast<int>(threadIdx.x) < kRows * kLoraTokensPerItem) {
        const int r = static_cast<int>(threadIdx.x) / kLoraTokensPerItem,
                  k = static_cast<int>(threadIdx.x) % kLoraTokensPerItem;
        if (first_row + r < entry.rank && k < item.tokens) {
            float sum = 0.0f;
#pragma unroll
            for (int p = 0; p < kSplit; ++p) sum += partial[r * kSplit + p][k];
            t[(static_cast<std::size_t>(item.first_token + k) * kLoraMaxFused + fused) * max_rank + first_row + r] =
                sum;
        }
    }
}

// Block (item, fused module, kExpandThreads * 8 output columns). Each thread owns 8
// columns and reads each B^T row's 16 bytes there once for all the item's tokens; the
// shrunk values (scaled) and the row addresses sit in shared memory.
template <class T>
__global__ void __launch_bounds__(kExpandThreads)
    expand_kernel(LoraStepTables tables, LoraProjection projection, const float* __restrict__ t, T* __restrict__ y,
                  int y_stride, int max_rank) {
    const LoraWorkItem item = tables.items[blockIdx.x];
    if (item.tokens == 0) return;
    const int fused = static_cast<int>(blockIdx.y);
    const LoraModuleEntry entry = module_entry(tables, item, projection, fused);
    const int col8 = static_cast<int>(blockIdx.z) * kExpandThreads + static_cast<int>(threadIdx.x);
    if (entry.rank == 0 || static_cast<int>(blockIdx.z) * kExpandThreads >= projection.out_features[fused] / 8) return;

    const int n8 = projection.out_features[fused] / 8;
    const void* const* rows = slot_rows(tables, item, entry.first_row + static_cast<std::uint32_t>(entry.rank));
    // The tables were uploaded before the shrink began: the first B^T rows can be on their
    // way while the shrink (launched before us, see launch()) still runs.
    uint4 bv[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
        bv[u] = u < entry.rank && col8 < n8 ? __ldg(static_cast<const uint4*>(rows[u]) + col8) : make_uint4(0, 0, 0, 0);
    cudaGridDependencySynchronize();  // the shrink has finished and its t is visible

    extern __shared__ __align__(16) unsigned char shared[];
    auto* b_rows = reinterpret_cast<const uint4**>(shared);
    auto* shrunk = reinterpret_cast<float*>(shared + sizeof(void*) * static_cast<std::size_t>(max_rank));
    for (int i = static_cast<int>(threadIdx.x); i < entry.rank; i += kExpandThreads)
        b_rows[i] = static_cast<const uint4*>(rows[i]);
    for (int i = static_cast<int>(threadIdx.x); i < item.tokens * entry.rank; i += kExpandThreads) {
        const int k = i / entry.rank, r = i % entry.rank;
        shrunk[i] =
            entry.scale * t[(static_cast<std::size_t>(item.first_token + k) * kLoraMaxFused + fused) * max_rank + r];
    }
    __syncthreads();
    if (col8 >= n8) return;

    float acc[kLoraTokensPerItem][8] = {};
    for (int r0 = 0; r0 < entry.rank; r0 += kUnroll) {
        if (r0 > 0) {
#pragma unroll
            for (int u = 0; u < kUnroll; ++u)
                bv[u] = r0 + u < entry.rank ? __ldg(b_rows[r0 + u] + col8) : make_uint4(0, 0, 0, 0);
        }
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            if (r0 + u >= entry.rank) continue;
            float bf[8];
            to_float8<T>(bv[u], bf);
#pragma unroll
            for (int k = 0; k < kLoraTokensPerItem; ++k) {
                if (k >= item.tokens) continue;
                const float s = shrunk[k * entry.rank + r0 + u];
#pragma unroll
                for (int j = 0; j < 8; ++j) acc[k][j] = fmaf(s, bf[j], acc[k][j]);
            }
        }
    }
    // Every token's y chunk requested before the first is written back.
    uint4* out[kLoraTokensPerItem];
    uint4 yv[kLoraTokensPerItem];
#pragma unroll
    for (int k = 0; k < kLoraTokensPerItem; ++k) {
        out[k] = reinterpret_cast<uint4*>(
                     y + static_cast<std::size_t>(item.first_token + min(k, item.tokens - 1)) * y_stride +
                     projection.out_offset[fused]) +
                 col8;
        if (k < item.tokens) yv[k] = *out[k];
    }
#pragma unroll
    for (int k = 0; k < kLoraTokensPerItem; ++k) {
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
    if (!aligned16(x) || !aligned16(y) || !aligned16(scratch) || !tables.items || !tables.modules || !tables.rows)
        fail(who, ": layer ", p.layer, ": x, y and scratch must be 16-byte aligned device memory and the tables set");
}

template <class T, int kRows>
void launch_shrink(const LoraStepTables& tables, const LoraProjection& p, const void* x, float* scratch, int max_rank,
                   int launch_items, cudaStream_t stream) {
    const dim3 grid(static_cast<unsigned>(launch_items), static_cast<unsigned>(p.count),
                    static_cast<unsigned>((max_rank + kRows - 1) / kRows));
    shrink_kernel<T, kRows><<<grid, kThreads, 0, stream>>>(tables, p, static_cast<const uint4*>(x), scratch, max_rank);
    check(cudaGetLastError(), "LoRA shrink launch");
}

template <class T>
void launch(const LoraStepTables& tables, const LoraProjection& p, const void* x, void* y, int y_stride, float* scratch,
            int max_rank, int launch_items, cudaStream_t stream) {
    if (launch_items <= kDecodeMaxItems)
        launch_shrink<T, kDecodeRowsPerBlock>(tables, p, x, scratch, max_rank, launch_items, stream);
    else
        launch_shrink<T, kPrefillRowsPerBlock>(tables, p, x, scratch, max_rank, launch_items, stream);

    int max_out = 0;
    for (int i = 0; i < p.count; ++i) max_out = std::max(max_out, p.out_features[i]);
    const dim3 grid(static_cast<unsigned>(launch_items), static_cast<unsigned>(p.count),
                    static_cast<unsigned>((max_out / 8 + kExpandThreads - 1) / kExpandThreads));
    const std::size_t shared =
        static_cast<std::size_t>(max_rank) * (sizeof(void*) + kLoraTokensPerItem * sizeof(float));
    // Programmatic dependent launch: the expand's blocks start once the shrink's have all
    // begun, and wait for its end only before reading t.
    cudaLaunchConfig_t config = {};
    config.gridDim = grid;
    config.blockDim = dim3(kExpandThreads);
    config.dynamicSmemBytes = shared;
    config.stream = stream;
    cudaLaunchAttribute attribute = {};
    attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attribute.val.programmaticStreamSerializationAllowed = 1;
    config.attrs = &attribute;
    config.numAttrs = 1;
    check(cudaLaunchKernelEx(&config, expand_kernel<T>, tables, p, static_cast<const float*>(scratch),
                             static_cast<T*>(y), y_stride, max_rank),
          "LoRA expand launch");
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
