#include "formats/hf_config.h"

#include "core/error.h"

#include <algorithm>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <vector>

namespace lw {
namespace {

using json = nlohmann::json;

// Typed access to one JSON object's keys; messages name the source and key. A key
// set to null counts as absent, as transformers treats it.
class Fields {
public:
    Fields(const json& object, std::string where) : object_(object), where_(std::move(where)) {
        if (!object_.is_object()) fail(where_, ": expected a JSON object, found ", object_.type_name());
    }

    bool object_has(const char* key) const { return object_.contains(key); }
    const json* find(const char* key) const {
        const auto it = object_.find(key);
        return it == object_.end() || it->is_null() ? nullptr : &*it;
    }

    std::optional<int> get_int(const char* key) const {
        const json* v = find(key);
        if (!v) return std::nullopt;
        return to_int(*v, key);
    }
    int require_int(const char* key) const {
        if (auto v = get_int(key)) return *v;
        fail(where_, ": missing integer '", key, "'");
    }
    std::optional<double> get_number(const char* key) const {
        const json* v = find(key);
        if (!v) return std::nullopt;
        if (!v->is_number()) fail(where_, ": '", key, "' must be a number, found ", v->dump());
        return v->get<double>();
    }
    double require_number(const char* key) const {
        if (auto v = get_number(key)) return *v;
        fail(where_, ": missing number '", key, "'");
    }
    std::optional<bool> get_bool(const char* key) const {
        const json* v = find(key);
        if (!v) return std::nullopt;
        if (!v->is_boolean()) fail(where_, ": '", key, "' must be true or false, found ", v->dump());
        return v->get<bool>();
    }
    std::optional<std::string> get_string(const char* key) const {
        const json* v = find(key);
        if (!v) return std::nullopt;
        if (!v->is_string()) fail(where_, ": '", key, "' must be a string, found ", v->dump());
        return v->get<std::string>();
    }
    // An integer or a list of integers (eos_token_id).
    std::vector<std::int32_t> get_int_list(const char* key) const {
        const json* v = find(key);
        if (!v) return {};
        if (!v->is_array()) return {to_int(*v, key)};
        std::vector<std::int32_t> out;
        for (const auto& e : *v) out.push_back(to_int(e, key));
        return out;
    }

    const std::string& where() const { return where_; }

private:
    int to_int(const json& v, const char* key) const {
        if (!v.is_number_integer()) fail(where_, ": '", key, "' must be an integer, found ", v.dump());
        const auto n = v.get<std::int64_t>();
        if (v.is_number_unsigned() && v.get<std::uint64_t>() > std::numeric_limits<std::uint32_t>::max())
            fail(where_, ": '", key, "' is out of range: ", v.dump());
        if (n < std::numeric_limits<int>::min() || n > std::numeric_limits<int>::max())
            fail(where_, ": '", key, "' is out of range: ", v.dump());
        return static_cast<int>(n);
    }

    const json& object_;
    std::string where_;
};

enum class Family { Llama, Mistral, Qwen2 };

struct FamilyInfo {
    Family family;
    const char* architecture;
    const char* model_type;
    // transformers' defaults for keys a config.json may leave out.
    int max_position_embeddings;
    std::optional<int> num_kv_heads;  // nullopt: as many as attention heads
    std::optional<int> bos_token_id;
    std::optional<int> eos_token_id;
};

constexpr FamilyInfo kFamilies[] = {
    {Family::Llama, "LlamaForCausalLM", "llama", 2048, std::nullopt, 1, 2},
    {Family::Mistral, "MistralForCausalLM", "mistral", 4096 * 32, 8, 1, 2},
    {Family::Qwen2, "Qwen2ForCausalLM", "qwen2", 32768, 32, std::nullopt, std::nullopt},
};

const FamilyInfo& find_family(const Fields& f) {
    if (const json* archs = f.find("architectures")) {
        if (!archs->is_array()) fail(f.where(), ": 'architectures' must be a list, found ", archs->dump());
        if (!archs->empty()) {
            for (const auto& a : *archs) {
                for (const auto& fam : kFamilies)
                    if (a.is_string() && a.get_ref<const std::string&>() == fam.architecture) return fam;
            }
            fail(f.where(), ": architectures ", archs->dump(),
                 " not supported (expected LlamaForCausalLM, MistralForCausalLM or Qwen2ForCausalLM)");
        }
    }
    const auto model_type = f.get_string("model_type");
    if (!model_type) fail(f.where(), ": neither 'architectures' nor 'model_type' says what model this is");
    for (const auto& fam : kFamilies)
        if (*model_type == fam.model_type) return fam;
    fail(f.where(), ": model_type '", *model_type, "' not supported (expected llama, mistral or qwen2)");
}

// transformers 5 writes rope_parameters {rope_theta, rope_type, ...}; transformers 4
// wrote rope_theta at the top level and rope_scaling {type|rope_type, ...}.
void read_rope(const Fields& f, ModelConfig& c) {
    const char* key = f.find("rope_parameters") ? "rope_parameters" : "rope_scaling";
    c.rope_theta = static_cast<float>(f.get_number("rope_theta").value_or(10000.0));
    const json* rope_json = f.find(key);
    if (!rope_json) return;
    const Fields rope(*rope_json, cat(f.where(), ": ", key));
    if (auto theta = rope.get_number("rope_theta")) c.rope_theta = static_cast<float>(*theta);
    const std::string type = rope.get_string("rope_type").value_or(rope.get_string("type").value_or("default"));
    RopeScaling& s = c.rope_scaling;
    if (type == "default") {
        if (!rope.find("rope_type") && !rope.find("type") && rope.find("factor"))
            fail(rope.where(), ": has a 'factor' but no rope_type");
        return;
    }
    if (type == "linear") {
        s.type = RopeScaling::Type::Linear;
        s.factor = static_cast<float>(rope.require_number("factor"));
    } else if (type == "llama3") {
        s.type = RopeScaling::Type::Llama3;
        s.factor = static_cast<float>(rope.require_number("factor"));
        s.low_freq_factor = static_cast<float>(rope.require_number("low_freq_factor"));
        s.high_freq_factor = static_cast<float>(rope.require_number("high_freq_factor"));
        s.original_max_position_embeddings = rope.require_int("original_max_position_embeddings");
        if (s.original_max_position_embeddings <= 0 || s.high_freq_factor <= s.low_freq_factor)
            fail(rope.where(), ": llama3 needs original_max_position_embeddings > 0 and high_freq_factor (",
                 s.high_freq_factor, ") > low_freq_factor (", s.low_freq_factor, ")");
    } else {
        fail(rope.where(), ": rope type '", type, "' is not supported (expected default, linear or llama3)");
    }
}

// Qwen2 slides its window only in layers marked "sliding_attention" (layer_types, or
// by default layers from max_window_layers on) and only when use_sliding_window is
// set. ModelConfig has one window for every layer, so a mix is refused.
std::optional<int> qwen2_sliding_window(const Fields& f, int num_layers) {
    if (!f.get_bool("use_sliding_window").value_or(false)) return std::nullopt;
    if (f.object_has("sliding_window") && !f.find("sliding_window")) return std::nullopt;
    const int window = f.get_int("sliding_window").value_or(4096);
    std::vector<bool> sliding(static_cast<std::size_t>(num_layers));
    if (const json* types = f.find("layer_types")) {
        if (!types->is_array() || types->size() != sliding.size())
            fail(f.where(), ": 'layer_types' must list ", num_layers, " layers, found ", types->dump());
        for (std::size_t i = 0; i < sliding.size(); ++i) {
            const json& t = (*types)[i];
            if (t != "full_attention" && t != "sliding_attention")
                fail(f.where(), ": layer_types[", i, "] is ", t.dump(),
                     " (expected \"full_attention\" or \"sliding_attention\")");
            sliding[i] = t == "sliding_attention";
        }
    } else {
        const int first_sliding = f.get_int("max_window_layers").value_or(28);
        for (int i = 0; i < num_layers; ++i) sliding[static_cast<std::size_t>(i)] = i >= first_sliding;
    }
    const auto count = std::count(sliding.begin(), sliding.end(), true);
    if (count == 0) return std::nullopt;
    if (count != num_layers)
        fail(f.where(), ": sliding-window attention in only ", count, " of ", num_layers,
             " layers is not supported (use_sliding_window with max_window_layers / layer_types)");
    return window;
}

}  // namespace

ModelConfig parse_hf_config(const json& config, const std::string& source) {
    const Fields f(config, source);
    const FamilyInfo& fam = find_family(f);
    if (const json* q = f.find("quantization_config"))
        fail(source, ": quantized checkpoints (quantization_config ", q->dump(), ") are not supported");
    if (auto act = f.get_string("hidden_act"); act && *act != "silu")
        fail(source, ": hidden_act '", *act, "' is not supported (expected silu)");

    ModelConfig c;
    c.architecture = fam.architecture;
    c.vocab_size = f.require_int("vocab_size");
    c.hidden_size = f.require_int("hidden_size");
    c.intermediate_size = f.require_int("intermediate_size");
    c.num_layers = f.require_int("num_hidden_layers");
    validate_layer_count(c.num_layers, source);  // it sizes what is read next
    c.num_heads = f.require_int("num_attention_heads");
    if (c.num_heads <= 0) fail(source, ": num_attention_heads must be positive, got ", c.num_heads);
    c.num_kv_heads = f.get_int("num_key_value_heads").value_or(fam.num_kv_heads.value_or(c.num_heads));
    c.head_dim = f.get_int("head_dim").value_or(c.hidden_size / c.num_heads);
    c.max_position_embeddings = f.get_int("max_position_embeddings").value_or(fam.max_position_embeddings);
    c.rms_norm_eps = static_cast<float>(f.get_number("rms_norm_eps").value_or(1e-6));
    read_rope(f, c);
    c.tie_word_embeddings = f.get_bool("tie_word_embeddings").value_or(false);

    switch (fam.family) {
        case Family::Llama:
            // Llama's attention_bias also puts a bias on o_proj, and mlp_bias on the MLP:
            // neither exists in ModelConfig, so refuse rather than silently drop them.
            if (f.get_bool("attention_bias").value_or(false))
                fail(source, ": attention_bias=true (biases on q/k/v/o_proj) is not supported for LlamaForCausalLM");
            if (f.get_bool("mlp_bias").value_or(false))
                fail(source, ": mlp_bias=true is not supported for LlamaForCausalLM");
            break;
        case Family::Mistral:
            // transformers' default window is 4096 when the key is absent; null means none.
            c.sliding_window = f.object_has("sliding_window") ? f.get_int("sliding_window") : 4096;
            break;
        case Family::Qwen2:
            c.attention_bias = true;  // Qwen2 always has q/k/v biases
            c.sliding_window = qwen2_sliding_window(f, c.num_layers);
            break;
    }

    c.bos_token_id = f.object_has("bos_token_id") ? f.get_int("bos_token_id") : fam.bos_token_id;
    if (f.object_has("eos_token_id"))
        c.eos_token_ids = f.get_int_list("eos_token_id");
    else if (fam.eos_token_id)
        c.eos_token_ids = {*fam.eos_token_id};
    c.torch_dtype = f.get_string("dtype").value_or(f.get_string("torch_dtype").value_or(""));

    validate_model_config(c, source);
    return c;
}

ModelConfig parse_hf_config_text(std::string_view text, const std::string& source) {
    json config;
    try {
        config = json::parse(text);
    } catch (const json::exception& e) {
        fail(source, ": not valid JSON: ", e.what());
    }
    return parse_hf_config(config, source);
}

ModelConfig read_hf_config(const std::filesystem::path& path) {
    return parse_hf_config(read_json_file(path), path.string());
}

void apply_generation_config(const json& generation_config, const std::string& source, ModelConfig& c) {
    const Fields f(generation_config, source);
    if (f.find("eos_token_id")) c.eos_token_ids = f.get_int_list("eos_token_id");
}

json read_json_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path.string(), ": cannot open");
    std::ostringstream text;
    text << in.rdbuf();
    try {
        return json::parse(text.str());
    } catch (const json::exception& e) {
        fail(path.string(), ": not valid JSON: ", e.what());
    }
}

}  // namespace lw
