// lora-inspect: loads a base model and LoRA adapters the way the engine will, checks
// every adapter against the base, and prints what it found. A bad adapter is reported
// and the others are still checked; the exit status says whether all were usable.
#include "core/error.h"
#include "core/temp_dir.h"
#include "model/adapter_sources.h"
#include "model/lora_adapter.h"
#include "model/model_loader.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

namespace fs = std::filesystem;

constexpr const char* kUsage = R"(Usage: lora-inspect MODEL [options]

Loads a base model and LoRA adapters, validates each adapter against the base, and
prints a description of both.

  MODEL                    a Hugging Face model folder or a .gguf file
  --adapter NAME=PATH      a PEFT adapter: its folder, or its adapter_model.safetensors/.bin
                           (repeatable)
  --adapters-dir DIR       every adapter under DIR: sub-folders with adapter_config.json,
                           or SageMaker LMI's DIR/adapters/<name>/ (repeatable)
  --adapters-archive FILE  an adapters.tar.gz (LMI layout), unpacked into a temporary
                           folder that is removed afterwards (repeatable)
  --max-lora-rank R        reject adapters of a higher rank (default 64)
  --chat TEXT              render TEXT as a user turn with the model's chat template
                           (generation prompt added) and print the prompt's token ids
  --tokenize TEXT          print the token ids of TEXT (special tokens added)
  --tensors                list every tensor of the base model
  --version                print the version
  --help                   print this help
)";

struct Options {
    fs::path model;
    std::vector<std::pair<std::string, fs::path>> adapters;
    std::vector<fs::path> adapter_dirs, adapter_archives;
    int max_lora_rank = 64;
    std::vector<std::string> chat, tokenize;
    bool tensors = false;
};

[[noreturn]] void usage_error(const std::string& what) {
    std::cerr << "lora-inspect: " << what << "\n\n" << kUsage;
    std::exit(2);
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage_error(arg + " needs a value");
            return argv[++i];
        };
        if (arg == "--help" || arg == "-h") {
            std::cout << kUsage;
            std::exit(0);
        } else if (arg == "--version") {
            std::cout << "lora-inspect " << LW_VERSION << "\n";
            std::exit(0);
        } else if (arg == "--adapter") {
            const std::string spec = value();
            const auto eq = spec.find('=');
            if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
                usage_error("--adapter takes NAME=PATH, got '" + spec + "'");
            o.adapters.emplace_back(spec.substr(0, eq), spec.substr(eq + 1));
        } else if (arg == "--adapters-dir") {
            o.adapter_dirs.emplace_back(value());
        } else if (arg == "--adapters-archive") {
            o.adapter_archives.emplace_back(value());
        } else if (arg == "--max-lora-rank") {
            const std::string v = value();
            try {
                o.max_lora_rank = std::stoi(v);
            } catch (const std::exception&) {
                usage_error("--max-lora-rank takes a whole number, got '" + v + "'");
            }
            if (o.max_lora_rank <= 0) usage_error("--max-lora-rank must be positive");
        } else if (arg == "--chat") {
            o.chat.push_back(value());
        } else if (arg == "--tokenize") {
            o.tokenize.push_back(value());
        } else if (arg == "--tensors") {
            o.tensors = true;
        } else if (!arg.empty() && arg[0] == '-') {
            usage_error("unknown option " + arg);
        } else if (o.model.empty()) {
            o.model = arg;
        } else {
            usage_error("more than one MODEL given ('" + o.model.string() + "' and '" + arg + "')");
        }
    }
    if (o.model.empty()) usage_error("no MODEL given");
    return o;
}

std::string human_bytes(std::size_t bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024.0 && u < 3) {
        v /= 1024.0;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
    return buf;
}

std::string count(std::size_t n, const char* noun) {
    return lw::cat(n, " ", noun, n == 1 ? "" : "s");
}

std::string rope_text(const lw::ModelConfig& c) {
    std::string s = lw::cat("theta ", c.rope_theta);
    switch (c.rope_scaling.type) {
        case lw::RopeScaling::Type::None:
            break;
        case lw::RopeScaling::Type::Linear:
            s += lw::cat(", linear scaling x", c.rope_scaling.factor);
            break;
        case lw::RopeScaling::Type::Llama3:
            s += lw::cat(", llama3 scaling x", c.rope_scaling.factor, " from ",
                         c.rope_scaling.original_max_position_embeddings, " positions");
            break;
    }
    if (!c.rope_freq_factors.empty()) s += ", per-frequency factors from the file";
    return s;
}

std::string ids_text(const std::vector<lw::TokenId>& ids) {
    std::string s = "[";
    for (std::size_t i = 0; i < ids.size(); ++i) s += (i ? ", " : "") + std::to_string(ids[i]);
    return s + "]";
}

void print_model(const lw::LoadedModel& m, bool list_tensors) {
    const lw::ModelConfig& c = m.config;
    std::map<std::string, int> dtypes;
    for (const auto& [name, t] : m.weights.all()) ++dtypes[std::string(lw::dtype_name(t.dtype))];
    std::string dtype_text;
    for (const auto& [name, n] : dtypes) dtype_text += lw::cat(dtype_text.empty() ? "" : ", ", n, " ", name);

    std::cout << "model " << m.name << " (" << m.format << ", " << m.path.string() << ")\n"
              << "  architecture   " << c.architecture << "\n"
              << "  layers         " << c.num_layers << ", hidden " << c.hidden_size << ", intermediate "
              << c.intermediate_size << "\n"
              << "  attention      " << c.num_heads << " heads, " << c.num_kv_heads << " kv heads, head_dim "
              << c.head_dim << (c.attention_bias ? ", q/k/v bias" : "")
              << (c.sliding_window ? lw::cat(", sliding window ", *c.sliding_window) : std::string()) << "\n"
              << "  rope           " << rope_text(c) << "\n"
              << "  vocabulary     " << c.vocab_size << (c.tie_word_embeddings ? ", tied embeddings" : "") << "\n"
              << "  context        " << c.max_position_embeddings << " positions\n"
              << "  weights        " << m.weights.all().size() << " tensors (" << dtype_text << "), "
              << human_bytes(m.weights.total_bytes()) << "\n"
              << "  tokenizer      " << (m.tokenizer ? m.tokenizer->describe() : "none") << "\n"
              << "  chat template  "
              << (m.chat_template ? lw::cat(m.chat_template->text().size(), " characters") : std::string("none"))
              << "\n";
    if (list_tensors)
        for (const auto& [name, t] : m.weights.all())
            std::cout << "    " << name << "  " << lw::dtype_name(t.dtype) << " " << lw::shape_string(t.shape) << "\n";
}

void print_adapter(const lw::LoraAdapter& a) {
    int min_rank = a.max_rank();
    std::vector<int> layers;
    for (const auto& m : a.modules) {
        min_rank = std::min(min_rank, m.rank);
        if (layers.empty() || layers.back() != m.layer) layers.push_back(m.layer);
    }
    std::string targets;
    for (const auto& t : a.targets()) targets += (targets.empty() ? "" : ", ") + t;
    std::cout << "  rank "
              << (min_rank == a.max_rank() ? std::to_string(min_rank) : lw::cat(min_rank, "-", a.max_rank()))
              << ", alpha " << a.config.lora_alpha << (a.config.use_rslora ? " (rsLoRA)" : "") << ", "
              << count(a.modules.size(), "module") << " on " << count(layers.size(), "layer") << ", targets " << targets
              << ", " << human_bytes(a.weight_bytes()) << "\n";
}

void print_prompt(const lw::LoadedModel& m, const std::string& text) {
    if (!m.chat_template) lw::fail("the model has no chat template");
    const nlohmann::json messages = nlohmann::json::array({{{"role", "user"}, {"content", text}}});
    const std::string prompt = m.chat_template->apply(messages, true, m.special.bos, m.special.eos);
    std::cout << "chat prompt:\n" << prompt << (prompt.ends_with('\n') ? "" : "\n");
    if (m.tokenizer) {
        // The template already wrote any BOS, so no special tokens are added again.
        std::cout << "prompt tokens: " << ids_text(m.tokenizer->encode(prompt, false)) << "\n";
    }
}

}  // namespace

int main(int argc, char** argv) {
    const Options opt = parse(argc, argv);
    lw::LoadedModel model;
    try {
        model = lw::load_model(opt.model);
        print_model(model, opt.tensors);
        for (const auto& text : opt.tokenize) {
            if (!model.tokenizer) lw::fail("the model has no tokenizer");
            std::cout << "tokens of \"" << text << "\": " << ids_text(model.tokenizer->encode(text)) << "\n";
        }
        for (const auto& text : opt.chat) print_prompt(model, text);
    } catch (const lw::Error& e) {
        std::cerr << "lora-inspect: " << e.what() << "\n";
        return 1;
    }

    // Folders and archives are expanded into named adapters first; a folder or archive
    // that cannot be read counts as one rejected entry and the rest go on.
    std::vector<std::pair<std::string, fs::path>> adapters = opt.adapters;
    int unreadable = 0;  // folders and archives
    int rejected = 0;    // adapters
    auto add_found = [&](const fs::path& where, const std::vector<lw::AdapterSource>& found) {
        std::cout << "found " << count(found.size(), "adapter") << " in " << where.string() << "\n";
        for (const auto& a : found) adapters.emplace_back(a.name, a.folder);
    };
    for (const auto& dir : opt.adapter_dirs) {
        try {
            add_found(dir, lw::find_adapters(dir));
        } catch (const lw::Error& e) {
            std::cout << "REJECTED " << dir.string() << ": " << e.what() << "\n";
            ++unreadable;
        }
    }
    const lw::TempDir unpacked("lora-inspect");
    for (std::size_t i = 0; i < opt.adapter_archives.size(); ++i) {
        const fs::path& archive = opt.adapter_archives[i];
        try {
            add_found(archive, lw::unpack_adapters(archive, unpacked.path() / std::to_string(i)));
        } catch (const lw::Error& e) {
            std::cout << "REJECTED " << archive.string() << ": " << e.what() << "\n";
            ++unreadable;
        }
    }

    for (const auto& [name, path] : adapters) {
        std::cout << "adapter " << name << " (" << path.string() << ")\n";
        try {
            const lw::LoraAdapter adapter = lw::load_lora_adapter(path, name);
            lw::validate_lora_adapter(adapter, model.config, opt.max_lora_rank);
            print_adapter(adapter);
        } catch (const lw::Error& e) {
            std::cout << "  REJECTED: " << e.what() << "\n";
            ++rejected;
        }
    }
    if (!adapters.empty())
        std::cout << adapters.size() - rejected << " of " << count(adapters.size(), "adapter") << " usable\n";
    return rejected == 0 && unreadable == 0 ? 0 : 1;
}
