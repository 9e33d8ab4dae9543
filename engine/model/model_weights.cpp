#include "model/model_weights.h"

#include "core/error.h"

namespace lw {

void ModelWeights::add(TensorView t) {
    if (tensors_.count(t.name) != 0) fail("tensor '", t.name, "' added twice");
    std::string name = t.name;
    tensors_.emplace(std::move(name), std::move(t));
}

void ModelWeights::keep_alive(std::shared_ptr<const void> storage) {
    storage_.push_back(std::move(storage));
}

bool ModelWeights::contains(const std::string& name) const {
    return tensors_.count(name) != 0;
}

const TensorView& ModelWeights::get(const std::string& name) const {
    const auto it = tensors_.find(name);
    if (it == tensors_.end()) fail("model has no tensor '", name, "'");
    return it->second;
}

std::size_t ModelWeights::total_bytes() const {
    std::size_t n = 0;
    for (const auto& [name, t] : tensors_) n += t.data.size();
    return n;
}

std::map<std::string, std::vector<std::int64_t>> expected_tensor_shapes(const ModelConfig& c) {
    using Shape = std::vector<std::int64_t>;
    const std::int64_t hidden = c.hidden_size;
    std::map<std::string, Shape> out;
    out["model.embed_tokens.weight"] = {c.vocab_size, hidden};
    out["model.norm.weight"] = {hidden};
    if (!c.tie_word_embeddings) out["lm_head.weight"] = {c.vocab_size, hidden};
    for (int i = 0; i < c.num_layers; ++i) {
        const std::string layer = cat("model.layers.", i, ".");
        out[layer + "input_layernorm.weight"] = {hidden};
        out[layer + "post_attention_layernorm.weight"] = {hidden};
        for (const std::string& module : linear_module_names()) {
            const LinearShape s = linear_module_shape(c, module);
            const bool attention = module == "q_proj" || module == "k_proj" || module == "v_proj" || module == "o_proj";
            out[layer + (attention ? "self_attn." : "mlp.") + module + ".weight"] = {s.out_features, s.in_features};
            if (c.attention_bias && attention && module != "o_proj")
                out[layer + "self_attn." + module + ".bias"] = {s.out_features};
        }
    }
    return out;
}

void validate_weights(const ModelWeights& w, const ModelConfig& c, const std::string& source) {
    for (const auto& [name, shape] : expected_tensor_shapes(c)) {
        if (!w.contains(name))
            fail(source, ": tensor '", name, "' is missing (expected shape ", shape_string(shape), ")");
        const TensorView& t = w.get(name);
        if (t.shape != shape)
            fail(source, ": tensor '", name, "' has shape ", shape_string(t.shape), ", expected ", shape_string(shape));
        if (!dtype_info(t.dtype).is_float)
            fail(source, ": tensor '", name, "' has dtype ", dtype_name(t.dtype), ", expected a float type");
    }
}

}  // namespace lw
