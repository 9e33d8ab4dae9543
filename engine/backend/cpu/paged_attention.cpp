#include "backend/cpu/paged_attention.h"

#include "core/error.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace lw {

PagedKv::PagedKv(const KvLayout& layout, const KvBlockTable& table, const CpuBackend& backend)
    : layout_(&layout),
      table_(&table),
      backend_(&backend),
      token_bytes_(layout.token_bytes()),
      v_offset_(layout.v_offset()) {
    if (layout.dtype != DType::F32) fail("cpu attention: KV cache in ", dtype_name(layout.dtype), ", expected F32");
}

float* PagedKv::row(int layer, int position, std::size_t v_offset) const {
    const auto block = static_cast<std::size_t>(position / layout_->block_tokens);
    const auto slot = static_cast<std::size_t>(position % layout_->block_tokens);
    const PageId page =
        table_->pages[block * static_cast<std::size_t>(layout_->num_layers) + static_cast<std::size_t>(layer)];
    return reinterpret_cast<float*>(backend_->page_data(page) + v_offset + slot * token_bytes_);
}

void write_kv(std::span<const AttentionToken> tokens, int layer, const float* k, const float* v, int kv_dim) {
    const auto bytes = static_cast<std::size_t>(kv_dim) * sizeof(float);
    for (std::size_t t = 0; t < tokens.size(); ++t) {
        std::memcpy(tokens[t].kv->key(layer, tokens[t].position), k + t * static_cast<std::size_t>(kv_dim), bytes);
        std::memcpy(tokens[t].kv->value(layer, tokens[t].position), v + t * static_cast<std::size_t>(kv_dim), bytes);
    }
}

namespace {

// One query head over positions [first, last] of its KV head, with an online softmax
// (running max and sum) so that no score buffer is needed: out accumulates V directly.
void attend(const float* q, const PagedKv& kv, int layer, int kv_offset, int first, int last, int head_dim,
            float* out) {
    const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
    float running_max = -std::numeric_limits<float>::infinity();
    float running_sum = 0.0f;
    std::fill(out, out + head_dim, 0.0f);
    for (int j = first; j <= last; ++j) {
        const float score = cblas_sdot(head_dim, q, 1, kv.key(layer, j) + kv_offset, 1) * scale;
        if (score > running_max) {
            const float rescale = std::exp(running_max - score);
            cblas_sscal(head_dim, rescale, out, 1);
            running_sum *= rescale;
            running_max = score;
        }
        const float weight = std::exp(score - running_max);
        cblas_saxpy(head_dim, weight, kv.value(layer, j) + kv_offset, 1, out, 1);
        running_sum += weight;
    }
    cblas_sscal(head_dim, 1.0f / running_sum, out, 1);
}

}  // namespace

void paged_attention(const AttentionShape& shape, std::span<const AttentionToken> tokens, int layer, const float* q,
                     float* out, ThreadPool& threads) {
    const int group = shape.num_heads / shape.kv_heads;
    const auto q_dim = static_cast<std::size_t>(shape.num_heads * shape.head_dim);
    threads.parallel_for(tokens.size() * static_cast<std::size_t>(shape.num_heads), [&](std::size_t item) {
        const std::size_t t = item / static_cast<std::size_t>(shape.num_heads);
        const int head = static_cast<int>(item % static_cast<std::size_t>(shape.num_heads));
        const int last = tokens[t].position;
        const int first = shape.sliding_window ? std::max(0, last - *shape.sliding_window + 1) : 0;
        const std::size_t at = t * q_dim + static_cast<std::size_t>(head * shape.head_dim);
        attend(q + at, *tokens[t].kv, layer, (head / group) * shape.head_dim, first, last, shape.head_dim, out + at);
    });
}

}  // namespace lw
