// The model description every loader produces and every backend consumes: one shape
// for the Llama family (Llama, Mistral, Qwen2, SmolLM), whether it came from a
// Hugging Face config.json or from GGUF metadata.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lw {

struct RopeScaling {
    enum class Type { None, Linear, Llama3 };
    Type type = Type::None;
    float factor = 1.0f;
    // llama3 only
    float low_freq_factor = 1.0f;
    float high_freq_factor = 4.0f;
    int original_max_position_embeddings = 8192;
};

struct ModelConfig {
    std::string architecture;  // "LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"
    int vocab_size = 0;
    int hidden_size = 0;
    int intermediate_size = 0;
    int num_layers = 0;
    int num_heads = 0;
    int num_kv_heads = 0;
    int head_dim = 0;
    int max_position_embeddings = 0;
    float rms_norm_eps = 1e-6f;
    float rope_theta = 10000.0f;
    RopeScaling rope_scaling;
    // Per-frequency divisors that GGUF files store as `rope_freqs.weight` (llama3
    // scaling precomputed by llama.cpp); empty otherwise. head_dim / 2 entries.
    std::vector<float> rope_freq_factors;
    bool tie_word_embeddings = false;
    bool attention_bias = false;  // q/k/v projections carry a bias (Qwen2)
    // Attention looks back at most this many positions (Mistral); nullopt: unlimited.
    std::optional<int> sliding_window;
    std::optional<std::int32_t> bos_token_id;
    std::vector<std::int32_t> eos_token_ids;
    std::string torch_dtype;  // as declared ("bfloat16", ...); empty if unknown

    int q_dim() const { return num_heads * head_dim; }
    int kv_dim() const { return num_kv_heads * head_dim; }
};

// More layers than any real model has (the largest have ~130): a hostile file must not
// make loaders look for an unbounded number of tensors.
inline constexpr int kMaxLayers = 1024;
// Throws lw::Error naming `source` unless 0 < num_layers <= kMaxLayers.
void validate_layer_count(int num_layers, const std::string& source);

// Throws lw::Error, naming `source` and the field, when the description is not
// self-consistent (heads not dividing, zero sizes, sizes that overflow, ...).
void validate_model_config(const ModelConfig& c, const std::string& source);

// The LoRA-targetable linear modules of a decoder layer, in HF naming.
inline const std::vector<std::string>& linear_module_names() {
    static const std::vector<std::string> names{"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                                "gate_proj", "up_proj", "down_proj"};
    return names;
}

struct LinearShape {
    int out_features = 0;
    int in_features = 0;
};

// Shape of a decoder layer's linear module ("q_proj", ...); throws for unknown names.
LinearShape linear_module_shape(const ModelConfig& c, const std::string& module);

}  // namespace lw
