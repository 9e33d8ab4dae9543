#include "core/dtype.h"

#include "core/error.h"

#include <array>
#include <limits>

namespace lw {
namespace {

constexpr std::array<DTypeInfo, 14> kInfo{{
    {"F64", 1, 8, true},
    {"F32", 1, 4, true},
    {"F16", 1, 2, true},
    {"BF16", 1, 2, true},
    {"I64", 1, 8, false},
    {"I32", 1, 4, false},
    {"I16", 1, 2, false},
    {"I8", 1, 1, false},
    {"U8", 1, 1, false},
    {"BOOL", 1, 1, false},
    {"Q8_0", 32, 34, true},
    {"Q4_0", 32, 18, true},
    {"Q4_1", 32, 20, true},
    {"Q6_K", 256, 210, true},
}};

}  // namespace

const DTypeInfo& dtype_info(DType t) {
    return kInfo.at(static_cast<std::size_t>(t));
}

std::string_view dtype_name(DType t) {
    return dtype_info(t).name;
}

std::optional<DType> dtype_from_safetensors(std::string_view name) {
    for (std::size_t i = 0; i < kInfo.size(); ++i) {
        if (kInfo[i].block_elems == 1 && kInfo[i].name == name) return static_cast<DType>(i);
    }
    return std::nullopt;
}

std::size_t dtype_bytes(DType t, std::int64_t elems) {
    const DTypeInfo& info = dtype_info(t);
    if (elems < 0) fail("negative element count ", elems, " for ", info.name);
    const auto n = static_cast<std::uint64_t>(elems);
    if (n % info.block_elems != 0)
        fail(n, " elements of ", info.name, " are not a whole number of ", info.block_elems, "-element blocks");
    const std::uint64_t blocks = n / info.block_elems;
    if (blocks > std::numeric_limits<std::size_t>::max() / info.block_bytes)
        fail(n, " elements of ", info.name, " overflow the addressable size");
    return static_cast<std::size_t>(blocks * info.block_bytes);
}

}  // namespace lw
