// A scratch folder of our own under the system temp folder, removed with everything in
// it when the object goes (e.g. where an adapters.tar.gz is unpacked).
#pragma once

#include <filesystem>
#include <string>

namespace lw {

class TempDir {
public:
    // The folder is named "<prefix>-XXXXXX"; throws lw::Error when it cannot be made.
    explicit TempDir(const std::string& prefix);
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

}  // namespace lw
