// Fuzzes the tokenizer.json reader: any bytes must load or fail with lw::Error, and a
// tokenizer that loads must encode and decode without crashing.
#include "core/error.h"
#include "tokenizer/tokenizer.h"

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const auto tok =
            lw::Tokenizer::from_json_text(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.json");
        const auto ids = tok.encode("Hello world 123 <s> ünï 🦙\n\t x", true);
        (void)tok.decode(ids, false);
        (void)tok.decode(ids, true);
        lw::StreamingDecoder stream(tok);
        for (auto id : ids) (void)stream.push(id);
        (void)stream.finish();
    } catch (const lw::Error&) {
    }
    return 0;
}
