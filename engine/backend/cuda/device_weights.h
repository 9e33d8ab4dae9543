// A base model's weights on the GPU, uploaded once into one allocation and converted
// to the activation dtype (GGUF block types dequantized on the device, F32 rounded).
// q|k|v and gate|up are stored as single matrices ([q_dim + 2 kv_dim][hidden] and
// [2 intermediate][hidden]: PyTorch's rows one after the other) so that each is one GEMM.
#pragma once

#include "backend/cuda/cuda_buffer.h"
#include "model/model_config.h"
#include "model/model_weights.h"

#include <vector>

namespace lw::cuda {

struct DeviceLayer {
    const void* attn_norm = nullptr;  // [hidden]
    const void* mlp_norm = nullptr;   // [hidden]
    const void* qkv = nullptr;        // [q_dim + 2 kv_dim][hidden]
    const void* qkv_bias = nullptr;   // [q_dim + 2 kv_dim] (Qwen2), else null
    const void* o = nullptr;          // [hidden][q_dim]
    const void* gate_up = nullptr;    // [2 intermediate][hidden]
    const void* down = nullptr;       // [hidden][intermediate]
};

class DeviceWeights {
public:
    // `weights` must have passed validate_weights for `config`. Throws lw::Error naming
    // the tensor that cannot be converted, or when the device has no room.
    DeviceWeights(const ModelConfig& config, const ModelWeights& weights, DType dtype);

    const void* embedding() const { return embedding_; }  // [vocab][hidden]
    const void* final_norm() const { return final_norm_; }
    const void* lm_head() const { return lm_head_; }  // [vocab][hidden]; the embedding when tied
    const DeviceLayer& layer(int l) const { return layers_[static_cast<std::size_t>(l)]; }
    std::size_t bytes() const { return memory_.bytes(); }

private:
    CudaBuffer memory_;
    const void* embedding_ = nullptr;
    const void* final_norm_ = nullptr;
    const void* lm_head_ = nullptr;
    std::vector<DeviceLayer> layers_;
};

}  // namespace lw::cuda
