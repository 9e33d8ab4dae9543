// The OpenAI / vLLM wire format, without any networking: request bodies parsed and
// validated into engine requests (every error names the field at fault), and the
// response, streaming chunk and error bodies built from what the engine produced.
#pragma once

#include "core/error.h"
#include "runtime/request.h"

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace lw {

class Tokenizer;

// An error for the client: HTTP status and OpenAI's {"error": {...}} body.
class ApiError : public Error {
public:
    ApiError(int status, std::string code, std::string param, const std::string& message)
        : Error(message), status_(status), code_(std::move(code)), param_(std::move(param)) {}
    int status() const { return status_; }
    const std::string& code() const { return code_; }
    const std::string& param() const { return param_; }  // the request field at fault, or empty
    nlohmann::json body() const;

private:
    int status_;
    std::string code_;
    std::string param_;
};

// 400 naming the field; 404 for a model that is not served.
ApiError bad_request(const std::string& param, const std::string& message);
ApiError model_not_found(const std::string& model);

enum class Endpoint { Completions, ChatCompletions };

// A /v1/completions or /v1/chat/completions body, validated; the prompt is tokenized
// later, once the model (and so the tokenizer) is known.
struct CompletionRequest {
    Endpoint endpoint = Endpoint::Completions;
    std::string model;
    std::optional<std::string> prompt_text;             // completions: "prompt" as text
    std::optional<std::vector<TokenId>> prompt_tokens;  // completions: "prompt" as token ids
    nlohmann::ordered_json messages;                    // chat: "messages", kept in key order
    bool add_generation_prompt = true;                  // chat
    int n = 1;
    bool stream = false;
    bool include_usage = false;     // stream_options.include_usage
    std::optional<int> max_tokens;  // max_tokens or max_completion_tokens
    bool return_tokens_as_token_ids = false;
    GenerationRequest generation;  // sampling and stopping; prompt and max_tokens set by the server
};

inline constexpr int kMaxChoices = 16;  // "n": each choice is one engine request

// Throws ApiError (400) naming the field that is missing, of the wrong type or out of range.
CompletionRequest parse_completion_request(const nlohmann::ordered_json& body, Endpoint endpoint);

// What one choice produced, gathered from its engine events.
struct ChoiceOutput {
    struct Token {
        TokenId id = 0;
        float logprob = 0.0f;
        std::vector<TokenLogprob> top;
        std::string text;  // the text this token completed (may be empty)
    };
    std::vector<Token> tokens;
    std::string text;
    FinishReason reason = FinishReason::Stop;
    std::string error;
    int prompt_tokens = 0;
    int completion_tokens = 0;

    void add(const GenerationEvent& event);  // a Token or the Finished event
};

// How tokens are named in logprobs: their text, or "token:ID" when the client asked
// for return_tokens_as_token_ids or the model has no tokenizer.
class TokenNamer {
public:
    TokenNamer(const Tokenizer* tokenizer, bool as_ids) : tokenizer_(as_ids ? nullptr : tokenizer) {}
    std::string operator()(TokenId id) const;

private:
    const Tokenizer* tokenizer_;
};

// "stop", "length", "abort" (cancelled) or "error".
std::string finish_reason_text(FinishReason reason);

struct ResponseHeader {
    std::string id;  // "cmpl-..." or "chatcmpl-..."
    long long created = 0;
    std::string model;
};

// Whole responses (stream: false).
nlohmann::json completion_response(const ResponseHeader& h, const std::vector<ChoiceOutput>& choices,
                                   const TokenNamer& namer, std::optional<int> logprobs);
nlohmann::json chat_response(const ResponseHeader& h, const std::vector<ChoiceOutput>& choices, const TokenNamer& namer,
                             bool logprobs);

// Streaming chunks: one per token (text or delta.content), one to finish each choice,
// and an optional last one with usage only.
nlohmann::json completion_chunk(const ResponseHeader& h, int index, const std::string& text,
                                const nlohmann::json& logprobs, const std::optional<FinishReason>& finish);
nlohmann::json chat_chunk(const ResponseHeader& h, int index, const nlohmann::json& delta,
                          const nlohmann::json& logprobs, const std::optional<FinishReason>& finish);
nlohmann::json usage_chunk(const ResponseHeader& h, const char* object, int prompt_tokens, int completion_tokens);

// Logprobs of some tokens, in each endpoint's shape. Completions' text_offset starts at
// `text_offset` (the length of the text before the first token).
nlohmann::json completion_logprobs(const std::vector<ChoiceOutput::Token>& tokens, const TokenNamer& namer,
                                   std::size_t text_offset);
nlohmann::json chat_logprobs(const std::vector<ChoiceOutput::Token>& tokens, const TokenNamer& namer);

nlohmann::json usage_json(int prompt_tokens, int completion_tokens);

// The body as sent: token texts may end inside a UTF-8 character, so invalid bytes
// become U+FFFD instead of failing the dump.
std::string to_wire(const nlohmann::json& body);

}  // namespace lw
