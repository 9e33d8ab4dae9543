#include "model/chat_prompt.h"

#include "core/error.h"

namespace lw {

std::vector<TokenId> chat_prompt(const LoadedModel& base, const std::string& model,
                                 const nlohmann::ordered_json& messages, bool add_generation_prompt) {
    if (!base.tokenizer) fail("model '", model, "' has no tokenizer");
    if (!base.chat_template) fail("model '", model, "' has no chat template");
    const std::string text =
        base.chat_template->apply(messages, add_generation_prompt, base.special.bos, base.special.eos);
    return base.tokenizer->encode(text, false);
}

}  // namespace lw
