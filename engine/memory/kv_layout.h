// How a model's KV cache sits in pool pages. One page holds one block of
// `block_tokens` consecutive positions of ONE layer: first K, then V, each laid out
// [block_tokens][kv_heads][head_dim] in `dtype`. A sequence's block table lists, for
// logical block b and layer l, the page at pages[b * num_layers + l].
#pragma once

#include "core/dtype.h"
#include "memory/page_pool.h"
#include "model/model_config.h"

#include <cstddef>
#include <vector>

namespace lw {

struct KvLayout {
    int num_layers = 0;
    int kv_heads = 0;
    int head_dim = 0;
    int block_tokens = 0;  // as many positions as fit one page
    DType dtype = DType::F32;

    std::size_t token_bytes() const;  // K or V of one position in one layer
    std::size_t v_offset() const { return token_bytes() * static_cast<std::size_t>(block_tokens); }
    // Pages a sequence needs to hold `tokens` positions (every layer).
    std::size_t pages_for(std::size_t tokens) const;
};

// The layout for `config` in pages of `page_bytes`; throws lw::Error when a page cannot
// hold even one position (K and V) of one layer.
KvLayout make_kv_layout(const ModelConfig& config, std::size_t page_bytes, DType dtype);

struct KvBlockTable {
    std::vector<PageId> pages;  // block-major: pages[block * num_layers + layer]
    int tokens = 0;             // positions already written to the cache
};

}  // namespace lw
