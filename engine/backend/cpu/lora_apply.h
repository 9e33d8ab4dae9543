// LoRA applied unmerged, per token, with SGMV's semantics: the batch's tokens fall into
// segments that share one adapter, and for each segment that adapts a module
//   y += scale * (x A^T) B^T
// with A rows and B^T rows read from pool pages through the adapter's row table. Ranks
// differ freely between segments; tokens of base-only sequences are left untouched.
#pragma once

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/thread_pool.h"

#include <span>
#include <vector>

namespace lw {

struct LoraSegment {
    int first_token = 0;
    int tokens = 0;
    const PooledAdapter* adapter = nullptr;
};

// Consecutive sequences with the same adapter share a segment; base-only sequences get none.
std::vector<LoraSegment> lora_segments(const StepBatch& batch);

// Adds module `module` of `layer` of each segment's adapter to y. x is [tokens][in],
// y is [tokens][out], both indexed by batch token. Adapter rows must be F32.
void apply_lora(std::span<const LoraSegment> segments, int layer, int module, const float* x, int in, float* y, int out,
                const CpuBackend& backend, ThreadPool& threads);

}  // namespace lw
