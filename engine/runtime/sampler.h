// Turns one sequence's logits into its next token: penalties, temperature, top-k,
// top-p, min-p, then a draw from the sequence's own random stream, so a seeded
// request gets the same tokens whatever else shares its batch. Log-probabilities
// are those of the model's raw distribution, as vLLM reports them.
#pragma once

#include "core/token_id.h"
#include "runtime/sampling_params.h"

#include <cstdint>
#include <random>
#include <span>
#include <unordered_map>
#include <vector>

namespace lw {

struct TokenLogprob {
    TokenId token = 0;
    float logprob = 0.0f;
};

struct SampledToken {
    TokenId token = 0;
    float logprob = 0.0f;
    std::vector<TokenLogprob> top;  // the top_logprobs most likely tokens, most likely first
};

// Tokens a sequence has seen, for the penalties: the prompt's count only for the
// repetition penalty, the generated ones for all three.
class TokenHistory {
public:
    void add_prompt(std::span<const TokenId> tokens);
    void add_output(TokenId token);

    const std::unordered_map<TokenId, int>& output_counts() const { return output_counts_; }
    bool seen(TokenId token) const { return prompt_.contains(token) || output_counts_.contains(token); }
    bool empty() const { return prompt_.empty() && output_counts_.empty(); }

    // Every distinct token of prompt and output.
    std::vector<TokenId> distinct() const;

private:
    std::unordered_map<TokenId, int> prompt_;
    std::unordered_map<TokenId, int> output_counts_;
};

class Sampler {
public:
    // `fallback_seed` seeds the random stream when the params carry no seed.
    Sampler(SamplingParams params, std::uint64_t fallback_seed);

    // `suppressed` tokens are never chosen (EOS and stop tokens before min_tokens).
    SampledToken sample(std::span<const float> logits, const TokenHistory& history,
                        std::span<const TokenId> suppressed = {});

    const SamplingParams& params() const { return params_; }

private:
    SamplingParams params_;
    std::mt19937_64 rng_;
};

}  // namespace lw
