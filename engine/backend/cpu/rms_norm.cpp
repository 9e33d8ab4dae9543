#include "backend/cpu/rms_norm.h"

#include <cmath>

namespace lw {

void rms_norm(const float* x, const float* weight, int n, float eps, float* out) {
    double sum_sq = 0;
    for (int i = 0; i < n; ++i) sum_sq += static_cast<double>(x[i]) * x[i];
    const float inv_rms = 1.0f / std::sqrt(static_cast<float>(sum_sq / n) + eps);
    for (int i = 0; i < n; ++i) out[i] = weight[i] * (x[i] * inv_rms);
}

}  // namespace lw
