// The tiny Llama fixture made chat-ready for GUI tests: its weights (linked, not
// copied) plus a byte-level BPE tokenizer that covers its 320 ids and a ChatML
// template, in a scratch folder. Random weights: the answers are gibberish, but every
// step of a chat (template, tokenizer, engine, streaming, stats) is the real one.
#pragma once

#include "core/temp_dir.h"
#include "support/test_support.h"

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace lw::test {

class TinyChatModel {
public:
    TinyChatModel() : dir_("lw-tiny-chat") {
        namespace fs = std::filesystem;
        const fs::path source = data_path("models/tiny_llama");
        for (const auto& entry : fs::directory_iterator(source))
            fs::create_symlink(entry.path(), path() / entry.path().filename());
        write_file(path() / "tokenizer.json", tokenizer_json().dump());
        write_file(path() / "tokenizer_config.json", R"({"bos_token": "<s>", "eos_token": "</s>"})");
        write_file(path() / "chat_template.jinja",
                   "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
                   "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}");
    }
    const std::filesystem::path& path() const { return dir_.path(); }

private:
    // GPT-2's byte-to-character table: printable bytes stand for themselves, the
    // others for the characters from U+0100 on, in byte order.
    static std::string byte_token(int byte) {
        static const std::vector<char32_t> table = [] {
            std::vector<char32_t> t(256);
            char32_t next = 256;
            for (int b = 0; b < 256; ++b) {
                const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
                t[b] = printable ? static_cast<char32_t>(b) : next++;
            }
            return t;
        }();
        const char32_t c = table[byte];
        std::string utf8;
        if (c < 0x80) {
            utf8 += static_cast<char>(c);
        } else {
            utf8 += static_cast<char>(0xC0 | (c >> 6));
            utf8 += static_cast<char>(0x80 | (c & 0x3F));
        }
        return utf8;
    }

    // ids 0-2 <unk> <s> </s> (the config's BOS 1 and EOS 2), 3-258 the bytes, 259-260
    // ChatML's markers, the rest two-letter words so that every id decodes.
    static nlohmann::json tokenizer_json() {
        constexpr int kVocab = 320;
        nlohmann::json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
        for (int b = 0; b < 256; ++b) vocab[byte_token(b)] = 3 + b;
        vocab["<|im_start|>"] = 259;
        vocab["<|im_end|>"] = 260;
        for (int id = 261; id < kVocab; ++id)
            vocab[std::string{static_cast<char>('a' + (id - 261) / 26), static_cast<char>('a' + (id - 261) % 26)}] = id;
        nlohmann::json added = nlohmann::json::array();
        for (const auto& [content, id] :
             {std::pair{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}, {"<|im_start|>", 259}, {"<|im_end|>", 260}})
            added.push_back({{"id", id}, {"content", content}, {"special", true}, {"normalized", false}});
        const nlohmann::json byte_level = {
            {"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
        return {{"added_tokens", added},
                {"pre_tokenizer", byte_level},
                {"decoder", byte_level},
                {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", nlohmann::json::array()}}}};
    }

    TempDir dir_;
};

}  // namespace lw::test
