#include "formats/torch_checkpoint.h"

#include "core/error.h"
#include "core/mapped_file.h"

#include <archive.h>
#include <archive_entry.h>

#include <map>

namespace lw {
namespace {

using Bytes = std::vector<std::byte>;

struct ArchiveCloser {
    void operator()(archive* a) const { archive_read_free(a); }
};

// True for the members a state dict needs: data.pkl, byteorder and data/<key>.
bool wanted_member(const std::string& name) {
    const auto slash = name.find('/');
    if (slash == std::string::npos) return false;
    const std::string rest = name.substr(slash + 1);
    return rest == "data.pkl" || rest == "byteorder" || rest.starts_with("data/");
}

// Reads the members a state dict needs into memory, counting the bytes actually
// decompressed against the limits (headers are not trusted).
std::map<std::string, Bytes> read_members(std::span<const std::byte> bytes, const std::string& source,
                                          const TorchCheckpointLimits& limits) {
    std::unique_ptr<archive, ArchiveCloser> a(archive_read_new());
    if (!a) fail(source, ": cannot allocate a zip reader");
    archive_read_support_format_zip(a.get());
    if (archive_read_open_memory(a.get(), bytes.data(), bytes.size()) != ARCHIVE_OK)
        fail(source, ": not a zip archive (PyTorch checkpoint): ", archive_error_string(a.get()));

    const std::uint64_t budget = std::min(limits.max_total_bytes, limits.max_expansion * bytes.size() + (1u << 20));
    std::uint64_t total = 0;
    std::size_t count = 0;
    std::map<std::string, Bytes> members;
    archive_entry* entry = nullptr;
    while (true) {
        const int r = archive_read_next_header(a.get(), &entry);
        if (r == ARCHIVE_EOF) break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
            fail(source, ": not a readable zip archive (PyTorch checkpoint): ", archive_error_string(a.get()));
        if (++count > limits.max_members) fail(source, ": more than ", limits.max_members, " zip members");
        const char* raw_name = archive_entry_pathname(entry);
        const std::string name = raw_name ? raw_name : "";
        if (archive_entry_filetype(entry) != AE_IFREG || !wanted_member(name)) continue;
        if (members.contains(name)) fail(source, ": zip member ", name, " appears twice");
        Bytes& data = members[name];
        std::byte chunk[1 << 16];
        while (true) {
            const la_ssize_t n = archive_read_data(a.get(), chunk, sizeof chunk);
            if (n < 0) fail(source, ": cannot read zip member ", name, ": ", archive_error_string(a.get()));
            if (n == 0) break;
            total += static_cast<std::uint64_t>(n);
            if (data.size() + static_cast<std::size_t>(n) > limits.max_member_bytes)
                fail(source, ": zip member ", name, " expands beyond the limit of ", limits.max_member_bytes, " bytes");
            if (total > budget)
                fail(source, ": zip members expand beyond ", budget, " bytes (archive is ", bytes.size(), " bytes)");
            data.insert(data.end(), chunk, chunk + n);
        }
    }
    return members;
}

// Elements a contiguous row-major tensor of this shape spans; throws on overflow.
std::int64_t element_count(const PickledTensor& t, const std::string& where) {
    std::int64_t n = 1;
    for (auto d : t.shape)
        if (__builtin_mul_overflow(n, d, &n)) fail(where, ": size ", shape_string(t.shape), " overflows");
    return n;
}

void check_contiguous(const PickledTensor& t, const std::string& where) {
    std::int64_t expected = 1;
    for (std::size_t i = t.shape.size(); i-- > 0;) {
        if (t.shape[i] != 1 && t.stride[i] != expected)
            fail(where, ": not contiguous (size ", shape_string(t.shape), ", stride ", shape_string(t.stride),
                 "); only contiguous tensors are supported");
        expected *= t.shape[i];
    }
}

struct Storage {
    std::map<std::string, Bytes> members;
};

}  // namespace

TorchCheckpoint read_torch_checkpoint(std::span<const std::byte> bytes, const std::string& source,
                                      const TorchCheckpointLimits& limits) {
    auto storage = std::make_shared<Storage>();
    storage->members = read_members(bytes, source, limits);
    auto& members = storage->members;

    std::string prefix;
    for (const auto& [name, data] : members) {
        if (!name.ends_with("/data.pkl")) continue;
        if (!prefix.empty()) fail(source, ": more than one data.pkl (", prefix, "data.pkl and ", name, ")");
        prefix = name.substr(0, name.size() - 8);
    }
    if (prefix.empty()) fail(source, ": no <archive>/data.pkl member: not a PyTorch checkpoint");
    if (auto it = members.find(prefix + "byteorder"); it != members.end()) {
        const std::string order(reinterpret_cast<const char*>(it->second.data()), it->second.size());
        if (order != "little") fail(source, ": byteorder is '", order, "', only 'little' is supported");
    }

    const std::string pickle_name = source + ":" + prefix + "data.pkl";
    const auto pickled = read_torch_state_dict_pickle(members[prefix + "data.pkl"], pickle_name, limits.pickle);

    TorchCheckpoint out;
    for (const auto& t : pickled) {
        const std::string where = cat(source, ": tensor ", t.name);
        const std::string member = prefix + "data/" + t.storage.key;
        const auto it = members.find(member);
        if (it == members.end()) fail(where, ": storage '", t.storage.key, "' is missing (no zip member ", member, ")");
        const std::size_t elem = dtype_bytes(t.storage.dtype, 1);
        const std::uint64_t storage_bytes = it->second.size();
        if (static_cast<std::uint64_t>(t.storage.numel) > storage_bytes / elem)
            fail(where, ": storage '", t.storage.key, "' declares ", t.storage.numel, " elements of ",
                 dtype_name(t.storage.dtype), " but holds only ", storage_bytes, " bytes");
        check_contiguous(t, where);
        const std::int64_t numel = element_count(t, where);
        if (t.storage_offset > t.storage.numel || numel > t.storage.numel - t.storage_offset)
            fail(where, ": elements [", t.storage_offset, ", ", t.storage_offset, " + ", numel,
                 ") lie outside storage '", t.storage.key, "' of ", t.storage.numel, " elements");
        TensorView v;
        v.name = t.name;
        v.dtype = t.storage.dtype;
        v.shape = t.shape;
        v.data =
            std::span<const std::byte>(it->second)
                .subspan(static_cast<std::size_t>(t.storage_offset) * elem, static_cast<std::size_t>(numel) * elem);
        out.tensors.push_back(std::move(v));
    }
    out.storage = std::move(storage);
    return out;
}

TorchCheckpoint read_torch_checkpoint(const std::filesystem::path& path, const TorchCheckpointLimits& limits) {
    const auto file = MappedFile::open(path);
    return read_torch_checkpoint(file->bytes(), path.string(), limits);
}

}  // namespace lw
