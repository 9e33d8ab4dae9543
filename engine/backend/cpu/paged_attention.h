// Causal grouped-query attention reading K and V straight from pool pages, through a
// sequence's block table (layout in memory/kv_layout.h).
#pragma once

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/thread_pool.h"
#include "memory/kv_layout.h"

#include <optional>
#include <span>

namespace lw {

// One sequence's KV cache: where each position's K and V rows (kv_heads * head_dim
// floats) of each layer live.
class PagedKv {
public:
    // The layout must be F32 and the table hold the pages the positions need.
    PagedKv(const KvLayout& layout, const KvBlockTable& table, const CpuBackend& backend);

    float* key(int layer, int position) const { return row(layer, position, 0); }
    float* value(int layer, int position) const { return row(layer, position, v_offset_); }

private:
    float* row(int layer, int position, std::size_t v_offset) const;

    const KvLayout* layout_;
    const KvBlockTable* table_;
    const CpuBackend* backend_;
    std::size_t token_bytes_;  // from the layout, computed once: row() runs per position
    std::size_t v_offset_;
};

struct AttentionShape {
    int num_heads = 0;
    int kv_heads = 0;
    int head_dim = 0;
    std::optional<int> sliding_window;  // a query sees at most this many positions, itself included
};

// A token of the batch as attention sees it: its sequence's cache and its position.
struct AttentionToken {
    const PagedKv* kv = nullptr;
    int position = 0;
};

// Stores each token's K and V rows ([tokens][kv_heads * head_dim]) of `layer` at its position.
void write_kv(std::span<const AttentionToken> tokens, int layer, const float* k, const float* v, int kv_dim);

// For every token and head: softmax(q.K^T / sqrt(head_dim)) V over the cached positions
// the token may see (up to its own, within the sliding window). q and out are
// [tokens][num_heads * head_dim]; query head h reads KV head h / (num_heads / kv_heads).
void paged_attention(const AttentionShape& shape, std::span<const AttentionToken> tokens, int layer, const float* q,
                     float* out, ThreadPool& threads);

}  // namespace lw
