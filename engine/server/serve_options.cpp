#include "server/serve_options.h"

#include "core/error.h"

#include <charconv>
#include <fstream>
#include <map>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

namespace lw {

const char* const kServeUsage = R"(Usage: lora-serve --model PATH [options]

Serves base models and their LoRA adapters behind an OpenAI-compatible HTTP API that
follows vLLM's (/v1/models, /v1/completions, /v1/chat/completions, /tokenize,
/detokenize, /v1/load_lora_adapter, /v1/unload_lora_adapter, /metrics, /health).

  --model PATH                 a Hugging Face model folder or a .gguf file (repeatable;
                               adapters attach to the first unless told otherwise)
  --lora-modules SPEC...       adapters, each NAME=PATH or vLLM's JSON
                               '{"name": N, "path": P, "base_model_name": B}'
  --adapters-dir DIR           every adapter under DIR (LMI's DIR/adapters/<name>/ too)
  --adapters-archive FILE      every adapter in an adapters.tar.gz (LMI layout)
  --serving-properties FILE    SageMaker LMI serving.properties (flags win over it)
  --max-loras N                adapters resident in the memory pool at once (default 4)
  --max-lora-rank R            largest adapter rank accepted (default 64)
  --max-cpu-loras N            adapters kept in host memory (default 16)
  --max-num-seqs N             sequences decoded in one step (default 64)
  --pool-mib N                 size of the unified page pool in MiB (default 256)
  --backend cpu|cuda           compute device (default cpu)
  --threads N                  CPU threads for the forward pass (default 0: every core)
  --host ADDR                  address to bind (default 127.0.0.1)
  --port N                     port to bind (default 8000; 0 picks a free one)
  --api-key KEY                require "Authorization: Bearer KEY" (not on /health)
  --help                       print this help
  --version                    print the version
)";

namespace {

int parse_int(const std::string& what, const std::string& text, int min) {
    int value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) fail(what, " takes a whole number, got '", text, "'");
    if (value < min) fail(what, " must be at least ", min, ", got ", value);
    return value;
}

bool parse_bool(const std::string& what, const std::string& text) {
    if (text == "true" || text == "True" || text == "1") return true;
    if (text == "false" || text == "False" || text == "0") return false;
    fail(what, " takes true or false, got '", text, "'");
}

LoraModule parse_lora_module(const std::string& spec) {
    if (spec.starts_with('{')) {
        const auto j = nlohmann::json::parse(spec, nullptr, false);
        if (j.is_discarded() || !j.is_object()) fail("--lora-modules: '", spec, "' is not a JSON object");
        LoraModule m;
        for (const char* key : {"name", "path"})
            if (!j.contains(key) || !j[key].is_string() || j[key].get<std::string>().empty())
                fail("--lora-modules: '", spec, "' needs a string \"", key, "\"");
        m.name = j["name"];
        m.path = j["path"].get<std::string>();
        if (j.contains("base_model_name")) {
            if (!j["base_model_name"].is_string())
                fail("--lora-modules: base_model_name in '", spec, "' is not a string");
            m.base = j["base_model_name"];
        }
        return m;
    }
    const auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
        fail("--lora-modules takes NAME=PATH or a JSON object, got '", spec, "'");
    return {spec.substr(0, eq), spec.substr(eq + 1), {}};
}

// Sets one option from a flag or a properties key (`what` names it in errors).
void set_option(ServeOptions& o, const std::string& key, const std::string& value, const std::string& what) {
    if (key == "model") {
        o.models.emplace_back(value);
    } else if (key == "max-loras") {
        o.engine.max_loras = parse_int(what, value, 1);
    } else if (key == "max-lora-rank") {
        o.engine.max_lora_rank = parse_int(what, value, 1);
    } else if (key == "max-cpu-loras") {
        o.engine.max_cpu_loras = parse_int(what, value, 1);
    } else if (key == "max-num-seqs") {
        o.engine.max_num_seqs = parse_int(what, value, 1);
    } else if (key == "threads") {
        o.engine.threads = parse_int(what, value, 0);
    } else if (key == "pool-mib") {
        o.engine.pool_bytes = static_cast<std::size_t>(parse_int(what, value, 1)) << 20;
    } else if (key == "backend") {
        if (value != "cpu" && value != "cuda") fail(what, " takes cpu or cuda, got '", value, "'");
        o.engine.backend = value;
    } else if (key == "host") {
        o.host = value;
    } else if (key == "port") {
        o.port = parse_int(what, value, 0);
        if (o.port > 65535) fail(what, " must be at most 65535, got ", o.port);
    } else if (key == "api-key") {
        o.api_key = value;
    } else if (key == "adapters-dir") {
        o.adapter_dirs.emplace_back(value);
    } else if (key == "adapters-archive") {
        o.adapter_archives.emplace_back(value);
    } else if (key == "enable-lora") {
        o.enable_lora = parse_bool(what, value);
    } else {
        fail("unknown option ", what);
    }
}

std::string trim(const std::string& s) {
    const auto first = s.find_first_not_of(" \t\r");
    if (first == std::string::npos) return {};
    return s.substr(first, s.find_last_not_of(" \t\r") - first + 1);
}

}  // namespace

void apply_serving_properties(const std::filesystem::path& file, ServeOptions& options) {
    std::ifstream in(file);
    if (!in) fail("cannot read serving properties ", file.string());
    // LMI's names for the options we share with vLLM.
    static const std::map<std::string, std::string> keys = {
        {"option.model_id", "model"},
        {"option.max_loras", "max-loras"},
        {"option.max_lora_rank", "max-lora-rank"},
        {"option.max_cpu_loras", "max-cpu-loras"},
        {"option.enable_lora", "enable-lora"},
        {"option.max_rolling_batch_size", "max-num-seqs"},
    };
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        line = trim(line);
        if (line.empty() || line.starts_with('#') || line.starts_with('!')) continue;
        const auto eq = line.find('=');
        if (eq == std::string::npos) fail(file.string(), ":", number, ": expected key=value, got '", line, "'");
        const std::string key = trim(line.substr(0, eq));
        const auto known = keys.find(key);
        if (known == keys.end()) continue;
        set_option(options, known->second, trim(line.substr(eq + 1)), cat(file.string(), ":", number, ": ", key));
    }
}

ServeOptions parse_serve_args(const std::vector<std::string>& args) {
    ServeOptions o;
    std::vector<std::pair<std::string, std::string>> flags;
    std::string properties;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg == "--help" || arg == "-h") {
            o.help = true;
            return o;
        }
        if (arg == "--version") {
            o.version = true;
            return o;
        }
        if (!arg.starts_with("--")) fail("unexpected argument '", arg, "'");
        std::string name = arg.substr(2), value;
        const auto eq = name.find('=');
        const bool inline_value = eq != std::string::npos;
        if (inline_value) {
            value = name.substr(eq + 1);
            name.resize(eq);
        }
        if (name == "lora-modules") {
            // As in vLLM, one flag takes every following value up to the next flag.
            std::size_t taken = 0;
            if (inline_value) {
                o.lora_modules.push_back(parse_lora_module(value));
                ++taken;
            }
            for (; i + 1 < args.size() && !args[i + 1].starts_with("--"); ++taken)
                o.lora_modules.push_back(parse_lora_module(args[++i]));
            if (taken == 0) fail("--lora-modules needs at least one NAME=PATH");
            continue;
        }
        static const std::set<std::string> known = {
            "model",   "max-loras",    "max-lora-rank",    "max-cpu-loras", "max-num-seqs",
            "threads", "pool-mib",     "backend",          "host",          "port",
            "api-key", "adapters-dir", "adapters-archive", "enable-lora",   "serving-properties"};
        if (!known.contains(name)) fail("unknown option --", name);
        if (name == "enable-lora" && !inline_value) {
            value = "true";  // vLLM's --enable-lora is a switch
        } else if (!inline_value) {
            if (i + 1 >= args.size()) fail(arg, " needs a value");
            value = args[++i];
        }
        if (name == "serving-properties")
            properties = value;
        else
            flags.emplace_back(name, value);
    }
    if (!properties.empty()) apply_serving_properties(properties, o);
    // A --model given on the command line replaces the properties file's model_id.
    bool flag_models = false;
    for (const auto& [name, value] : flags) {
        if (name == "model" && !flag_models) {
            o.models.clear();
            flag_models = true;
        }
        set_option(o, name, value, "--" + name);
    }
    if (o.models.empty()) fail("no --model given");
    if (!o.enable_lora && (!o.lora_modules.empty() || !o.adapter_dirs.empty() || !o.adapter_archives.empty()))
        fail("adapters were given but option.enable_lora is false");
    return o;
}

}  // namespace lw
