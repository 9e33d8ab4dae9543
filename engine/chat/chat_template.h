// Chat templates (the Jinja subset real Hugging Face templates use), rendered exactly
// as Python jinja2 renders them with transformers' settings (trim_blocks,
// lstrip_blocks, raise_exception, tojson, strftime_now).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace lw {

class ChatTemplate {
public:
    // Parses the template; throws lw::Error naming `source`, line and column on
    // syntax it does not understand.
    ChatTemplate(std::string text, std::string source);
    ChatTemplate(ChatTemplate&&) noexcept;
    ChatTemplate& operator=(ChatTemplate&&) noexcept;
    ~ChatTemplate();

    // Renders with the given variables (messages, add_generation_prompt, bos_token,
    // eos_token, tools, ...). raise_exception() in the template and runtime errors
    // throw lw::Error naming the source and line. Objects keep their key order (as
    // Python dicts do, which tojson shows); a plain nlohmann::json converts implicitly.
    std::string render(const nlohmann::ordered_json& context) const;
    // The same with strftime_now() reading `now` instead of the clock.
    std::string render(const nlohmann::ordered_json& context, std::chrono::system_clock::time_point now) const;

    // The common call: messages as OpenAI-style [{"role": ..., "content": ...}], with
    // the variables transformers' apply_chat_template passes (tools and documents none).
    std::string apply(const nlohmann::ordered_json& messages, bool add_generation_prompt, const std::string& bos_token,
                      const std::string& eos_token) const;

    const std::string& text() const;

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace lw
