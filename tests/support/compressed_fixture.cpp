#include "support/compressed_fixture.h"

#include <QTest>

#include <archive.h>

#include <memory>

namespace lw::test {

std::string read_compressed(const std::filesystem::path& p) {
    std::unique_ptr<archive, decltype(&archive_read_free)> a(archive_read_new(), &archive_read_free);
    archive_read_support_filter_all(a.get());
    archive_read_support_format_raw(a.get());
    archive_entry* entry = nullptr;
    if (archive_read_open_filename(a.get(), p.c_str(), 1 << 16) != ARCHIVE_OK ||
        archive_read_next_header(a.get(), &entry) != ARCHIVE_OK)
        qFatal("cannot read compressed fixture %s: %s", p.c_str(), archive_error_string(a.get()));
    std::string out;
    char buf[1 << 16];
    for (;;) {
        const la_ssize_t n = archive_read_data(a.get(), buf, sizeof buf);
        if (n < 0) qFatal("cannot decompress %s: %s", p.c_str(), archive_error_string(a.get()));
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

}  // namespace lw::test
