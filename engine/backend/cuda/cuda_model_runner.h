// A Llama-family decoder (Llama, Mistral, Qwen2, SmolLM) on one GPU in fp16 or bf16:
// weights uploaded once (device_weights.h), base GEMMs on cuBLASLt with algorithms
// timed per decode shape (gemm.h), q|k|v and gate|up as single GEMMs, LoRA through the
// segmented kernels (lora_plan.h), RoPE fused with the paged K/V write, paged attention over pool pages,
// fused residual + RMSNorm and SiLU·mul, logits (fp32) only for the sequences that want
// them, and sampling on the device when every one of them can be sampled there; decode
// steps are replayed as CUDA graphs (decode_graphs.h). All
// buffers are allocated once, for the backend's max_num_seqs and
// max_num_batched_tokens. forward() is called from one thread at a time.
#pragma once

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/decode_graphs.h"
#include "backend/cuda/device_weights.h"
#include "backend/cuda/gemm.h"
#include "backend/cuda/lora_plan.h"
#include "backend/cuda/side_stream.h"
#include "backend/cuda/step_inputs.h"
#include "backend/step_batch_check.h"
#include "sampling.h"

#include <memory>

namespace lw {

class CudaModelRunner final : public ModelRunner {
public:
    // Throws lw::Error when the config or the weights are inconsistent or do not fit.
    CudaModelRunner(const ModelConfig& config, const ModelWeights& weights, CudaBackend& backend);

    const ModelConfig& config() const override { return config_; }
    const KvLayout& kv_layout() const override { return kv_layout_; }
    void forward(const StepBatch& batch, std::span<float> logits) override;
    bool samples_on_device() const override { return true; }
    void forward_sampled(const StepBatch& batch, std::span<const DeviceSampling> samplers,
                         std::span<DeviceSample> out) override;

    // Decode graphs captured so far (0 when they are off or a capture failed).
    std::size_t decode_graph_count() const { return use_graphs_ ? graphs_.size() : 0; }

private:
    // Runs the decoder over the batch and leaves the wanted logits in logits_; returns
    // how many sequences want them.
    int run(const StepBatch& batch);
    // Queues the step's kernels (embedding to logits) on the compute stream: what a
    // decode graph captures.
    void record_step(int kv_splits);
    // Times the base GEMMs of a decode step of `n` sequences (`logit_rows` of them
    // wanting logits) unless done, before the step: a graph capture replays the
    // algorithms chosen before it.
    void tune_decode_gemms(int n, int logit_rows);
    cuda::GemmArgs lm_head_gemm(int rows) const;
    // y = x W^T for the batch's tokens, plus the LoRA of each token's adapter on `modules`.
    void project(int layer, std::initializer_list<int> modules, const void* x, const void* w, int in, void* y, int out,
                 int tokens);
    cuda::DevicePagedKv paged_kv() const;
    void finish_step(const StepBatch& batch);

    ModelConfig config_;
    CudaBackend& backend_;
    DType dtype_;
    KvLayout kv_layout_;
    CheckedAdapters checked_adapters_;
    cuda::DeviceWeights weights_;
    cuda::Gemm gemm_;
    cuda::CudaBuffer inv_freq_;  // rope frequencies, fp32
    cuda::LoraPlan lora_;
    cuda::SideStream lora_stream_;  // LoRA shrinks, beside their projection's GEMM
    cuda::StepInputs inputs_;
    cuda::DecodeGraphs graphs_;
    bool use_graphs_;  // the backend's option, until a capture fails
    int kv_splits_max_ = 1;

    // Activations, [max tokens][width] in dtype_ unless said otherwise.
    cuda::CudaBuffer x_, xn_, qkv_, attn_, gate_up_, act_, delta_;
    cuda::CudaBuffer last_;                      // [max seqs][hidden]: the final norm of each wanted row
    cuda::CudaBuffer logits_;                    // [max seqs][vocab] fp32
    cuda::CudaBuffer workspace_;                 // split-K attention partials for decode steps
    cuda::CudaBuffer settings_host_, settings_;  // [max seqs] cuda::SamplingSettings
    cuda::CudaBuffer drawn_host_, drawn_;        // [max seqs] token ids, then [max seqs] logprobs
};

}  // namespace lw
