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
inline constexpr int kLoraTokensPerItem = 8;  // tokens of one adapter handled by one block

// One module of one adapter: rank 0 when the adapter leaves the module alone.
struct LoraModuleEntry {
    int rank = 0;
    std::uint32_t first_row = 0;  // index of A's first row in the slot's row table; B^T's follow
    float scale = 0.0f;
    int unused = 0;
};

// Up to kLoraTokensPerItem consecutive batch tokens that share the adapter in `slot`; an
// item of 0 tokens does nothing (the grid has a block for every item up to a bound).
struct LoraWorkItem {
    int first_token = 0;
    int tokens = 0;
    int slot = 0;
    int unused = 0;
};

// Device pointers to one step's tables.
struct LoraStepTables {
    const LoraWorkItem* items = nullptr;       // one per block: launch_items, unused ones 0 tokens
    const LoraModuleEntry* modules = nullptr;  // [slot][layer][kLoraModules]
    const void* const* rows = nullptr;         // [slot][rows_per_slot]: each row's device address
    int num_layers = 0;
    int rows_per_slot = 0;
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

// Launches shrink then expand on `stream`. x: [tokens][in_features]; y: [tokens][y_stride];
// both F16 or BF16 (`dtype`, as the rows), 16-byte aligned, every width a multiple of 8.
// `scratch` holds tokens * kLoraMaxFused * max_rank floats. launch_items is the number of
// items (the grid size), max_rank bounds every entry's rank. Throws lw::Error on
// arguments that break these rules. The expand is a programmatic dependent launch: it
// starts while the shrink runs and waits for it before reading the shrunk values.
void lora_shrink_expand(const LoraStepTables& tables, const LoraProjection& projection, DType dtype, const void* x,
                        void* y, int y_stride, float* scratch, int tokens, int max_rank, int launch_items,
                        cudaStream_t stream);

}  // namespace lw::cuda
