#include "model/model_config.h"

#include "core/error.h"

#include <algorithm>
#include <limits>

namespace lw {

void validate_layer_count(int num_layers, const std::string& source) {
    if (num_layers <= 0) fail(source, ": num_hidden_layers must be positive, got ", num_layers);
    if (num_layers > kMaxLayers)
        fail(source, ": num_hidden_layers ", num_layers, " is more than the ", kMaxLayers, " any real model has");
}

void validate_model_config(const ModelConfig& c, const std::string& source) {
    auto positive = [&](int v, const char* field) {
        if (v <= 0) fail(source, ": ", field, " must be positive, got ", v);
    };
    positive(c.vocab_size, "vocab_size");
    positive(c.hidden_size, "hidden_size");
    positive(c.intermediate_size, "intermediate_size");
    validate_layer_count(c.num_layers, source);
    positive(c.num_heads, "num_attention_heads");
    positive(c.num_kv_heads, "num_key_value_heads");
    positive(c.head_dim, "head_dim");
    // q_dim() and kv_dim() are ints: a hostile description must not overflow them.
    if (static_cast<long long>(std::max(c.num_heads, c.num_kv_heads)) * c.head_dim > std::numeric_limits<int>::max())
        fail(source, ": num_attention_heads (", c.num_heads, ") x head_dim (", c.head_dim, ") is too large");
    if (c.num_heads % c.num_kv_heads != 0)
        fail(source, ": num_attention_heads (", c.num_heads, ") is not a multiple of num_key_value_heads (",
             c.num_kv_heads, ")");
    if (c.head_dim % 2 != 0) fail(source, ": head_dim must be even for RoPE, got ", c.head_dim);
    if (c.rope_theta <= 0) fail(source, ": rope_theta must be positive, got ", c.rope_theta);
    if (c.rms_norm_eps <= 0) fail(source, ": rms_norm_eps must be positive, got ", c.rms_norm_eps);
    if (c.rope_scaling.type != RopeScaling::Type::None && c.rope_scaling.factor <= 0)
        fail(source, ": rope_scaling.factor must be positive, got ", c.rope_scaling.factor);
    if (c.sliding_window && *c.sliding_window <= 0)
        fail(source, ": sliding_window must be positive, got ", *c.sliding_window);
}

LinearShape linear_module_shape(const ModelConfig& c, const std::string& module) {
    if (module == "q_proj") return {c.q_dim(), c.hidden_size};
    if (module == "k_proj" || module == "v_proj") return {c.kv_dim(), c.hidden_size};
    if (module == "o_proj") return {c.hidden_size, c.q_dim()};
    if (module == "gate_proj" || module == "up_proj") return {c.intermediate_size, c.hidden_size};
    if (module == "down_proj") return {c.hidden_size, c.intermediate_size};
    fail("unknown linear module '", module,
         "' (expected one of q_proj, k_proj, v_proj, o_proj, gate_proj, "
         "up_proj, down_proj)");
}

}  // namespace lw
