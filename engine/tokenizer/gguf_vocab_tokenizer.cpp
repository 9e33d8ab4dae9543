// Tokenizer::from_gguf_vocab: builds, from the tokenizer.ggml.* fields, the same
// pipeline Hugging Face's tokenizer.json describes for that model, so both give
// the same ids. "gpt2" vocabularies pick their pre-tokenizer by tokenizer.ggml.pre
// as llama.cpp does; "llama" (sentencepiece) ones rank merges by token score.
#include "core/error.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/utf8.h"

#include <algorithm>
#include <tuple>

namespace lw {

namespace {

// llama.cpp's token types.
constexpr std::int32_t kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4;

constexpr const char* kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// llama.cpp's "default" BPE pre-tokenizer: these regexes one after another.
constexpr const char* kDefaultPatterns[] = {
    R"([\p{P}\$\+<=>\^~\|]+)",
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))",
    R"(\p{N}+)",
    R"([0-9][0-9][0-9])",
};

struct PreChoice {
    bool ignore_merges = false;
    bool add_bos = false;
};

bool one_of(const std::string& s, std::initializer_list<const char*> names) {
    return std::any_of(names.begin(), names.end(), [&](const char* n) { return s == n; });
}

PreChoice choose_pre_tokenizer(const std::string& pre, Tokenizer::Impl& impl) {
    const std::string what = impl.source + ": tokenizer.ggml.pre \"" + pre + "\"";
    PreChoice choice;
    if (one_of(pre, {"llama3", "llama-v3", "llama-bpe"})) {
        impl.pre_tokenizer.add_split(kLlama3Pattern, false, SplitBehavior::Isolated, false, what);
        impl.pre_tokenizer.add_byte_level(false, false);
        choice = {true, true};
    } else if (one_of(pre, {"qwen2", "deepseek-r1-qwen"})) {
        impl.normalizer.add_nfc();
        impl.pre_tokenizer.add_split(kQwen2Pattern, false, SplitBehavior::Isolated, false, what);
        impl.pre_tokenizer.add_byte_level(false, false);
    } else if (one_of(pre, {"smollm", "starcoder", "refact"})) {
        impl.pre_tokenizer.add_digits(true);
        impl.pre_tokenizer.add_byte_level(false, true);
    } else if (one_of(pre, {"gpt-2", "gpt2"})) {
        impl.pre_tokenizer.add_byte_level(false, true);
    } else if (one_of(pre, {"", "default"})) {
        for (const char* p : kDefaultPatterns)
            impl.pre_tokenizer.add_split(p, false, SplitBehavior::Isolated, false, what);
        impl.pre_tokenizer.add_byte_level(false, false);
    } else {
        fail(impl.source, ": tokenizer.ggml.pre \"", pre,
             "\" is not supported (supported: llama-bpe/llama3, qwen2, smollm, gpt-2, default)");
    }
    return choice;
}

std::int32_t type_of(const GgufVocab& v, std::size_t id) {
    return v.token_types.empty() ? kNormal : v.token_types[id];
}

std::vector<AddedToken> added_tokens_of(const GgufVocab& v) {
    std::vector<AddedToken> out;
    for (std::size_t id = 0; id < v.tokens.size(); ++id) {
        const std::int32_t type = type_of(v, id);
        if (type != kUnknown && type != kControl && type != kUserDefined) continue;
        AddedToken t;
        t.id = static_cast<TokenId>(id);
        t.content = v.tokens[id];
        t.special = type != kUserDefined;
        out.push_back(std::move(t));
    }
    return out;
}

Vocab vocab_map(const GgufVocab& v) {
    Vocab vocab;
    vocab.reserve(v.tokens.size());
    for (std::size_t id = 0; id < v.tokens.size(); ++id) vocab.emplace(v.tokens[id], static_cast<TokenId>(id));
    return vocab;
}

// Sentencepiece BPE as HF converts it: a merge for every split of a normal token into two
// tokens, ranked by the merged token's score (higher first), then by ids.
void add_score_merges(const GgufVocab& v, BpeModel& model) {
    std::vector<std::tuple<float, TokenId, TokenId, TokenId>> ranked;  // -score, merged, left, right
    for (std::size_t id = 0; id < v.tokens.size(); ++id) {
        if (type_of(v, id) != kNormal) continue;
        const std::string& token = v.tokens[id];
        std::size_t pos = 0;
        utf8::next(token, pos);
        for (; pos < token.size(); utf8::next(token, pos)) {
            const auto left = model.find(std::string_view(token).substr(0, pos));
            const auto right = model.find(std::string_view(token).substr(pos));
            if (left && right) ranked.emplace_back(-v.scores[id], static_cast<TokenId>(id), *left, *right);
        }
    }
    std::sort(ranked.begin(), ranked.end());
    for (const auto& [score, merged, left, right] : ranked) model.add_merge(left, right, merged);
}

void add_pair_merges(const GgufVocab& v, BpeModel& model, const std::string& source) {
    for (std::size_t i = 0; i < v.merges.size(); ++i) {
        const std::string& m = v.merges[i];
        const std::size_t space = m.find(' ');
        if (space == std::string::npos)
            fail(source, ": tokenizer.ggml.merges[", i, "]: expected \"a b\", found \"", m, "\"");
        const std::string left = m.substr(0, space), right = m.substr(space + 1);
        const auto a = model.find(left), b = model.find(right), ab = model.find(left + right);
        if (!a || !b || !ab)
            fail(source, ": tokenizer.ggml.merges[", i, "]: \"",
                 !a   ? left
                 : !b ? right
                      : left + right,
                 "\" is not in tokenizer.ggml.tokens");
        model.add_merge(*a, *b, *ab);
    }
}

void check_fields(const GgufVocab& v, const std::string& source) {
    if (v.tokens.empty()) fail(source, ": tokenizer.ggml.tokens is missing or empty");
    if (!v.token_types.empty() && v.token_types.size() != v.tokens.size())
        fail(source, ": tokenizer.ggml.token_type has ", v.token_types.size(), " entries, expected ", v.tokens.size(),
             " (one per token)");
    for (const std::string& t : v.tokens)
        if (utf8::first_invalid(t)) fail(source, ": tokenizer.ggml.tokens holds a token that is not valid UTF-8");
    const std::pair<const char*, std::optional<std::int32_t>> ids[] = {{"bos_token_id", v.bos_id},
                                                                       {"eos_token_id", v.eos_id},
                                                                       {"unknown_token_id", v.unk_id},
                                                                       {"padding_token_id", v.pad_id},
                                                                       {"eot_token_id", v.eot_id}};
    for (const auto& [key, id] : ids)
        if (id && (*id < 0 || static_cast<std::size_t>(*id) >= v.tokens.size()))
            fail(source, ": tokenizer.ggml.", key, " is ", *id, ", expected 0..", v.tokens.size() - 1);
}

}  // namespace

Tokenizer Tokenizer::from_gguf_vocab(const GgufVocab& v, const std::string& source) {
    check_fields(v, source);
    auto impl = std::make_unique<Impl>();
    impl->source = source;
    bool add_bos = false;
    if (v.model == "gpt2") {
        impl->scheme = "byte-level BPE";
        const PreChoice pre = choose_pre_tokenizer(v.pre, *impl);
        BpeModel::Options options;
        options.ignore_merges = pre.ignore_merges;
        impl->model.emplace(vocab_map(v), options);
        add_pair_merges(v, *impl->model, source);
        impl->decoder.add_byte_level();
        add_bos = pre.add_bos;
    } else if (v.model == "llama") {
        impl->scheme = "sentencepiece BPE (byte fallback)";
        if (v.scores.size() != v.tokens.size())
            fail(source, ": tokenizer.ggml.scores has ", v.scores.size(), " entries, expected ", v.tokens.size(),
                 " (one per token)");
        BpeModel::Options options;
        options.byte_fallback = true;
        options.fuse_unk = true;
        options.unk_id = v.unk_id;
        for (std::size_t id = 0; id < v.tokens.size() && !options.unk_id; ++id)
            if (type_of(v, id) == kUnknown) options.unk_id = static_cast<TokenId>(id);
        impl->model.emplace(vocab_map(v), options);
        add_score_merges(v, *impl->model);
        // Llama-2's published layout: a "▁" before the text, spaces as "▁", and back.
        const bool space_prefix = v.add_space_prefix.value_or(true);
        if (space_prefix) impl->normalizer.add_prepend("\u2581");
        impl->normalizer.add_replace(" ", true, "\u2581", source + ": space replacement");
        impl->decoder.add_replace("\u2581", true, " ", source + ": space replacement");
        impl->decoder.add_byte_fallback();
        impl->decoder.add_fuse();
        if (space_prefix) impl->decoder.add_strip(U' ', 1, 0);
        add_bos = true;
    } else {
        fail(source, ": tokenizer.ggml.model \"", v.model,
             "\" is not supported (supported: gpt2 (byte-level BPE), llama (sentencepiece BPE))");
    }
    if (v.add_bos.value_or(add_bos)) {
        if (!v.bos_id) fail(source, ": tokenizer.ggml.add_bos_token is set but tokenizer.ggml.bos_token_id is missing");
        impl->post.prefix.push_back(*v.bos_id);
    }
    if (v.add_eos.value_or(false)) {
        if (!v.eos_id) fail(source, ": tokenizer.ggml.add_eos_token is set but tokenizer.ggml.eos_token_id is missing");
        impl->post.suffix.push_back(*v.eos_id);
    }
    impl->bos = v.bos_id;
    impl->eos = v.eos_id;
    impl->finish(added_tokens_of(v));
    return Tokenizer(std::move(impl));
}

}  // namespace lw
