// Row gather on the GPU: the embedding lookup (token ids -> rows of embed_tokens) and
// the pick of each sequence's last hidden row before the final norm and lm_head.
#pragma once

#include "core/dtype.h"

#include <cuda_runtime_api.h>

#include <cstdint>

namespace lw::cuda {

// out[i] = table[ids[i]] for i < count; table: [table_rows][row_elements], out:
// [count][row_elements], both of `dtype` (any 2- or 4-byte type), ids: int32, all device
// memory. An id outside [0, table_rows) yields a row of zeros instead of reading out of
// bounds (callers validate ids on the host and name the bad one).
void gather_rows(DType dtype, const void* table, std::int64_t table_rows, std::int64_t row_elements, const int* ids,
                 int count, void* out, cudaStream_t stream);

}  // namespace lw::cuda
