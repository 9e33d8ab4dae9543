#include "model/lora_adapter.h"

#include "core/error.h"
#include "formats/safetensors.h"
#include "formats/torch_checkpoint.h"
#include "model/adapter_sources.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <set>

namespace lw {
namespace {

namespace fs = std::filesystem;

std::size_t module_order(const std::string& module) {
    const auto& names = linear_module_names();
    return static_cast<std::size_t>(std::find(names.begin(), names.end(), module) - names.begin());
}

// "self_attn" or "mlp": where a linear module sits in a decoder layer.
std::string module_group(const std::string& module) {
    return module_order(module) < 4 ? "self_attn" : "mlp";
}

// The module's name in the base model, as PEFT matches it ("model.layers.0.self_attn.q_proj").
std::string base_module_name(int layer, const std::string& module) {
    return cat("model.layers.", layer, ".", module_group(module), ".", module);
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    while (true) {
        const auto end = s.find(sep, start);
        parts.push_back(s.substr(start, end - start));
        if (end == std::string::npos) return parts;
        start = end + 1;
    }
}

struct TensorKey {
    int layer = 0;
    std::string module;
    bool is_a = false;
};

// Parses a key as PEFT saves it:
// [base_model.model.]model.layers.<i>.<self_attn|mlp>.<module>.lora_<A|B>[.<adapter name>].weight
TensorKey parse_key(const std::string& key, const std::string& source) {
    auto bad = [&](const char* why) {
        fail(source, ": cannot place tensor ", key, ": ", why,
             " (expected base_model.model.model.layers.<i>.<self_attn|mlp>.<module>.lora_<A|B>.weight)");
    };
    std::string rest = key;
    if (rest.starts_with("base_model.model.")) rest = rest.substr(17);
    const auto p = split(rest, '.');
    if (p.size() != 7 && p.size() != 8) bad("unexpected number of name segments");
    if (p[0] != "model" || p[1] != "layers") bad("not a decoder layer tensor");
    TensorKey k;
    const auto [end, ec] = std::from_chars(p[2].data(), p[2].data() + p[2].size(), k.layer);
    if (ec != std::errc() || end != p[2].data() + p[2].size() || p[2].empty() || k.layer < 0) bad("bad layer index");
    k.module = p[4];
    if (module_order(k.module) == linear_module_names().size()) bad("not one of the seven linear modules");
    if (p[3] != module_group(k.module)) bad("module under the wrong block");
    if (p[5] != "lora_A" && p[5] != "lora_B") bad("not a lora_A or lora_B weight");
    k.is_a = p[5] == "lora_A";
    if (p.back() != "weight") bad("not a weight");
    return k;
}

struct Pair {
    const TensorView* a = nullptr;
    const TensorView* b = nullptr;
};

void check_shape(const TensorView& t, const std::vector<std::int64_t>& expected, const std::string& source,
                 const char* why) {
    if (t.shape != expected)
        fail(source, ": tensor ", t.name, " has shape ", shape_string(t.shape), ", expected ", shape_string(expected),
             " (", why, ")");
}

void check_float(const TensorView& t, const std::string& source) {
    if (!dtype_info(t.dtype).is_float || dtype_info(t.dtype).block_elems != 1)
        fail(source, ": tensor ", t.name, " has dtype ", dtype_name(t.dtype), ", expected F32, F16, BF16 or F64");
}

// Builds the modules from the weight tensors, placing every one of them.
std::vector<LoraModule> place_tensors(const std::vector<TensorView>& tensors, const PeftConfig& config,
                                      const std::string& source) {
    std::map<std::pair<int, std::size_t>, Pair> pairs;
    for (const auto& t : tensors) {
        const TensorKey k = parse_key(t.name, source);
        const std::string module_name = base_module_name(k.layer, k.module);
        if (!peft_targets_module(config, module_name))
            fail(source, ": tensor ", t.name, " is for ", module_name, ", which ", config.source, " does not target");
        Pair& p = pairs[{k.layer, module_order(k.module)}];
        const TensorView*& slot = k.is_a ? p.a : p.b;
        if (slot) fail(source, ": tensors ", slot->name, " and ", t.name, " are the same weight");
        slot = &t;
    }
    std::vector<LoraModule> modules;
    for (const auto& [where, p] : pairs) {
        LoraModule m;
        m.layer = where.first;
        m.module = linear_module_names()[where.second];
        const std::string module_name = base_module_name(m.layer, m.module);
        if (!p.a || !p.b)
            fail(source, ": ", module_name, " has lora_", p.a ? "A" : "B", " (", (p.a ? p.a : p.b)->name,
                 ") but no lora_", p.a ? "B" : "A");
        m.rank = peft_rank(config, module_name);
        m.scale = static_cast<float>(peft_scale(config, module_name));
        m.a = *p.a;
        m.b = *p.b;
        for (const TensorView* t : {&m.a, &m.b}) {
            check_float(*t, source);
            if (t->shape.size() != 2)
                fail(source, ": tensor ", t->name, " has shape ", shape_string(t->shape), ", expected 2 dimensions");
        }
        const auto why = cat("rank ", m.rank, " from ", config.source);
        check_shape(m.a, {m.rank, m.a.shape[1]}, source, why.c_str());
        check_shape(m.b, {m.b.shape[0], m.rank}, source, why.c_str());
        modules.push_back(std::move(m));
    }
    return modules;
}

fs::path adapter_folder(const fs::path& path) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) return path;
    const auto file = path.filename().string();
    if (fs::is_regular_file(path, ec) &&
        (file == "adapter_config.json" || file == "adapter_model.safetensors" || file == "adapter_model.bin"))
        return path.parent_path();
    fail(path.string(), ": not a PEFT adapter (expected a folder with adapter_config.json, or one of its files)");
}

}  // namespace

int LoraAdapter::max_rank() const {
    int r = 0;
    for (const auto& m : modules) r = std::max(r, m.rank);
    return r;
}

std::size_t LoraAdapter::weight_bytes() const {
    std::size_t n = 0;
    for (const auto& m : modules) n += m.a.data.size() + m.b.data.size();
    return n;
}

std::vector<std::string> LoraAdapter::targets() const {
    std::vector<std::string> out;
    for (const auto& name : linear_module_names())
        if (std::any_of(modules.begin(), modules.end(), [&](const auto& m) { return m.module == name; }))
            out.push_back(name);
    return out;
}

LoraAdapter load_lora_adapter(const fs::path& path, const std::string& name) {
    const fs::path folder = adapter_folder(path);
    LoraAdapter adapter;
    adapter.path = folder;
    adapter.name = name.empty() ? adapter_name_for(folder) : name;

    const fs::path config_path = folder / "adapter_config.json";
    std::error_code ec;
    if (!fs::exists(config_path, ec)) fail(folder.string(), ": no adapter_config.json: not a PEFT adapter");
    adapter.config = read_peft_config(config_path);

    std::vector<TensorView> tensors;
    fs::path weights = folder / "adapter_model.safetensors";
    if (fs::exists(weights, ec)) {
        auto file = SafetensorsFile::open(weights);
        for (const auto& [key, view] : file.tensors()) tensors.push_back(view);
        adapter.storage.push_back(file.storage());
    } else if (weights = folder / "adapter_model.bin"; fs::exists(weights, ec)) {
        auto checkpoint = read_torch_checkpoint(weights);
        tensors = std::move(checkpoint.tensors);
        adapter.storage.push_back(std::move(checkpoint.storage));
    } else {
        fail(folder.string(), ": no adapter_model.safetensors or adapter_model.bin");
    }
    if (tensors.empty()) fail(weights.string(), ": holds no tensors");
    adapter.modules = place_tensors(tensors, adapter.config, weights.string());
    return adapter;
}

void validate_lora_adapter(const LoraAdapter& adapter, const ModelConfig& base, int max_lora_rank) {
    const std::string who = cat("adapter '", adapter.name, "' (", adapter.path.string(), ")");
    std::set<std::string> with_weights;
    for (const auto& m : adapter.modules) {
        const std::string module_name = base_module_name(m.layer, m.module);
        if (m.layer >= base.num_layers)
            fail(who, ": ", module_name, " (tensor ", m.a.name, ") is beyond the base's ", base.num_layers, " layers");
        if (m.rank > max_lora_rank)
            fail(who, ": ", module_name, " has rank ", m.rank, ", above max_lora_rank ", max_lora_rank);
        check_float(m.a, who);
        check_float(m.b, who);
        const LinearShape s = linear_module_shape(base, m.module);
        const auto why = cat(m.module, " of the base is [", s.out_features, ", ", s.in_features, "]");
        check_shape(m.a, {m.rank, s.in_features}, who, why.c_str());
        check_shape(m.b, {s.out_features, m.rank}, who, why.c_str());
        with_weights.insert(module_name);
    }
    // PEFT adapts exactly the base modules its config targets; each needs weights.
    static const std::vector<std::string> other_modules{
        "self_attn", "mlp", "input_layernorm", "post_attention_layernorm", "self_attn.rotary_emb", "mlp.act_fn"};
    for (int layer = 0; layer < base.num_layers; ++layer) {
        for (const auto& module : linear_module_names()) {
            const std::string module_name = base_module_name(layer, module);
            if (peft_targets_module(adapter.config, module_name) && !with_weights.contains(module_name))
                fail(who, ": ", adapter.config.source, " targets ", module_name,
                     " but the adapter has no weights for it");
        }
        for (const auto& other : other_modules) {
            const std::string module_name = cat("model.layers.", layer, ".", other);
            if (peft_targets_module(adapter.config, module_name))
                fail(who, ": ", adapter.config.source, " targets ", module_name,
                     ", which is not one of the linear modules");
        }
    }
}

}  // namespace lw
