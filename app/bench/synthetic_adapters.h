// Random LoRA adapters written as real PEFT folders (adapter_config.json +
// adapter_model.safetensors, fp16), so the engine loads them exactly as users'
// adapters. At most `distinct_files` folders are written (a 7B adapter is tens of MB);
// adapter i is folder i % distinct_files, with rank ranks[that folder % ranks.size()].
// Folders are kept in a cache and reused when present.
#pragma once

#include "model/model_config.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace lw::bench {

struct AdapterSet {
    std::vector<std::filesystem::path> folders;  // one per distinct file
    std::vector<int> folder_ranks;
    int written = 0;  // folders written now (the others were in the cache)

    const std::filesystem::path& folder_of(int adapter) const { return folders[adapter % folders.size()]; }
    int rank_of(int adapter) const { return folder_ranks[adapter % folders.size()]; }
};

// Writes (or finds) the folders for `count` adapters on a base of `config`; throws
// lw::Error naming the folder that cannot be written.
AdapterSet make_synthetic_adapters(const ModelConfig& config, int count, const std::vector<int>& ranks,
                                   const std::vector<std::string>& targets, int distinct_files, std::uint64_t seed,
                                   const std::filesystem::path& cache);

// The bytes of one adapter's A and B matrices in `dtype_bytes`-byte elements.
std::size_t adapter_bytes(const ModelConfig& config, int rank, const std::vector<std::string>& targets,
                          std::size_t dtype_bytes);

}  // namespace lw::bench
