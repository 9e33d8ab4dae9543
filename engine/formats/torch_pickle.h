// A restricted unpickler for the data.pkl that torch.save writes for a state dict:
// a dict (or OrderedDict) from names to tensors rebuilt with
// torch._utils._rebuild_tensor_v2 over persistent storages. It understands only the
// opcodes and globals torch uses for that and refuses everything else by name; it
// never imports, executes or calls anything, and its memory is bounded by limits.
#pragma once

#include "core/dtype.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace lw {

// A storage as the pickle refers to it: ("storage", torch.<Type>Storage, key, location, numel).
// Its bytes live in the checkpoint's data/<key> member.
struct PickledStorage {
    DType dtype = DType::F32;
    std::string key;
    std::string location;  // "cpu", "cuda:0", ...
    std::int64_t numel = 0;
};

struct PickledTensor {
    std::string name;  // the state dict key
    PickledStorage storage;
    std::int64_t storage_offset = 0;  // in elements
    std::vector<std::int64_t> shape;
    std::vector<std::int64_t> stride;
};

struct PickleLimits {
    std::size_t max_memo = 1 << 20;     // memo entries (and the largest memo index)
    std::size_t max_stack = 1 << 16;    // values on the stack, and nested MARKs
    std::size_t max_objects = 1 << 20;  // values created in total (~100 bytes each)
    std::size_t max_tensor_dims = 16;
};

// Reads a state dict pickle. Throws lw::Error naming `source`, the offset and the
// opcode, global or value at fault (e.g. "refusing global os.system in x/data.pkl").
std::vector<PickledTensor> read_torch_state_dict_pickle(std::span<const std::byte> bytes, const std::string& source,
                                                        const PickleLimits& limits = {});

}  // namespace lw
