#include "memory/kv_layout.h"

#include "core/error.h"

#include <limits>

namespace lw {

std::size_t KvLayout::token_bytes() const {
    return dtype_bytes(dtype, static_cast<std::int64_t>(kv_heads) * head_dim);
}

std::size_t KvLayout::pages_for(std::size_t tokens) const {
    if (block_tokens <= 0) fail("KV layout: block_tokens is ", block_tokens, "; build layouts with make_kv_layout");
    const auto block = static_cast<std::size_t>(block_tokens);
    return (tokens + block - 1) / block * static_cast<std::size_t>(num_layers);
}

KvLayout make_kv_layout(const ModelConfig& config, std::size_t page_bytes, DType dtype) {
    if (config.num_layers <= 0 || config.num_kv_heads <= 0 || config.head_dim <= 0)
        fail("KV layout: model has ", config.num_layers, " layers, ", config.num_kv_heads, " KV heads of dimension ",
             config.head_dim, "; all must be positive");
    KvLayout layout;
    layout.num_layers = config.num_layers;
    layout.kv_heads = config.num_kv_heads;
    layout.head_dim = config.head_dim;
    layout.dtype = dtype;
    const std::size_t position_bytes = 2 * layout.token_bytes();  // K and V
    const std::size_t fit = page_bytes / position_bytes;
    if (fit == 0)
        fail("KV layout: a page of ", page_bytes, " bytes cannot hold one position of one layer (K and V of ",
             config.num_kv_heads, " KV heads x head_dim ", config.head_dim, " in ", dtype_name(dtype), " = ",
             position_bytes, " bytes)");
    if (fit > static_cast<std::size_t>(std::numeric_limits<int>::max()))
        fail("KV layout: a page of ", page_bytes, " bytes holds more positions than a block can count");
    layout.block_tokens = static_cast<int>(fit);
    return layout;
}

}  // namespace lw
