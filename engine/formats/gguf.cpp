#include "formats/gguf.h"

#include "core/error.h"
#include "core/mapped_file.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <limits>
#include <numeric>
#include <optional>

namespace lw {
namespace {

static_assert(std::endian::native == std::endian::little, "the GGUF reader assumes a little-endian host");

constexpr std::uint32_t kMaxDims = 4;          // GGML_MAX_DIMS
constexpr int kMaxArrayNesting = 8;            // real files nest at most once
constexpr std::uint64_t kMinKvBytes = 13;      // key length, value type, one byte of value
constexpr std::uint64_t kMinTensorBytes = 24;  // name length, n_dims, type, offset

// Bytes one value of a fixed-size type takes; 0 for strings and arrays.
std::uint64_t fixed_size(GgufValueType t) {
    switch (t) {
        case GgufValueType::U8:
        case GgufValueType::I8:
        case GgufValueType::Bool:
            return 1;
        case GgufValueType::U16:
        case GgufValueType::I16:
            return 2;
        case GgufValueType::U32:
        case GgufValueType::I32:
        case GgufValueType::F32:
            return 4;
        case GgufValueType::U64:
        case GgufValueType::I64:
        case GgufValueType::F64:
            return 8;
        case GgufValueType::String:
        case GgufValueType::Array:
            return 0;
    }
    return 0;
}

// The fewest bytes one array element of type t can take, to bound counts.
std::uint64_t min_size(GgufValueType t) {
    if (t == GgufValueType::String) return 8;
    if (t == GgufValueType::Array) return 12;
    return fixed_size(t);
}

bool known_value_type(std::uint32_t t) {
    return t <= static_cast<std::uint32_t>(GgufValueType::F64);
}

template <class T>
T load(const std::byte* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

// Reads little-endian fields front to back, failing with the file name, the field
// and the offset when the bytes run out.
class Reader {
public:
    Reader(std::span<const std::byte> bytes, const std::string& source) : bytes_(bytes), source_(source) {}

    std::size_t pos() const { return pos_; }
    std::uint64_t remaining() const { return bytes_.size() - pos_; }

    std::span<const std::byte> take(std::uint64_t n, std::string_view what) {
        if (n > remaining())
            fail(source_, ": truncated: ", what, " needs ", n, " bytes at offset ", pos_, " but only ", remaining(),
                 " remain");
        auto s = bytes_.subspan(pos_, static_cast<std::size_t>(n));
        pos_ += static_cast<std::size_t>(n);
        return s;
    }
    template <class T>
    T read(std::string_view what) {
        return load<T>(take(sizeof(T), what).data());
    }
    // The bytes read since position `start`.
    std::span<const std::byte> since(std::size_t start) const { return bytes_.subspan(start, pos_ - start); }
    std::string_view read_string(std::string_view what) {
        const auto len = read<std::uint64_t>(what);
        const auto s = take(len, what);
        return {reinterpret_cast<const char*>(s.data()), s.size()};
    }

private:
    std::span<const std::byte> bytes_;
    const std::string& source_;
    std::size_t pos_ = 0;
};

// Checks that `count` elements of at least `min_bytes` each can fit in what is left.
void check_count(const Reader& r, std::uint64_t count, std::uint64_t min_bytes, const std::string& source,
                 std::string_view what) {
    if (min_bytes > 0 && count > r.remaining() / min_bytes)
        fail(source, ": ", what, " claims ", count, " entries but only ", r.remaining(),
             " bytes remain (each needs at least ", min_bytes, ")");
}

GgufValueType read_value_type(Reader& r, const std::string& where) {
    const auto t = r.read<std::uint32_t>(where);
    if (!known_value_type(t)) fail(where, ": unknown value type ", t, " (expected 0..12)");
    return static_cast<GgufValueType>(t);
}

struct ArrayHeader {
    GgufValueType element_type;
    std::uint64_t count;
    std::size_t elements_start;  // reader position of the first element
};

void skip_payload(Reader& r, GgufValueType t, const std::string& where, int depth);

// Reads an array's header and steps over its elements, checking they lie within the bytes.
ArrayHeader skip_array(Reader& r, const std::string& where, int depth) {
    if (depth >= kMaxArrayNesting) fail(where, ": arrays nested more than ", kMaxArrayNesting, " deep");
    const GgufValueType elem = read_value_type(r, where);
    const auto count = r.read<std::uint64_t>(where);
    check_count(r, count, min_size(elem), where, "array");
    const std::size_t start = r.pos();
    if (fixed_size(elem) > 0) {
        r.take(count * fixed_size(elem), where);  // cannot overflow: count <= remaining / size
    } else {
        for (std::uint64_t i = 0; i < count; ++i) skip_payload(r, elem, where, depth + 1);
    }
    return {elem, count, start};
}

// Steps over the payload of one value of type t.
void skip_payload(Reader& r, GgufValueType t, const std::string& where, int depth) {
    if (t == GgufValueType::String) {
        r.read_string(where);
    } else if (t == GgufValueType::Array) {
        skip_array(r, where, depth);
    } else {
        r.take(fixed_size(t), where);
    }
}

// Reads the payload of one value of type t as a view: for strings the characters,
// for arrays the elements after the header.
GgufValue read_payload(Reader& r, GgufValueType t, const std::string& where, int depth) {
    if (t == GgufValueType::String) {
        const std::string_view s = r.read_string(where);
        return GgufValue(where, t, std::as_bytes(std::span(s.data(), s.size())));
    }
    if (t != GgufValueType::Array) return GgufValue(where, t, r.take(fixed_size(t), where));
    const ArrayHeader h = skip_array(r, where, depth);
    return GgufValue(where, t, r.since(h.elements_start), h.element_type, h.count);
}

struct TypeName {
    std::uint32_t id;
    std::string_view name;
};
// ggml's tensor types (ggml.h), for naming the ones we do not read.
constexpr std::array<TypeName, 35> kGgmlTypes{{
    {0, "F32"},      {1, "F16"},     {2, "Q4_0"},     {3, "Q4_1"},   {6, "Q5_0"},    {7, "Q5_1"},   {8, "Q8_0"},
    {9, "Q8_1"},     {10, "Q2_K"},   {11, "Q3_K"},    {12, "Q4_K"},  {13, "Q5_K"},   {14, "Q6_K"},  {15, "Q8_K"},
    {16, "IQ2_XXS"}, {17, "IQ2_XS"}, {18, "IQ3_XXS"}, {19, "IQ1_S"}, {20, "IQ4_NL"}, {21, "IQ3_S"}, {22, "IQ2_S"},
    {23, "IQ4_XS"},  {24, "I8"},     {25, "I16"},     {26, "I32"},   {27, "I64"},    {28, "F64"},   {29, "IQ1_M"},
    {30, "BF16"},    {34, "TQ1_0"},  {35, "TQ2_0"},   {39, "MXFP4"}, {40, "NVFP4"},  {41, "Q1_0"},  {42, "Q2_0"},
}};

std::optional<DType> dtype_from_ggml(std::uint32_t id) {
    switch (id) {
        case 0:
            return DType::F32;
        case 1:
            return DType::F16;
        case 2:
            return DType::Q4_0;
        case 3:
            return DType::Q4_1;
        case 8:
            return DType::Q8_0;
        case 14:
            return DType::Q6_K;
        case 30:
            return DType::BF16;
        default:
            return std::nullopt;
    }
}

void parse_header(Reader& r, const std::string& source, std::uint32_t& version) {
    const auto magic = r.take(4, "the magic");
    if (std::memcmp(magic.data(), "GGUF", 4) != 0) {
        std::string shown;
        for (auto b : magic) shown += cat(std::hex, static_cast<int>(b), " ");
        fail(source, ": not a GGUF file: magic bytes are ", shown, "(expected 'GGUF' = 47 47 55 46)");
    }
    version = r.read<std::uint32_t>("the version");
    if (version == 2 || version == 3) return;
    if (version == 1) fail(source, ": GGUF version 1 is not supported (expected version 2 or 3)");
    const std::uint32_t swapped = __builtin_bswap32(version);
    if (swapped == 2 || swapped == 3)
        fail(source, ": big-endian GGUF (version ", swapped,
             " byte-swapped) is not supported; expected a little-endian file");
    fail(source, ": unsupported GGUF version ", version, " (expected 2 or 3)");
}

GgufTensorInfo read_tensor_info(Reader& r, const std::string& source, std::uint64_t index) {
    GgufTensorInfo info;
    info.name = std::string(r.read_string(cat("the name of tensor #", index)));
    const std::string what = cat(source, ": tensor '", info.name, "'");
    const auto n_dims = r.read<std::uint32_t>(what);
    if (n_dims > kMaxDims) fail(what, " has ", n_dims, " dimensions (at most ", kMaxDims, " allowed)");
    std::int64_t numel = 1;
    for (std::uint32_t d = 0; d < n_dims; ++d) {
        const auto n = r.read<std::int64_t>(what);
        if (n < 0) fail(what, ": dimension ", d, " is negative (", n, ")");
        if (n != 0 && numel > std::numeric_limits<std::int64_t>::max() / n) fail(what, ": element count overflows");
        numel *= n;
        info.ne.push_back(n);
    }
    info.type_id = r.read<std::uint32_t>(what);
    const auto dtype = dtype_from_ggml(info.type_id);
    if (!dtype) {
        const std::string_view name = ggml_type_name(info.type_id);
        fail(what, " has type ", name.empty() ? std::string("unknown") : std::string(name), " (ggml type ",
             info.type_id, "), which is not supported (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q6_K)");
    }
    info.dtype = *dtype;
    const std::size_t block = dtype_info(info.dtype).block_elems;
    if (!info.ne.empty() && info.ne[0] % static_cast<std::int64_t>(block) != 0)
        fail(what, ": rows of ", info.ne[0], " elements are not a whole number of ", block, "-element ",
             dtype_name(info.dtype), " blocks");
    try {
        info.bytes = dtype_bytes(info.dtype, numel);
    } catch (const Error& e) {
        fail(what, ": ", e.what());
    }
    info.offset = r.read<std::uint64_t>(what);
    return info;
}

}  // namespace

std::string_view gguf_value_type_name(GgufValueType t) {
    static constexpr std::array<std::string_view, 13> names{"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                                            "bool", "string", "array", "u64", "i64", "f64"};
    const auto i = static_cast<std::uint32_t>(t);
    return i < names.size() ? names[i] : "unknown";
}

std::string_view ggml_type_name(std::uint32_t type_id) {
    for (const auto& t : kGgmlTypes)
        if (t.id == type_id) return t.name;
    return {};
}

// ---- GgufValue ----

GgufValue::GgufValue(std::string where, GgufValueType type, std::span<const std::byte> bytes,
                     GgufValueType element_type, std::uint64_t count)
    : where_(std::move(where)), type_(type), bytes_(bytes), element_type_(element_type), count_(count) {}

std::string GgufValue::type_description() const {
    if (type_ != GgufValueType::Array) return std::string(gguf_value_type_name(type_));
    return cat("array of ", gguf_value_type_name(element_type_));
}

void GgufValue::wrong_type(std::string_view expected) const {
    fail(where_, ": expected ", expected, ", found ", type_description());
}

bool GgufValue::is_integer() const {
    switch (type_) {
        case GgufValueType::U8:
        case GgufValueType::I8:
        case GgufValueType::U16:
        case GgufValueType::I16:
        case GgufValueType::U32:
        case GgufValueType::I32:
        case GgufValueType::U64:
        case GgufValueType::I64:
            return true;
        default:
            return false;
    }
}

std::uint64_t GgufValue::as_uint() const {
    const auto* p = bytes_.data();
    switch (type_) {
        case GgufValueType::U8:
            return load<std::uint8_t>(p);
        case GgufValueType::U16:
            return load<std::uint16_t>(p);
        case GgufValueType::U32:
            return load<std::uint32_t>(p);
        case GgufValueType::U64:
            return load<std::uint64_t>(p);
        case GgufValueType::I8:
        case GgufValueType::I16:
        case GgufValueType::I32:
        case GgufValueType::I64: {
            const std::int64_t v = as_int();
            if (v < 0) fail(where_, ": expected a non-negative integer, found ", v);
            return static_cast<std::uint64_t>(v);
        }
        default:
            wrong_type("an unsigned integer");
    }
}

std::int64_t GgufValue::as_int() const {
    const auto* p = bytes_.data();
    switch (type_) {
        case GgufValueType::I8:
            return load<std::int8_t>(p);
        case GgufValueType::I16:
            return load<std::int16_t>(p);
        case GgufValueType::I32:
            return load<std::int32_t>(p);
        case GgufValueType::I64:
            return load<std::int64_t>(p);
        case GgufValueType::U8:
        case GgufValueType::U16:
        case GgufValueType::U32:
        case GgufValueType::U64: {
            const std::uint64_t v = as_uint();
            if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
                fail(where_, ": value ", v, " does not fit a signed 64-bit integer");
            return static_cast<std::int64_t>(v);
        }
        default:
            wrong_type("an integer");
    }
}

double GgufValue::as_double() const {
    if (type_ == GgufValueType::F32) return load<float>(bytes_.data());
    if (type_ == GgufValueType::F64) return load<double>(bytes_.data());
    if (type_ == GgufValueType::U64) return static_cast<double>(as_uint());
    if (is_integer()) return static_cast<double>(as_int());
    wrong_type("a number");
}

bool GgufValue::as_bool() const {
    if (type_ != GgufValueType::Bool) wrong_type("bool");
    return load<std::uint8_t>(bytes_.data()) != 0;
}

std::string_view GgufValue::as_string() const {
    if (type_ != GgufValueType::String) wrong_type("string");
    return {reinterpret_cast<const char*>(bytes_.data()), bytes_.size()};
}

GgufValueType GgufValue::element_type() const {
    if (type_ != GgufValueType::Array) wrong_type("array");
    return element_type_;
}

std::uint64_t GgufValue::size() const {
    if (type_ != GgufValueType::Array) wrong_type("array");
    return count_;
}

std::vector<GgufValue> GgufValue::items() const {
    if (type_ != GgufValueType::Array) wrong_type("array");
    Reader r(bytes_, where_);
    std::vector<GgufValue> out;
    out.reserve(static_cast<std::size_t>(count_));  // bounded by the bytes at parse time
    for (std::uint64_t i = 0; i < count_; ++i)
        out.push_back(read_payload(r, element_type_, cat(where_, "[", i, "]"), 1));
    return out;
}

std::vector<std::string> GgufValue::as_strings() const {
    if (type_ != GgufValueType::Array || element_type_ != GgufValueType::String) wrong_type("array of string");
    Reader r(bytes_, where_);
    std::vector<std::string> out;
    out.reserve(static_cast<std::size_t>(count_));
    for (std::uint64_t i = 0; i < count_; ++i) out.emplace_back(r.read_string(where_));
    return out;
}

std::vector<float> GgufValue::as_floats() const {
    if (type_ != GgufValueType::Array || fixed_size(element_type_) == 0 || element_type_ == GgufValueType::Bool)
        wrong_type("array of numbers");
    std::vector<float> out;
    out.reserve(static_cast<std::size_t>(count_));
    for (const auto& v : items()) out.push_back(static_cast<float>(v.as_double()));
    return out;
}

std::vector<std::int64_t> GgufValue::as_ints() const {
    if (type_ != GgufValueType::Array) wrong_type("array of integers");
    std::vector<std::int64_t> out;
    out.reserve(static_cast<std::size_t>(count_));
    for (const auto& v : items()) {
        if (!v.is_integer()) wrong_type("array of integers");
        out.push_back(v.as_int());
    }
    return out;
}

// ---- GgufFile ----

GgufFile GgufFile::open(const std::filesystem::path& path) {
    auto file = MappedFile::open(path);
    const auto bytes = file->bytes();
    return parse(bytes, path.string(), std::move(file));
}

GgufFile GgufFile::parse(std::span<const std::byte> bytes, std::string source, std::shared_ptr<const void> storage) {
    GgufFile f;
    f.source_ = std::move(source);
    f.bytes_ = bytes;
    f.storage_ = std::move(storage);
    const std::string& src = f.source_;
    Reader r(bytes, src);

    parse_header(r, src, f.version_);
    const auto n_tensors = r.read<std::uint64_t>("the tensor count");
    const auto n_kv = r.read<std::uint64_t>("the metadata count");
    check_count(r, n_tensors, kMinTensorBytes, src, "the tensor count");
    check_count(r, n_kv, kMinKvBytes, src, "the metadata count");

    f.metadata_.reserve(static_cast<std::size_t>(n_kv));
    for (std::uint64_t i = 0; i < n_kv; ++i) {
        std::string key(r.read_string(cat("the key of metadata entry #", i)));
        const std::string where = cat(src, ": key '", key, "'");
        const GgufValueType t = read_value_type(r, where);
        GgufValue value = read_payload(r, t, where, 0);
        if (!f.metadata_index_.emplace(key, f.metadata_.size()).second) fail(where, " appears twice");
        f.metadata_.emplace_back(std::move(key), std::move(value));
    }

    f.tensors_.reserve(static_cast<std::size_t>(n_tensors));
    for (std::uint64_t i = 0; i < n_tensors; ++i) {
        GgufTensorInfo info = read_tensor_info(r, src, i);
        if (!f.tensor_index_.emplace(info.name, f.tensors_.size()).second)
            fail(src, ": tensor '", info.name, "' appears twice");
        f.tensors_.push_back(std::move(info));
    }

    if (const GgufValue* a = f.find("general.alignment")) {
        f.alignment_ = a->as_uint();
        if (f.alignment_ == 0 || !std::has_single_bit(f.alignment_))
            fail(a->where(), ": alignment must be a power of two, found ", f.alignment_);
    }
    // The data section starts at the next multiple of the alignment (pos <= size, so no overflow).
    const std::uint64_t pos = r.pos();
    f.data_offset_ = (pos + f.alignment_ - 1) / f.alignment_ * f.alignment_;
    const std::uint64_t data_size = f.data_offset_ <= bytes.size() ? bytes.size() - f.data_offset_ : 0;

    for (const auto& t : f.tensors_) {
        if (t.offset % f.alignment_ != 0)
            fail(src, ": tensor '", t.name, "': data offset ", t.offset, " is not a multiple of the alignment ",
                 f.alignment_);
        if (t.offset > data_size || t.bytes > data_size - t.offset)
            fail(src, ": tensor '", t.name, "': data [", t.offset, ", ", t.offset + t.bytes,
                 ") lies outside the file's data section of ", data_size, " bytes");
    }
    std::vector<std::size_t> order(f.tensors_.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::sort(order.begin(), order.end(),
              [&](std::size_t a, std::size_t b) { return f.tensors_[a].offset < f.tensors_[b].offset; });
    for (std::size_t i = 1; i < order.size(); ++i) {
        const auto& prev = f.tensors_[order[i - 1]];
        const auto& cur = f.tensors_[order[i]];
        if (prev.bytes > 0 && cur.bytes > 0 && prev.offset + prev.bytes > cur.offset)
            fail(src, ": tensors '", prev.name, "' [", prev.offset, ", ", prev.offset + prev.bytes, ") and '", cur.name,
                 "' [", cur.offset, ", ", cur.offset + cur.bytes, ") overlap");
    }
    return f;
}

const GgufValue* GgufFile::find(std::string_view key) const {
    const auto it = metadata_index_.find(key);
    return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

const GgufValue& GgufFile::get(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr) fail(source_, ": metadata key '", key, "' is missing");
    return *v;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
    const auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

TensorView GgufFile::tensor(const GgufTensorInfo& info) const {
    TensorView v;
    v.name = info.name;
    v.dtype = info.dtype;
    v.shape.assign(info.ne.rbegin(), info.ne.rend());
    // Empty tensors may sit past the end of a file without a data section.
    if (info.bytes > 0) v.data = bytes_.subspan(static_cast<std::size_t>(data_offset_ + info.offset), info.bytes);
    return v;
}

TensorView GgufFile::tensor(std::string_view name) const {
    const GgufTensorInfo* info = find_tensor(name);
    if (info == nullptr) fail(source_, ": tensor '", name, "' is missing");
    return tensor(*info);
}

}  // namespace lw
