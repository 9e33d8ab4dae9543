#include "runtime/sampler.h"

#include "core/error.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace lw {

void validate_sampling_params(const SamplingParams& p) {
    if (!(p.temperature >= 0.0f)) fail("temperature must be >= 0, got ", p.temperature);
    if (p.top_k < -1) fail("top_k must be -1 (all tokens) or >= 0, got ", p.top_k);
    if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) fail("top_p must be in (0, 1], got ", p.top_p);
    if (!(p.min_p >= 0.0f && p.min_p <= 1.0f)) fail("min_p must be in [0, 1], got ", p.min_p);
    if (!(p.repetition_penalty > 0.0f)) fail("repetition_penalty must be > 0, got ", p.repetition_penalty);
    if (!(std::abs(p.presence_penalty) <= 2.0f)) fail("presence_penalty must be in [-2, 2], got ", p.presence_penalty);
    if (!(std::abs(p.frequency_penalty) <= 2.0f))
        fail("frequency_penalty must be in [-2, 2], got ", p.frequency_penalty);
    if (p.top_logprobs < 0 || p.top_logprobs > kMaxTopLogprobs)
        fail("top_logprobs must be in [0, ", kMaxTopLogprobs, "], got ", p.top_logprobs);
}

void TokenHistory::add_prompt(std::span<const TokenId> tokens) {
    for (TokenId t : tokens) ++prompt_[t];
}

void TokenHistory::add_output(TokenId token) {
    ++output_counts_[token];
}

std::vector<TokenId> TokenHistory::distinct() const {
    std::vector<TokenId> ids;
    ids.reserve(prompt_.size() + output_counts_.size());
    for (const auto& [t, n] : prompt_) ids.push_back(t);
    for (const auto& [t, n] : output_counts_)
        if (!prompt_.contains(t)) ids.push_back(t);
    return ids;
}

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// log-softmax normaliser: log(sum(exp(x))), computed stably.
double log_sum_exp(std::span<const float> x) {
    const float peak = *std::max_element(x.begin(), x.end());
    if (std::isinf(peak)) return peak;
    double sum = 0.0;
    for (float v : x) sum += std::exp(static_cast<double>(v) - peak);
    return peak + std::log(sum);
}

void apply_penalties(std::vector<float>& logits, const SamplingParams& p, const TokenHistory& history) {
    const auto vocab = static_cast<TokenId>(logits.size());
    if (p.repetition_penalty != 1.0f) {
        // CTRL's rule as transformers and vLLM apply it: shrink positive logits, grow negative ones.
        for (TokenId t : history.distinct()) {
            if (t < 0 || t >= vocab) continue;
            float& l = logits[t];
            l = l > 0 ? l / p.repetition_penalty : l * p.repetition_penalty;
        }
    }
    if (p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f) {
        for (const auto& [t, count] : history.output_counts()) {
            if (t < 0 || t >= vocab) continue;
            logits[t] -= p.frequency_penalty * static_cast<float>(count) + p.presence_penalty;
        }
    }
}

TokenId argmax(std::span<const float> x) {
    return static_cast<TokenId>(std::max_element(x.begin(), x.end()) - x.begin());
}

// Orders tokens most likely first; ties go to the lower id so results are stable.
auto more_likely(std::span<const float> logits) {
    return [logits](TokenId a, TokenId b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
}

struct Candidate {
    TokenId token;
    double prob;
};

// The candidates top-k, top-p and min-p allow, most likely first, with probabilities
// (unnormalised) proportional to exp(logit / temperature).
std::vector<Candidate> filter_candidates(std::span<const float> logits, const SamplingParams& p) {
    std::vector<TokenId> order;
    order.reserve(logits.size());
    for (TokenId t = 0; t < static_cast<TokenId>(logits.size()); ++t)
        if (logits[t] != kNegInf) order.push_back(t);
    std::size_t keep = order.size();
    if (p.top_k > 0 && static_cast<std::size_t>(p.top_k) < keep) {
        keep = static_cast<std::size_t>(p.top_k);
        std::nth_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(keep), order.end(),
                         more_likely(logits));
        order.resize(keep);
    }
    std::sort(order.begin(), order.end(), more_likely(logits));

    const double peak = logits[order.front()];
    std::vector<Candidate> cands;
    cands.reserve(order.size());
    double total = 0.0;
    for (TokenId t : order) {
        const double prob = std::exp((logits[t] - peak) / p.temperature);
        cands.push_back({t, prob});
        total += prob;
    }
    if (p.top_p < 1.0f) {
        double cumulative = 0.0;
        std::size_t n = 0;
        while (n < cands.size() && cumulative < p.top_p * total) cumulative += cands[n++].prob;
        cands.resize(std::max<std::size_t>(n, 1));
    }
    if (p.min_p > 0.0f) {
        const double floor = p.min_p * cands.front().prob;  // the front is the most likely
        std::erase_if(cands, [&](const Candidate& c) { return c.prob < floor; });
    }
    return cands;
}

}  // namespace

Sampler::Sampler(SamplingParams params, std::uint64_t fallback_seed)
    : params_(params), rng_(params.seed.value_or(fallback_seed)) {
    validate_sampling_params(params_);
}

SampledToken Sampler::sample(std::span<const float> logits, const TokenHistory& history,
                             std::span<const TokenId> suppressed) {
    if (logits.empty()) fail("sampler: empty logits");
    std::vector<float> work(logits.begin(), logits.end());
    apply_penalties(work, params_, history);
    for (TokenId t : suppressed)
        if (t >= 0 && t < static_cast<TokenId>(work.size())) work[t] = kNegInf;
    if (std::all_of(work.begin(), work.end(), [](float v) { return v == kNegInf; }))
        fail("sampler: every token is suppressed or has zero probability");

    SampledToken out;
    if (params_.temperature == 0.0f) {
        out.token = argmax(work);
    } else {
        const std::vector<Candidate> cands = filter_candidates(work, params_);
        double total = 0.0;
        for (const Candidate& c : cands) total += c.prob;
        double u = std::uniform_real_distribution<double>(0.0, total)(rng_);
        out.token = cands.back().token;
        for (const Candidate& c : cands) {
            if (u < c.prob) {
                out.token = c.token;
                break;
            }
            u -= c.prob;
        }
    }

    const double norm = log_sum_exp(logits);
    out.logprob = static_cast<float>(logits[out.token] - norm);
    if (params_.top_logprobs > 0) {
        std::vector<TokenId> ids(logits.size());
        std::iota(ids.begin(), ids.end(), 0);
        const auto n = std::min<std::size_t>(static_cast<std::size_t>(params_.top_logprobs), ids.size());
        std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n), ids.end(), more_likely(logits));
        for (std::size_t i = 0; i < n; ++i) out.top.push_back({ids[i], static_cast<float>(logits[ids[i]] - norm)});
    }
    return out;
}

}  // namespace lw
