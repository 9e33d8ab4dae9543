// lora-serve's options: vLLM's command-line flags, optionally preceded by a SageMaker
// LMI serving.properties file (option.max_loras and friends); flags win over the file.
#pragma once

#include "runtime/engine.h"

#include <filesystem>
#include <string>
#include <vector>

namespace lw {

// One --lora-modules entry. vLLM's two spellings: NAME=PATH, or the JSON object
// {"name": ..., "path": ..., "base_model_name": ...}; an empty base means the first --model.
struct LoraModule {
    std::string name;
    std::filesystem::path path;
    std::string base;
};

struct ServeOptions {
    std::vector<std::filesystem::path> models;
    std::vector<LoraModule> lora_modules;
    std::vector<std::filesystem::path> adapter_dirs;      // --adapters-dir: folders or LMI's adapters/<name>/
    std::vector<std::filesystem::path> adapter_archives;  // --adapters-archive: adapters.tar.gz
    bool enable_lora = true;                              // option.enable_lora=false refuses every adapter
    EngineConfig engine;
    std::string host = "127.0.0.1";
    int port = 8000;
    std::string api_key;
    int http_threads = 128;  // one per open connection (streams hold theirs until done)
    bool help = false;
    bool version = false;
};

// Parses argv (without the program name). Throws lw::Error naming the flag or the
// properties key at fault.
ServeOptions parse_serve_args(const std::vector<std::string>& args);

// Applies the options a serving.properties file sets (option.model_id, option.max_loras,
// option.max_lora_rank, option.max_cpu_loras, option.enable_lora,
// option.max_rolling_batch_size); other keys are LMI's business and are ignored.
void apply_serving_properties(const std::filesystem::path& file, ServeOptions& options);

extern const char* const kServeUsage;

}  // namespace lw
