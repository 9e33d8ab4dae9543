#include "core/temp_dir.h"

#include "core/error.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace lw {

TempDir::TempDir(const std::string& prefix) {
    const std::filesystem::path base = std::filesystem::temp_directory_path();
    std::string pattern = (base / (prefix + "-XXXXXX")).string();
    if (!::mkdtemp(pattern.data()))
        fail("cannot create a temporary folder in ", base.string(), ": ", std::strerror(errno));
    path_ = pattern;
}

TempDir::~TempDir() {
    std::error_code ignored;  // best effort: nothing useful to do about a failure here
    std::filesystem::remove_all(path_, ignored);
}

}  // namespace lw
