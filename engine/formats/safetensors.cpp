#include "formats/safetensors.h"

#include "core/error.h"
#include "core/mapped_file.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <set>
#include <vector>

namespace lw {
namespace {

using json = nlohmann::json;

// A header is at most three levels deep: {name: {"shape": [..]}}. Anything deeper is
// hostile, and refusing it bounds the parser's work and memory.
constexpr int kMaxJsonDepth = 3;

std::uint64_t read_le64(std::span<const std::byte> b) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint64_t>(b[static_cast<std::size_t>(i)]);
    return v;
}

// Parses the header, rejecting duplicate keys (which nlohmann would silently
// overwrite) and nesting deeper than a header ever needs.
json parse_header_json(std::string_view text, const std::string& source) {
    std::vector<std::set<std::string>> keys_in_open_objects;
    auto check = [&](int depth, json::parse_event_t event, json& parsed) {
        switch (event) {
            case json::parse_event_t::object_start:
                if (depth >= kMaxJsonDepth) fail(source, ": header JSON is nested deeper than ", kMaxJsonDepth);
                keys_in_open_objects.emplace_back();
                break;
            case json::parse_event_t::array_start:
                if (depth >= kMaxJsonDepth) fail(source, ": header JSON is nested deeper than ", kMaxJsonDepth);
                break;
            case json::parse_event_t::object_end:
                keys_in_open_objects.pop_back();
                break;
            case json::parse_event_t::key: {
                const auto& key = parsed.get_ref<const std::string&>();
                if (!keys_in_open_objects.back().insert(key).second)
                    fail(source, ": header has duplicate key '", key, "'");
                break;
            }
            default:
                break;
        }
        return true;
    };
    try {
        return json::parse(text.begin(), text.end(), check);
    } catch (const json::exception& e) {
        fail(source, ": header is not valid JSON: ", e.what());
    }
}

std::map<std::string, std::string> read_metadata(const json& j, const std::string& source) {
    if (!j.is_object()) fail(source, ": __metadata__ must be an object of strings, found ", j.type_name());
    std::map<std::string, std::string> out;
    for (const auto& [key, value] : j.items()) {
        if (!value.is_string())
            fail(source, ": __metadata__ entry '", key, "' must be a string, found ", value.type_name());
        out.emplace(key, value.get<std::string>());
    }
    return out;
}

// The non-negative integers of a JSON array field of a tensor entry.
std::vector<std::uint64_t> read_uints(const json& entry, const char* field, const std::string& where) {
    const auto it = entry.find(field);
    if (it == entry.end()) fail(where, ": missing '", field, "'");
    if (!it->is_array()) fail(where, ": '", field, "' must be an array, found ", it->type_name());
    std::vector<std::uint64_t> out;
    for (const auto& v : *it) {
        if (!v.is_number_unsigned())
            fail(where, ": '", field, "' entries must be non-negative integers, found ", v.dump());
        out.push_back(v.get<std::uint64_t>());
    }
    return out;
}

struct Extent {
    std::uint64_t begin, end;
    const std::string* name;
};

}  // namespace

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
    auto file = MappedFile::open(path);
    const auto bytes = file->bytes();
    return parse(bytes, std::move(file), path.string());
}

SafetensorsFile SafetensorsFile::parse(std::span<const std::byte> bytes, std::shared_ptr<const void> storage,
                                       const std::string& source) {
    if (bytes.size() < 8) fail(source, ": file is ", bytes.size(), " bytes, too short for the 8-byte header length");
    const std::uint64_t header_len = read_le64(bytes.first(8));
    if (header_len > kMaxHeaderBytes)
        fail(source, ": header length ", header_len, " exceeds the ", kMaxHeaderBytes, "-byte limit");
    if (header_len > bytes.size() - 8)
        fail(source, ": header length ", header_len, " runs past the end of the file (", bytes.size() - 8,
             " bytes follow the length)");
    const auto header_bytes = bytes.subspan(8, header_len);
    const std::string_view header_text(reinterpret_cast<const char*>(header_bytes.data()), header_bytes.size());
    const json header = parse_header_json(header_text, source);
    if (!header.is_object()) fail(source, ": header must be a JSON object, found ", header.type_name());

    SafetensorsFile out;
    out.source_ = source;
    out.storage_ = std::move(storage);
    const auto data = bytes.subspan(8 + header_len);
    std::vector<Extent> extents;
    for (const auto& [name, entry] : header.items()) {
        if (name == "__metadata__") {
            out.metadata_ = read_metadata(entry, source);
            continue;
        }
        const std::string where = cat(source, ": tensor '", name, "'");
        if (!entry.is_object()) fail(where, " must be an object, found ", entry.type_name());

        const auto dtype_it = entry.find("dtype");
        if (dtype_it == entry.end() || !dtype_it->is_string()) fail(where, ": missing string 'dtype'");
        const auto& dtype_name_str = dtype_it->get_ref<const std::string&>();
        const auto dtype = dtype_from_safetensors(dtype_name_str);
        if (!dtype)
            fail(where, ": unsupported dtype '", dtype_name_str,
                 "' (expected one of F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)");

        TensorView view;
        view.name = name;
        view.dtype = *dtype;
        std::int64_t numel = 1;
        for (const std::uint64_t d : read_uints(entry, "shape", where)) {
            if (d > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
                (d != 0 && numel > std::numeric_limits<std::int64_t>::max() / static_cast<std::int64_t>(d)))
                fail(where, ": shape overflows 64-bit element count");
            numel *= static_cast<std::int64_t>(d);
            view.shape.push_back(static_cast<std::int64_t>(d));
        }
        std::size_t expected_bytes = 0;
        try {
            expected_bytes = dtype_bytes(view.dtype, numel);
        } catch (const Error& e) {
            fail(where, ": ", e.what());
        }

        const auto offsets = read_uints(entry, "data_offsets", where);
        if (offsets.size() != 2) fail(where, ": data_offsets must have 2 entries, found ", offsets.size());
        const std::uint64_t begin = offsets[0], end = offsets[1];
        if (begin > end) fail(where, ": data_offsets [", begin, ", ", end, "] end before they begin");
        if (end > data.size())
            fail(where, ": data_offsets [", begin, ", ", end, "] run past the end of the data (", data.size(),
                 " bytes)");
        if (end - begin != expected_bytes)
            fail(where, ": data_offsets [", begin, ", ", end, "] hold ", end - begin, " bytes but ", dtype_name_str,
                 " ", shape_string(view.shape), " needs ", expected_bytes);
        view.data = data.subspan(begin, end - begin);
        const std::string& stored_name = out.tensors_.emplace(name, std::move(view)).first->first;
        if (begin != end) extents.push_back({begin, end, &stored_name});  // empty tensors overlap nothing
    }

    std::sort(extents.begin(), extents.end(), [](const Extent& a, const Extent& b) { return a.begin < b.begin; });
    for (std::size_t i = 1; i < extents.size(); ++i) {
        if (extents[i].begin < extents[i - 1].end)
            fail(source, ": tensors '", *extents[i - 1].name, "' [", extents[i - 1].begin, ", ", extents[i - 1].end,
                 ") and '", *extents[i].name, "' [", extents[i].begin, ", ", extents[i].end, ") overlap");
    }
    return out;
}

const TensorView& SafetensorsFile::get(const std::string& name) const {
    const auto it = tensors_.find(name);
    if (it == tensors_.end()) fail(source_, ": no tensor named '", name, "'");
    return it->second;
}

}  // namespace lw
