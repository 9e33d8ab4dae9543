// A streamed completion as OpenAI and vLLM send it: server-sent events
// "data: <chunk>\n\n", one chunk per token and one to finish each choice (chat opens
// each choice with the assistant role), usage last when asked, then "data: [DONE]".
#pragma once

#include "server/openai_protocol.h"

#include <string>
#include <vector>

namespace lw {

std::string sse_event(const nlohmann::json& data);
inline constexpr const char* kSseDone = "data: [DONE]\n\n";

class CompletionStream {
public:
    CompletionStream(Endpoint endpoint, ResponseHeader header, TokenNamer namer, int choices, bool logprobs,
                     bool include_usage);

    std::string start() const;  // chat: {"role": "assistant"} for every choice
    std::string on_event(int choice, const GenerationEvent& event);
    std::string finish() const;  // usage when asked, then [DONE]

private:
    nlohmann::json chunk(int choice, const std::string& text, const nlohmann::json& logprobs,
                         const std::optional<FinishReason>& finish) const;

    Endpoint endpoint_;
    ResponseHeader header_;
    TokenNamer namer_;
    bool logprobs_;
    bool include_usage_;
    std::vector<std::size_t> text_length_;  // per choice: text sent so far (completions' text_offset)
    int prompt_tokens_ = 0;
    int completion_tokens_ = 0;
};

}  // namespace lw
