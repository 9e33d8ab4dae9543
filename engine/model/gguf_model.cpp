#include "model/gguf_model.h"

#include "core/dequantize.h"
#include "core/error.h"
#include "formats/gguf.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>

namespace lw {
namespace {

struct Architecture {
    std::string_view gguf_name;  // general.architecture
    std::string_view hf_name;
    bool permuted_qk;  // convert_hf_to_gguf.py reorders Q/K rows (LlamaModel.permute)
};

constexpr Architecture kArchitectures[] = {
    {"llama", "LlamaForCausalLM", true},
    {"qwen2", "Qwen2ForCausalLM", false},
};

const Architecture& find_architecture(const GgufFile& f) {
    const std::string_view name = f.get("general.architecture").as_string();
    for (const auto& a : kArchitectures)
        if (a.gguf_name == name) return a;
    fail(f.source(), ": general.architecture '", name, "' is not supported (expected llama or qwen2)");
}

int to_int(const GgufValue& v) {
    const std::int64_t n = v.as_int();
    if (n < std::numeric_limits<int>::min() || n > std::numeric_limits<int>::max())
        fail(v.where(), ": value ", n, " is out of range");
    return static_cast<int>(n);
}

// Reads the "{arch}.*" hyperparameters.
class ArchKeys {
public:
    ArchKeys(const GgufFile& f, std::string_view arch) : f_(f), prefix_(cat(arch, ".")) {}

    const GgufValue* find(std::string_view key) const { return f_.find(prefix_ + std::string(key)); }
    const GgufValue& get(std::string_view key) const { return f_.get(prefix_ + std::string(key)); }
    int get_int(std::string_view key) const { return to_int(get(key)); }
    int int_or(std::string_view key, int fallback) const {
        const GgufValue* v = find(key);
        return v ? to_int(*v) : fallback;
    }
    float float_or(std::string_view key, float fallback) const {
        const GgufValue* v = find(key);
        return v ? static_cast<float>(v->as_double()) : fallback;
    }

private:
    const GgufFile& f_;
    std::string prefix_;
};

RopeScaling read_rope_scaling(const GgufFile& f, const ArchKeys& keys) {
    RopeScaling s;
    std::string_view type = "none";
    if (const GgufValue* v = keys.find("rope.scaling.type")) type = v->as_string();
    if (type == "linear") {
        s.type = RopeScaling::Type::Linear;
        s.factor = static_cast<float>(keys.get("rope.scaling.factor").as_double());
    } else if (type != "none") {
        fail(f.source(), ": rope scaling type '", type, "' is not supported (expected none or linear)");
    } else if (const float linear = keys.float_or("rope.scale_linear", 1.0f); linear != 1.0f) {
        s.type = RopeScaling::Type::Linear;  // the key older converters wrote
        s.factor = linear;
    }
    s.original_max_position_embeddings =
        keys.int_or("rope.scaling.original_context_length", s.original_max_position_embeddings);
    return s;
}

std::optional<std::int32_t> token_id(const GgufFile& f, std::string_view key, std::size_t n_tokens) {
    const GgufValue* v = f.find(key);
    if (v == nullptr) return std::nullopt;
    const std::int64_t id = v->as_int();
    if (id < 0 || static_cast<std::uint64_t>(id) >= n_tokens)
        fail(v->where(), ": token id ", id, " is outside the vocabulary of ", n_tokens, " tokens");
    return static_cast<std::int32_t>(id);
}

std::optional<bool> flag(const GgufFile& f, std::string_view key) {
    const GgufValue* v = f.find(key);
    return v ? std::optional<bool>(v->as_bool()) : std::nullopt;
}

GgufVocab read_vocab(const GgufFile& f) {
    GgufVocab vocab;
    const GgufValue* tokens = f.find("tokenizer.ggml.tokens");
    if (tokens == nullptr) return vocab;
    vocab.model = std::string(f.get("tokenizer.ggml.model").as_string());
    if (const GgufValue* v = f.find("tokenizer.ggml.pre")) vocab.pre = std::string(v->as_string());
    vocab.tokens = tokens->as_strings();
    const std::size_t n = vocab.tokens.size();
    if (const GgufValue* v = f.find("tokenizer.ggml.scores")) {
        vocab.scores = v->as_floats();
        if (vocab.scores.size() != n) fail(v->where(), ": has ", vocab.scores.size(), " entries, expected ", n);
    }
    if (const GgufValue* v = f.find("tokenizer.ggml.token_type")) {
        for (const std::int64_t t : v->as_ints()) vocab.token_types.push_back(static_cast<std::int32_t>(t));
        if (vocab.token_types.size() != n)
            fail(v->where(), ": has ", vocab.token_types.size(), " entries, expected ", n);
    }
    if (const GgufValue* v = f.find("tokenizer.ggml.merges")) vocab.merges = v->as_strings();
    vocab.bos_id = token_id(f, "tokenizer.ggml.bos_token_id", n);
    vocab.eos_id = token_id(f, "tokenizer.ggml.eos_token_id", n);
    vocab.unk_id = token_id(f, "tokenizer.ggml.unknown_token_id", n);
    vocab.pad_id = token_id(f, "tokenizer.ggml.padding_token_id", n);
    vocab.eot_id = token_id(f, "tokenizer.ggml.eot_token_id", n);
    vocab.add_bos = flag(f, "tokenizer.ggml.add_bos_token");
    vocab.add_eos = flag(f, "tokenizer.ggml.add_eos_token");
    vocab.add_space_prefix = flag(f, "tokenizer.ggml.add_space_prefix");
    return vocab;
}

ModelConfig read_config(const GgufFile& f, const Architecture& arch, const GgufVocab& vocab) {
    const ArchKeys keys(f, arch.gguf_name);
    ModelConfig c;
    c.architecture = std::string(arch.hf_name);
    c.max_position_embeddings = keys.get_int("context_length");
    c.hidden_size = keys.get_int("embedding_length");
    c.num_layers = keys.get_int("block_count");
    c.intermediate_size = keys.get_int("feed_forward_length");
    c.num_heads = keys.get_int("attention.head_count");
    c.num_kv_heads = keys.int_or("attention.head_count_kv", c.num_heads);
    if (c.num_heads <= 0) fail(keys.get("attention.head_count").where(), ": must be positive, found ", c.num_heads);
    c.head_dim = keys.int_or("attention.key_length", c.hidden_size / c.num_heads);
    c.rms_norm_eps = static_cast<float>(keys.get("attention.layer_norm_rms_epsilon").as_double());
    c.rope_theta = keys.float_or("rope.freq_base", 10000.0f);
    if (const GgufValue* v = keys.find("rope.dimension_count"); v && to_int(*v) != c.head_dim)
        fail(v->where(), ": rotary dimension ", to_int(*v), " differs from the head dimension ", c.head_dim,
             " (partial rotary embeddings are not supported)");
    c.rope_scaling = read_rope_scaling(f, keys);

    if (const GgufValue* v = keys.find("vocab_size")) {
        c.vocab_size = to_int(*v);
    } else if (!vocab.tokens.empty()) {
        c.vocab_size = static_cast<int>(vocab.tokens.size());
    } else if (const GgufTensorInfo* embd = f.find_tensor("token_embd.weight"); embd && embd->ne.size() == 2) {
        c.vocab_size = static_cast<int>(std::min<std::int64_t>(embd->ne[1], std::numeric_limits<int>::max()));
    }
    c.tie_word_embeddings = f.find_tensor("output.weight") == nullptr;
    c.attention_bias = f.find_tensor("blk.0.attn_q.bias") != nullptr;
    c.bos_token_id = vocab.bos_id;
    if (vocab.eos_id) c.eos_token_ids.push_back(*vocab.eos_id);
    if (vocab.eot_id && vocab.eot_id != vocab.eos_id) c.eos_token_ids.push_back(*vocab.eot_id);

    if (const GgufTensorInfo* freqs = f.find_tensor("rope_freqs.weight")) {
        const TensorView t = f.tensor(*freqs);
        c.rope_freq_factors.resize(static_cast<std::size_t>(t.numel()));
        dequantize(t, c.rope_freq_factors);
        if (c.head_dim <= 0 || c.rope_freq_factors.size() != static_cast<std::size_t>(c.head_dim / 2))
            fail(f.source(), ": tensor 'rope_freqs.weight' has ", c.rope_freq_factors.size(),
                 " entries, expected head_dim / 2 = ", c.head_dim / 2);
    }
    return c;
}

// HF name for a GGUF tensor name; empty for tensors inference does not use.
std::string hf_name(const std::string& gguf, int num_layers, const std::string& source) {
    if (gguf == "token_embd.weight") return "model.embed_tokens.weight";
    if (gguf == "output_norm.weight") return "model.norm.weight";
    if (gguf == "output.weight") return "lm_head.weight";
    if (gguf.rfind("blk.", 0) != 0) return {};
    const char* begin = gguf.data() + 4;
    const char* end = gguf.data() + gguf.size();
    int layer = -1;
    const auto [p, ec] = std::from_chars(begin, end, layer);
    if (ec != std::errc() || p == end || *p != '.') return {};
    if (layer < 0 || layer >= num_layers)
        fail(source, ": tensor '", gguf, "' belongs to layer ", layer, " but the model has ", num_layers, " layers");
    static const std::pair<std::string_view, std::string_view> kModules[] = {
        {"attn_norm.weight", "input_layernorm.weight"},
        {"attn_q.weight", "self_attn.q_proj.weight"},
        {"attn_q.bias", "self_attn.q_proj.bias"},
        {"attn_k.weight", "self_attn.k_proj.weight"},
        {"attn_k.bias", "self_attn.k_proj.bias"},
        {"attn_v.weight", "self_attn.v_proj.weight"},
        {"attn_v.bias", "self_attn.v_proj.bias"},
        {"attn_output.weight", "self_attn.o_proj.weight"},
        {"ffn_norm.weight", "post_attention_layernorm.weight"},
        {"ffn_gate.weight", "mlp.gate_proj.weight"},
        {"ffn_up.weight", "mlp.up_proj.weight"},
        {"ffn_down.weight", "mlp.down_proj.weight"},
    };
    const std::string_view module(p + 1, static_cast<std::size_t>(end - p - 1));
    for (const auto& [from, to] : kModules)
        if (module == from) return cat("model.layers.", layer, ".", to);
    return {};
}

// Undoes LlamaModel.permute: within each head, GGUF interleaves the two rotary halves
// (row 2i + h holds HF row h * head_dim/2 + i). Rows move as whole byte ranges, so any
// row-blocked type works; the result is an owned copy kept alive by `weights`.
TensorView unpermute_rows(const TensorView& t, int n_head, ModelWeights& weights, const std::string& source) {
    if (t.shape.empty() || t.shape.size() > 2)
        fail(source, ": tensor '", t.name, "' has shape ", shape_string(t.shape), ", expected 1 or 2 dimensions");
    const std::int64_t rows = t.shape[0];
    if (n_head <= 0 || rows <= 0 || rows % (2 * std::int64_t{n_head}) != 0)
        fail(source, ": tensor '", t.name, "' has ", rows, " rows, not a multiple of 2 x ", n_head, " heads");
    if (t.shape.size() == 1 && dtype_info(t.dtype).block_elems != 1)
        fail(source, ": tensor '", t.name, "' is a quantized vector (", dtype_name(t.dtype),
             "), whose elements cannot be reordered");
    const std::size_t row_bytes = t.data.size() / static_cast<std::size_t>(rows);
    const std::int64_t head_rows = rows / n_head;
    const std::int64_t half = head_rows / 2;
    auto buffer = std::make_shared<std::vector<std::byte>>(t.data.size());
    for (std::int64_t h = 0; h < n_head; ++h) {
        for (std::int64_t part = 0; part < 2; ++part) {
            for (std::int64_t i = 0; i < half; ++i) {
                const std::int64_t hf_row = h * head_rows + part * half + i;
                const std::int64_t gguf_row = h * head_rows + 2 * i + part;
                std::memcpy(buffer->data() + hf_row * row_bytes, t.data.data() + gguf_row * row_bytes, row_bytes);
            }
        }
    }
    TensorView out = t;
    out.data = std::span<const std::byte>(*buffer);
    weights.keep_alive(std::move(buffer));
    return out;
}

ModelWeights read_weights(const GgufFile& f, const Architecture& arch, const ModelConfig& c) {
    ModelWeights w;
    w.keep_alive(f.storage());
    for (const auto& info : f.tensors()) {
        const std::string name = hf_name(info.name, c.num_layers, f.source());
        if (name.empty()) continue;
        TensorView t = f.tensor(info);
        t.name = name;
        const bool is_q = name.find(".q_proj.") != std::string::npos;
        const bool is_k = name.find(".k_proj.") != std::string::npos;
        if (arch.permuted_qk && (is_q || is_k))
            t = unpermute_rows(t, is_q ? c.num_heads : c.num_kv_heads, w, f.source());
        w.add(std::move(t));
    }
    return w;
}

}  // namespace

GgufModel load_gguf_model(const std::filesystem::path& path) {
    const GgufFile f = GgufFile::open(path);
    const Architecture& arch = find_architecture(f);
    GgufModel m;
    // The file stem, as users named the file ("SmolLM2-135M-Instruct.Q4_1"): general.name
    // is often a training-run label ("Smollm2 135M 8k Lc100K Mix1 Ep2") or missing.
    m.name = path.stem().string();
    m.vocab = read_vocab(f);
    m.config = read_config(f, arch, m.vocab);
    validate_model_config(m.config, f.source());
    if (std::int64_t{m.config.num_heads} * m.config.head_dim > std::numeric_limits<int>::max())
        fail(f.source(), ": ", m.config.num_heads, " heads of ", m.config.head_dim, " dimensions are too many");
    m.weights = read_weights(f, arch, m.config);
    validate_weights(m.weights, m.config, f.source());
    if (const GgufValue* v = f.find("tokenizer.chat_template")) m.chat_template = std::string(v->as_string());
    return m;
}

}  // namespace lw
