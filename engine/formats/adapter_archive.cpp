#include "formats/adapter_archive.h"

#include "core/error.h"

#include <archive.h>
#include <archive_entry.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <unistd.h>

namespace lw {
namespace {

namespace fs = std::filesystem;

struct ArchiveCloser {
    void operator()(archive* a) const { archive_read_free(a); }
};

struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
};

// The member's path relative to the target, or an error naming it when it would land
// outside: absolute, or with a ".." segment. "." segments are dropped; an empty result
// (the archive's own root, "./") is returned as such.
fs::path relative_member_path(const std::string& name, const std::string& source) {
    if (name.starts_with("/")) fail(source, ": member '", name, "' has an absolute path");
    fs::path out;
    std::size_t start = 0;
    while (start <= name.size()) {
        std::size_t end = name.find('/', start);
        if (end == std::string::npos) end = name.size();
        const std::string segment = name.substr(start, end - start);
        if (segment == "..") fail(source, ": member '", name, "' escapes the target folder (\"..\")");
        if (!segment.empty() && segment != ".") out /= segment;
        start = end + 1;
    }
    return out;
}

const char* type_name(unsigned type) {
    switch (type) {
        case AE_IFLNK:
            return "a symbolic link";
        case AE_IFCHR:
            return "a character device";
        case AE_IFBLK:
            return "a block device";
        case AE_IFIFO:
            return "a FIFO";
        case AE_IFSOCK:
            return "a socket";
        default:
            return "not a plain file or folder";
    }
}

void write_member(archive* a, const fs::path& dest, const std::string& name, const std::string& source,
                  std::uint64_t& total, const ArchiveLimits& limits) {
    fs::create_directories(dest.parent_path());
    // O_EXCL | O_NOFOLLOW: never overwrite, never follow anything that is already there.
    const int fd = ::open(dest.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) fail(source, ": cannot create member '", name, "': ", std::strerror(errno));
    FdCloser closer{fd};
    char chunk[1 << 16];
    while (true) {
        const la_ssize_t n = archive_read_data(a, chunk, sizeof chunk);
        if (n < 0) fail(source, ": cannot read member '", name, "': ", archive_error_string(a));
        if (n == 0) return;
        total += static_cast<std::uint64_t>(n);
        if (total > limits.max_total_bytes)
            fail(source, ": expands beyond the limit of ", limits.max_total_bytes, " bytes (at member '", name, "')");
        for (la_ssize_t done = 0; done < n;) {
            const ssize_t w = ::write(fd, chunk + done, static_cast<std::size_t>(n - done));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) fail(source, ": cannot write member '", name, "': ", std::strerror(errno));
            done += w;
        }
    }
}

void extract_into(const fs::path& archive_path, const fs::path& folder, const ArchiveLimits& limits) {
    const std::string source = archive_path.string();
    std::unique_ptr<archive, ArchiveCloser> a(archive_read_new());
    if (!a) fail(source, ": cannot allocate an archive reader");
    archive_read_support_format_tar(a.get());
    archive_read_support_filter_all(a.get());
    if (archive_read_open_filename(a.get(), archive_path.c_str(), 1 << 16) != ARCHIVE_OK)
        fail(source, ": cannot read as a tar archive: ", archive_error_string(a.get()));

    std::size_t entries = 0;
    std::uint64_t total = 0;
    archive_entry* entry = nullptr;
    while (true) {
        const int r = archive_read_next_header(a.get(), &entry);
        if (r == ARCHIVE_EOF) return;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
            fail(source, ": cannot read as a tar archive: ", archive_error_string(a.get()));
        if (++entries > limits.max_entries) fail(source, ": holds more than ", limits.max_entries, " entries");
        const char* raw = archive_entry_pathname(entry);
        if (!raw) fail(source, ": entry ", entries, " has no readable name");
        const std::string name = raw;
        const fs::path relative = relative_member_path(name, source);
        if (const char* link = archive_entry_hardlink(entry))
            fail(source, ": member '", name, "' is a hard link (to '", link, "'); only files and folders are allowed");
        const unsigned type = archive_entry_filetype(entry);
        if (type == AE_IFDIR) {
            fs::create_directories(folder / relative);
        } else if (type == AE_IFREG) {
            if (relative.empty()) fail(source, ": member '", name, "' is a file without a name");
            write_member(a.get(), folder / relative, name, source, total, limits);
        } else {
            const char* link = archive_entry_symlink(entry);
            fail(source, ": member '", name, "' is ", type_name(type), link ? cat(" (to '", link, "')") : "",
                 "; only files and folders are allowed");
        }
    }
}

// A fresh folder next to `target` to extract into before the final rename.
fs::path make_staging_folder(const fs::path& target) {
    static std::atomic<unsigned> counter{0};
    const fs::path parent = target.parent_path().empty() ? fs::path(".") : target.parent_path();
    for (int attempt = 0; attempt < 100; ++attempt) {
        const fs::path p =
            parent / cat(".", target.filename().string(), ".partial-", ::getpid(), "-", counter.fetch_add(1));
        if (fs::create_directory(p)) return p;
    }
    fail(target.string(), ": cannot create a staging folder next to it");
}

}  // namespace

void extract_adapter_archive(const fs::path& archive, const fs::path& target, const ArchiveLimits& limits) {
    std::error_code ec;
    if (fs::exists(fs::symlink_status(target, ec)))
        fail(target.string(), ": already exists; extract ", archive.string(), " into a new folder");
    fs::path staging;
    try {
        staging = make_staging_folder(target);
        extract_into(archive, staging, limits);
        fs::rename(staging, target);
    } catch (const fs::filesystem_error& e) {
        if (!staging.empty()) fs::remove_all(staging, ec);
        fail(archive.string(), ": extraction failed: ", e.what());
    } catch (...) {
        if (!staging.empty()) fs::remove_all(staging, ec);
        throw;
    }
}

}  // namespace lw
