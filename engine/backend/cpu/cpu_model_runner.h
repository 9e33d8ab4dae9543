// A Llama-family decoder (Llama, Mistral, Qwen2, SmolLM) on the CPU in fp32: the
// forward pass over a batch of sequences, each with its own adapter or none, K/V in
// pool pages. Matrices stay in their stored precision (views into the model's
// weights, see weight_matrix.h); only norms and biases are converted to f32. A runner
// lives no longer than its backend or its weights; forward() is called from one thread
// at a time.
#pragma once

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/lora_apply.h"
#include "backend/cpu/rope.h"
#include "backend/cpu/weight_matrix.h"
#include "backend/step_batch_check.h"

#include <array>
#include <vector>

namespace lw {

class CpuModelRunner final : public ModelRunner {
public:
    // Throws lw::Error when the config or the weights are inconsistent.
    CpuModelRunner(const ModelConfig& config, const ModelWeights& weights, CpuBackend& backend);

    const ModelConfig& config() const override { return config_; }
    const KvLayout& kv_layout() const override { return kv_layout_; }
    void forward(const StepBatch& batch, std::span<float> logits) override;

private:
    // A linear module y = x W^T + b, W stored [out][in] as in PyTorch.
    struct Linear {
        WeightMatrix weight;
        std::vector<float> bias;  // empty: none
    };
    struct Layer {
        std::vector<float> attn_norm;
        std::vector<float> mlp_norm;
        std::array<Linear, 7> proj;  // indexed like linear_module_names(): q k v o gate up down
    };
    // Per-token activations of one forward, kept between calls to avoid reallocating.
    struct Activations {
        std::vector<float> x, xn, q, k, v, attn, gate, up, delta;
        std::vector<float> weight_rows;  // dequantized weight rows (WeightMatrix scratch)
    };

    // y = x W^T + b for `rows` tokens, plus the LoRA of each segment's adapter.
    void project(int layer, int module, const float* x, int rows, float* y, std::span<const LoraSegment> segments);

    ModelConfig config_;
    CpuBackend& backend_;
    KvLayout kv_layout_;
    CheckedAdapters checked_adapters_;
    Rope rope_;
    WeightMatrix embedding_;  // [vocab][hidden]
    std::vector<Layer> layers_;
    std::vector<float> final_norm_;
    WeightMatrix lm_head_;  // [vocab][hidden]; the embedding when tied
    Activations act_;
};

}  // namespace lw
