// A step's batch as the kernels read it: token ids, the token layout by sequence and
// the block tables (cuda::DeviceTokenBatch), and which batch rows want logits. Laid
// out in one pinned host buffer and copied to one fixed device buffer per step with a
// single copy, so the device addresses never change (what graph replays need).
#pragma once

#include "backend/backend.h"
#include "backend/cuda/cuda_buffer.h"
#include "paged_kv.h"

#include <cuda_runtime_api.h>

namespace lw::cuda {

struct StepInputLimits {
    int max_tokens = 0;
    int max_seqs = 0;
    std::size_t max_pages = 0;  // block table entries of one step: at most the pool's page count
};

class StepInputs {
public:
    explicit StepInputs(StepInputLimits limits);

    // Lays the batch out and queues its copy on `stream`. The previous step's copy must
    // have completed (the runner synchronizes at the end of every step). Throws
    // lw::Error when the batch exceeds the limits.
    void upload(const StepBatch& batch, cudaStream_t stream);

    const DeviceTokenBatch& tokens() const { return tokens_; }
    const int* token_ids() const { return device_ids_; }
    // Batch rows of the last token of each sequence that wants logits, in batch order.
    const int* logit_rows() const { return device_logit_rows_; }
    int logit_count() const { return logit_count_; }

private:
    StepInputLimits limits_;
    std::size_t ints_ = 0;
    CudaBuffer host_, device_;
    DeviceTokenBatch tokens_;
    const int* device_ids_ = nullptr;
    const int* device_logit_rows_ = nullptr;
    int logit_count_ = 0;
};

}  // namespace lw::cuda
