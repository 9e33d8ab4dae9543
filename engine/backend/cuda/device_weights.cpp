#include "backend/cuda/device_weights.h"

#include "core/error.h"
#include "cuda_check.h"
#include "dequantize.h"

#include <algorithm>

namespace lw::cuda {
namespace {

constexpr std::size_t kAlign = 256;

std::size_t align_up(std::size_t n) {
    return (n + kAlign - 1) / kAlign * kAlign;
}

// Where each tensor goes: a list of HF tensors laid end to end form one device array
// (one tensor alone, or the q|k|v and gate|up fusions).
struct Placement {
    std::vector<const TensorView*> parts;
    std::size_t offset = 0;  // bytes into the allocation
    const void** slot = nullptr;
};

}  // namespace

DeviceWeights::DeviceWeights(const ModelConfig& config, const ModelWeights& weights, DType dtype) {
    const std::size_t elem = dtype_bytes(dtype, 1);
    std::vector<Placement> placements;
    auto place = [&](const void** slot, std::vector<std::string> names) {
        Placement p;
        p.slot = slot;
        for (const auto& n : names) p.parts.push_back(&weights.get(n));
        placements.push_back(std::move(p));
    };

    layers_.resize(static_cast<std::size_t>(config.num_layers));
    place(&embedding_, {"model.embed_tokens.weight"});
    place(&final_norm_, {"model.norm.weight"});
    if (!config.tie_word_embeddings) place(&lm_head_, {"lm_head.weight"});
    for (int l = 0; l < config.num_layers; ++l) {
        const std::string a = cat("model.layers.", l, ".self_attn."), m = cat("model.layers.", l, ".mlp.");
        const std::string norm = cat("model.layers.", l, ".");
        DeviceLayer& d = layers_[static_cast<std::size_t>(l)];
        place(&d.attn_norm, {norm + "input_layernorm.weight"});
        place(&d.mlp_norm, {norm + "post_attention_layernorm.weight"});
        place(&d.qkv, {a + "q_proj.weight", a + "k_proj.weight", a + "v_proj.weight"});
        if (config.attention_bias) place(&d.qkv_bias, {a + "q_proj.bias", a + "k_proj.bias", a + "v_proj.bias"});
        place(&d.o, {a + "o_proj.weight"});
        place(&d.gate_up, {m + "gate_proj.weight", m + "up_proj.weight"});
        place(&d.down, {m + "down_proj.weight"});
    }

    std::size_t total = 0, largest = 0;
    for (Placement& p : placements) {
        p.offset = total;
        std::size_t n = 0;
        for (const TensorView* t : p.parts) {
            n += static_cast<std::size_t>(t->numel());
            largest = std::max(largest, t->data.size());
        }
        total += align_up(n * elem);
    }
    memory_ = CudaBuffer::device(total, cat("the weights of ", config.architecture, " (", total, " bytes)"));
    const CudaBuffer stored = CudaBuffer::device(largest, "a weight as stored, before conversion");

    const DequantOutput out = dtype == DType::BF16 ? DequantOutput::BF16 : DequantOutput::F16;
    for (const Placement& p : placements) {
        std::byte* dst = memory_.as<std::byte>() + p.offset;
        for (const TensorView* t : p.parts) {
            // Both on the legacy default stream: the next copy waits for this conversion.
            check(cudaMemcpy(stored.get(), t->data.data(), t->data.size(), cudaMemcpyHostToDevice),
                  cat("uploading tensor ", t->name).c_str());
            try {
                dequantize(t->dtype, stored.get(), dst, out, t->numel());
            } catch (const Error& e) {
                fail("cuda backend: tensor ", t->name, ": ", e.what());
            }
            dst += static_cast<std::size_t>(t->numel()) * elem;
        }
        *p.slot = memory_.as<std::byte>() + p.offset;
    }
    if (config.tie_word_embeddings) lm_head_ = embedding_;
    check(cudaDeviceSynchronize(), "converting the weights");
}

}  // namespace lw::cuda
