// Tokenizer::from_json_*: reads Hugging Face's tokenizer.json into the pipeline parts.
#include "core/error.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/utf8.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

namespace lw {

namespace {

using nlohmann::json;

constexpr int kMaxNesting = 64;  // real files nest 4 deep; bounds the recursive walk below

// Field access that names the file and the JSON path at fault.
struct Reader {
    const std::string& source;

    [[noreturn]] void bad(const std::string& path, const std::string& what) const {
        fail(source, ": ", path, ": ", what);
    }

    const json* find(const json& obj, const char* key) const {
        const auto it = obj.find(key);
        return it == obj.end() || it->is_null() ? nullptr : &*it;
    }
    const json& need(const json& obj, const char* key, const std::string& path) const {
        const json* v = find(obj, key);
        if (!v) bad(path + "." + key, "missing");
        return *v;
    }
    std::string string(const json& obj, const char* key, const std::string& path) const {
        const json& v = need(obj, key, path);
        if (!v.is_string()) bad(path + "." + key, cat("expected a string, found ", v.type_name()));
        return v.get<std::string>();
    }
    bool boolean(const json& obj, const char* key, const std::string& path, bool fallback) const {
        const json* v = find(obj, key);
        if (!v) return fallback;
        if (!v->is_boolean()) bad(path + "." + key, cat("expected true or false, found ", v->type_name()));
        return v->get<bool>();
    }
    std::size_t count(const json& obj, const char* key, const std::string& path, std::size_t fallback) const {
        const json* v = find(obj, key);
        if (!v) return fallback;
        if (!v->is_number_unsigned()) bad(path + "." + key, cat("expected a count, found ", v->dump()));
        return v->get<std::size_t>();
    }
    static bool is_id(const json& v) {
        return v.is_number_integer() && v.get<std::int64_t>() >= 0 && v.get<std::int64_t>() <= INT32_MAX;
    }
    TokenId id(const json& v, const std::string& path) const {
        if (!is_id(v)) bad(path, cat("expected a token id (0..2147483647), found ", v.dump()));
        return static_cast<TokenId>(v.get<std::int64_t>());
    }
    const json& array(const json& obj, const char* key, const std::string& path) const {
        const json& v = need(obj, key, path);
        if (!v.is_array()) bad(path + "." + key, cat("expected an array, found ", v.type_name()));
        return v;
    }
    std::string type(const json& obj, const std::string& path) const {
        if (!obj.is_object()) bad(path, cat("expected an object, found ", obj.type_name()));
        return string(obj, "type", path);
    }
    // {"String": "..."} or {"Regex": "..."}: the pattern and whether it is literal.
    std::pair<std::string, bool> pattern(const json& obj, const std::string& path) const {
        const json& p = need(obj, "pattern", path);
        if (p.is_object() && p.contains("String") && p["String"].is_string())
            return {p["String"].get<std::string>(), true};
        if (p.is_object() && p.contains("Regex") && p["Regex"].is_string())
            return {p["Regex"].get<std::string>(), false};
        bad(path + ".pattern", cat("expected {\"String\": ...} or {\"Regex\": ...}, found ", p.dump()));
    }
    char32_t one_char(const json& obj, const char* key, const std::string& path) const {
        const std::string s = string(obj, key, path);
        std::size_t pos = 0;
        const char32_t c = s.empty() ? 0 : utf8::next(s, pos);
        if (s.empty() || pos != s.size()) bad(path + "." + key, cat("expected one character, found \"", s, "\""));
        return c;
    }
    PrependScheme prepend_scheme(const json& obj, const std::string& path) const {
        if (const json* v = find(obj, "prepend_scheme")) {
            const std::string s = v->is_string() ? v->get<std::string>() : v->dump();
            if (s == "first") return PrependScheme::First;
            if (s == "always") return PrependScheme::Always;
            if (s == "never") return PrependScheme::Never;
            bad(path + ".prepend_scheme", cat("expected \"first\", \"always\" or \"never\", found ", v->dump()));
        }
        // Files older than prepend_scheme say add_prefix_space.
        return boolean(obj, "add_prefix_space", path, true) ? PrependScheme::Always : PrependScheme::Never;
    }
};

std::string item_path(const std::string& path, const char* key, std::size_t i) {
    return cat(path, ".", key, "[", i, "]");
}

void read_normalizer(const Reader& r, const json& n, const std::string& path, Normalizer& out) {
    const std::string type = r.type(n, path);
    if (type == "Sequence") {
        const json& list = r.array(n, "normalizers", path);
        for (std::size_t i = 0; i < list.size(); ++i)
            read_normalizer(r, list[i], item_path(path, "normalizers", i), out);
    } else if (type == "Prepend") {
        out.add_prepend(r.string(n, "prepend", path));
    } else if (type == "Replace") {
        const auto [pattern, literal] = r.pattern(n, path);
        out.add_replace(pattern, literal, r.string(n, "content", path), r.source + ": " + path + ".pattern");
    } else if (type == "NFC") {
        out.add_nfc();
    } else {
        r.bad(path + ".type",
              cat("normalizer \"", type, "\" is not supported (supported: Sequence, Prepend, Replace, NFC)"));
    }
}

SplitBehavior split_behavior(const Reader& r, const json& n, const std::string& path) {
    const std::string b = r.string(n, "behavior", path);
    if (b == "Removed") return SplitBehavior::Removed;
    if (b == "Isolated") return SplitBehavior::Isolated;
    if (b == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
    if (b == "MergedWithNext") return SplitBehavior::MergedWithNext;
    if (b == "Contiguous") return SplitBehavior::Contiguous;
    r.bad(path + ".behavior", cat("unknown split behavior \"", b, "\""));
}

void read_pre_tokenizer(const Reader& r, const json& n, const std::string& path, PreTokenizer& out) {
    const std::string type = r.type(n, path);
    if (type == "Sequence") {
        const json& list = r.array(n, "pretokenizers", path);
        for (std::size_t i = 0; i < list.size(); ++i)
            read_pre_tokenizer(r, list[i], item_path(path, "pretokenizers", i), out);
    } else if (type == "ByteLevel") {
        out.add_byte_level(r.boolean(n, "add_prefix_space", path, true), r.boolean(n, "use_regex", path, true));
    } else if (type == "Split") {
        const auto [pattern, literal] = r.pattern(n, path);
        out.add_split(pattern, literal, split_behavior(r, n, path), r.boolean(n, "invert", path, false),
                      r.source + ": " + path + ".pattern");
    } else if (type == "Metaspace") {
        std::string replacement;
        utf8::append(replacement, r.one_char(n, "replacement", path));
        out.add_metaspace(replacement, r.prepend_scheme(n, path), r.boolean(n, "split", path, true));
    } else if (type == "Digits") {
        out.add_digits(r.boolean(n, "individual_digits", path, false));
    } else {
        r.bad(path + ".type", cat("pre-tokenizer \"", type,
                                  "\" is not supported (supported: Sequence, ByteLevel, Split, Metaspace, Digits)"));
    }
}

void read_decoder(const Reader& r, const json& n, const std::string& path, Decoder& out) {
    const std::string type = r.type(n, path);
    if (type == "Sequence") {
        const json& list = r.array(n, "decoders", path);
        for (std::size_t i = 0; i < list.size(); ++i) read_decoder(r, list[i], item_path(path, "decoders", i), out);
    } else if (type == "ByteLevel") {
        out.add_byte_level();
    } else if (type == "Replace") {
        const auto [pattern, literal] = r.pattern(n, path);
        out.add_replace(pattern, literal, r.string(n, "content", path), r.source + ": " + path + ".pattern");
    } else if (type == "ByteFallback") {
        out.add_byte_fallback();
    } else if (type == "Fuse") {
        out.add_fuse();
    } else if (type == "Strip") {
        out.add_strip(r.one_char(n, "content", path), r.count(n, "start", path, 0), r.count(n, "stop", path, 0));
    } else if (type == "Metaspace") {
        out.add_metaspace(r.one_char(n, "replacement", path), r.prepend_scheme(n, path));
    } else {
        r.bad(path + ".type", cat("decoder \"", type,
                                  "\" is not supported (supported: Sequence, ByteLevel, Replace, ByteFallback, Fuse, "
                                  "Strip, Metaspace)"));
    }
}

void read_post_processor(const Reader& r, const json& n, const std::string& path, PostProcessor& out) {
    const std::string type = r.type(n, path);
    if (type == "Sequence") {
        const json& list = r.array(n, "processors", path);
        for (std::size_t i = 0; i < list.size(); ++i)
            read_post_processor(r, list[i], item_path(path, "processors", i), out);
    } else if (type == "ByteLevel") {
        // Adjusts offsets only.
    } else if (type == "TemplateProcessing") {
        const json& single = r.array(n, "single", path);
        const json& specials = r.need(n, "special_tokens", path);
        bool seen_sequence = false;
        for (std::size_t i = 0; i < single.size(); ++i) {
            const std::string ipath = item_path(path, "single", i);
            const json& item = single[i];
            if (item.is_object() && item.contains("Sequence")) {
                if (seen_sequence) r.bad(ipath, "a single-sequence template holds one sequence");
                seen_sequence = true;
            } else if (item.is_object() && item.contains("SpecialToken")) {
                const std::string name = r.string(item["SpecialToken"], "id", ipath + ".SpecialToken");
                const json* entry = specials.is_object() ? r.find(specials, name.c_str()) : nullptr;
                if (!entry) r.bad(path + ".special_tokens", cat("no entry for \"", name, "\""));
                const json& ids = r.array(*entry, "ids", path + ".special_tokens." + name);
                for (std::size_t k = 0; k < ids.size(); ++k)
                    (seen_sequence ? out.suffix : out.prefix)
                        .push_back(r.id(ids[k], cat(path, ".special_tokens.", name, ".ids[", k, "]")));
            } else {
                r.bad(ipath, cat("expected {\"Sequence\": ...} or {\"SpecialToken\": ...}, found ", item.dump()));
            }
        }
        if (!seen_sequence) r.bad(path + ".single", "template has no $A sequence");
    } else {
        r.bad(path + ".type", cat("post-processor \"", type,
                                  "\" is not supported (supported: Sequence, ByteLevel, TemplateProcessing)"));
    }
}

BpeModel read_model(const Reader& r, const json& m) {
    const std::string type = r.type(m, "model");
    if (type != "BPE")
        r.bad("model.type", cat("model \"", type, "\" is not supported (only BPE: WordPiece and Unigram are not)"));
    if (const json* d = r.find(m, "dropout"); d && !(d->is_number() && d->get<double>() == 0.0))
        r.bad("model.dropout", cat("BPE dropout is not supported, found ", d->dump()));
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
        if (const json* v = r.find(m, key); v && !(v->is_string() && v->get<std::string>().empty()))
            r.bad(std::string("model.") + key, cat("is not supported, found ", v->dump()));

    const json& vocab_json = r.need(m, "vocab", "model");
    if (!vocab_json.is_object()) r.bad("model.vocab", cat("expected an object, found ", vocab_json.type_name()));
    Vocab vocab;
    vocab.reserve(vocab_json.size());
    for (const auto& [token, id] : vocab_json.items()) {
        if (!Reader::is_id(id)) r.id(id, "model.vocab[\"" + token + "\"]");  // names the entry
        vocab.emplace(token, static_cast<TokenId>(id.get<std::int64_t>()));
    }

    BpeModel::Options options;
    options.fuse_unk = r.boolean(m, "fuse_unk", "model", false);
    options.byte_fallback = r.boolean(m, "byte_fallback", "model", false);
    options.ignore_merges = r.boolean(m, "ignore_merges", "model", false);
    if (r.find(m, "unk_token")) {
        const std::string unk = r.string(m, "unk_token", "model");
        const auto it = vocab.find(unk);
        if (it == vocab.end()) r.bad("model.unk_token", cat("\"", unk, "\" is not in model.vocab"));
        options.unk_id = it->second;
    }
    BpeModel model(std::move(vocab), options);

    const json& merges = r.array(m, "merges", "model");
    for (std::size_t i = 0; i < merges.size(); ++i) {
        const json& e = merges[i];
        std::string left, right;
        if (e.is_string()) {  // "a b"
            const std::string s = e.get<std::string>();
            const std::size_t space = s.find(' ');
            if (space == std::string::npos)
                r.bad(item_path("model", "merges", i), cat("expected \"a b\", found \"", s, "\""));
            left = s.substr(0, space);
            right = s.substr(space + 1);
        } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {  // ["a", "b"]
            left = e[0].get<std::string>();
            right = e[1].get<std::string>();
        } else {
            r.bad(item_path("model", "merges", i), cat("expected \"a b\" or [\"a\", \"b\"], found ", e.dump()));
        }
        const auto a = model.find(left), b = model.find(right), ab = model.find(left + right);
        if (!a || !b || !ab)
            r.bad(item_path("model", "merges", i), cat("\"",
                                                       !a   ? left
                                                       : !b ? right
                                                            : left + right,
                                                       "\" is not in model.vocab"));
        model.add_merge(*a, *b, *ab);
    }
    return model;
}

std::vector<AddedToken> read_added_tokens(const Reader& r, const json& root) {
    std::vector<AddedToken> out;
    const json* list = r.find(root, "added_tokens");
    if (!list) return out;
    if (!list->is_array()) r.bad("added_tokens", cat("expected an array, found ", list->type_name()));
    for (std::size_t i = 0; i < list->size(); ++i) {
        const std::string path = cat("added_tokens[", i, "]");
        const json& t = (*list)[i];
        if (!t.is_object()) r.bad(path, cat("expected an object, found ", t.type_name()));
        AddedToken a;
        a.id = r.id(r.need(t, "id", path), path + ".id");
        a.content = r.string(t, "content", path);
        a.single_word = r.boolean(t, "single_word", path, false);
        a.lstrip = r.boolean(t, "lstrip", path, false);
        a.rstrip = r.boolean(t, "rstrip", path, false);
        a.normalized = r.boolean(t, "normalized", path, true);
        a.special = r.boolean(t, "special", path, false);
        out.push_back(std::move(a));
    }
    return out;
}

// Rejects nesting deeper than real files use before handing the text to the JSON parser.
void check_nesting(std::string_view text, const std::string& source) {
    int depth = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\')
                ++i;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > kMaxNesting) fail(source, ": JSON nests deeper than ", kMaxNesting, " levels");
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
}

std::optional<TokenId> first_known(const Tokenizer& tok, std::initializer_list<const char*> names) {
    for (const char* name : names)
        if (auto id = tok.token_to_id(name)) return id;
    return std::nullopt;
}

}  // namespace

Tokenizer Tokenizer::from_json_text(std::string_view text, const std::string& source) {
    check_nesting(text, source);
    json root;
    try {
        root = json::parse(text);
    } catch (const json::exception& e) {
        fail(source, ": not valid JSON: ", e.what());
    }
    const Reader r{source};
    if (!root.is_object()) r.bad("(top level)", cat("expected an object, found ", root.type_name()));

    auto impl = std::make_unique<Impl>();
    impl->source = source;
    if (const json* t = r.find(root, "truncation")) r.bad("truncation", cat("is not supported, found ", t->dump()));
    impl->model.emplace(read_model(r, r.need(root, "model", "(top level)")));
    if (const json* n = r.find(root, "normalizer")) read_normalizer(r, *n, "normalizer", impl->normalizer);
    if (const json* n = r.find(root, "pre_tokenizer")) read_pre_tokenizer(r, *n, "pre_tokenizer", impl->pre_tokenizer);
    if (const json* n = r.find(root, "post_processor")) read_post_processor(r, *n, "post_processor", impl->post);
    if (const json* n = r.find(root, "decoder")) read_decoder(r, *n, "decoder", impl->decoder);
    impl->scheme = impl->pre_tokenizer.byte_level()       ? "byte-level BPE"
                   : impl->model->options().byte_fallback ? "sentencepiece BPE (byte fallback)"
                                                          : "BPE";
    impl->finish(read_added_tokens(r, root));

    Tokenizer tok(std::move(impl));
    // tokenizer.json does not name BOS/EOS: take the template's leading token, else the usual names.
    tok.impl_->bos = !tok.impl_->post.prefix.empty() ? std::optional(tok.impl_->post.prefix.front())
                                                     : first_known(tok, {"<s>", "<|begin_of_text|>"});
    tok.impl_->eos = first_known(tok, {"</s>", "<|end_of_text|>", "<|endoftext|>", "<|im_end|>"});
    return tok;
}

Tokenizer Tokenizer::from_json_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path.string(), ": cannot open tokenizer file");
    std::ostringstream text;
    text << in.rdbuf();
    return from_json_text(text.str(), path.string());
}

}  // namespace lw
