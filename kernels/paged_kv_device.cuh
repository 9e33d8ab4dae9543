// Device-side reads of DevicePagedKv and DeviceTokenBatch shared by the RoPE/KV-write
// and attention kernels: which sequence a batch row belongs to, and where a position's
// K or V row of one KV head lives in the pool.
#pragma once

#include "core/error.h"
#include "paged_kv.h"

#include <cstdint>

namespace lw::cuda {

// Host check of the batch's fields; the arrays' contents are the caller's to get right.
inline void check_token_batch(const DeviceTokenBatch& b, const char* who) {
    if (b.num_seqs < 0 || b.num_tokens < 0)
        fail(who, ": batch of ", b.num_seqs, " sequences, ", b.num_tokens, " tokens");
    if (b.num_tokens > 0 && (b.num_seqs == 0 || b.max_seq_tokens <= 0))
        fail(who, ": ", b.num_tokens, " tokens in ", b.num_seqs, " sequences of at most ", b.max_seq_tokens);
    if (b.num_seqs > 0 && (!b.seq_starts || !b.seq_positions || !b.block_table_starts || !b.block_tables))
        fail(who, ": batch arrays missing (seq_starts, seq_positions, block_table_starts, block_tables)");
}

// The sequence owning batch row t: the last s with seq_starts[s] <= t (sequences
// without tokens share their start with the next one).
__device__ __forceinline__ int sequence_of(const DeviceTokenBatch& b, int t) {
    int lo = 0, hi = b.num_seqs - 1;
    while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (b.seq_starts[mid] <= t)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

// The page holding `position` of sequence `seq` in `layer`.
__device__ __forceinline__ int page_of(const DeviceTokenBatch& b, const DevicePagedKv& kv, int layer, int seq,
                                       int position) {
    return b.block_tables[b.block_table_starts[seq] + (position / kv.block_tokens) * kv.num_layers + layer];
}

// Start of K (which = 0) or V (which = 1) of `position` (all KV heads) in `page`.
template <class T>
__device__ __forceinline__ T* kv_at(const DevicePagedKv& kv, int page, int position, int which) {
    const std::size_t row = static_cast<std::size_t>(kv.kv_heads) * kv.head_dim;
    const std::size_t element = static_cast<std::size_t>(which * kv.block_tokens + position % kv.block_tokens) * row;
    return reinterpret_cast<T*>(static_cast<std::uint8_t*>(kv.pool) + static_cast<std::size_t>(page) * kv.page_stride) +
           element;
}

struct TokenSlot {
    int seq;
    int position;
    int page;
};

__device__ __forceinline__ TokenSlot token_slot(const DeviceTokenBatch& b, const DevicePagedKv& kv, int layer, int t) {
    const int seq = sequence_of(b, t);
    const int position = b.seq_positions[seq] + t - b.seq_starts[seq];
    return {seq, position, page_of(b, kv, layer, seq, position)};
}

template <class T>
__device__ __forceinline__ T* kv_row(const DevicePagedKv& kv, const TokenSlot& s, int which) {
    return kv_at<T>(kv, s.page, s.position, which);
}

}  // namespace lw::cuda
