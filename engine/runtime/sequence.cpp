#include "runtime/sequence.h"

#include <algorithm>

namespace lw {

namespace {

// Requests without a seed still get distinct, reproducible streams.
std::uint64_t seed_from_id(RequestId id) {
    return id * 0x9E3779B97F4A7C15ull;
}

}  // namespace

Sequence::Sequence(RequestId id, GenerationRequest request, EventCallback on_event, std::size_t base, StopRules rules,
                   const Tokenizer* tokenizer)
    : id_(id),
      request_(std::move(request)),
      on_event_(std::move(on_event)),
      base_(base),
      rules_(std::move(rules)),
      tokens_(request_.prompt),
      prompt_size_(request_.prompt.size()),
      seed_(request_.sampling.seed.value_or(seed_from_id(id))),
      sampler_(request_.sampling, seed_),
      stop_strings_(request_.stop) {
    history_.add_prompt(request_.prompt);
    if (tokenizer) decoder_.emplace(*tokenizer, true);
}

std::vector<TokenId> Sequence::suppressed() const {
    if (generated() >= static_cast<std::size_t>(request_.min_tokens)) return {};
    std::vector<TokenId> ids = rules_.eos;
    ids.insert(ids.end(), request_.stop_token_ids.begin(), request_.stop_token_ids.end());
    return ids;
}

bool Sequence::is_stop_token(TokenId token) const {
    const auto has = [token](const std::vector<TokenId>& v) { return std::find(v.begin(), v.end(), token) != v.end(); };
    return has(rules_.eos) || has(request_.stop_token_ids);
}

GenerationEvent Sequence::sample(std::span<const float> logits, std::optional<FinishReason>& finish) {
    return accept(sampler_.sample(logits, history_, suppressed()), finish);
}

std::optional<DeviceSampling> Sequence::device_sampling() const {
    const SamplingParams& p = request_.sampling;
    if (p.repetition_penalty != 1.0f || p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f ||
        p.top_logprobs > 0 || !suppressed().empty())
        return std::nullopt;
    return DeviceSampling{p.temperature, p.top_k, p.top_p, p.min_p, seed_, generated()};
}

GenerationEvent Sequence::accept(const SampledToken& t, std::optional<FinishReason>& finish) {
    tokens_.push_back(t.token);
    history_.add_output(t.token);

    GenerationEvent ev;
    ev.kind = GenerationEvent::Kind::Token;
    ev.request = id_;
    ev.token = t.token;
    ev.logprob = t.logprob;
    if (request_.logprobs) ev.top_logprobs = t.top;

    finish.reset();
    // EOS and stop tokens end the sequence without text of their own.
    if (is_stop_token(t.token)) {
        finish = FinishReason::Stop;
    } else if (decoder_) {
        std::string piece = decoder_->push(t.token);
        if (generated() < static_cast<std::size_t>(request_.min_tokens)) {
            ev.text = std::move(piece);  // stop strings count only from min_tokens on
        } else {
            StopChecker::Result r = stop_strings_.push(piece);
            ev.text = std::move(r.text);
            if (r.stopped) {
                stopped_by_string_ = true;
                finish = FinishReason::Stop;
            }
        }
    }
    if (!finish && (generated() >= static_cast<std::size_t>(request_.max_tokens) || tokens_.size() >= rules_.context))
        finish = FinishReason::Length;
    last_token_at = Clock::now();
    return ev;
}

GenerationEvent Sequence::finished(FinishReason reason, std::string error) {
    GenerationEvent ev;
    ev.kind = GenerationEvent::Kind::Finished;
    ev.request = id_;
    ev.reason = reason;
    ev.error = std::move(error);
    ev.prompt_tokens = static_cast<int>(prompt_size_);
    ev.completion_tokens = static_cast<int>(generated());
    if (decoder_ && !stopped_by_string_) {
        StopChecker::Result r = stop_strings_.push(decoder_->finish());
        ev.text_tail = std::move(r.text);
        if (!r.stopped) ev.text_tail += stop_strings_.flush();
    }
    status = SequenceStatus::Finished;
    return ev;
}

}  // namespace lw
