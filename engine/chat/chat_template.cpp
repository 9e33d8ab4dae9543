#include "chat/chat_template.h"

#include "chat/jinja_interpreter.h"
#include "chat/jinja_json.h"
#include "chat/jinja_parser.h"
#include "core/error.h"

namespace lw {

struct ChatTemplate::Impl {
    std::string text;
    jinja::Source source;
    jinja::Body body;

    Impl(std::string t, std::string name)
        : text(std::move(t)), source(text, std::move(name)), body(jinja::parse(source)) {}
};

ChatTemplate::ChatTemplate(std::string text, std::string source)
    : impl_(std::make_unique<Impl>(std::move(text), std::move(source))) {}
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;
ChatTemplate::~ChatTemplate() = default;

std::string ChatTemplate::render(const nlohmann::ordered_json& context) const {
    return render(context, std::chrono::system_clock::now());
}

std::string ChatTemplate::render(const nlohmann::ordered_json& context,
                                 std::chrono::system_clock::time_point now) const {
    if (!context.is_object())
        fail(impl_->source.name(), ": chat template context must be a JSON object, found ", context.type_name());
    const jinja::Value variables = jinja::from_json(context);
    return jinja::render(impl_->source, impl_->body, variables.as_dict(), now);
}

std::string ChatTemplate::apply(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                const std::string& bos_token, const std::string& eos_token) const {
    if (!messages.is_array())
        fail(impl_->source.name(), ": chat messages must be a JSON array, found ", messages.type_name());
    nlohmann::ordered_json context = nlohmann::ordered_json::object();
    context["messages"] = messages;
    context["tools"] = nullptr;
    context["documents"] = nullptr;
    context["add_generation_prompt"] = add_generation_prompt;
    context["bos_token"] = bos_token;
    context["eos_token"] = eos_token;
    return render(context);
}

const std::string& ChatTemplate::text() const {
    return impl_->text;
}

}  // namespace lw
