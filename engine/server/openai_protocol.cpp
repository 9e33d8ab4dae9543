#include "server/openai_protocol.h"

#include "tokenizer/tokenizer.h"

#include <cmath>
#include <limits>
#include <map>

namespace lw {

using nlohmann::json;

json ApiError::body() const {
    return {{"error",
             {{"message", what()},
              {"type", status_ >= 500 ? "server_error" : "invalid_request_error"},
              {"param", param_.empty() ? json(nullptr) : json(param_)},
              {"code", code_}}}};
}

ApiError bad_request(const std::string& param, const std::string& message) {
    return ApiError(400, "invalid_request", param, message);
}

ApiError model_not_found(const std::string& model) {
    return ApiError(404, "model_not_found", "model", "The model '" + model + "' does not exist.");
}

namespace {

using Body = nlohmann::ordered_json;  // keeps the client's key order (chat templates may show it)

// Typed reads of optional fields; null counts as absent, as OpenAI's clients send it.
const Body* field(const Body& body, const char* name) {
    const auto it = body.find(name);
    return it == body.end() || it->is_null() ? nullptr : &*it;
}

bool read_bool(const Body& body, const char* name, bool fallback) {
    const Body* v = field(body, name);
    if (!v) return fallback;
    if (!v->is_boolean()) throw bad_request(name, cat("'", name, "' must be true or false"));
    return v->get<bool>();
}

std::optional<long long> read_integer(const Body& body, const char* name, long long min, long long max) {
    const Body* v = field(body, name);
    if (!v) return std::nullopt;
    if (!v->is_number_integer()) throw bad_request(name, cat("'", name, "' must be an integer"));
    // Unsigned JSON integers above int64's range read as negative here; both ends are checked.
    const long long x = v->is_number_unsigned() && v->get<unsigned long long>() > std::numeric_limits<long long>::max()
                            ? std::numeric_limits<long long>::max()
                            : v->get<long long>();
    if (x < min || x > max)
        throw bad_request(name, cat("'", name, "' must be between ", min, " and ", max, ", got ", *v));
    return x;
}

std::optional<float> read_number(const Body& body, const char* name, double min, double max) {
    const Body* v = field(body, name);
    if (!v) return std::nullopt;
    if (!v->is_number()) throw bad_request(name, cat("'", name, "' must be a number"));
    const double x = v->get<double>();
    if (!(x >= min && x <= max))
        throw bad_request(name, cat("'", name, "' must be between ", min, " and ", max, ", got ", *v));
    return static_cast<float>(x);
}

std::vector<TokenId> read_token_ids(const Body& v, const char* name) {
    std::vector<TokenId> ids;
    for (const auto& t : v) {
        if (!t.is_number_integer() || t.get<long long>() < 0 ||
            t.get<long long>() > std::numeric_limits<TokenId>::max())
            throw bad_request(name, cat("'", name, "' must hold token ids (non-negative integers), got ", t));
        ids.push_back(t.get<TokenId>());
    }
    return ids;
}

void read_prompt(const Body& body, CompletionRequest& r) {
    const Body* p = field(body, "prompt");
    if (!p) throw bad_request("prompt", "'prompt' is required");
    // A list of one prompt is the same as the prompt itself.
    const Body& prompt = p->is_array() && p->size() == 1 && ((*p)[0].is_string() || (*p)[0].is_array()) ? (*p)[0] : *p;
    if (prompt.is_string()) {
        r.prompt_text = prompt.get<std::string>();
    } else if (prompt.is_array() && !prompt.empty() && prompt[0].is_number()) {
        r.prompt_tokens = read_token_ids(prompt, "prompt");
    } else if (prompt.is_array() && !prompt.empty()) {
        throw bad_request("prompt", "'prompt' as a batch of several prompts is not supported: send one per request");
    } else {
        throw bad_request("prompt", "'prompt' must be a non-empty string or list of token ids");
    }
}

void read_messages(const Body& body, CompletionRequest& r) {
    const Body* m = field(body, "messages");
    if (!m || !m->is_array() || m->empty()) throw bad_request("messages", "'messages' must be a non-empty list");
    r.messages = *m;
    for (auto& message : r.messages) {
        if (!message.is_object() || !message.contains("role") || !message["role"].is_string())
            throw bad_request("messages", "each of 'messages' must be an object with a string 'role'");
        const auto content = message.find("content");
        if (content == message.end() || content->is_null() || content->is_string()) continue;
        if (!content->is_array())
            throw bad_request("messages", "a message's 'content' must be a string or a list of parts");
        // Templates expect text: text parts are joined as vLLM does for string-content templates.
        std::string text;
        for (const auto& part : *content) {
            if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
                !part["text"].is_string())
                throw bad_request(
                    "messages",
                    "'messages' may hold only text content parts ({\"type\": \"text\", \"text\": ...}) are supported");
            text += (text.empty() ? "" : "\n") + part["text"].get<std::string>();
        }
        *content = text;
    }
    r.add_generation_prompt = read_bool(body, "add_generation_prompt", true);
}

std::vector<std::string> read_stop(const Body& body) {
    const Body* v = field(body, "stop");
    if (!v) return {};
    if (v->is_string())
        return v->get<std::string>().empty() ? std::vector<std::string>{} : std::vector{v->get<std::string>()};
    std::vector<std::string> stop;
    if (v->is_array())
        for (const auto& s : *v) {
            if (!s.is_string() || s.get<std::string>().empty())
                throw bad_request("stop", "'stop' must be a string or a list of non-empty strings");
            stop.push_back(s);
        }
    else
        throw bad_request("stop", "'stop' must be a string or a list of strings");
    return stop;
}

void read_sampling(const Body& body, CompletionRequest& r) {
    SamplingParams& s = r.generation.sampling;
    if (auto v = read_number(body, "temperature", 0.0, 100.0)) s.temperature = *v;
    if (auto v = read_number(body, "top_p", 0.0, 1.0)) {
        if (*v <= 0.0f) throw bad_request("top_p", "'top_p' must be greater than 0");
        s.top_p = *v;
    }
    if (auto v = read_integer(body, "top_k", -1, std::numeric_limits<int>::max())) s.top_k = static_cast<int>(*v);
    if (auto v = read_number(body, "min_p", 0.0, 1.0)) s.min_p = *v;
    if (auto v = read_number(body, "repetition_penalty", 0.0, 100.0)) {
        if (*v <= 0.0f) throw bad_request("repetition_penalty", "'repetition_penalty' must be greater than 0");
        s.repetition_penalty = *v;
    }
    if (auto v = read_number(body, "presence_penalty", -2.0, 2.0)) s.presence_penalty = *v;
    if (auto v = read_number(body, "frequency_penalty", -2.0, 2.0)) s.frequency_penalty = *v;
    if (auto v =
            read_integer(body, "seed", std::numeric_limits<long long>::min(), std::numeric_limits<long long>::max()))
        s.seed = static_cast<std::uint64_t>(*v);
}

void read_logprobs(const Body& body, CompletionRequest& r) {
    if (r.endpoint == Endpoint::Completions) {
        // Completions: "logprobs": N asks for each token's logprob and N alternatives.
        if (auto v = read_integer(body, "logprobs", 0, kMaxTopLogprobs)) {
            r.generation.logprobs = true;
            r.generation.sampling.top_logprobs = static_cast<int>(*v);
        }
        return;
    }
    r.generation.logprobs = read_bool(body, "logprobs", false);
    if (auto v = read_integer(body, "top_logprobs", 0, kMaxTopLogprobs)) {
        if (*v > 0 && !r.generation.logprobs)
            throw bad_request("top_logprobs", "'top_logprobs' needs 'logprobs' set to true");
        r.generation.sampling.top_logprobs = static_cast<int>(*v);
    }
}

// Parameters that would change the result are refused rather than silently ignored.
void refuse_unsupported(const Body& body) {
    const auto set = [&](const char* name) {
        const Body* v = field(body, name);
        return v && !(v->is_boolean() && !v->get<bool>()) && !(v->is_structured() && v->empty()) &&
               !(v->is_string() && v->get<std::string>().empty()) &&
               !(v->is_number_integer() && v->get<long long>() <= 1);
    };
    for (const char* name : {"logit_bias", "echo", "best_of", "suffix", "tools", "response_format", "guided_json"})
        if (set(name)) throw bad_request(name, cat("'", name, "' is not supported by this server"));
}

}  // namespace

CompletionRequest parse_completion_request(const Body& body, Endpoint endpoint) {
    if (!body.is_object()) throw bad_request("", "the request body must be a JSON object");
    refuse_unsupported(body);
    CompletionRequest r;
    r.endpoint = endpoint;
    const Body* model = field(body, "model");
    if (!model || !model->is_string() || model->get<std::string>().empty())
        throw bad_request("model", "'model' must name a served model or adapter");
    r.model = model->get<std::string>();
    if (endpoint == Endpoint::Completions)
        read_prompt(body, r);
    else
        read_messages(body, r);

    r.n = static_cast<int>(read_integer(body, "n", 1, kMaxChoices).value_or(1));
    r.stream = read_bool(body, "stream", false);
    if (const Body* options = field(body, "stream_options")) {
        if (!options->is_object()) throw bad_request("stream_options", "'stream_options' must be an object");
        r.include_usage = read_bool(*options, "include_usage", false);
    }
    const auto max_tokens = read_integer(body, "max_tokens", 1, std::numeric_limits<int>::max());
    const auto max_completion = read_integer(body, "max_completion_tokens", 1, std::numeric_limits<int>::max());
    if (max_completion)
        r.max_tokens = static_cast<int>(*max_completion);
    else if (max_tokens)
        r.max_tokens = static_cast<int>(*max_tokens);

    r.generation.model = r.model;
    read_sampling(body, r);
    read_logprobs(body, r);
    r.generation.min_tokens =
        static_cast<int>(read_integer(body, "min_tokens", 0, std::numeric_limits<int>::max()).value_or(0));
    if (r.max_tokens && r.generation.min_tokens > *r.max_tokens)
        throw bad_request("min_tokens", cat("'min_tokens' (", r.generation.min_tokens, ") exceeds 'max_tokens' (",
                                            *r.max_tokens, ")"));
    r.generation.ignore_eos = read_bool(body, "ignore_eos", false);
    r.generation.stop = read_stop(body);
    if (const Body* ids = field(body, "stop_token_ids")) {
        if (!ids->is_array()) throw bad_request("stop_token_ids", "'stop_token_ids' must be a list of token ids");
        r.generation.stop_token_ids = read_token_ids(*ids, "stop_token_ids");
    }
    r.return_tokens_as_token_ids = read_bool(body, "return_tokens_as_token_ids", false);
    return r;
}

void ChoiceOutput::add(const GenerationEvent& event) {
    if (event.kind == GenerationEvent::Kind::Token) {
        tokens.push_back({event.token, event.logprob, event.top_logprobs, event.text});
        text += event.text;
        return;
    }
    text += event.text_tail;
    reason = event.reason;
    error = event.error;
    prompt_tokens = event.prompt_tokens;
    completion_tokens = event.completion_tokens;
}

std::string TokenNamer::operator()(TokenId id) const {
    if (!tokenizer_ || id < 0 || static_cast<std::size_t>(id) >= tokenizer_->vocab_size())
        return "token:" + std::to_string(id);
    const TokenId ids[] = {id};
    return tokenizer_->decode(ids);
}

std::string finish_reason_text(FinishReason reason) {
    return reason == FinishReason::Cancelled ? "abort" : finish_reason_name(reason);
}

namespace {

json finish_json(const std::optional<FinishReason>& finish) {
    return finish ? json(finish_reason_text(*finish)) : json(nullptr);
}

json header_json(const ResponseHeader& h, const char* object) {
    return {{"id", h.id}, {"object", object}, {"created", h.created}, {"model", h.model}};
}

json utf8_bytes(const std::string& s) {
    json bytes = json::array();
    for (const unsigned char c : s) bytes.push_back(static_cast<int>(c));
    return bytes;
}

int total_prompt_tokens(const std::vector<ChoiceOutput>& choices) {
    return choices.empty() ? 0 : choices.front().prompt_tokens;
}

int total_completion_tokens(const std::vector<ChoiceOutput>& choices) {
    int n = 0;
    for (const auto& c : choices) n += c.completion_tokens;
    return n;
}

}  // namespace

std::string to_wire(const json& body) {
    return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

json usage_json(int prompt_tokens, int completion_tokens) {
    return {{"prompt_tokens", prompt_tokens},
            {"completion_tokens", completion_tokens},
            {"total_tokens", prompt_tokens + completion_tokens}};
}

json completion_logprobs(const std::vector<ChoiceOutput::Token>& tokens, const TokenNamer& namer,
                         std::size_t text_offset) {
    json names = json::array(), values = json::array(), tops = json::array(), offsets = json::array();
    for (const auto& t : tokens) {
        const std::string name = namer(t.id);
        names.push_back(name);
        values.push_back(t.logprob);
        // As vLLM does, the chosen token is among its alternatives.
        json top = json::object();
        top[name] = t.logprob;
        for (const auto& alt : t.top) top[namer(alt.token)] = alt.logprob;
        tops.push_back(top);
        offsets.push_back(text_offset);
        text_offset += t.text.size();
    }
    return {{"tokens", names}, {"token_logprobs", values}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

json chat_logprobs(const std::vector<ChoiceOutput::Token>& tokens, const TokenNamer& namer) {
    auto entry = [&](TokenId id, float logprob) {
        const std::string name = namer(id);
        return json{{"token", name}, {"logprob", logprob}, {"bytes", utf8_bytes(name)}};
    };
    json content = json::array();
    for (const auto& t : tokens) {
        json e = entry(t.id, t.logprob);
        e["top_logprobs"] = json::array();
        for (const auto& alt : t.top) e["top_logprobs"].push_back(entry(alt.token, alt.logprob));
        content.push_back(e);
    }
    return {{"content", content}};
}

json completion_response(const ResponseHeader& h, const std::vector<ChoiceOutput>& choices, const TokenNamer& namer,
                         std::optional<int> logprobs) {
    json out = header_json(h, "text_completion");
    out["choices"] = json::array();
    for (std::size_t i = 0; i < choices.size(); ++i) {
        const ChoiceOutput& c = choices[i];
        out["choices"].push_back({{"index", i},
                                  {"text", c.text},
                                  {"logprobs", logprobs ? completion_logprobs(c.tokens, namer, 0) : json(nullptr)},
                                  {"finish_reason", finish_reason_text(c.reason)}});
    }
    out["usage"] = usage_json(total_prompt_tokens(choices), total_completion_tokens(choices));
    return out;
}

json chat_response(const ResponseHeader& h, const std::vector<ChoiceOutput>& choices, const TokenNamer& namer,
                   bool logprobs) {
    json out = header_json(h, "chat.completion");
    out["choices"] = json::array();
    for (std::size_t i = 0; i < choices.size(); ++i) {
        const ChoiceOutput& c = choices[i];
        out["choices"].push_back({{"index", i},
                                  {"message", {{"role", "assistant"}, {"content", c.text}}},
                                  {"logprobs", logprobs ? chat_logprobs(c.tokens, namer) : json(nullptr)},
                                  {"finish_reason", finish_reason_text(c.reason)}});
    }
    out["usage"] = usage_json(total_prompt_tokens(choices), total_completion_tokens(choices));
    return out;
}

json completion_chunk(const ResponseHeader& h, int index, const std::string& text, const json& logprobs,
                      const std::optional<FinishReason>& finish) {
    json out = header_json(h, "text_completion");
    out["choices"] = json::array(
        {{{"index", index}, {"text", text}, {"logprobs", logprobs}, {"finish_reason", finish_json(finish)}}});
    return out;
}

json chat_chunk(const ResponseHeader& h, int index, const json& delta, const json& logprobs,
                const std::optional<FinishReason>& finish) {
    json out = header_json(h, "chat.completion.chunk");
    out["choices"] = json::array(
        {{{"index", index}, {"delta", delta}, {"logprobs", logprobs}, {"finish_reason", finish_json(finish)}}});
    return out;
}

json usage_chunk(const ResponseHeader& h, const char* object, int prompt_tokens, int completion_tokens) {
    json out = header_json(h, object);
    out["choices"] = json::array();
    out["usage"] = usage_json(prompt_tokens, completion_tokens);
    return out;
}

}  // namespace lw
