#include "backend/cuda/cuda_model_runner.h"

#include "activation.h"
#include "backend/cpu/rope.h"
#include "backend/cuda/gemm.h"
#include "backend/step_batch_check.h"
#include "core/error.h"
#include "cuda_check.h"
#include "embedding.h"
#include "paged_attention.h"
#include "rms_norm.h"
#include "rope.h"

#include <algorithm>
#include <cstdio>

namespace lw {
namespace {

// Indexes into linear_module_names(), as the LoRA plan takes them.
enum Module : int { kQProj, kKProj, kVProj, kOProj, kGateProj, kUpProj, kDownProj };

// Flash-decoding splits of a decode step's attention: enough to fill an H100 at batch 1.
constexpr int kMaxKvSplits = 16;

const ModelConfig& validated(const ModelConfig& config, const ModelWeights& weights) {
    validate_model_config(config, "cuda backend");
    validate_weights(weights, config, "cuda backend");
    return config;
}

cuda::CudaBuffer activations(const CudaBackendOptions& o, int width, const char* what) {
    return cuda::CudaBuffer::device(dtype_bytes(o.dtype, static_cast<std::int64_t>(o.max_num_batched_tokens) * width),
                                    what);
}

cuda::CudaBuffer upload_inv_freq(const ModelConfig& config) {
    const Rope rope(config);
    const std::vector<float>& f = rope.inv_freq();
    cuda::CudaBuffer b = cuda::CudaBuffer::device(f.size() * sizeof(float), "rope frequencies");
    cuda::check(cudaMemcpy(b.get(), f.data(), f.size() * sizeof(float), cudaMemcpyHostToDevice),
                "uploading rope frequencies");
    return b;
}

std::byte* at(const cuda::CudaBuffer& b, std::size_t bytes) {
    return b.as<std::byte>() + bytes;
}

}  // namespace

CudaModelRunner::CudaModelRunner(const ModelConfig& config, const ModelWeights& weights, CudaBackend& backend)
    : config_(validated(config, weights)),
      backend_(backend),
      dtype_(backend.pool_dtype()),
      kv_layout_(make_kv_layout(config, backend.page_bytes(), dtype_)),
      weights_(config, weights, dtype_),
      inv_freq_(upload_inv_freq(config)),
      lora_(config, dtype_, backend.pool_base(), backend.page_stride(), backend.page_count(),
            cuda::LoraPlanLimits{backend.options().max_num_batched_tokens, backend.options().max_lora_rank,
                                 backend.options().max_loras}),
      inputs_(cuda::StepInputLimits{backend.options().max_num_batched_tokens, backend.options().max_num_seqs,
                                    backend.page_count()}),
      use_graphs_(backend.options().decode_graphs) {
    const CudaBackendOptions& o = backend.options();
    const ModelConfig& c = config_;
    cuda::check_paged_kv(paged_kv(), "cuda backend");
    x_ = activations(o, c.hidden_size, "the residual stream");
    xn_ = activations(o, c.hidden_size, "normed activations");
    qkv_ = activations(o, c.q_dim() + 2 * c.kv_dim(), "q|k|v");
    attn_ = activations(o, c.q_dim(), "attention output");
    gate_up_ = activations(o, 2 * c.intermediate_size, "gate|up");
    act_ = activations(o, c.intermediate_size, "the MLP activation");
    delta_ = activations(o, c.hidden_size, "projection output");
    const auto seqs = static_cast<std::size_t>(o.max_num_seqs);
    last_ = cuda::CudaBuffer::device(dtype_bytes(dtype_, c.hidden_size) * seqs, "final norms");
    logits_ = cuda::CudaBuffer::device(sizeof(float) * static_cast<std::size_t>(c.vocab_size) * seqs, "logits");
    kv_splits_max_ = kMaxKvSplits;
    workspace_ = cuda::CudaBuffer::device(
        cuda::attention_workspace_bytes(o.max_num_seqs, c.num_heads, c.head_dim, kv_splits_max_),
        "attention split-K partials");
    settings_host_ = cuda::CudaBuffer::pinned(sizeof(cuda::SamplingSettings) * seqs, "sampling settings (host)");
    settings_ = cuda::CudaBuffer::device(sizeof(cuda::SamplingSettings) * seqs, "sampling settings");
    drawn_host_ = cuda::CudaBuffer::pinned((sizeof(int) + sizeof(float)) * seqs, "sampled tokens (host)");
    drawn_ = cuda::CudaBuffer::device((sizeof(int) + sizeof(float)) * seqs, "sampled tokens");
}

cuda::DevicePagedKv CudaModelRunner::paged_kv() const {
    return cuda::DevicePagedKv{backend_.pool_base(),
                               backend_.page_stride(),
                               kv_layout_.num_layers,
                               kv_layout_.kv_heads,
                               kv_layout_.head_dim,
                               kv_layout_.block_tokens,
                               dtype_};
}

void CudaModelRunner::project(int layer, std::initializer_list<int> modules, const void* x, const void* w, int in,
                              void* y, int out, int tokens) {
    const cudaStream_t stream = backend_.stream();
    const std::span<const int> adapted(modules.begin(), modules.size());
    // The LoRA shrink reads only x: it runs beside the GEMM, which leaves SMs and
    // bandwidth to spare while its last tiles finish.
    const bool lora = lora_.adapts(adapted);
    if (lora) lora_.shrink(layer, adapted, x, lora_stream_.fork(stream));
    gemm_.run({dtype_, x, w, y, tokens, in, out, out, false}, stream,
              linear_module_names()[static_cast<std::size_t>(*modules.begin())].c_str());
    if (lora) {
        lora_stream_.join(stream);
        lora_.expand(layer, adapted, y, out, stream);
    }
}

int CudaModelRunner::run(const StepBatch& batch) {
    const ModelConfig& c = config_;
    const std::size_t wanting = check_step_batch(
        batch, c, kv_layout_, StepBatchLimits{backend_.page_count(), backend_.page_bytes(), dtype_}, checked_adapters_);
    const cudaStream_t stream = backend_.stream();
    backend_.order_uploads_before_compute(newest_upload(batch));
    inputs_.upload(batch, stream);
    lora_.prepare(batch, stream);

    const cuda::DeviceTokenBatch& tokens = inputs_.tokens();
    const bool decode = tokens.num_tokens == tokens.num_seqs;
    int longest_context = 0;
    for (const StepSequence& s : batch.sequences)
        longest_context = std::max(longest_context, s.position + static_cast<int>(s.tokens.size()));
    const int splits = decode ? std::clamp(cuda::suggested_kv_splits(tokens.num_seqs, c.num_kv_heads, longest_context),
                                           1, kv_splits_max_)
                              : 1;
    // A decode step where every sequence wants its logits is the same launch sequence
    // for the same counts: replay it.
    if (decode) tune_decode_gemms(tokens.num_seqs, inputs_.logit_count());
    if (decode && use_graphs_ && inputs_.logit_count() == tokens.num_seqs) {
        try {
            graphs_.launch({tokens.num_seqs, lora_.adapted_modules(), splits}, stream, [&] { record_step(splits); });
            return static_cast<int>(wanting);
        } catch (const Error& e) {
            // Graphs only save launch time: without them the step still runs.
            use_graphs_ = false;
            std::fprintf(stderr, "lora-workbench: decode steps run without CUDA graphs: %s\n", e.what());
        }
    }
    record_step(splits);
    return static_cast<int>(wanting);
}

cuda::GemmArgs CudaModelRunner::lm_head_gemm(int rows) const {
    const ModelConfig& c = config_;
    return {dtype_,        last_.get(),  weights_.lm_head(), logits_.get(), rows,
            c.hidden_size, c.vocab_size, c.vocab_size,       true};
}

void CudaModelRunner::tune_decode_gemms(int n, int logit_rows) {
    // Every layer has the first one's shapes and alignment; the activations are free
    // between steps, so the timed runs may write them.
    const ModelConfig& c = config_;
    const cuda::DeviceLayer& w = weights_.layer(0);
    const int hidden = c.hidden_size, ffn = c.intermediate_size, qkv_width = c.q_dim() + 2 * c.kv_dim();
    const cudaStream_t stream = backend_.stream();
    gemm_.tune({dtype_, xn_.get(), w.qkv, qkv_.get(), n, hidden, qkv_width, qkv_width, false}, stream, "q|k|v");
    gemm_.tune({dtype_, attn_.get(), w.o, delta_.get(), n, c.q_dim(), hidden, hidden, false}, stream, "o_proj");
    gemm_.tune({dtype_, xn_.get(), w.gate_up, gate_up_.get(), n, hidden, 2 * ffn, 2 * ffn, false}, stream, "gate|up");
    gemm_.tune({dtype_, act_.get(), w.down, delta_.get(), n, ffn, hidden, hidden, false}, stream, "down_proj");
    gemm_.tune(lm_head_gemm(logit_rows), stream, "lm_head");
}

void CudaModelRunner::record_step(int splits) {
    const ModelConfig& c = config_;
    const cudaStream_t stream = backend_.stream();
    const cuda::DeviceTokenBatch& tokens = inputs_.tokens();
    const int n = tokens.num_tokens, hidden = c.hidden_size, q_dim = c.q_dim(), kv_dim = c.kv_dim();
    const int ffn = c.intermediate_size, qkv_width = q_dim + 2 * kv_dim;

    cuda::gather_rows(dtype_, weights_.embedding(), c.vocab_size, hidden, inputs_.token_ids(), n, x_.get(), stream);
    for (int l = 0; l < c.num_layers; ++l) {
        const cuda::DeviceLayer& w = weights_.layer(l);
        // Attention block: x += o_proj(attention(rope(q), rope(k), v)); the previous
        // block's delta is added to x by the norm that reads it.
        if (l == 0)
            cuda::rms_norm(dtype_, x_.get(), w.attn_norm, xn_.get(), n, hidden, c.rms_norm_eps, stream);
        else
            cuda::add_rms_norm(dtype_, x_.get(), delta_.get(), w.attn_norm, xn_.get(), n, hidden, c.rms_norm_eps,
                               stream);
        project(l, {kQProj, kKProj, kVProj}, xn_.get(), w.qkv, hidden, qkv_.get(), qkv_width, n);

        cuda::RopeKvArgs rope;
        rope.kv = paged_kv();
        rope.batch = tokens;
        rope.layer = l;
        rope.num_heads = c.num_heads;
        rope.q = qkv_.get();
        rope.k = at(qkv_, dtype_bytes(dtype_, q_dim));
        rope.v = at(qkv_, dtype_bytes(dtype_, q_dim + kv_dim));
        rope.row_stride = qkv_width;
        if (w.qkv_bias) {
            const auto* bias = static_cast<const std::byte*>(w.qkv_bias);
            rope.q_bias = bias;
            rope.k_bias = bias + dtype_bytes(dtype_, q_dim);
            rope.v_bias = bias + dtype_bytes(dtype_, q_dim + kv_dim);
        }
        rope.inv_freq = inv_freq_.as<float>();
        cuda::rope_write_kv(rope, stream);

        cuda::AttentionArgs attention;
        attention.kv = rope.kv;
        attention.batch = tokens;
        attention.layer = l;
        attention.num_heads = c.num_heads;
        attention.q = qkv_.get();
        attention.q_stride = qkv_width;
        attention.out = attn_.get();
        attention.sliding_window = c.sliding_window.value_or(0);
        attention.kv_splits = splits;
        attention.workspace = workspace_.get();
        attention.workspace_bytes = workspace_.bytes();
        cuda::paged_attention(attention, stream);
        project(l, {kOProj}, attn_.get(), w.o, q_dim, delta_.get(), hidden, n);

        // MLP block: x += down_proj(silu(gate_proj(x)) * up_proj(x)).
        cuda::add_rms_norm(dtype_, x_.get(), delta_.get(), w.mlp_norm, xn_.get(), n, hidden, c.rms_norm_eps, stream);
        project(l, {kGateProj, kUpProj}, xn_.get(), w.gate_up, hidden, gate_up_.get(), 2 * ffn, n);
        cuda::silu_mul(dtype_, gate_up_.get(), act_.get(), n, ffn, stream);
        project(l, {kDownProj}, act_.get(), w.down, ffn, delta_.get(), hidden, n);
    }

    // Logits for the last token of each sequence that wants them, in batch order.
    const int rows = inputs_.logit_count();
    if (rows > 0) {
        cuda::add_rms_norm(dtype_, x_.get(), delta_.get(), weights_.final_norm(), xn_.get(), n, hidden, c.rms_norm_eps,
                           stream);
        cuda::gather_rows(dtype_, xn_.get(), n, hidden, inputs_.logit_rows(), rows, last_.get(), stream);
        gemm_.run(lm_head_gemm(rows), stream, "lm_head");
    }
}

void CudaModelRunner::finish_step(const StepBatch& batch) {
    cuda::check(cudaStreamSynchronize(backend_.stream()), "running a forward pass");
    for (const auto& s : batch.sequences) s.kv->tokens += static_cast<int>(s.tokens.size());
}

void CudaModelRunner::forward(const StepBatch& batch, std::span<float> logits) {
    const std::size_t vocab = static_cast<std::size_t>(config_.vocab_size);
    std::size_t wanting = 0;
    for (const auto& s : batch.sequences) wanting += s.wants_logits;
    if (logits.size() != wanting * vocab)
        fail("logits buffer has ", logits.size(), " floats, ", wanting, " sequences want ", vocab, " each");
    if (batch.sequences.empty()) return;
    run(batch);
    if (wanting > 0)
        cuda::check(cudaMemcpyAsync(logits.data(), logits_.get(), logits.size_bytes(), cudaMemcpyDeviceToHost,
                                    backend_.stream()),
                    "copying logits to the host");
    finish_step(batch);
}

void CudaModelRunner::forward_sampled(const StepBatch& batch, std::span<const DeviceSampling> samplers,
                                      std::span<DeviceSample> out) {
    std::size_t wanting = 0;
    for (const auto& s : batch.sequences) wanting += s.wants_logits;
    if (samplers.size() != wanting || out.size() != wanting)
        fail("device sampling: ", samplers.size(), " samplers and ", out.size(), " outputs for ", wanting,
             " sequences that want a token");
    if (batch.sequences.empty()) return;
    const int rows = run(batch);
    const cudaStream_t stream = backend_.stream();
    if (rows > 0) {
        auto* settings = settings_host_.as<cuda::SamplingSettings>();
        for (int i = 0; i < rows; ++i) {
            const DeviceSampling& d = samplers[static_cast<std::size_t>(i)];
            settings[i] = cuda::SamplingSettings{d.temperature, d.top_k, d.top_p, d.min_p, d.seed, d.step};
        }
        const std::size_t n = static_cast<std::size_t>(rows);
        cuda::check(cudaMemcpyAsync(settings_.get(), settings, n * sizeof(cuda::SamplingSettings),
                                    cudaMemcpyHostToDevice, stream),
                    "uploading sampling settings");
        const std::size_t max_seqs = static_cast<std::size_t>(backend_.options().max_num_seqs);
        int* tokens = drawn_.as<int>();
        auto* logprobs = reinterpret_cast<float*>(tokens + max_seqs);
        cuda::sample_tokens(logits_.as<float>(), rows, config_.vocab_size, settings_.as<cuda::SamplingSettings>(),
                            tokens, logprobs, stream);
        cuda::check(cudaMemcpyAsync(drawn_host_.get(), drawn_.get(), drawn_.bytes(), cudaMemcpyDeviceToHost, stream),
                    "copying sampled tokens to the host");
    }
    finish_step(batch);
    const int* tokens = drawn_host_.as<int>();
    const auto* logprobs = reinterpret_cast<const float*>(tokens + backend_.options().max_num_seqs);
    for (int i = 0; i < rows; ++i) {
        if (tokens[i] < 0) fail("device sampling: the logits of wanting sequence ", i, " are all -inf or NaN");
        out[static_cast<std::size_t>(i)] = DeviceSample{tokens[i], logprobs[i]};
    }
}

}  // namespace lw
