#include "model/adapter_sources.h"

#include "core/error.h"

#include <algorithm>

namespace lw {
namespace {

namespace fs = std::filesystem;

bool is_adapter_folder(const fs::path& p) {
    std::error_code ec;
    return fs::is_directory(p, ec) && fs::is_regular_file(p / "adapter_config.json", ec);
}

}  // namespace

std::string adapter_name_for(const fs::path& folder) {
    std::error_code ec;
    fs::path p = fs::absolute(folder, ec).lexically_normal();
    if (p.filename().empty()) p = p.parent_path();
    return p.filename().string();
}

std::vector<AdapterSource> find_adapters(const fs::path& path) {
    std::error_code ec;
    if (fs::is_regular_file(path, ec)) {
        const fs::path folder = path.parent_path().empty() ? fs::path(".") : path.parent_path();
        if (!is_adapter_folder(folder))
            fail(path.string(), ": not one of a PEFT adapter's files (no adapter_config.json beside it)");
        return {{adapter_name_for(folder), folder}};
    }
    if (!fs::is_directory(path, ec)) fail(path.string(), ": neither an adapter folder nor one of an adapter's files");
    if (is_adapter_folder(path)) return {{adapter_name_for(path), path}};

    const fs::path root = fs::is_directory(path / "adapters", ec) ? path / "adapters" : path;
    std::vector<AdapterSource> found;
    for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec))
        if (is_adapter_folder(it->path())) found.push_back({it->path().filename().string(), it->path()});
    if (ec) fail(root.string(), ": cannot list: ", ec.message());
    if (found.empty())
        fail(path.string(),
             ": no PEFT adapters (adapter_config.json) in it, in its sub-folders or in adapters/<name>/");
    std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    return found;
}

bool is_adapter_archive(const fs::path& path) {
    const std::string name = path.filename().string();
    return name.ends_with(".tar.gz") || name.ends_with(".tgz") || name.ends_with(".tar");
}

std::vector<AdapterSource> unpack_adapters(const fs::path& archive, const fs::path& target,
                                           const ArchiveLimits& limits) {
    extract_adapter_archive(archive, target, limits);
    return find_adapters(target);
}

}  // namespace lw
