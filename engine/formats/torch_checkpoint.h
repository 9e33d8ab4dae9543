// A PyTorch checkpoint as torch.save writes it (the zip format, torch >= 1.6):
// <prefix>/data.pkl (the pickled state dict), <prefix>/data/<key> (one member per
// storage, raw little-endian elements), <prefix>/byteorder and <prefix>/version.
// The pickle goes through the restricted unpickler; every tensor is checked against
// the bytes its storage actually holds. Only contiguous tensors are accepted.
#pragma once

#include "core/tensor_view.h"
#include "formats/torch_pickle.h"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace lw {

struct TorchCheckpointLimits {
    std::uint64_t max_member_bytes = std::uint64_t{4} << 30;  // one member, decompressed
    std::uint64_t max_total_bytes = std::uint64_t{8} << 30;   // all members read, decompressed
    // torch stores members uncompressed; a zip that expands far beyond its own size is a bomb.
    std::uint64_t max_expansion = 4;  // total read <= max_expansion * archive size + 1 MiB
    std::size_t max_members = 1 << 16;
    PickleLimits pickle;
};

struct TorchCheckpoint {
    std::vector<TensorView> tensors;      // in state dict order, named by their keys
    std::shared_ptr<const void> storage;  // owns the bytes the views point into
};

// Throws lw::Error naming the file, and the member, tensor or storage at fault.
TorchCheckpoint read_torch_checkpoint(const std::filesystem::path& path, const TorchCheckpointLimits& limits = {});
// The same from bytes in memory; `source` names them in messages.
TorchCheckpoint read_torch_checkpoint(std::span<const std::byte> bytes, const std::string& source,
                                      const TorchCheckpointLimits& limits = {});

}  // namespace lw
