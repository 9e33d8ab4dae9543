#include "support/tiny_chat_model.h"

#include "support/test_support.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <string>
#include <vector>

namespace lw::test {
namespace {

using nlohmann::json;

constexpr int kModelVocab = 320;  // tiny_llama's config.json

// GPT-2's byte -> printable character table, as UTF-8 strings.
std::vector<std::string> byte_level_alphabet() {
    std::vector<int> printable;
    for (int b = 0; b < 256; ++b)
        if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) printable.push_back(b);
    std::vector<std::string> out(256);
    int next = 256;
    for (int b = 0; b < 256; ++b) {
        const bool is_printable = std::find(printable.begin(), printable.end(), b) != printable.end();
        const int cp = is_printable ? b : next++;
        std::string s;
        if (cp < 0x80) {
            s += static_cast<char>(cp);
        } else {
            s += static_cast<char>(0xC0 | (cp >> 6));
            s += static_cast<char>(0x80 | (cp & 0x3F));
        }
        out[b] = s;
    }
    return out;
}

json added_token(int id, const std::string& content) {
    return {{"id", id},        {"content", content},  {"single_word", false}, {"lstrip", false},
            {"rstrip", false}, {"normalized", false}, {"special", true}};
}

json tokenizer_json() {
    const std::vector<std::string> specials = {"<unk>", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>"};
    json vocab = json::object();
    json added = json::array();
    int id = 0;
    for (const std::string& s : specials) {
        vocab[s] = id;
        added.push_back(added_token(id, s));
        ++id;
    }
    for (const std::string& byte : byte_level_alphabet()) vocab[byte] = id++;
    // Fill the rest of the model's ids with merges of common lowercase letters.
    json merges = json::array();
    const std::string letters = "etaoinshrdlu";
    for (char a : letters)
        for (char b : letters) {
            if (id == kModelVocab) break;
            merges.push_back(std::string{a} + " " + b);
            vocab[std::string{a} + b] = id++;
        }
    const json byte_level = {
        {"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
    return {
        {"version", "1.0"},
        {"added_tokens", added},
        {"normalizer", nullptr},
        {"pre_tokenizer", byte_level},
        {"post_processor", nullptr},
        {"decoder", byte_level},
        {"model",
         {{"type", "BPE"}, {"unk_token", nullptr}, {"byte_fallback", false}, {"vocab", vocab}, {"merges", merges}}}};
}

const char* const kChatTemplate =
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}</s>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}";

}  // namespace

std::filesystem::path write_tiny_chat_model(const std::filesystem::path& folder) {
    namespace fs = std::filesystem;
    fs::create_directories(folder);
    for (const auto& entry : fs::directory_iterator(data_path("models/tiny_llama"))) {
        if (entry.path().filename() == "expected.json") continue;
        fs::copy_file(entry.path(), folder / entry.path().filename(), fs::copy_options::overwrite_existing);
    }
    write_file(folder / "tokenizer.json", tokenizer_json().dump());
    const json config = {{"bos_token", "<s>"}, {"eos_token", "</s>"}, {"chat_template", kChatTemplate}};
    write_file(folder / "tokenizer_config.json", config.dump());
    return folder;
}

}  // namespace lw::test
