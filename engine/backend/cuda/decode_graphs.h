// Decode steps as CUDA graphs: the kernels of a decode step depend only on how many
// sequences it holds, which modules its adapters adapt and the attention's split count (every
// other input sits in fixed device buffers that the step rewrites before the launch), so
// the launch sequence is captured once per such key and replayed: one graph launch
// instead of hundreds of kernel launches per step.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <functional>
#include <map>
#include <tuple>

namespace lw::cuda {

struct DecodeGraphKey {
    int seqs = 0;
    std::uint32_t lora_modules = 0;  // LoraPlan::adapted_modules()
    int kv_splits = 1;
    auto operator<=>(const DecodeGraphKey&) const = default;
};

class DecodeGraphs {
public:
    DecodeGraphs() = default;
    ~DecodeGraphs();
    DecodeGraphs(const DecodeGraphs&) = delete;
    DecodeGraphs& operator=(const DecodeGraphs&) = delete;

    // Launches the graph for `key` on `stream`, first capturing what `record` queues on
    // that stream when the key is new. Throws lw::Error when capture or launch fails.
    void launch(const DecodeGraphKey& key, cudaStream_t stream, const std::function<void()>& record);
    std::size_t size() const { return graphs_.size(); }

private:
    std::map<DecodeGraphKey, cudaGraphExec_t> graphs_;
};

}  // namespace lw::cuda
