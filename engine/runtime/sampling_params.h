// How one request chooses its next token, with the OpenAI / vLLM parameter names.
#pragma once

#include <cstdint>
#include <optional>

namespace lw {

struct SamplingParams {
    float temperature = 1.0f;         // 0 = greedy
    int top_k = 0;                    // 0 or -1 = every token
    float top_p = 1.0f;               // nucleus: smallest set whose probability reaches top_p
    float min_p = 0.0f;               // drop tokens below min_p x the most likely one
    float repetition_penalty = 1.0f;  // > 1 discourages tokens seen in the prompt or output
    float presence_penalty = 0.0f;    // subtracted once from tokens already generated
    float frequency_penalty = 0.0f;   // subtracted per time a token was generated
    std::optional<std::uint64_t> seed;
    int top_logprobs = 0;  // alternatives reported with each token (0..kMaxTopLogprobs)
};

inline constexpr int kMaxTopLogprobs = 20;

// Throws lw::Error naming the parameter and its allowed range.
void validate_sampling_params(const SamplingParams& p);

}  // namespace lw
