#include "model/hf_model.h"

#include "core/error.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"

#include <map>

namespace lw {
namespace {

namespace fs = std::filesystem;

// Shard names come from the index file: keep them to plain names inside the folder.
void check_shard_name(const std::string& shard, const std::string& tensor, const fs::path& index_path) {
    if (shard.empty() || shard == "." || shard == ".." || shard.find('/') != std::string::npos ||
        shard.find('\\') != std::string::npos || shard.find('\0') != std::string::npos)
        fail(index_path.string(), ": tensor '", tensor, "' maps to shard '", shard,
             "', which is not a file name in the model folder");
}

// The tensors inference uses, from model.safetensors.index.json's weight_map; each
// shard is mapped once however many tensors it holds.
void add_sharded_weights(const fs::path& folder, const fs::path& index_path,
                         const std::map<std::string, std::vector<std::int64_t>>& wanted, ModelWeights& weights) {
    const nlohmann::json index = read_json_file(index_path);
    const auto map_it = index.is_object() ? index.find("weight_map") : index.end();
    if (map_it == index.end() || !map_it->is_object()) fail(index_path.string(), ": missing object 'weight_map'");
    std::map<std::string, SafetensorsFile> shards;
    for (const auto& [tensor, shard_json] : map_it->items()) {
        if (!shard_json.is_string())
            fail(index_path.string(), ": weight_map entry '", tensor, "' must be a file name, found ",
                 shard_json.dump());
        const auto& shard = shard_json.get_ref<const std::string&>();
        auto it = shards.find(shard);
        if (it == shards.end()) {
            check_shard_name(shard, tensor, index_path);
            it = shards.emplace(shard, SafetensorsFile::open(folder / shard)).first;
            weights.keep_alive(it->second.storage());
        }
        if (!it->second.contains(tensor))
            fail(index_path.string(), ": tensor '", tensor, "' is mapped to shard ", shard, ", which lacks it");
        if (wanted.count(tensor) != 0) weights.add(it->second.get(tensor));
    }
}

void add_single_file_weights(const fs::path& path, const std::map<std::string, std::vector<std::int64_t>>& wanted,
                             ModelWeights& weights) {
    const SafetensorsFile file = SafetensorsFile::open(path);
    weights.keep_alive(file.storage());
    for (const auto& [name, view] : file.tensors())
        if (wanted.count(name) != 0) weights.add(view);
}

}  // namespace

HfModel load_hf_model(const fs::path& folder) {
    if (!fs::is_directory(folder)) fail(folder.string(), ": not a model folder");
    HfModel model;
    model.name = (folder.has_filename() ? folder : folder.parent_path()).filename().string();

    const fs::path config_path = folder / "config.json";
    if (!fs::exists(config_path)) fail(folder.string(), ": no config.json");
    model.config = read_hf_config(config_path);
    const fs::path generation_path = folder / "generation_config.json";
    if (fs::exists(generation_path))
        apply_generation_config(read_json_file(generation_path), generation_path.string(), model.config);

    const auto wanted = expected_tensor_shapes(model.config);
    const fs::path index_path = folder / "model.safetensors.index.json";
    const fs::path single_path = folder / "model.safetensors";
    // transformers looks for the single file first, then the index.
    if (fs::exists(single_path))
        add_single_file_weights(single_path, wanted, model.weights);
    else if (fs::exists(index_path))
        add_sharded_weights(folder, index_path, wanted, model.weights);
    else
        fail(folder.string(), ": no model.safetensors or model.safetensors.index.json");
    validate_weights(model.weights, model.config, folder.string());
    return model;
}

}  // namespace lw
