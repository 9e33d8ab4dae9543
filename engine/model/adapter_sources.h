// Finding adapters where users keep them: one PEFT adapter folder (or one of its
// files), a folder of adapter folders, SageMaker LMI's layout (adapters/<name>/...), or
// that layout packed as adapters.tar.gz.
#pragma once

#include "formats/adapter_archive.h"

#include <filesystem>
#include <string>
#include <vector>

namespace lw {

struct AdapterSource {
    std::string name;              // the adapter folder's name
    std::filesystem::path folder;  // holds adapter_config.json; pass to load_lora_adapter
};

// The adapters at `path`, sorted by name: the folder itself when it holds
// adapter_config.json (or its parent when `path` is one of an adapter's files), else
// each sub-folder holding one, looking inside `adapters/` when there is such a folder.
// Throws lw::Error naming the path when it holds none.
std::vector<AdapterSource> find_adapters(const std::filesystem::path& path);

// The name a folder gives its adapter: its last path segment (also for "x/" and ".").
std::string adapter_name_for(const std::filesystem::path& folder);

// True for the archive names users drop: .tar.gz, .tgz, .tar.
bool is_adapter_archive(const std::filesystem::path& path);

// Extracts an adapters.tar.gz into `target` (see extract_adapter_archive) and finds
// the adapters in it.
std::vector<AdapterSource> unpack_adapters(const std::filesystem::path& archive, const std::filesystem::path& target,
                                           const ArchiveLimits& limits = {});

}  // namespace lw
