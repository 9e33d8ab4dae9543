// The paged KV cache and a step's token layout as the attention kernels read them on
// the device. Both are plain values holding device pointers, so a launch that takes
// them can be captured in a CUDA graph and replayed after the host rewrites the
// arrays they point to (fixed buffers, nothing allocated in the launch path).
#pragma once

#include "core/dtype.h"

#include <cstddef>

namespace lw::cuda {

// The pool in device memory, laid out as memory/kv_layout.h says: page p starts at
// pool + p * page_stride bytes and holds block_tokens positions of one layer, K then V,
// each [block_tokens][kv_heads][head_dim] in `dtype` (F16 or BF16).
struct DevicePagedKv {
    void* pool = nullptr;
    std::size_t page_stride = 0;  // bytes from one page to the next
    int num_layers = 0;
    int kv_heads = 0;
    int head_dim = 0;
    int block_tokens = 0;
    DType dtype = DType::F16;
};

// The tokens of one step, grouped by sequence: sequence s owns batch rows
// [seq_starts[s], seq_starts[s + 1]) (possibly none: padding for a captured graph),
// whose positions are seq_positions[s], seq_positions[s] + 1, ... Its block table is
// block_tables[block_table_starts[s] + block * num_layers + layer] (KvBlockTable::pages
// of every sequence, concatenated). Every array is int32 in device memory.
struct DeviceTokenBatch {
    int num_seqs = 0;
    int num_tokens = 0;
    int max_seq_tokens = 0;                   // an upper bound of any sequence's token count this step (1 for decode)
    const int* seq_starts = nullptr;          // [num_seqs + 1], seq_starts[0] = 0
    const int* seq_positions = nullptr;       // [num_seqs] position of the sequence's first token
    const int* block_table_starts = nullptr;  // [num_seqs]
    const int* block_tables = nullptr;        // page ids
};

// Throws lw::Error naming `who` and the field when the shapes cannot be served: dtype
// other than F16/BF16, head_dim not a multiple of 8 or above 256, empty pool, zero sizes.
void check_paged_kv(const DevicePagedKv& kv, const char* who);

}  // namespace lw::cuda
