#include "support/random_weights.h"

#include "core/error.h"
#include "core/half.h"

#include <cstring>

namespace lw::test {
namespace {

template <class T>
void put(std::vector<std::byte>& bytes, std::size_t at, T v) {
    std::memcpy(bytes.data() + at, &v, sizeof v);
}

}  // namespace

std::vector<std::byte> random_weights(DType dtype, std::size_t elems, std::size_t skew, std::mt19937& rng) {
    const DTypeInfo& info = dtype_info(dtype);
    std::vector<std::byte> bytes(skew + dtype_bytes(dtype, static_cast<std::int64_t>(elems)));
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_real_distribution<float> value(-1.0f, 1.0f);
    for (auto& b : bytes) b = std::byte(byte(rng));
    auto scale = [&](std::size_t at) { put(bytes, at, f32_to_f16(value(rng) * 0.1f)); };
    for (std::size_t i = 0; i < elems / info.block_elems; ++i) {
        const std::size_t at = skew + i * info.block_bytes;
        switch (dtype) {
            case DType::F64:
                put(bytes, at, double(value(rng)));
                break;
            case DType::F32:
                put(bytes, at, value(rng));
                break;
            case DType::F16:
                put(bytes, at, f32_to_f16(value(rng)));
                break;
            case DType::BF16:
                put(bytes, at, f32_to_bf16(value(rng)));
                break;
            case DType::Q8_0:
            case DType::Q4_0:
                scale(at);
                break;
            case DType::Q4_1:
                scale(at);      // scale
                scale(at + 2);  // minimum
                break;
            case DType::Q6_K:
                scale(at + 208);
                break;
            default:
                fail("no random weights for ", info.name);
        }
    }
    return bytes;
}

}  // namespace lw::test
