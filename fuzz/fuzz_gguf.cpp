// Feeds arbitrary bytes to the GGUF reader and touches everything it exposes
// (metadata through every accessor, each tensor through the dequantizer); inputs that
// parse also go through the model mapping, from an in-memory file.
#include "core/dequantize.h"
#include "core/error.h"
#include "formats/gguf.h"
#include "model/gguf_model.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
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

// load_gguf_model reads a path: give it the bytes as a memory-backed file.
void load_model(const std::uint8_t* data, std::size_t size) {
    const int fd = memfd_create("fuzz.gguf", MFD_CLOEXEC);
    if (fd < 0) return;
    if (write(fd, data, size) == static_cast<ssize_t>(size)) {
        try {
            (void)lw::load_gguf_model("/proc/self/fd/" + std::to_string(fd));
        } catch (const lw::Error&) {
        }
    }
    close(fd);
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
        return 0;
    }
    load_model(data, size);
    return 0;
}
