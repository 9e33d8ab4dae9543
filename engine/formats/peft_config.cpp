#include "formats/peft_config.h"

#include "core/error.h"
#include "model/model_config.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <nlohmann/json.hpp>
#include <pcre2.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <fstream>
#include <memory>
#include <sstream>

namespace lw {
namespace {

// nlohmann's ordered variant keeps rank_pattern / alpha_pattern keys in file order.
using Json = nlohmann::ordered_json;

// Python's `re` as PEFT uses it, through PCRE2 (same syntax for what configs use),
// with a match limit so a pathological pattern fails instead of hanging.
struct Pcre2Deleter {
    void operator()(pcre2_code* p) const { pcre2_code_free(p); }
    void operator()(pcre2_match_data* p) const { pcre2_match_data_free(p); }
    void operator()(pcre2_match_context* p) const { pcre2_match_context_free(p); }
};

std::unique_ptr<pcre2_code, Pcre2Deleter> compile_regex(const std::string& pattern, const std::string& what) {
    int code = 0;
    PCRE2_SIZE offset = 0;
    pcre2_code* re =
        pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF, &code, &offset, nullptr);
    if (!re) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(code, message, sizeof message);
        fail(what, ": invalid regex '", pattern, "': ", reinterpret_cast<const char*>(message), " at offset ", offset);
    }
    return std::unique_ptr<pcre2_code, Pcre2Deleter>(re);
}

// Matches `pattern` at the start of `subject` (re.match), or the whole of it when
// `whole` (re.fullmatch). Returns nullopt when it does not match, else the text of
// the named group `group` (empty when no group is asked for).
std::optional<std::string> regex_match(const std::string& pattern, const std::string& subject, bool whole,
                                       const std::string& what, const char* group = nullptr) {
    const auto re = compile_regex(pattern, what);
    std::unique_ptr<pcre2_match_data, Pcre2Deleter> data(pcre2_match_data_create_from_pattern(re.get(), nullptr));
    std::unique_ptr<pcre2_match_context, Pcre2Deleter> context(pcre2_match_context_create(nullptr));
    if (!data || !context) fail(what, ": out of memory matching regex '", pattern, "'");
    pcre2_set_match_limit(context.get(), 1000000);
    pcre2_set_depth_limit(context.get(), 10000);
    const std::uint32_t options = PCRE2_ANCHORED | (whole ? PCRE2_ENDANCHORED : 0u);
    const int rc = pcre2_match(re.get(), reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), 0, options,
                               data.get(), context.get());
    if (rc == PCRE2_ERROR_NOMATCH) return std::nullopt;
    if (rc < 0) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(rc, message, sizeof message);
        fail(what, ": regex '", pattern, "' failed on '", subject, "': ", reinterpret_cast<const char*>(message));
    }
    if (!group) return std::string();
    const int n = pcre2_substring_number_from_name(re.get(), reinterpret_cast<PCRE2_SPTR>(group));
    if (n < 0 || n >= rc) return std::string();
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(data.get());
    if (ov[2 * n] == PCRE2_UNSET) return std::string();
    return subject.substr(ov[2 * n], ov[2 * n + 1] - ov[2 * n]);
}

// get_pattern_key's test: the key matches the end of the name at a dot boundary.
std::string pattern_key_regex(const std::string& key) {
    return "(.*\\.)?(" + key + ")$";
}

bool ends_with_module(const std::string& name, const std::string& suffix) {
    return name == suffix || name.ends_with("." + suffix);
}

bool is_linear_module(const std::string& name) {
    const auto& names = linear_module_names();
    return std::find(names.begin(), names.end(), name) != names.end();
}

std::string linear_names_list() {
    std::string s;
    for (const auto& n : linear_module_names()) s += (s.empty() ? "" : ", ") + n;
    return s;
}

// Reads the fields of one adapter_config.json, naming the file and field in errors.
class ConfigReader {
public:
    ConfigReader(const Json& j, const std::string& source) : j_(j), source_(source) {}

    template <class... Args>
    [[noreturn]] void error(const std::string& field, Args&&... args) const {
        fail(source_, ": field '", field, "' ", std::forward<Args>(args)...);
    }
    // Absent and null mean "not set", as in PEFT.
    const Json* get(const std::string& field) const {
        auto it = j_.find(field);
        return it == j_.end() || it->is_null() ? nullptr : &*it;
    }
    int integer(const std::string& field, int fallback, int min) const {
        const Json* v = get(field);
        if (!v) return fallback;
        if (!v->is_number_integer()) error(field, "must be an integer, found ", v->dump());
        const auto x = v->get<std::int64_t>();
        if (x < min || x > INT_MAX) error(field, "must be an integer >= ", min, ", found ", x);
        return static_cast<int>(x);
    }
    double number(const std::string& field, const Json& v) const {
        if (!v.is_number() || !std::isfinite(v.get<double>()))
            error(field, "must be a finite number, found ", v.dump());
        return v.get<double>();
    }
    bool boolean(const std::string& field) const {
        const Json* v = get(field);
        if (!v) return false;
        if (!v->is_boolean()) error(field, "must be true or false, found ", v->dump());
        return v->get<bool>();
    }
    std::string string(const std::string& field) const {
        const Json* v = get(field);
        if (!v) return {};
        if (!v->is_string()) error(field, "must be a string, found ", v->dump());
        return v->get<std::string>();
    }
    // A string or a list of strings.
    std::vector<std::string> strings(const std::string& field, const Json& v) const {
        if (v.is_string()) return {v.get<std::string>()};
        if (!v.is_array()) error(field, "must be a string or a list of strings, found ", v.dump());
        std::vector<std::string> out;
        for (const auto& s : v) {
            if (!s.is_string()) error(field, "must list strings, found ", s.dump());
            out.push_back(s.get<std::string>());
        }
        return out;
    }
    void check_regex(const std::string& field, const std::string& pattern) const {
        compile_regex(pattern, cat(source_, ": field '", field, "'"));
    }
    // Fields whose non-empty values change the model in ways plain LoRA inference cannot.
    void require_unset(const std::string& field, const char* why) const {
        const Json* v = get(field);
        if (v && !(v->is_boolean() && !v->get<bool>()) && !(v->is_array() && v->empty()) &&
            !(v->is_object() && v->empty()))
            error(field, "is ", v->dump(), ": ", why);
    }

private:
    const Json& j_;
    const std::string& source_;
};

void read_targets(const ConfigReader& in, PeftConfig& c) {
    const Json* t = in.get("target_modules");
    if (!t) in.error("target_modules", "is missing: the adapter targets no module");
    if (t->is_string() && t->get<std::string>() == "all-linear") {
        c.target_modules = linear_module_names();
    } else if (t->is_string()) {
        c.target_modules_regex = t->get<std::string>();
        in.check_regex("target_modules", *c.target_modules_regex);
    } else {
        c.target_modules = in.strings("target_modules", *t);
        if (c.target_modules.empty()) in.error("target_modules", "is empty: the adapter targets no module");
    }
    for (const auto& m : c.target_modules) {
        const std::string last = m.substr(m.rfind('.') + 1);
        if (!is_linear_module(last))
            in.error("target_modules", "names '", m, "', which is not one of the linear modules ", linear_names_list(),
                     " (embeddings, lm_head and norms cannot be adapted)");
    }
    if (c.target_modules_regex) {
        for (const char* other : {"model.embed_tokens", "lm_head", "model.norm"})
            if (regex_match(*c.target_modules_regex, other, true, cat(c.source, ": field 'target_modules'")))
                in.error("target_modules", "regex '", *c.target_modules_regex, "' matches ", other,
                         ", which is not one of the linear modules ", linear_names_list());
    }
    if (const Json* e = in.get("exclude_modules")) {
        if (e->is_string()) {
            c.exclude_modules_regex = e->get<std::string>();
            in.check_regex("exclude_modules", *c.exclude_modules_regex);
        } else {
            c.exclude_modules = in.strings("exclude_modules", *e);
        }
    }
}

template <class T, class Read>
std::vector<std::pair<std::string, T>> read_patterns(const ConfigReader& in, const std::string& field, Read read) {
    std::vector<std::pair<std::string, T>> out;
    const Json* p = in.get(field);
    if (!p) return out;
    if (!p->is_object()) in.error(field, "must be an object of module patterns, found ", p->dump());
    for (const auto& [key, value] : p->items()) {
        in.check_regex(field, pattern_key_regex(key));
        out.emplace_back(key, read(value));
    }
    return out;
}

void read_layers(const ConfigReader& in, PeftConfig& c) {
    if (const Json* l = in.get("layers_to_transform")) {
        std::vector<int> layers;
        const Json list = l->is_array() ? *l : Json::array({*l});
        for (const auto& x : list) {
            if (!x.is_number_integer() || x.get<std::int64_t>() < 0 || x.get<std::int64_t>() > INT_MAX)
                in.error("layers_to_transform", "must be a layer index or a list of them, found ", l->dump());
            layers.push_back(static_cast<int>(x.get<std::int64_t>()));
        }
        c.layers_to_transform = std::move(layers);
    }
    if (const Json* p = in.get("layers_pattern")) {
        c.layers_pattern = in.strings("layers_pattern", *p);
        for (const auto& pattern : c.layers_pattern) in.check_regex("layers_pattern", pattern);
    }
}

std::string read_text_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path.string(), ": cannot open");
    std::ostringstream s;
    s << in.rdbuf();
    if (in.bad()) fail(path.string(), ": cannot read");
    return s.str();
}

}  // namespace

PeftConfig parse_peft_config(std::string_view json_text, const std::string& source) {
    Json j;
    try {
        j = Json::parse(json_text);
    } catch (const Json::exception& e) {
        fail(source, ": invalid JSON: ", e.what());
    }
    if (!j.is_object()) fail(source, ": expected a JSON object, found ", j.type_name());
    ConfigReader in(j, source);
    PeftConfig c;
    c.source = source;

    if (const std::string type = in.string("peft_type"); !type.empty() && type != "LORA")
        in.error("peft_type", "is \"", type, "\": only LORA adapters are supported");
    if (const std::string bias = in.string("bias"); !bias.empty() && bias != "none")
        in.error("bias", "is \"", bias, "\": only \"none\" is supported (the adapter would change the base biases)");
    in.require_unset("modules_to_save", "whole modules replaced by the adapter are not supported");
    in.require_unset("use_dora", "DoRA adapters are not supported");
    in.require_unset("lora_bias", "LoRA B biases are not supported");
    in.require_unset("layer_replication", "layer replication is not supported");
    in.require_unset("trainable_token_indices", "trainable tokens (embedding changes) are not supported");
    in.require_unset("target_parameters", "adapting raw parameters is not supported");
    in.boolean("fan_in_fan_out");  // PEFT resets it to false for nn.Linear, so it changes nothing

    c.r = in.integer("r", c.r, 1);
    if (const Json* a = in.get("lora_alpha")) c.lora_alpha = in.number("lora_alpha", *a);
    c.use_rslora = in.boolean("use_rslora");
    read_targets(in, c);
    c.rank_pattern = read_patterns<int>(in, "rank_pattern", [&](const Json& v) {
        if (!v.is_number_integer() || v.get<std::int64_t>() < 1 || v.get<std::int64_t>() > INT_MAX)
            in.error("rank_pattern", "must map patterns to ranks >= 1, found ", v.dump());
        return static_cast<int>(v.get<std::int64_t>());
    });
    c.alpha_pattern =
        read_patterns<double>(in, "alpha_pattern", [&](const Json& v) { return in.number("alpha_pattern", v); });
    read_layers(in, c);
    c.base_model_name_or_path = in.string("base_model_name_or_path");
    return c;
}

PeftConfig read_peft_config(const std::filesystem::path& path) {
    return parse_peft_config(read_text_file(path), path.string());
}

bool peft_targets_module(const PeftConfig& c, const std::string& name) {
    const std::string what = cat(c.source, ": matching module ", name);
    if (c.exclude_modules_regex && regex_match(*c.exclude_modules_regex, name, true, what)) return false;
    for (const auto& e : c.exclude_modules)
        if (ends_with_module(name, e)) return false;
    if (c.target_modules_regex) return regex_match(*c.target_modules_regex, name, true, what).has_value();

    const bool found = std::any_of(c.target_modules.begin(), c.target_modules.end(),
                                   [&](const auto& t) { return ends_with_module(name, t); });
    if (!found || !c.layers_to_transform || c.layers_to_transform->empty()) return found;
    // The layer index is the first number segment after one of layers_pattern (any segment if none).
    std::optional<std::string> index;
    if (c.layers_pattern.empty()) index = regex_match(R"(.*?\.[^.]*\.(?P<idx>\d+)\.)", name, false, what, "idx");
    for (const auto& p : c.layers_pattern) {
        index = regex_match("(?:^|.*?\\.)" + p + "\\.(?P<idx>\\d+)\\.", name, false, what, "idx");
        if (index) break;
    }
    if (!index || index->empty() || index->size() > 9) return false;
    const int layer = std::stoi(*index);
    const auto& layers = *c.layers_to_transform;
    return std::find(layers.begin(), layers.end(), layer) != layers.end();
}

int peft_rank(const PeftConfig& c, const std::string& name) {
    for (const auto& [key, rank] : c.rank_pattern)
        if (regex_match(pattern_key_regex(key), name, false, cat(c.source, ": field 'rank_pattern'"))) return rank;
    return c.r;
}

double peft_alpha(const PeftConfig& c, const std::string& name) {
    for (const auto& [key, alpha] : c.alpha_pattern)
        if (regex_match(pattern_key_regex(key), name, false, cat(c.source, ": field 'alpha_pattern'"))) return alpha;
    return c.lora_alpha;
}

double peft_scale(const PeftConfig& c, const std::string& name) {
    const int r = peft_rank(c, name);
    return peft_alpha(c, name) / (c.use_rslora ? std::sqrt(static_cast<double>(r)) : static_cast<double>(r));
}

}  // namespace lw
