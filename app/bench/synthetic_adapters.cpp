#include "synthetic_adapters.h"

#include "core/error.h"
#include "model/synthetic_model.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <system_error>

namespace lw::bench {

namespace fs = std::filesystem;

namespace {

std::string module_path(int layer, const std::string& module) {
    const bool attention = module == "q_proj" || module == "k_proj" || module == "v_proj" || module == "o_proj";
    return cat("base_model.model.model.layers.", layer, attention ? ".self_attn." : ".mlp.", module);
}

// Everything the folder's bytes depend on, so a cached folder is reused only when it fits.
std::string folder_key(const ModelConfig& c, int rank, const std::vector<std::string>& targets, std::uint64_t seed,
                       int index) {
    std::string t;
    for (const std::string& m : targets) t += m.substr(0, m.find('_'));
    return cat("h", c.hidden_size, "-q", c.q_dim(), "-kv", c.kv_dim(), "-i", c.intermediate_size, "-l", c.num_layers,
               "_r", rank, "-", t, "-seed", seed, "-", index);
}

struct Tensor {
    std::string name;
    std::vector<std::int64_t> shape;
};

void write_safetensors(const fs::path& file, const std::vector<Tensor>& tensors, std::uint64_t seed) {
    nlohmann::ordered_json header;
    header["__metadata__"] = {{"format", "pt"}};
    std::size_t offset = 0;
    for (const Tensor& t : tensors) {
        std::size_t bytes = 2;
        for (auto d : t.shape) bytes *= static_cast<std::size_t>(d);
        header[t.name] = {{"dtype", "F16"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-byte aligned, as safetensors writes it
    std::ofstream out(file, std::ios::binary);
    const std::uint64_t length = text.size();
    out.write(reinterpret_cast<const char*>(&length), sizeof length);  // little-endian, as on every target
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    std::vector<std::byte> data;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        const auto& [name, shape] = tensors[i];
        data.resize(2 * static_cast<std::size_t>(shape[0] * shape[1]));
        fill_normal(data, DType::F16, seed * 1000003u + i, 0.02f);
        out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
    }
    out.close();
    if (!out) fail("cannot write adapter weights ", file.string());
}

void write_adapter(const fs::path& folder, const ModelConfig& c, int rank, const std::vector<std::string>& targets,
                   std::uint64_t seed) {
    std::vector<Tensor> tensors;
    for (int layer = 0; layer < c.num_layers; ++layer)
        for (const std::string& module : targets) {
            const LinearShape s = linear_module_shape(c, module);
            tensors.push_back({module_path(layer, module) + ".lora_A.weight", {rank, s.in_features}});
            tensors.push_back({module_path(layer, module) + ".lora_B.weight", {s.out_features, rank}});
        }
    // Written beside the final name and renamed into place, so an interrupted run
    // never leaves a half-written folder that a later run would reuse.
    const fs::path staging = folder.string() + ".partial";
    std::error_code ec;
    fs::remove_all(staging, ec);
    fs::create_directories(staging, ec);
    if (ec) fail("cannot create adapter folder ", staging.string(), ": ", ec.message());
    nlohmann::ordered_json config{{"peft_type", "LORA"},
                                  {"task_type", "CAUSAL_LM"},
                                  {"base_model_name_or_path", "lora-bench synthetic"},
                                  {"r", rank},
                                  {"lora_alpha", 2 * rank},
                                  {"lora_dropout", 0.0},
                                  {"bias", "none"},
                                  {"use_rslora", false},
                                  {"use_dora", false},
                                  {"target_modules", targets},
                                  {"inference_mode", true}};
    std::ofstream config_file(staging / "adapter_config.json");
    config_file << config.dump(2) << "\n";
    config_file.close();
    if (!config_file) fail("cannot write ", (staging / "adapter_config.json").string());
    write_safetensors(staging / "adapter_model.safetensors", tensors, seed);
    fs::rename(staging, folder, ec);
    if (ec) fail("cannot move adapter folder into place at ", folder.string(), ": ", ec.message());
}

}  // namespace

std::size_t adapter_bytes(const ModelConfig& c, int rank, const std::vector<std::string>& targets,
                          std::size_t dtype_bytes) {
    std::size_t elems = 0;
    for (const std::string& module : targets) {
        const LinearShape s = linear_module_shape(c, module);
        elems += static_cast<std::size_t>(rank) * static_cast<std::size_t>(s.in_features + s.out_features);
    }
    return elems * static_cast<std::size_t>(c.num_layers) * dtype_bytes;
}

AdapterSet make_synthetic_adapters(const ModelConfig& config, int count, const std::vector<int>& ranks,
                                   const std::vector<std::string>& targets, int distinct_files, std::uint64_t seed,
                                   const fs::path& cache) {
    AdapterSet set;
    const int files = std::min(count, distinct_files);
    for (int f = 0; f < files; ++f) {
        const int rank = ranks[static_cast<std::size_t>(f) % ranks.size()];
        const fs::path folder = cache / folder_key(config, rank, targets, seed, f);
        if (!fs::exists(folder / "adapter_model.safetensors")) {
            write_adapter(folder, config, rank, targets, seed * 7919u + static_cast<std::uint64_t>(f));
            ++set.written;
        }
        set.folders.push_back(folder);
        set.folder_ranks.push_back(rank);
    }
    return set;
}

}  // namespace lw::bench
