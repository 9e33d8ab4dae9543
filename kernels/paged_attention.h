// Causal grouped-query attention over the paged KV cache on the GPU, for decode (one
// query token per sequence) and (chunked) prefill (several) in one kernel, as
// backend/cpu/paged_attention.cpp defines it: each query token attends to the cached
// positions up to its own (within the sliding window), softmax(q.K^T / sqrt(head_dim)) V
// with an online softmax in fp32. A block of the kernel takes a tile of one sequence's
// query tokens and every query head that shares one KV head, so each K/V row is read
// once per tile; long contexts are split over `kv_splits` blocks (flash-decoding) whose
// partial results a second kernel combines. Decode steps (batch.max_seq_tokens == 1) run
// a kernel of their own that reads K/V rows from the pages straight into registers,
// several 16-byte loads in flight per thread, for up to 8 query heads of a KV head at once.
#pragma once

#include "paged_kv.h"

#include <cuda_runtime_api.h>

#include <cstddef>

namespace lw::cuda {

struct AttentionArgs {
    DevicePagedKv kv;
    DeviceTokenBatch batch;  // K/V of every token must already be in the cache (rope_write_kv)
    int layer = 0;
    int num_heads = 0;        // a multiple of kv.kv_heads; query head h reads KV head h / (num_heads / kv_heads)
    const void* q = nullptr;  // row t at t * q_stride elements: [num_heads][head_dim], kv.dtype
    int q_stride = 0;
    void* out = nullptr;     // [num_tokens][num_heads * head_dim], kv.dtype
    int sliding_window = 0;  // a query sees at most this many positions, itself included; 0: unlimited
    // Blocks each (tile, KV head) is split over along the context; 1 needs no workspace.
    // Fixed for a captured graph: each sequence's context is divided into this many parts.
    int kv_splits = 1;
    void* workspace = nullptr;  // device memory of attention_workspace_bytes(...) bytes
    std::size_t workspace_bytes = 0;
};

// Workspace the split-K partial results need (0 when kv_splits is 1).
std::size_t attention_workspace_bytes(int num_tokens, int num_heads, int head_dim, int kv_splits);

// A split count that fills the current device for `num_seqs` sequences of up to
// `max_context` positions with `kv_heads` KV heads and one query token each: 1 once the
// sequences' KV heads alone give every SM a few blocks, at most one split per 16 positions.
int suggested_kv_splits(int num_seqs, int kv_heads, int max_context);

// Throws lw::Error naming the field for inconsistent shapes, a small workspace or a
// failed launch.
void paged_attention(const AttentionArgs& args, cudaStream_t stream);

}  // namespace lw::cuda
