// Feeds arbitrary bytes to the chat template parser and renders what parses with a
// small fixed conversation. Only lw::Error may escape the library.
#include "chat/chat_template.h"
#include "core/error.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const nlohmann::ordered_json context = {
        {"messages",
         {{{"role", "system"}, {"content", "Be brief."}},
          {{"role", "user"}, {"content", "Hi \xc3\xa9 \xf0\x9f\x9a\x80"}},
          {{"role", "assistant"},
           {"content", ""},
           {"tool_calls", {{{"id", "call12345"}, {"function", {{"name", "f"}, {"arguments", {{"x", 1.5}}}}}}}}}}},
        {"tools", {{{"type", "function"}, {"function", {{"name", "f"}, {"parameters", {{"type", "object"}}}}}}}},
        {"add_generation_prompt", true},
        {"bos_token", "<s>"},
        {"eos_token", "</s>"}};
    try {
        const lw::ChatTemplate tpl(std::string(reinterpret_cast<const char*>(data), size), "fuzz.jinja");
        (void)tpl.render(context, std::chrono::system_clock::time_point(std::chrono::seconds(1725541445)));
    } catch (const lw::Error&) {
    }
    return 0;
}
