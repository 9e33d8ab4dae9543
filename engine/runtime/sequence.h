// One request inside the engine: its tokens (prompt, then what it generated), how many
// of them the KV cache holds, its sampler and stop rules, and the text it streams. The
// scheduler moves it between waiting and running; preemption forgets its KV cache
// (computed back to 0) and the tokens are prefilled again when it is readmitted.
#pragma once

#include "backend/backend.h"
#include "memory/pooled_adapter.h"
#include "runtime/request.h"
#include "runtime/sampler.h"
#include "runtime/stop_checker.h"
#include "tokenizer/tokenizer.h"

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace lw {

enum class SequenceStatus { Waiting, Running, Finished };

using Clock = std::chrono::steady_clock;

// What ends a sequence besides max_tokens: its base's EOS ids and context length.
struct StopRules {
    std::vector<TokenId> eos;  // empty when the request ignores EOS
    std::size_t context = 0;   // the base's max positions
};

class Sequence {
public:
    // `base` indexes the engine's bases; `tokenizer` (may be null) streams text and
    // must outlive the sequence.
    Sequence(RequestId id, GenerationRequest request, EventCallback on_event, std::size_t base, StopRules rules,
             const Tokenizer* tokenizer);

    RequestId id() const { return id_; }
    const GenerationRequest& request() const { return request_; }
    const EventCallback& on_event() const { return on_event_; }
    std::size_t base() const { return base_; }
    // The adapter it runs with, empty for the bare base.
    const std::string& adapter() const { return adapter_; }
    void set_adapter(std::string name) { adapter_ = std::move(name); }

    const std::vector<TokenId>& tokens() const { return tokens_; }
    std::size_t prompt_size() const { return prompt_size_; }
    std::size_t generated() const { return tokens_.size() - prompt_size_; }
    // Tokens whose K/V the cache holds; the rest are computed by the next chunks.
    std::size_t computed() const { return computed_; }
    std::size_t uncomputed() const { return tokens_.size() - computed_; }
    void advance(std::size_t n) { computed_ += n; }
    void forget_cache() { computed_ = 0; }

    SequenceStatus status = SequenceStatus::Waiting;
    const PooledAdapter* pooled = nullptr;  // while the adapter is pinned for it
    Clock::time_point arrival = Clock::now();
    std::optional<Clock::time_point> last_token_at;

    // Tokens the sampler must not pick yet (EOS and stop tokens before min_tokens).
    std::vector<TokenId> suppressed() const;
    // Samples the next token from `logits`, appends it and returns its Token event;
    // `finish` is set when the sequence is done.
    GenerationEvent sample(std::span<const float> logits, std::optional<FinishReason>& finish);
    // How a device may draw the next token instead, or nullopt when the host sampler
    // must see the logits (penalties, logprob alternatives, suppressed tokens).
    std::optional<DeviceSampling> device_sampling() const;
    // Appends a token drawn on the device, as sample() appends its own.
    GenerationEvent accept(const SampledToken& t, std::optional<FinishReason>& finish);
    // The Finished event, with any text held back.
    GenerationEvent finished(FinishReason reason, std::string error = {});

private:
    std::optional<FinishReason> stop_reason(TokenId token) const;
    bool is_stop_token(TokenId token) const;

    RequestId id_;
    GenerationRequest request_;
    EventCallback on_event_;
    std::size_t base_;
    std::string adapter_;
    StopRules rules_;
    std::vector<TokenId> tokens_;
    std::size_t prompt_size_;
    std::size_t computed_ = 0;
    std::uint64_t seed_;  // the sampler's stream: the request's seed, else one from its id
    Sampler sampler_;
    TokenHistory history_;
    std::optional<StreamingDecoder> decoder_;
    StopChecker stop_strings_;
    bool stopped_by_string_ = false;
};

}  // namespace lw
