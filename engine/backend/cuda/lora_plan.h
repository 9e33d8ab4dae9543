// The CUDA model runner's LoRA: once per step, prepare() turns the batch into work items
// (runs of at most kLoraTokensPerItem tokens of one adapter, of one in a decode step) and
// makes sure every adapter in it has a device table of its rows' addresses in the pool;
// then shrink() and expand() add scale * (x A^T) B^T of each token's adapter to a
// projection's output, one launch each for a whole (possibly fused: q|k|v, gate|up)
// projection.
//
// Per-adapter tables are cached in slots (an adapter keeps its slot while its pool pages
// stay the same), so a step uploads only its work items plus the tables of adapters new
// to the plan. Every device buffer is allocated once, in the constructor, and a launch's
// shape depends only on the batch's token and sequence counts, never on which adapters
// it holds: a decode step captured as a CUDA graph replays correctly for any batch of the
// same counts and adapted modules once prepare() has refreshed the tables (prepare itself
// is not captured). Nothing is launched for a projection that no adapter of the step
// adapts (none at all in a step without adapters), so a graph captured from a step holds
// launches for its adapted modules only; one replayed on a step without adapters finds
// only empty items. prepare() and expand() use the same stream; shrink() may use another
// that the caller orders after prepare().
#pragma once

#include "backend/backend.h"
#include "backend/cuda/cuda_buffer.h"
#include "core/dtype.h"
#include "lora_shrink_expand.h"
#include "model/model_config.h"

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

namespace lw::cuda {

struct LoraPlanLimits {
    int max_tokens = 0;    // tokens in one step
    int max_rank = 0;      // the largest adapter rank accepted (max_lora_rank)
    int max_adapters = 0;  // distinct adapters cached at once; at least those of one step (max_loras)
};

class LoraPlan {
public:
    // `pool_base` is the device address of page 0; page p < page_count starts at
    // pool_base + p * page_stride. Adapter rows must be stored in `dtype` (F16 or BF16),
    // the model's activation dtype.
    LoraPlan(const ModelConfig& config, DType dtype, const std::byte* pool_base, std::size_t page_stride,
             std::size_t page_count, LoraPlanLimits limits);
    LoraPlan(const LoraPlan&) = delete;
    LoraPlan& operator=(const LoraPlan&) = delete;
    ~LoraPlan();

    // Builds the step's work items from the batch (consecutive sequences sharing an
    // adapter, as lora_segments() does) and uploads them, with the tables of adapters not
    // yet cached, on `stream`. Throws lw::Error naming the sequence or adapter that does
    // not fit the limits, the dtype or the model.
    void prepare(const StepBatch& batch, cudaStream_t stream);

    // Whether the prepared step has any token with an adapter.
    bool active() const { return item_count_ > 0; }

    // The modules (bit i: linear_module_names()[i]) that some adapter of the prepared step
    // adapts: with the token and sequence counts, what a step's launches depend on.
    std::uint32_t adapted_modules() const { return modules_; }

    // Whether an adapter of the prepared step adapts one of `modules`: otherwise shrink()
    // and expand() launch nothing for them.
    bool adapts(std::span<const int> modules) const;

    // y[token][slice of modules[i]] += scale * (x[token] A^T) B^T for each token whose
    // adapter adapts modules[i] of `layer`, in two launches: shrink() reads x (it may run
    // on another stream beside the projection's own GEMM), expand() adds to y once the
    // shrink and the GEMM are done (the caller orders them). `modules` (at most 3, indices
    // into linear_module_names()) share one input: x is [tokens][in_features], dense; y is
    // [tokens][y_stride] holding the modules' outputs side by side in the order given.
    // Both are device memory of the prepared step's token count, in the plan's dtype. The
    // shrink of one projection must be followed by its expand before the next shrink.
    void shrink(int layer, std::span<const int> modules, const void* x, cudaStream_t stream);
    void expand(int layer, std::span<const int> modules, void* y, int y_stride, cudaStream_t stream);

private:
    struct Slot {
        std::uint64_t adapter_id = 0;
        std::vector<PageId> pages;  // with the id, what the cached row addresses depend on
        std::size_t rows = 0;
        std::uint32_t modules = 0;    // bit per module the adapter adapts in any layer
        std::uint64_t last_step = 0;  // the last step that used it: never evicted in that step
        bool occupied = false;
    };

    void build_step(const StepBatch& batch, cudaStream_t stream);
    LoraProjection projection(int layer, std::span<const int> modules) const;  // checked
    LoraStepTables tables() const;
    int slot_for(const PooledAdapter& adapter, std::size_t sequence, cudaStream_t stream);
    void upload_slot(int slot, const PooledAdapter& adapter, std::size_t sequence, cudaStream_t stream);

    ModelConfig config_;
    DType dtype_;
    const std::byte* pool_base_;
    std::size_t page_stride_;
    std::size_t page_count_;
    LoraPlanLimits limits_;
    int rows_per_slot_ = 0;

    // Device tables (LoraStepTables points into them) and their pinned host mirrors.
    CudaBuffer items_device_, items_host_;      // the work items, launch_items_ of them
    CudaBuffer modules_device_, modules_host_;  // [slot][layer][7] LoraModuleEntry
    CudaBuffer rows_device_, rows_host_;        // [slot][layer][module][2][max_rank] row addresses
    CudaBuffer scratch_;                        // shrink output: [tokens][kLoraMaxFused][max_rank] floats
    cudaEvent_t uploaded_ = nullptr;            // the last upload's copies have been read

    std::vector<Slot> slots_;
    std::unordered_map<std::uint64_t, int> slot_of_adapter_;
    std::uint64_t step_ = 0;
    int item_count_ = 0;
    int launch_items_ = 0;  // grid size: a bound that depends only on token and sequence counts
    int token_count_ = 0;
    int tokens_per_item_ = kLoraTokensPerItem;
    std::uint32_t modules_ = 0;  // adapted_modules()
};

}  // namespace lw::cuda
