#include "backend/cpu/cpu_model_runner.h"

#include "backend/cpu/paged_attention.h"
#include "backend/cpu/rms_norm.h"
#include "backend/step_batch_check.h"
#include "core/dequantize.h"
#include "core/error.h"

#include <cblas.h>

#include <cmath>

namespace lw {
namespace {

std::vector<float> to_f32(const ModelWeights& weights, const std::string& name) {
    const TensorView& t = weights.get(name);
    std::vector<float> out(static_cast<std::size_t>(t.numel()));
    dequantize(t, out);
    return out;
}

// Indexes into linear_module_names(), as PooledAdapter::find takes them.
enum Module : int { kQProj, kKProj, kVProj, kOProj, kGateProj, kUpProj, kDownProj };

std::size_t size(int rows, int cols) {
    return static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols);
}

// x += delta over n values.
void add_into(float* x, const float* delta, std::size_t n) {
    cblas_saxpy(static_cast<int>(n), 1.0f, delta, 1, x, 1);
}

// gate = silu(gate) * up: the SwiGLU activation of the MLP.
void swiglu(float* gate, const float* up, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

// Validates before the members built from the config (layout, rope) see it.
const ModelConfig& validated(const ModelConfig& config) {
    validate_model_config(config, "cpu backend");
    return config;
}

}  // namespace

CpuModelRunner::CpuModelRunner(const ModelConfig& config, const ModelWeights& weights, CpuBackend& backend)
    : config_(validated(config)),
      backend_(backend),
      kv_layout_(make_kv_layout(config, backend.page_bytes(), DType::F32)),
      rope_(config) {
    validate_weights(weights, config, "cpu backend");
    embedding_ = WeightMatrix(weights.get("model.embed_tokens.weight"));
    final_norm_ = to_f32(weights, "model.norm.weight");
    lm_head_ = WeightMatrix(weights.get(config.tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight"));
    const auto& modules = linear_module_names();
    for (int i = 0; i < config.num_layers; ++i) {
        const std::string prefix = cat("model.layers.", i, ".");
        Layer layer;
        layer.attn_norm = to_f32(weights, prefix + "input_layernorm.weight");
        layer.mlp_norm = to_f32(weights, prefix + "post_attention_layernorm.weight");
        for (std::size_t m = 0; m < modules.size(); ++m) {
            const std::string name = prefix + (m < 4 ? "self_attn." : "mlp.") + modules[m];
            Linear& linear = layer.proj[m];
            linear.weight = WeightMatrix(weights.get(name + ".weight"));
            if (config.attention_bias && m < 3) linear.bias = to_f32(weights, name + ".bias");
        }
        layers_.push_back(std::move(layer));
    }
}

void CpuModelRunner::project(int layer, int module, const float* x, int rows, float* y,
                             std::span<const LoraSegment> segments) {
    const Linear& linear = layers_[static_cast<std::size_t>(layer)].proj[static_cast<std::size_t>(module)];
    const WeightMatrix& w = linear.weight;
    w.multiply(x, rows, y, backend_.threads(), act_.weight_rows);
    if (!linear.bias.empty())
        for (int t = 0; t < rows; ++t) add_into(y + size(t, w.out()), linear.bias.data(), linear.bias.size());
    apply_lora(segments, layer, module, x, w.in(), y, w.out(), backend_, backend_.threads());
}

void CpuModelRunner::forward(const StepBatch& batch, std::span<float> logits) {
    const std::size_t wanting =
        check_step_batch(batch, config_, kv_layout_,
                         StepBatchLimits{backend_.page_count(), backend_.page_bytes(), DType::F32}, checked_adapters_);
    if (logits.size() != wanting * static_cast<std::size_t>(config_.vocab_size))
        fail("logits buffer has ", logits.size(), " floats, ", wanting, " sequences want ", config_.vocab_size,
             " each");
    if (batch.sequences.empty()) return;
    const ModelConfig& c = config_;
    const int hidden = c.hidden_size, q_dim = c.q_dim(), kv_dim = c.kv_dim(), ffn = c.intermediate_size;

    // Every token of the batch in order, as attention sees it: its sequence's cache and position.
    std::vector<PagedKv> caches;
    for (const auto& s : batch.sequences) caches.emplace_back(kv_layout_, *s.kv, backend_);
    std::vector<AttentionToken> tokens;
    for (std::size_t i = 0; i < batch.sequences.size(); ++i)
        for (std::size_t j = 0; j < batch.sequences[i].tokens.size(); ++j)
            tokens.push_back({&caches[i], batch.sequences[i].position + static_cast<int>(j)});
    const int n = static_cast<int>(tokens.size());
    const std::vector<LoraSegment> segments = lora_segments(batch);

    Activations& a = act_;
    for (auto* buffer : {&a.x, &a.xn, &a.delta}) buffer->resize(size(n, hidden));
    for (auto* buffer : {&a.q, &a.attn}) buffer->resize(size(n, q_dim));
    for (auto* buffer : {&a.k, &a.v}) buffer->resize(size(n, kv_dim));
    for (auto* buffer : {&a.gate, &a.up}) buffer->resize(size(n, ffn));

    int t = 0;
    for (const auto& s : batch.sequences)
        for (TokenId id : s.tokens) embedding_.row(id, &a.x[size(t++, hidden)]);

    const AttentionShape shape{c.num_heads, c.num_kv_heads, c.head_dim, c.sliding_window};
    for (int l = 0; l < c.num_layers; ++l) {
        const Layer& layer = layers_[static_cast<std::size_t>(l)];

        // Attention block: x += o_proj(attention(rope(q), rope(k), v)).
        for (int i = 0; i < n; ++i)
            rms_norm(&a.x[size(i, hidden)], layer.attn_norm.data(), hidden, c.rms_norm_eps, &a.xn[size(i, hidden)]);
        project(l, kQProj, a.xn.data(), n, a.q.data(), segments);
        project(l, kKProj, a.xn.data(), n, a.k.data(), segments);
        project(l, kVProj, a.xn.data(), n, a.v.data(), segments);
        for (int i = 0; i < n; ++i) {
            const int position = tokens[static_cast<std::size_t>(i)].position;
            rope_.apply(&a.q[size(i, q_dim)], c.num_heads, position);
            rope_.apply(&a.k[size(i, kv_dim)], c.num_kv_heads, position);
        }
        write_kv(tokens, l, a.k.data(), a.v.data(), kv_dim);
        paged_attention(shape, tokens, l, a.q.data(), a.attn.data(), backend_.threads());
        project(l, kOProj, a.attn.data(), n, a.delta.data(), segments);
        add_into(a.x.data(), a.delta.data(), a.x.size());

        // MLP block: x += down_proj(silu(gate_proj(x)) * up_proj(x)).
        for (int i = 0; i < n; ++i)
            rms_norm(&a.x[size(i, hidden)], layer.mlp_norm.data(), hidden, c.rms_norm_eps, &a.xn[size(i, hidden)]);
        project(l, kGateProj, a.xn.data(), n, a.gate.data(), segments);
        project(l, kUpProj, a.xn.data(), n, a.up.data(), segments);
        swiglu(a.gate.data(), a.up.data(), a.gate.size());
        project(l, kDownProj, a.gate.data(), n, a.delta.data(), segments);
        add_into(a.x.data(), a.delta.data(), a.x.size());
    }

    // Logits for the last token of each sequence that wants them, in batch order.
    std::vector<float> last;
    t = 0;
    for (const auto& s : batch.sequences) {
        t += static_cast<int>(s.tokens.size());
        if (!s.wants_logits) continue;
        last.resize(last.size() + size(1, hidden));
        rms_norm(&a.x[size(t - 1, hidden)], final_norm_.data(), hidden, c.rms_norm_eps,
                 &last[last.size() - size(1, hidden)]);
    }
    const int rows = static_cast<int>(last.size() / size(1, hidden));
    if (rows > 0) lm_head_.multiply(last.data(), rows, logits.data(), backend_.threads(), a.weight_rows);

    for (const auto& s : batch.sequences) s.kv->tokens += static_cast<int>(s.tokens.size());
}

}  // namespace lw
