// Feeds arbitrary text to the config.json reader: it must accept it or throw lw::Error.
#include "core/error.h"
#include "formats/hf_config.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        lw::parse_hf_config_text(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
    } catch (const lw::Error&) {
    }
    return 0;
}
