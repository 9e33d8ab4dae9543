#include "backend/cpu/cpu_model_runner.h"

#include "backend/cpu/paged_attention.h"
#include "backend/cpu/rms_norm.h"
#include "core/dequantize.h"
#include "core/error.h"

#include <cblas.h>

#include <cmath>
#include <set>

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

void CpuModelRunner::check_adapter(const PooledAdapter& adapter, std::size_t sequence) const {
    const std::string who = cat("sequence ", sequence, ": adapter ", adapter.id);
    if (adapter.dtype != DType::F32)
        fail(who, " holds its rows in ", dtype_name(adapter.dtype), ", the cpu backend reads F32");
    if (adapter.lookup.size() != static_cast<std::size_t>(config_.num_layers))
        fail(who, " was built for another model (of ", adapter.lookup.size(), " layers, this one has ",
             config_.num_layers, ")");
    for (const auto& m : adapter.modules) {
        if (m.module < 0 || m.module >= 7 || m.layer < 0 || m.layer >= config_.num_layers)
            fail(who, " has a module at layer ", m.layer, " index ", m.module, " outside this model");
        const std::string& name = linear_module_names()[static_cast<std::size_t>(m.module)];
        const LinearShape shape = linear_module_shape(config_, name);
        if (m.in_features != shape.in_features || m.out_features != shape.out_features)
            fail(who, " layer ", m.layer, " ", name, " maps ", m.in_features, " -> ", m.out_features,
                 " features, this model's maps ", shape.in_features, " -> ", shape.out_features,
                 " (built for another model)");
        if (m.rank < 0 || m.first_row + 2 * static_cast<std::size_t>(m.rank) > adapter.rows.size())
            fail(who, " layer ", m.layer, " ", name, " has rows beyond its row table");
        for (int r = 0; r < 2 * m.rank; ++r) {
            const RowRef ref = adapter.rows[m.first_row + static_cast<std::size_t>(r)];
            const std::size_t bytes =
                sizeof(float) * static_cast<std::size_t>(r < m.rank ? m.in_features : m.out_features);
            if (ref.page >= backend_.page_count() || ref.offset + bytes > backend_.page_bytes())
                fail(who, " layer ", m.layer, " ", name, " has a row outside the pool (page ", ref.page, ")");
            if (ref.offset % alignof(float) != 0)
                fail(who, " layer ", m.layer, " ", name, " has a row at unaligned offset ", ref.offset);
        }
    }
}

void CpuModelRunner::check_batch(const StepBatch& batch, std::size_t logit_floats) const {
    std::size_t wanting = 0;
    std::set<const KvBlockTable*> tables;
    std::set<const PooledAdapter*> adapters;
    for (std::size_t i = 0; i < batch.sequences.size(); ++i) {
        const StepSequence& s = batch.sequences[i];
        if (s.tokens.empty()) fail("sequence ", i, ": no tokens to run");
        if (!s.kv) fail("sequence ", i, ": no KV block table");
        if (!tables.insert(s.kv).second) fail("sequence ", i, ": shares its KV block table with another sequence");
        if (s.position < 0 || s.kv->tokens != s.position)
            fail("sequence ", i, ": starts at position ", s.position, " but its KV cache holds ", s.kv->tokens);
        for (std::size_t j = 0; j < s.tokens.size(); ++j)
            if (s.tokens[j] < 0 || s.tokens[j] >= config_.vocab_size)
                fail("sequence ", i, ": token ", s.tokens[j], " at index ", j, " is outside the vocabulary of ",
                     config_.vocab_size);
        const std::size_t end = static_cast<std::size_t>(s.position) + s.tokens.size();
        if (s.kv->pages.size() < kv_layout_.pages_for(end))
            fail("sequence ", i, ": KV block table has ", s.kv->pages.size(), " pages, ", end, " positions need ",
                 kv_layout_.pages_for(end));
        for (PageId p : s.kv->pages)
            if (p >= backend_.page_count())
                fail("sequence ", i, ": KV page ", p, " is outside the pool of ", backend_.page_count());
        if (s.adapter && adapters.insert(s.adapter).second) check_adapter(*s.adapter, i);
        wanting += s.wants_logits;
    }
    if (logit_floats != wanting * static_cast<std::size_t>(config_.vocab_size))
        fail("logits buffer has ", logit_floats, " floats, ", wanting, " sequences want ", config_.vocab_size, " each");
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
    check_batch(batch, logits.size());
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
