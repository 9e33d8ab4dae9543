// The checks every runner makes before a forward pass: a batch that would read or
// write outside the pool, the vocabulary or a sequence's block table is refused with
// an error naming the sequence (and adapter), before anything runs.
#pragma once

#include "backend/backend.h"

#include <cstddef>

namespace lw {

struct StepBatchLimits {
    std::size_t page_count = 0;
    std::size_t page_bytes = 0;
    DType adapter_dtype = DType::F32;  // the dtype the runner reads adapter rows in
};

// Throws lw::Error naming the sequence at fault; returns how many sequences want logits.
std::size_t check_step_batch(const StepBatch& batch, const ModelConfig& config, const KvLayout& layout,
                             const StepBatchLimits& limits);

}  // namespace lw
