// Feeds bytes to the restricted unpickler, and to the torch.save zip reader when they
// look like a zip; only lw::Error may come out.
#include "core/error.h"
#include "formats/torch_checkpoint.h"
#include "formats/torch_pickle.h"

#include <cstddef>
#include <cstdint>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
    try {
        if (size >= 2 && data[0] == 'P' && data[1] == 'K') {
            // Touch every byte of every view so out-of-range views show up under ASan.
            std::uint8_t sink = 0;
            for (const auto& t : lw::read_torch_checkpoint(bytes, "fuzz.bin").tensors)
                for (const std::byte b : t.data) sink ^= std::to_integer<std::uint8_t>(b);
            (void)sink;
        } else {
            lw::read_torch_state_dict_pickle(bytes, "fuzz.pkl");
        }
    } catch (const lw::Error&) {
    }
    return 0;
}
