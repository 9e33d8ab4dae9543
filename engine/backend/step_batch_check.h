// The checks every runner makes before a forward pass: a batch that would read or
// write outside the pool, the vocabulary or a sequence's block table is refused with
// an error naming the sequence (and adapter), before anything runs.
#pragma once

#include "backend/backend.h"

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace lw {

struct StepBatchLimits {
    std::size_t page_count = 0;
    std::size_t page_bytes = 0;
    DType adapter_dtype = DType::F32;  // the dtype the runner reads adapter rows in
};

// What a runner's checks remember between steps: the adapters of the last batch that
// passed, by id, with the pages they were checked in. A pooled adapter's rows follow from
// its id (one registration, one image) and its pages, so an adapter that stays in the
// batch has its rows walked once per placement instead of every step (64 adapters of a
// 7B model, ranks 8 to 64, hold a million rows: walking them took ~4 ms a step).
struct CheckedAdapters {
    std::unordered_map<std::uint64_t, std::vector<PageId>> pages_by_id;
};

// Throws lw::Error naming the sequence at fault; returns how many sequences want logits.
std::size_t check_step_batch(const StepBatch& batch, const ModelConfig& config, const KvLayout& layout,
                             const StepBatchLimits& limits, CheckedAdapters& checked);

}  // namespace lw
