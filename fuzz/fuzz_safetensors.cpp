// Feeds arbitrary bytes to the safetensors parser: it must accept them or throw lw::Error.
#include "core/error.h"
#include "formats/safetensors.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const auto file =
            lw::SafetensorsFile::parse(std::span(reinterpret_cast<const std::byte*>(data), size), nullptr, "fuzz");
        // Touch every byte of every view so out-of-range views show up under ASan.
        std::uint8_t sink = 0;
        for (const auto& [name, t] : file.tensors())
            for (const std::byte b : t.data) sink ^= std::to_integer<std::uint8_t>(b);
        (void)sink;
    } catch (const lw::Error&) {
    }
    return 0;
}
