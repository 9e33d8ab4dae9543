// RMSNorm as Llama computes it: x / sqrt(mean(x^2) + eps), times a learned weight.
#pragma once

namespace lw {

// Normalises `n` values of x into out (which may be x).
void rms_norm(const float* x, const float* weight, int n, float eps, float* out);

}  // namespace lw
