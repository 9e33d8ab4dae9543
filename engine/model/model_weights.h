// A base model's tensors under their Hugging Face names
// ("model.layers.0.self_attn.q_proj.weight", "lm_head.weight", ...), whatever file
// they came from. Views point into memory-mapped files or into buffers this object
// owns (e.g. GGUF Q/K rows put back into HF order), so they stay valid while it lives.
#pragma once

#include "core/tensor_view.h"
#include "model/model_config.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace lw {

class ModelWeights {
public:
    // Adds a tensor; throws if the name is taken.
    void add(TensorView t);
    // Keeps a mapped file or an owned buffer alive as long as these weights.
    void keep_alive(std::shared_ptr<const void> storage);

    bool contains(const std::string& name) const;
    // Throws lw::Error naming the tensor when it is missing.
    const TensorView& get(const std::string& name) const;
    const std::map<std::string, TensorView>& all() const { return tensors_; }
    std::size_t total_bytes() const;

private:
    std::map<std::string, TensorView> tensors_;
    std::vector<std::shared_ptr<const void>> storage_;
};

// Names and shapes the config implies (embedding, norms, per-layer projections,
// Qwen2's q/k/v biases, lm_head unless tied).
std::map<std::string, std::vector<std::int64_t>> expected_tensor_shapes(const ModelConfig& c);

// Throws lw::Error naming `source`, the tensor, and expected vs actual shape when a
// tensor the config needs is missing, mis-shaped or not convertible to float.
void validate_weights(const ModelWeights& w, const ModelConfig& c, const std::string& source);

}  // namespace lw
