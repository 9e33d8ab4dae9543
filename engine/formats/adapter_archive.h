// adapters.tar.gz (SageMaker LMI's packed layout, adapters/<name>/...) unpacked without
// trusting it: only plain files and folders, every member inside the target, bytes
// counted as they are written (headers are not trusted), and all or nothing: the
// archive goes into a staging folder next to the target, renamed into place at the end
// and removed on any failure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>

namespace lw {

struct ArchiveLimits {
    std::uint64_t max_total_bytes = std::uint64_t{16} << 30;  // all files together, as written
    std::size_t max_entries = 10000;
};

// Extracts a tar archive (plain, or compressed with gzip, bzip2, xz or zstd) into
// `target`, which must not exist yet. Throws lw::Error naming the archive and the
// member at fault (path escaping the target, absolute path, link, device, too big,
// too many entries); nothing is left behind when it does.
void extract_adapter_archive(const std::filesystem::path& archive, const std::filesystem::path& target,
                             const ArchiveLimits& limits = {});

}  // namespace lw
