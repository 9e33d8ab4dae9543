// Segmented multi-LoRA on the GPU (Punica's SGMV, vLLM's shrink/expand): for a batch
// whose tokens fall into runs that each use one adapter, adds scale * (x A^T) B^T to a
// projection's output, adapters of different ranks mixed in one launch, with A rows and
// B^T rows read in place from pool pages through per-adapter tables of row addresses.
// shrink: t[token][module][r] = x[token] . A_r (fp32); expand: y[token][slice] +=
// scale * sum_r t[token][module][r] * B^T_r, accumulated in fp32 and rounded once.
#pragma once

#include "core/dtype.h"

#include <cuda_runtime_api.h>

#include <cstdint>

namespace lw::cuda {

inline constexpr int kLoraModules = 7;        // q, k, v, o, gate, up, down
inline constexpr int kLoraMaxFused = 3;       // modules sharing one projection launch (q|k|v)
inline constexpr int kLoraTokensPerItem = 8;  // tokens of one adapter handled by one block, at most
// Decode steps use items of one token: their kernels keep one token's values in registers,
// which leaves room for more blocks and more loads in flight.
inline constexpr int kLoraDecodeTokensPerItem = 1;

// One module of one adapter: rank 0 when the adapter leaves the module alone.
struct LoraModuleEntry {
    int rank = 0;
    float scale = 0.0f;
};

// Up to tokens_per_item consecutive batch tokens that share the adapter in `slot`; an
// item of 0 tokens does nothing (the grid has a block for every item up to a bound).
struct LoraWorkItem {
    int first_token = 0;
    int tokens = 0;
    int slot = 0;
    int unused = 0;
};

// Device pointers to one step's tables. Each slot's row table has a fixed place for
// every module's rows, so that a kernel can request row addresses together with the
// module's entry: rows[(((slot * num_layers + layer) * kLoraModules + module) * 2 + half)
// * max_rank + r] is the address of A's row r (half 0) or B^T's row r (half 1); rows past
// the module's rank are null.
struct LoraStepTables {
    const LoraWorkItem* items = nullptr;       // one per block: launch_items, unused ones 0 tokens
    const LoraModuleEntry* modules = nullptr;  // [slot][layer][kLoraModules]
    const void* const* rows = nullptr;         // [slot][layer][kLoraModules][2][max_rank]
    int num_layers = 0;
    int max_rank = 0;                          // bounds every entry's rank
    int tokens_per_item = kLoraTokensPerItem;  // bounds every item: kLoraTokensPerItem or kLoraDecodeTokensPerItem
};

// One projection: up to kLoraMaxFused modules reading the same x, each writing its own
// column slice of y.
struct LoraProjection {
    int layer = 0;
    int count = 0;
    int module[kLoraMaxFused] = {};
    int in_features = 0;
    int out_features[kLoraMaxFused] = {};
    int out_offset[kLoraMaxFused] = {};
};

// The shrink: t = x A^T for every item's tokens and each module of the projection, into
// `scratch` ([tokens][kLoraMaxFused][tables.max_rank] floats). x: [tokens][in_features]
// in `dtype` (F16 or BF16, as the rows), 16-byte aligned, in_features a multiple of 8.
// launch_items is the number of items (the grid size). It reads only x and the tables,
// so it may run beside the projection's own GEMM on another stream.
void lora_shrink(const LoraStepTables& tables, const LoraProjection& projection, DType dtype, const void* x,
                 float* scratch, int tokens, int launch_items, cudaStream_t stream);

// The expand: y[token][slice] += scale * t B^T, accumulated in fp32 and rounded once,
// after the shrink of the same projection has written `scratch`. y: [tokens][y_stride],
// 16-byte aligned, every width and offset a multiple of 8.
void lora_expand(const LoraStepTables& tables, const LoraProjection& projection, DType dtype, const float* scratch,
                 void* y, int y_stride, int tokens, int launch_items, cudaStream_t stream);

// Both throw lw::Error on arguments that break these rules.

}  // namespace lw::cuda
