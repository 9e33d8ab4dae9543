// Feeds arbitrary bytes to the GGUF reader, then touches everything it exposes:
// metadata through every accessor and each tensor through the dequantizer.
#include "core/dequantize.h"
#include "core/error.h"
#include "formats/gguf.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace {

void touch(const lw::GgufValue& v) {
    try {
        switch (v.type()) {
            case lw::GgufValueType::String:
                (void)v.as_string();
                break;
            case lw::GgufValueType::Bool:
                (void)v.as_bool();
                break;
            case lw::GgufValueType::Array:
                for (const auto& item : v.items()) touch(item);
                break;
            default:
                (void)v.as_double();
                (void)v.as_int();
        }
    } catch (const lw::Error&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const auto file = lw::GgufFile::parse(std::as_bytes(std::span(data, size)), "fuzz.gguf");
        for (const auto& [key, value] : file.metadata()) touch(value);
        for (const auto& info : file.tensors()) {
            const lw::TensorView t = file.tensor(info);
            if (t.numel() > (1 << 16)) continue;  // keep each run fast; the parser bounded the bytes
            std::vector<float> out(static_cast<std::size_t>(t.numel()));
            lw::dequantize(t, out);
        }
    } catch (const lw::Error&) {
    }
    return 0;
}
