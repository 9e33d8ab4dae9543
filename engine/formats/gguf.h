// GGUF files as llama.cpp writes them (versions 2 and 3, little-endian): typed
// metadata, tensor infos and tensor data. Every count, length and offset is checked
// against the bytes actually present before anything is allocated or read.
#pragma once

#include "core/dtype.h"
#include "core/tensor_view.h"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lw {

// Metadata value types, numbered as in the file.
enum class GgufValueType : std::uint32_t {
    U8 = 0,
    I8 = 1,
    U16 = 2,
    I16 = 3,
    U32 = 4,
    I32 = 5,
    F32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    U64 = 10,
    I64 = 11,
    F64 = 12,
};

// "u32", "string", "array", ...
std::string_view gguf_value_type_name(GgufValueType t);

// One metadata value: a view into the file's bytes, valid while its GgufFile's
// storage lives. Accessors convert where no information is lost and otherwise throw
// lw::Error naming the file and key, the expected and the actual type.
class GgufValue {
public:
    // `bytes` holds the value's encoding; for arrays, the elements after the header.
    GgufValue(std::string where, GgufValueType type, std::span<const std::byte> bytes,
              GgufValueType element_type = GgufValueType::U8, std::uint64_t count = 0);

    GgufValueType type() const { return type_; }
    // "file.gguf: key 'llama.block_count'", for messages.
    const std::string& where() const { return where_; }
    // "u32", "array of string", ...
    std::string type_description() const;

    bool is_integer() const;
    // Any integer type whose value fits.
    std::uint64_t as_uint() const;
    std::int64_t as_int() const;
    // f32, f64 or any integer type.
    double as_double() const;
    bool as_bool() const;
    std::string_view as_string() const;

    // Arrays: the element type, element count, and the elements.
    GgufValueType element_type() const;
    std::uint64_t size() const;
    std::vector<GgufValue> items() const;
    std::vector<std::string> as_strings() const;
    std::vector<float> as_floats() const;       // f32, f64 or integer elements
    std::vector<std::int64_t> as_ints() const;  // integer elements

private:
    [[noreturn]] void wrong_type(std::string_view expected) const;

    std::string where_;
    GgufValueType type_;
    std::span<const std::byte> bytes_;
    GgufValueType element_type_;
    std::uint64_t count_;
};

struct GgufTensorInfo {
    std::string name;
    std::vector<std::int64_t> ne;  // GGUF order: innermost dimension first
    std::uint32_t type_id = 0;     // ggml's type number
    DType dtype = DType::F32;
    std::uint64_t offset = 0;  // from the start of the data section
    std::size_t bytes = 0;
};

// ggml's name for a tensor type number ("Q4_K"); empty when unknown.
std::string_view ggml_type_name(std::uint32_t type_id);

class GgufFile {
public:
    // Memory-maps the file once; the map lives as long as the views.
    static GgufFile open(const std::filesystem::path& path);
    // Parses bytes the caller holds; `source` names them in messages and `storage`
    // (optional) is what keeps them alive.
    static GgufFile parse(std::span<const std::byte> bytes, std::string source,
                          std::shared_ptr<const void> storage = {});

    const std::string& source() const { return source_; }
    std::uint32_t version() const { return version_; }
    std::uint64_t alignment() const { return alignment_; }
    std::uint64_t data_offset() const { return data_offset_; }

    // In file order.
    const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
    const GgufValue* find(std::string_view key) const;
    // Throws lw::Error naming the file and key when it is absent.
    const GgufValue& get(std::string_view key) const;

    // In file order.
    const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
    const GgufTensorInfo* find_tensor(std::string_view name) const;
    // The tensor with its shape in PyTorch order (ne reversed), viewing the file's bytes.
    TensorView tensor(const GgufTensorInfo& info) const;
    TensorView tensor(std::string_view name) const;

    // What keeps the viewed bytes alive (the mapped file), for ModelWeights::keep_alive.
    const std::shared_ptr<const void>& storage() const { return storage_; }

private:
    GgufFile() = default;

    std::string source_;
    std::span<const std::byte> bytes_;
    std::shared_ptr<const void> storage_;
    std::uint32_t version_ = 0;
    std::uint64_t alignment_ = 32;
    std::uint64_t data_offset_ = 0;
    std::vector<std::pair<std::string, GgufValue>> metadata_;
    std::map<std::string, std::size_t, std::less<>> metadata_index_;
    std::vector<GgufTensorInfo> tensors_;
    std::map<std::string, std::size_t, std::less<>> tensor_index_;
};

}  // namespace lw
