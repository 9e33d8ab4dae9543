#include "backend/cuda/decode_graphs.h"

#include "core/error.h"
#include "cuda_check.h"

namespace lw::cuda {

DecodeGraphs::~DecodeGraphs() {
    for (const auto& [key, exec] : graphs_) cudaGraphExecDestroy(exec);
}

void DecodeGraphs::launch(const DecodeGraphKey& key, cudaStream_t stream, const std::function<void()>& record) {
    auto it = graphs_.find(key);
    if (it == graphs_.end()) {
        check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "starting a decode graph capture");
        cudaGraph_t graph = nullptr;
        try {
            record();
        } catch (...) {
            cudaStreamEndCapture(stream, &graph);  // leaves the stream usable again
            if (graph) cudaGraphDestroy(graph);
            throw;
        }
        check(cudaStreamEndCapture(stream, &graph), "capturing a decode step");
        cudaGraphExec_t exec = nullptr;
        const cudaError_t made = cudaGraphInstantiate(&exec, graph, 0);
        cudaGraphDestroy(graph);
        check(made, cat("instantiating the decode graph for ", key.seqs, " sequences").c_str());
        it = graphs_.emplace(key, exec).first;
    }
    check(cudaGraphLaunch(it->second, stream), "launching a decode graph");
}

}  // namespace lw::cuda
