// Chat templates (the Jinja subset real Hugging Face templates use), rendered exactly
// as Python jinja2 renders them with transformers' settings (trim_blocks,
// lstrip_blocks, raise_exception, tojson, strftime_now).
#pragma once

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
    // throw lw::Error naming the source and line.
    std::string render(const nlohmann::json& context) const;

    // The common call: messages as OpenAI-style [{"role": ..., "content": ...}].
    std::string apply(const nlohmann::json& messages, bool add_generation_prompt, const std::string& bos_token,
                      const std::string& eos_token) const;

    const std::string& text() const;

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

} // namespace lw
