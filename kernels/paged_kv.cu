#include "paged_kv.h"

#include "core/error.h"

namespace lw::cuda {

void check_paged_kv(const DevicePagedKv& kv, const char* who) {
    if (kv.dtype != DType::F16 && kv.dtype != DType::BF16)
        fail(who, ": KV cache in ", dtype_name(kv.dtype), ", expected F16 or BF16");
    if (kv.head_dim <= 0 || kv.head_dim % 8 != 0 || kv.head_dim > 256)
        fail(who, ": head_dim ", kv.head_dim, " is not a multiple of 8 in [8, 256]");
    if (kv.kv_heads <= 0 || kv.num_layers <= 0 || kv.block_tokens <= 0)
        fail(who, ": KV layout of ", kv.num_layers, " layers, ", kv.kv_heads, " heads, ", kv.block_tokens,
             " positions per page");
    const std::size_t page_bytes = 2 * static_cast<std::size_t>(kv.block_tokens) * kv.kv_heads * kv.head_dim * 2;
    if (!kv.pool || kv.page_stride < page_bytes || kv.page_stride % 16 != 0)
        fail(who, ": page stride ", kv.page_stride, " bytes, a page needs ", page_bytes, " (16-byte aligned)");
}

}  // namespace lw::cuda
