// Token sampling on the GPU, so only token ids (and their logprobs) cross to the host:
// greedy, temperature, top-k, top-p and min-p with the semantics of runtime/sampler.cpp
// (candidates are the finite logits; top-k keeps the k most likely, ties to the lower
// id; top-p the most likely until their mass reaches top_p; min-p drops tokens below
// min_p x the most likely). Penalties and suppressed tokens are not applied here: the
// caller edits the logits first (-inf suppresses a token). Each draw takes its uniform
// number from a counter-based generator (Philox4x32-10) keyed by the sequence's seed and
// counted by its step, so a seeded request draws the same whatever shares its batch.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace lw::cuda {

struct SamplingSettings {
    float temperature = 1.0f;  // 0: greedy (argmax, ties to the lowest id)
    int top_k = 0;             // 0 or -1: every token
    float top_p = 1.0f;        // (0, 1]
    float min_p = 0.0f;        // [0, 1]
    std::uint64_t seed = 0;
    std::uint64_t step = 0;  // the sequence's draw counter: one number per token it generates
};

// logits: [num_seqs][vocab] fp32; settings: [num_seqs]; tokens: [num_seqs] int32;
// logprobs: [num_seqs] fp32, the chosen token's log-softmax of the raw logits. All
// device memory. A sequence whose logits are all -inf or NaN gets token -1 (the caller
// reports it), as does one whose settings keep no token (validate_sampling_params
// rejects those on the host). Throws lw::Error on bad sizes or a failed launch.
void sample_tokens(const float* logits, int num_seqs, int vocab, const SamplingSettings* settings, int* tokens,
                   float* logprobs, cudaStream_t stream);

}  // namespace lw::cuda
