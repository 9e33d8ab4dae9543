// Rotary position embedding as transformers applies it to the Llama family: dimension
// i of a head is rotated together with dimension i + head_dim/2 ("rotate half"), by
// position * inv_freq[i]. The frequencies follow the model's scaling (none, linear,
// llama3) and GGUF's per-frequency divisors (rope_freq_factors).
#pragma once

#include "model/model_config.h"

#include <vector>

namespace lw {

class Rope {
public:
    // Throws lw::Error when head_dim is odd or rope_freq_factors has the wrong length.
    explicit Rope(const ModelConfig& config);

    // Rotates `heads` consecutive head vectors of head_dim values in place.
    void apply(float* vectors, int heads, int position) const;

    const std::vector<float>& inv_freq() const { return inv_freq_; }

private:
    int head_dim_;
    std::vector<float> inv_freq_;  // head_dim / 2 angular frequencies
};

}  // namespace lw
