// Element types of stored tensors: the plain ones of safetensors / PyTorch and the
// block-quantized ones of GGUF. Quantized types pack `block_elems` values of the
// innermost dimension into `block_bytes` bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace lw {

enum class DType : std::uint8_t {
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
    Q8_0,
    Q4_0,
    Q4_1,
    Q6_K,
};

struct DTypeInfo {
    std::string_view name;    // as safetensors / GGUF spell it ("F16", "Q4_1", ...)
    std::size_t block_elems;  // 1 for plain types
    std::size_t block_bytes;  // bytes per block (the element size for plain types)
    bool is_float;            // can be converted to float (see core/dequantize.h)
};

const DTypeInfo& dtype_info(DType t);
std::string_view dtype_name(DType t);
// Parses a safetensors dtype string ("F32", "BF16", "I64", ...); nullopt if unknown.
std::optional<DType> dtype_from_safetensors(std::string_view name);

// Bytes taken by `elems` values of type t laid out contiguously. Throws lw::Error
// when elems is not a whole number of blocks or the size overflows.
std::size_t dtype_bytes(DType t, std::int64_t elems);

}  // namespace lw
