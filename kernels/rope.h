// Rotary position embedding fused with the KV-cache write, on the GPU: for every token
// of a step, q and k are rotated in place as backend/cpu/rope.cpp does (dimension i with
// i + head_dim/2, "rotate half", angle = position * inv_freq[i] in fp32, its cos and sin
// in double), then the rotated k and the v row are stored at the token's position in
// its sequence's pages of `layer`. Optional q/k/v biases (Qwen2) are added first.
#pragma once

#include "paged_kv.h"

#include <cuda_runtime_api.h>

namespace lw::cuda {

struct RopeKvArgs {
    DevicePagedKv kv;
    DeviceTokenBatch batch;
    int layer = 0;
    int num_heads = 0;  // query heads; kv heads and head_dim come from `kv`
    // Row t of q ([num_heads][head_dim]), k and v ([kv_heads][head_dim]) starts at
    // t * row_stride elements from its pointer: one fused qkv GEMM output
    // ([tokens][q_dim + 2 * kv_dim]) or three separate ones. kv.dtype throughout.
    void* q = nullptr;
    void* k = nullptr;
    const void* v = nullptr;
    int row_stride = 0;
    // Added before rotation when not null: [q_dim], [kv_dim], [kv_dim] in kv.dtype.
    const void* q_bias = nullptr;
    const void* k_bias = nullptr;
    const void* v_bias = nullptr;
    // [head_dim / 2] fp32 frequencies in device memory: lw::Rope(config).inv_freq(),
    // which already holds linear / llama3 scaling and GGUF frequency factors.
    const float* inv_freq = nullptr;
};

// Throws lw::Error on unusable shapes (see check_paged_kv) or a failed launch.
void rope_write_kv(const RopeKvArgs& args, cudaStream_t stream);

}  // namespace lw::cuda
