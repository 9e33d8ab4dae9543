#include "model/model_loader.h"

#include "core/error.h"
#include "formats/hf_config.h"
#include "model/gguf_model.h"
#include "model/hf_model.h"

#include <fstream>
#include <sstream>

namespace lw {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string read_text(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path.string(), ": cannot open");
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// tokenizer_config.json writes special tokens as "<s>" or as {"content": "<s>", ...}.
std::string special_token_text(const json& config, const char* key, const fs::path& path) {
    const auto it = config.find(key);
    if (it == config.end() || it->is_null()) return {};
    if (it->is_string()) return it->get<std::string>();
    if (it->is_object()) {
        const auto content = it->find("content");
        if (content != it->end() && content->is_string()) return content->get<std::string>();
    }
    fail(path.string(), ": '", key, "' must be a string or an object with a string 'content', found ", it->dump());
}

// "chat_template" is one template, or a list of {"name", "template"} of which
// transformers uses the one named "default".
std::optional<ChatTemplate> chat_template_from_config(const json& config, const fs::path& path) {
    const auto it = config.find("chat_template");
    if (it == config.end() || it->is_null()) return std::nullopt;
    const std::string source = path.string() + ": chat_template";
    if (it->is_string()) return ChatTemplate(it->get<std::string>(), source);
    if (!it->is_array()) fail(source, " must be a string or a list of templates, found ", it->type_name());
    for (const auto& entry : *it) {
        const bool well_formed = entry.is_object() && entry.contains("name") && entry["name"].is_string() &&
                                 entry.contains("template") && entry["template"].is_string();
        if (!well_formed) fail(source, ": entries must be {\"name\": ..., \"template\": ...}, found ", entry.dump());
        if (entry["name"] == "default")
            return ChatTemplate(entry["template"].get<std::string>(), source + " 'default'");
    }
    return std::nullopt;  // only named templates (tool_use, rag, ...): none to use by default
}

// The token's text when the id names one, for folders whose tokenizer_config.json
// does not spell the special tokens out.
std::string token_text_of(const std::optional<Tokenizer>& tokenizer, std::optional<std::int32_t> id) {
    if (!tokenizer || !id || *id < 0 || static_cast<std::size_t>(*id) >= tokenizer->vocab_size()) return {};
    return tokenizer->id_to_token(*id);
}

LoadedModel load_hf_folder(const fs::path& folder) {
    HfModel hf = load_hf_model(folder);
    LoadedModel m;
    m.name = std::move(hf.name);
    m.path = folder;
    m.format = "safetensors";
    m.config = std::move(hf.config);
    m.weights = std::move(hf.weights);

    const fs::path tokenizer_path = folder / "tokenizer.json";
    if (fs::exists(tokenizer_path)) m.tokenizer = Tokenizer::from_json_file(tokenizer_path);

    const fs::path config_path = folder / "tokenizer_config.json";
    json tokenizer_config = json::object();
    if (fs::exists(config_path)) {
        tokenizer_config = read_json_file(config_path);
        if (!tokenizer_config.is_object())
            fail(config_path.string(), ": expected a JSON object, found ", tokenizer_config.type_name());
    }
    m.special.bos = special_token_text(tokenizer_config, "bos_token", config_path);
    m.special.eos = special_token_text(tokenizer_config, "eos_token", config_path);
    if (m.special.bos.empty()) m.special.bos = token_text_of(m.tokenizer, m.config.bos_token_id);
    if (m.special.eos.empty() && !m.config.eos_token_ids.empty())
        m.special.eos = token_text_of(m.tokenizer, m.config.eos_token_ids.front());
    // tokenizer.json does not say which tokens are BOS and EOS; tokenizer_config.json does.
    if (m.tokenizer) {
        auto id_of = [&](const std::string& text, std::optional<TokenId> guess) {
            return text.empty() ? guess : m.tokenizer->token_to_id(text);
        };
        m.tokenizer->set_bos_eos(id_of(m.special.bos, m.tokenizer->bos_id()),
                                 id_of(m.special.eos, m.tokenizer->eos_id()));
    }

    // transformers prefers chat_template.jinja over the tokenizer_config.json entry.
    const fs::path jinja_path = folder / "chat_template.jinja";
    if (fs::exists(jinja_path))
        m.chat_template.emplace(read_text(jinja_path), jinja_path.string());
    else
        m.chat_template = chat_template_from_config(tokenizer_config, config_path);
    return m;
}

std::string vocab_token(const GgufVocab& vocab, std::optional<std::int32_t> id, const char* key, const fs::path& path) {
    if (!id) return {};
    if (*id < 0 || static_cast<std::size_t>(*id) >= vocab.tokens.size())
        fail(path.string(), ": ", key, " ", *id, " is outside the vocabulary of ", vocab.tokens.size(), " tokens");
    return vocab.tokens[static_cast<std::size_t>(*id)];
}

LoadedModel load_gguf_file(const fs::path& path) {
    GgufModel g = load_gguf_model(path);
    LoadedModel m;
    m.name = std::move(g.name);
    m.path = path;
    m.format = "gguf";
    m.config = std::move(g.config);
    m.weights = std::move(g.weights);
    if (!g.vocab.tokens.empty()) {
        m.tokenizer = Tokenizer::from_gguf_vocab(g.vocab, path.string());
        m.special.bos = vocab_token(g.vocab, g.vocab.bos_id, "tokenizer.ggml.bos_token_id", path);
        m.special.eos = vocab_token(g.vocab, g.vocab.eos_id, "tokenizer.ggml.eos_token_id", path);
    }
    if (g.chat_template)
        m.chat_template.emplace(std::move(*g.chat_template), path.string() + ": tokenizer.chat_template");
    return m;
}

}  // namespace

LoadedModel load_model(const fs::path& path) {
    if (fs::is_directory(path)) return load_hf_folder(path);
    if (!fs::exists(path)) fail(path.string(), ": no such file or folder");
    if (path.extension() == ".gguf") return load_gguf_file(path);
    fail(path.string(), ": expected a Hugging Face model folder (config.json and safetensors) or a .gguf file");
}

}  // namespace lw
