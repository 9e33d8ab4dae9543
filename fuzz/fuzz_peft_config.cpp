// Feeds bytes to the adapter_config.json parser and, when it accepts them, asks PEFT's
// matching rules about a few module names; only lw::Error may come out.
#include "core/error.h"
#include "formats/peft_config.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const auto c = lw::parse_peft_config(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.json");
        for (const char* name : {"model.layers.0.self_attn.q_proj", "model.layers.11.mlp.down_proj", "lm_head"}) {
            lw::peft_targets_module(c, name);
            lw::peft_scale(c, name);
        }
    } catch (const lw::Error&) {
    }
    return 0;
}
