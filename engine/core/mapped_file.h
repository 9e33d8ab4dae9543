// A read-only memory map of a whole file. Weights are viewed in place, never copied
// or read twice; the map lives as long as any shared_ptr to it.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>

namespace lw {

class MappedFile {
public:
    // Throws lw::Error naming the path when the file cannot be opened or mapped.
    static std::shared_ptr<const MappedFile> open(const std::filesystem::path& path);

    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    std::span<const std::byte> bytes() const { return {data_, size_}; }
    std::size_t size() const { return size_; }
    const std::filesystem::path& path() const { return path_; }

private:
    MappedFile(std::filesystem::path path, const std::byte* data, std::size_t size);

    std::filesystem::path path_;
    const std::byte* data_;
    std::size_t size_;
};

}  // namespace lw
