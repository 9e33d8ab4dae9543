// A .safetensors file: an 8-byte little-endian header length, a JSON header that
// gives each tensor's dtype, shape and [begin, end) byte offsets into the data
// region that follows it, an optional "__metadata__" string map, then the data.
// The file is memory-mapped once and tensors are views into the map.
#pragma once

#include "core/tensor_view.h"

#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>

namespace lw {

class SafetensorsFile {
public:
    // Largest JSON header accepted; real headers are well under a megabyte.
    static constexpr std::size_t kMaxHeaderBytes = 100u << 20;

    // Maps and validates the file; throws lw::Error naming the file (and tensor).
    static SafetensorsFile open(const std::filesystem::path& path);
    // Validates bytes already in memory; `storage` keeps them alive for the views and
    // `source` names them in messages.
    static SafetensorsFile parse(std::span<const std::byte> bytes, std::shared_ptr<const void> storage,
                                 const std::string& source);

    const std::string& source() const { return source_; }
    const std::map<std::string, TensorView>& tensors() const { return tensors_; }
    bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
    // Throws lw::Error naming the file and the tensor when it is absent.
    const TensorView& get(const std::string& name) const;
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    // What the views point into (the mapped file); keep it alive to keep them valid.
    const std::shared_ptr<const void>& storage() const { return storage_; }

private:
    std::string source_;
    std::map<std::string, TensorView> tensors_;
    std::map<std::string, std::string> metadata_;
    std::shared_ptr<const void> storage_;
};

}  // namespace lw
