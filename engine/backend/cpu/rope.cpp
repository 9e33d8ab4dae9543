#include "backend/cpu/rope.h"

#include "core/error.h"

#include <cmath>
#include <numbers>

namespace lw {
namespace {

// transformers' _compute_llama3_parameters: long wavelengths are slowed down by
// `factor`, short ones kept, and the band between blended smoothly.
float llama3_scaled(float inv_freq, const RopeScaling& s) {
    const float old_context = static_cast<float>(s.original_max_position_embeddings);
    const float low_freq_wavelen = old_context / s.low_freq_factor;
    const float high_freq_wavelen = old_context / s.high_freq_factor;
    const float wavelen = 2.0f * std::numbers::pi_v<float> / inv_freq;
    if (wavelen > low_freq_wavelen) return inv_freq / s.factor;
    if (wavelen < high_freq_wavelen) return inv_freq;
    const float smooth = (old_context / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
    return (1.0f - smooth) * inv_freq / s.factor + smooth * inv_freq;
}

}  // namespace

Rope::Rope(const ModelConfig& config) : head_dim_(config.head_dim) {
    if (head_dim_ <= 0 || head_dim_ % 2 != 0) fail("rope: head_dim ", head_dim_, " is not a positive even number");
    const int half = head_dim_ / 2;
    if (!config.rope_freq_factors.empty() && config.rope_freq_factors.size() != static_cast<std::size_t>(half))
        fail("rope: ", config.rope_freq_factors.size(), " frequency factors for head_dim ", head_dim_, ", expected ",
             half);
    // Computed in float as transformers does, so angles match it bit for bit.
    for (int i = 0; i < half; ++i) {
        const float exponent = static_cast<float>(2 * i) / static_cast<float>(head_dim_);
        float f = 1.0f / std::pow(config.rope_theta, exponent);
        switch (config.rope_scaling.type) {
            case RopeScaling::Type::None:
                break;
            case RopeScaling::Type::Linear:
                f /= config.rope_scaling.factor;
                break;
            case RopeScaling::Type::Llama3:
                f = llama3_scaled(f, config.rope_scaling);
                break;
        }
        if (!config.rope_freq_factors.empty()) f /= config.rope_freq_factors[static_cast<std::size_t>(i)];
        inv_freq_.push_back(f);
    }
}

void Rope::apply(float* vectors, int heads, int position) const {
    const int half = head_dim_ / 2;
    for (int i = 0; i < half; ++i) {
        const float angle = inv_freq_[static_cast<std::size_t>(i)] * static_cast<float>(position);
        const auto c = static_cast<float>(std::cos(static_cast<double>(angle)));
        const auto s = static_cast<float>(std::sin(static_cast<double>(angle)));
        for (int h = 0; h < heads; ++h) {
            float* v = vectors + h * head_dim_;
            const float x1 = v[i], x2 = v[i + half];
            v[i] = x1 * c - x2 * s;
            v[i + half] = x2 * c + x1 * s;
        }
    }
}

}  // namespace lw
