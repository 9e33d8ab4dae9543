#include "server/sse_stream.h"

namespace lw {

using nlohmann::json;

std::string sse_event(const json& data) {
    return "data: " + to_wire(data) + "\n\n";
}

CompletionStream::CompletionStream(Endpoint endpoint, ResponseHeader header, TokenNamer namer, int choices,
                                   bool logprobs, bool include_usage)
    : endpoint_(endpoint),
      header_(std::move(header)),
      namer_(namer),
      logprobs_(logprobs),
      include_usage_(include_usage),
      text_length_(choices, 0) {}

json CompletionStream::chunk(int choice, const std::string& text, const json& logprobs,
                             const std::optional<FinishReason>& finish) const {
    if (endpoint_ == Endpoint::Completions) return completion_chunk(header_, choice, text, logprobs, finish);
    const json delta = text.empty() && finish ? json::object() : json{{"content", text}};
    return chat_chunk(header_, choice, delta, logprobs, finish);
}

std::string CompletionStream::start() const {
    std::string out;
    if (endpoint_ == Endpoint::ChatCompletions)
        for (std::size_t i = 0; i < text_length_.size(); ++i)
            out += sse_event(
                chat_chunk(header_, static_cast<int>(i), {{"role", "assistant"}, {"content", ""}}, nullptr, {}));
    return out;
}

std::string CompletionStream::on_event(int choice, const GenerationEvent& event) {
    if (event.kind == GenerationEvent::Kind::Finished) {
        prompt_tokens_ = event.prompt_tokens;  // the same prompt for every choice
        completion_tokens_ += event.completion_tokens;
        if (event.reason == FinishReason::Error)
            return sse_event(ApiError(500, "generation_failed", "", event.error).body());
        return sse_event(chunk(choice, event.text_tail, nullptr, event.reason));
    }
    json logprobs = nullptr;
    if (logprobs_) {
        const std::vector<ChoiceOutput::Token> token{{event.token, event.logprob, event.top_logprobs, event.text}};
        logprobs = endpoint_ == Endpoint::Completions ? completion_logprobs(token, namer_, text_length_[choice])
                                                      : chat_logprobs(token, namer_);
    }
    text_length_[choice] += event.text.size();
    return sse_event(chunk(choice, event.text, logprobs, std::nullopt));
}

std::string CompletionStream::finish() const {
    std::string out;
    if (include_usage_)
        out += sse_event(usage_chunk(header_,
                                     endpoint_ == Endpoint::Completions ? "text_completion" : "chat.completion.chunk",
                                     prompt_tokens_, completion_tokens_));
    return out + kSseDone;
}

}  // namespace lw
