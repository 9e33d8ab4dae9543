// Fuzzes encode and decode: the input is text for two small tokenizers (byte-level
// and sentencepiece-style, built here) and, read as 16-bit numbers, a list of ids.
// Checks what must always hold: byte-level round trips, and streaming decode equals decode.
#include "core/error.h"
#include "tokenizer/tokenizer.h"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace {

using nlohmann::json;

std::string byte_char(int b) {
    // GPT-2's byte mapping: printable Latin-1 stays, the rest move to U+0100 onwards.
    static int shifted[256];
    static bool ready = false;
    if (!ready) {
        int next = 256;
        for (int i = 0; i < 256; ++i) {
            const bool printable = (i >= 0x21 && i <= 0x7E) || (i >= 0xA1 && i <= 0xAC) || (i >= 0xAE && i <= 0xFF);
            shifted[i] = printable ? i : next++;
        }
        ready = true;
    }
    const int c = shifted[b];
    std::string s;
    if (c < 0x80) {
        s += static_cast<char>(c);
    } else {
        s += static_cast<char>(0xC0 | (c >> 6));
        s += static_cast<char>(0x80 | (c & 0x3F));
    }
    return s;
}

lw::Tokenizer byte_level_tokenizer() {
    json vocab = json::object();
    for (int b = 0; b < 256; ++b) vocab[byte_char(b)] = b;
    const std::vector<std::string> merges = {"Ġ t", "h e", "Ġt he", "i n", "Ġ a", "e r", "o n", "Ġ s"};
    for (const std::string& m : merges) vocab[m.substr(0, m.find(' ')) + m.substr(m.find(' ') + 1)] = vocab.size();
    json j = {
        {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}, {"ignore_merges", true}}},
        {"added_tokens", {{{"id", vocab.size()}, {"content", "<|end|>"}, {"special", true}, {"normalized", false}}}},
        {"normalizer", nullptr},
        {"pre_tokenizer",
         {{"type", "Sequence"},
          {"pretokenizers",
           {{{"type", "Split"},
             {"pattern",
              {{"Regex",
                R"((?i:'s|'t)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}}},
             {"behavior", "Isolated"},
             {"invert", false}},
            {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}}},
        {"decoder", {{"type", "ByteLevel"}}}};
    return lw::Tokenizer::from_json_text(j.dump(), "fuzz byte-level");
}

lw::Tokenizer sentencepiece_tokenizer() {
    json vocab = json::object();
    vocab["<unk>"] = 0;
    vocab["<s>"] = 1;
    for (int b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        vocab[name] = 2 + b;
    }
    const std::vector<std::string> pieces = {"▁", "a", "b", "c", "e", "h", "t", "▁t", "he", "▁the", "ab", "▁a"};
    for (const std::string& p : pieces) vocab[p] = vocab.size();
    const std::vector<std::vector<std::string>> merges = {{"▁", "t"}, {"h", "e"}, {"▁t", "he"}, {"a", "b"}, {"▁", "a"}};
    json j = {{"model",
               {{"type", "BPE"},
                {"vocab", vocab},
                {"merges", merges},
                {"unk_token", "<unk>"},
                {"fuse_unk", true},
                {"byte_fallback", true}}},
              {"added_tokens", {{{"id", 1}, {"content", "<s>"}, {"special", true}, {"normalized", false}}}},
              {"normalizer",
               {{"type", "Sequence"},
                {"normalizers",
                 {{{"type", "Prepend"}, {"prepend", "▁"}},
                  {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "▁"}}}}}},
              {"post_processor",
               {{"type", "TemplateProcessing"},
                {"single",
                 {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
                {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
              {"decoder",
               {{"type", "Sequence"},
                {"decoders",
                 {{{"type", "Replace"}, {"pattern", {{"String", "▁"}}}, {"content", " "}},
                  {{"type", "ByteFallback"}},
                  {{"type", "Fuse"}},
                  {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}}};
    return lw::Tokenizer::from_json_text(j.dump(), "fuzz sentencepiece");
}

void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz_tokenizer_encode: %s\n", what);
        __builtin_trap();
    }
}

void stream_matches_decode(const lw::Tokenizer& tok, const std::vector<lw::TokenId>& ids, bool skip) {
    lw::StreamingDecoder stream(tok, skip);
    std::string streamed;
    for (auto id : ids) streamed += stream.push(id);
    streamed += stream.finish();
    check(streamed == tok.decode(ids, skip), "streaming decode differs from decode");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const lw::Tokenizer byte_level = byte_level_tokenizer();
    static const lw::Tokenizer spm = sentencepiece_tokenizer();
    const std::string text(reinterpret_cast<const char*>(data), size);
    for (const lw::Tokenizer* tok : {&byte_level, &spm}) {
        try {
            const auto ids = tok->encode(text, true);
            if (tok == &byte_level) check(tok->decode(ids) == text, "byte-level round trip differs");
            stream_matches_decode(*tok, ids, false);
            stream_matches_decode(*tok, ids, true);
        } catch (const lw::Error&) {
        }
        std::vector<lw::TokenId> ids;
        for (std::size_t i = 0; i + 1 < size; i += 2)
            ids.push_back(static_cast<lw::TokenId>((data[i] | (data[i + 1] << 8)) % tok->vocab_size()));
        stream_matches_decode(*tok, ids, false);
        stream_matches_decode(*tok, ids, true);
    }
    return 0;
}
