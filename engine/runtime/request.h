// What a client asks of the engine and what it gets back, whatever the front end
// (lora-serve's HTTP API, the workbench, lora-bench): vLLM's generation parameters.
#pragma once

#include "core/error.h"
#include "core/token_id.h"
#include "runtime/sampler.h"
#include "runtime/sampling_params.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace lw {

using RequestId = std::uint64_t;

struct GenerationRequest {
    std::string model;            // an adapter name, or a base model's name for the bare base
    std::vector<TokenId> prompt;  // already tokenized (chat template applied by the caller)
    SamplingParams sampling;
    int max_tokens = 16;
    int min_tokens = 0;                   // EOS and stop tokens are suppressed before this many
    std::vector<std::string> stop;        // stop strings (need a tokenizer); not included in the text
    std::vector<TokenId> stop_token_ids;  // extra stop tokens, included in the tokens
    bool ignore_eos = false;
    bool logprobs = false;  // report each token's logprob (and sampling.top_logprobs alternatives)
};

enum class FinishReason { Stop, Length, Cancelled, Error };
const char* finish_reason_name(FinishReason r);  // "stop", "length", "cancelled", "error"

struct GenerationEvent {
    enum class Kind { Token, Finished };
    Kind kind = Kind::Token;
    RequestId request = 0;
    // Token events
    TokenId token = 0;
    std::string text;  // newly completed text (may be empty while a UTF-8 character or a
                       // possible stop string is incomplete)
    float logprob = 0.0f;
    std::vector<TokenLogprob> top_logprobs;
    // Finished events
    FinishReason reason = FinishReason::Stop;
    std::string error;      // when reason is Error
    std::string text_tail;  // text held back until the end (a partial stop-string match that never completed)
    int prompt_tokens = 0;
    int completion_tokens = 0;
};

// Called on the engine's step thread: keep it short (copy, enqueue, signal).
using EventCallback = std::function<void(const GenerationEvent&)>;

// Why submit() refused a request, so front ends can map it (HTTP 404 / 400).
class RequestError : public Error {
public:
    enum class Kind { UnknownModel, InvalidArgument };
    RequestError(Kind kind, std::string field, const std::string& message)
        : Error(message), kind_(kind), field_(std::move(field)) {}
    Kind kind() const { return kind_; }
    const std::string& field() const { return field_; }  // the request field at fault ("model", "max_tokens", ...)

private:
    Kind kind_;
    std::string field_;
};

}  // namespace lw
