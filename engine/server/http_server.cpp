#include "server/http_server.h"

#include "metrics/metrics_snapshot.h"
#include "model/chat_prompt.h"
#include "model/model_loader.h"
#include "runtime/engine.h"
#include "server/choice_events.h"
#include "server/openai_protocol.h"
#include "server/prometheus_text.h"
#include "server/sse_stream.h"

#include <atomic>
#include <ctime>
#include <mutex>
#include <set>
#include <thread>

#include <sys/socket.h>

#include <httplib.h>

namespace lw {

using nlohmann::json;

namespace {

constexpr auto kEventWait = std::chrono::milliseconds(200);  // how often a waiting stream looks up

void send_json(httplib::Response& res, int status, const json& body) {
    res.status = status;
    res.set_content(to_wire(body), "application/json");
}

void send_error(httplib::Response& res, const ApiError& e) {
    send_json(res, e.status(), e.body());
}

using Body = nlohmann::ordered_json;  // keeps the client's key order (chat templates may show it)

Body parse_body(const httplib::Request& req) {
    Body body = Body::parse(req.body, nullptr, false);
    if (body.is_discarded()) throw ApiError(400, "invalid_json", "", "the request body is not valid JSON");
    if (!body.is_object()) throw ApiError(400, "invalid_json", "", "the request body must be a JSON object");
    return body;
}

std::string string_field(const Body& body, const char* name, bool required) {
    const auto it = body.find(name);
    if (it == body.end() || it->is_null()) {
        if (required) throw bad_request(name, cat("'", name, "' is required"));
        return {};
    }
    if (!it->is_string() || it->get<std::string>().empty())
        throw bad_request(name, cat("'", name, "' must be a non-empty string"));
    return it->get<std::string>();
}

bool bool_field(const Body& body, const char* name, bool fallback) {
    const auto it = body.find(name);
    if (it == body.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) throw bad_request(name, cat("'", name, "' must be true or false"));
    return it->get<bool>();
}

std::string new_response_id(const char* prefix) {
    static std::atomic<std::uint64_t> counter{static_cast<std::uint64_t>(std::time(nullptr)) << 20};
    return cat(prefix, std::hex, counter++);
}

}  // namespace

struct HttpServer::Impl {
    Engine& engine;
    HttpServerConfig config;
    httplib::Server server;
    int listening_socket = -1;  // to widen httplib's listen backlog once bound
    std::mutex mutex;
    std::multiset<RequestId> in_flight;  // submitted by this server and not yet finished
    bool stopping = false;
    enum class RunState { NotStarted, Starting, Ended };
    std::atomic<RunState> run_state{RunState::NotStarted};

    Impl(Engine& e, HttpServerConfig c) : engine(e), config(std::move(c)) {}

    void routes();
    // Runs a handler, turning every failure into an OpenAI-style error response.
    void guarded(httplib::Response& res, const std::function<void()>& handler);

    void models(httplib::Response& res);
    void generate(const httplib::Request& req, httplib::Response& res, Endpoint endpoint);
    void tokenize(const httplib::Request& req, httplib::Response& res);
    void detokenize(const httplib::Request& req, httplib::Response& res);
    void load_adapter(const httplib::Request& req, httplib::Response& res);
    void unload_adapter(const httplib::Request& req, httplib::Response& res);
    void metrics(httplib::Response& res);

    std::shared_ptr<const LoadedModel> model(const std::string& name);
    std::vector<TokenId> prompt_of(const LoadedModel& base, const CompletionRequest& r);
    std::vector<RequestId> submit(const CompletionRequest& r, const std::shared_ptr<ChoiceEvents>& events);
    void forget(const std::vector<RequestId>& ids);
    void cancel(const std::vector<RequestId>& ids);
    bool is_adapter(const std::string& name) const;
};

void HttpServer::Impl::guarded(httplib::Response& res, const std::function<void()>& handler) {
    try {
        handler();
    } catch (const ApiError& e) {
        send_error(res, e);
    } catch (const RequestError& e) {
        send_error(res, e.kind() == RequestError::Kind::UnknownModel
                            ? ApiError(404, "model_not_found", e.field(), e.what())
                            : bad_request(e.field(), e.what()));
    } catch (const std::exception& e) {
        send_error(res, ApiError(500, "internal_error", "", cat("internal error: ", e.what())));
    }
}

std::shared_ptr<const LoadedModel> HttpServer::Impl::model(const std::string& name) {
    try {
        return engine.base_of(name);
    } catch (const RequestError&) {
        throw model_not_found(name);
    }
}

bool HttpServer::Impl::is_adapter(const std::string& name) const {
    for (const auto& m : engine.models())
        if (m.name == name && !m.parent.empty()) return true;
    return false;
}

void HttpServer::Impl::models(httplib::Response& res) {
    json data = json::array();
    const auto created = static_cast<long long>(std::time(nullptr));
    for (const auto& m : engine.models()) {
        json entry = {{"id", m.name},
                      {"object", "model"},
                      {"created", created},
                      {"owned_by", "lora-workbench"},
                      {"root", m.path.string()},
                      {"parent", m.parent.empty() ? json(nullptr) : json(m.parent)}};
        try {
            entry["max_model_len"] = engine.base_of(m.name)->config.max_position_embeddings;
        } catch (const RequestError&) {
            continue;  // unloaded while we listed it
        }
        data.push_back(entry);
    }
    send_json(res, 200, {{"object", "list"}, {"data", data}});
}

std::vector<TokenId> HttpServer::Impl::prompt_of(const LoadedModel& base, const CompletionRequest& r) {
    if (r.prompt_tokens) return *r.prompt_tokens;
    const char* field = r.endpoint == Endpoint::Completions ? "prompt" : "messages";
    if (!base.tokenizer)
        throw bad_request(field, cat("model '", r.model, "' has no tokenizer: send 'prompt' as a list of token ids"));
    try {
        if (r.prompt_text) return base.tokenizer->encode(*r.prompt_text, true);
        return chat_prompt(base, r.model, r.messages, r.add_generation_prompt);
    } catch (const ApiError&) {
        throw;
    } catch (const Error& e) {
        throw bad_request(field, e.what());
    }
}

std::vector<RequestId> HttpServer::Impl::submit(const CompletionRequest& r,
                                                const std::shared_ptr<ChoiceEvents>& events) {
    std::vector<RequestId> ids;
    const std::lock_guard lock(mutex);
    if (stopping) throw ApiError(503, "shutting_down", "", "the server is shutting down");
    try {
        for (int i = 0; i < r.n; ++i) {
            GenerationRequest request = r.generation;
            // Seeded choices differ from each other yet are reproducible.
            if (request.sampling.seed) *request.sampling.seed += static_cast<std::uint64_t>(i);
            ids.push_back(engine.submit(std::move(request), events->callback_for(i)));
            in_flight.insert(ids.back());
        }
    } catch (...) {
        for (RequestId id : ids) {
            engine.cancel(id);
            in_flight.erase(in_flight.find(id));
        }
        throw;
    }
    return ids;
}

void HttpServer::Impl::forget(const std::vector<RequestId>& ids) {
    const std::lock_guard lock(mutex);
    for (RequestId id : ids)
        if (const auto it = in_flight.find(id); it != in_flight.end()) in_flight.erase(it);
}

void HttpServer::Impl::cancel(const std::vector<RequestId>& ids) {
    for (RequestId id : ids) engine.cancel(id);
}

void HttpServer::Impl::generate(const httplib::Request& req, httplib::Response& res, Endpoint endpoint) {
    CompletionRequest r = parse_completion_request(parse_body(req), endpoint);
    const std::shared_ptr<const LoadedModel> base = model(r.model);
    r.generation.prompt = prompt_of(*base, r);
    const int context = base->config.max_position_embeddings;
    const int prompt_size = static_cast<int>(r.generation.prompt.size());
    const char* prompt_field = endpoint == Endpoint::Completions ? "prompt" : "messages";
    if (prompt_size >= context)
        throw ApiError(400, "context_length_exceeded", prompt_field,
                       cat("This model's maximum context length is ", context, " tokens. However, your prompt has ",
                           prompt_size, " tokens."));
    // As OpenAI: completions default to 16 tokens, chat to the rest of the context.
    r.generation.max_tokens = r.max_tokens.value_or(
        endpoint == Endpoint::Completions ? std::min(16, context - prompt_size) : context - prompt_size);
    if (r.generation.max_tokens > context - prompt_size)  // not prompt + max_tokens: that may overflow
        throw ApiError(400, "context_length_exceeded", "max_tokens",
                       cat("This model's maximum context length is ", context, " tokens. However, you requested ",
                           static_cast<long long>(prompt_size) + r.generation.max_tokens, " tokens (", prompt_size,
                           " in the prompt, ", r.generation.max_tokens, " for the completion)."));

    auto events = std::make_shared<ChoiceEvents>(r.n);
    const std::vector<RequestId> ids = submit(r, events);
    const ResponseHeader header{new_response_id(endpoint == Endpoint::Completions ? "cmpl-" : "chatcmpl-"),
                                static_cast<long long>(std::time(nullptr)), r.model};
    const TokenNamer namer(base->tokenizer ? &*base->tokenizer : nullptr, r.return_tokens_as_token_ids);

    if (!r.stream) {
        std::vector<ChoiceOutput> outputs(r.n);
        while (!events->done())
            for (const auto& [index, event] : events->take(kEventWait)) outputs[index].add(event);
        forget(ids);
        for (const auto& o : outputs)
            if (o.reason == FinishReason::Error) throw ApiError(500, "generation_failed", "", o.error);
        send_json(res, 200,
                  endpoint == Endpoint::Completions
                      ? completion_response(
                            header, outputs, namer,
                            r.generation.logprobs ? std::optional(r.generation.sampling.top_logprobs) : std::nullopt)
                      : chat_response(header, outputs, namer, r.generation.logprobs));
        return;
    }

    // The stream keeps `base` alive for its token names; a failed write (the client
    // left) or a server shutdown ends it, and the releaser cancels what still runs.
    auto stream =
        std::make_shared<CompletionStream>(endpoint, header, namer, r.n, r.generation.logprobs, r.include_usage);
    auto pending = std::make_shared<std::string>(stream->start());
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [events, stream, pending, base](std::size_t, httplib::DataSink& sink) {
            for (const auto& [index, event] : events->take(kEventWait)) *pending += stream->on_event(index, event);
            if (events->done()) *pending += stream->finish();
            if (!pending->empty() && !sink.write(pending->data(), pending->size())) return false;
            pending->clear();
            if (events->done()) sink.done();
            return true;
        },
        [this, events, ids](bool) {
            if (!events->done()) cancel(ids);
            forget(ids);
        });
}

void HttpServer::Impl::tokenize(const httplib::Request& req, httplib::Response& res) {
    const Body body = parse_body(req);
    std::string name = string_field(body, "model", false);
    if (name.empty()) name = config.default_base;
    const std::shared_ptr<const LoadedModel> base = model(name);
    if (!base->tokenizer) throw bad_request("model", cat("model '", name, "' has no tokenizer"));
    const bool chat = body.contains("messages");
    Body request = body;
    request["model"] = name;
    std::vector<TokenId> tokens;
    if (chat) {
        CompletionRequest r = parse_completion_request(request, Endpoint::ChatCompletions);
        if (!base->chat_template) throw bad_request("messages", cat("model '", name, "' has no chat template"));
        try {
            const std::string text =
                base->chat_template->apply(r.messages, r.add_generation_prompt, base->special.bos, base->special.eos);
            tokens = base->tokenizer->encode(text, bool_field(body, "add_special_tokens", false));
        } catch (const Error& e) {
            throw bad_request("messages", e.what());
        }
    } else {
        const std::string prompt = [&] {
            const auto it = body.find("prompt");
            if (it == body.end() || !it->is_string())
                throw bad_request("prompt", "'prompt' (a string) or 'messages' is required");
            return it->get<std::string>();
        }();
        try {
            tokens = base->tokenizer->encode(prompt, bool_field(body, "add_special_tokens", true));
        } catch (const Error& e) {
            throw bad_request("prompt", e.what());
        }
    }
    json out = {{"count", tokens.size()},
                {"max_model_len", base->config.max_position_embeddings},
                {"tokens", tokens},
                {"token_strs", nullptr}};
    if (bool_field(body, "return_token_strs", false)) {
        out["token_strs"] = json::array();
        for (TokenId t : tokens) out["token_strs"].push_back(base->tokenizer->id_to_token(t));
    }
    send_json(res, 200, out);
}

void HttpServer::Impl::detokenize(const httplib::Request& req, httplib::Response& res) {
    const Body body = parse_body(req);
    std::string name = string_field(body, "model", false);
    if (name.empty()) name = config.default_base;
    const std::shared_ptr<const LoadedModel> base = model(name);
    if (!base->tokenizer) throw bad_request("model", cat("model '", name, "' has no tokenizer"));
    const auto it = body.find("tokens");
    if (it == body.end() || !it->is_array()) throw bad_request("tokens", "'tokens' must be a list of token ids");
    std::vector<TokenId> tokens;
    for (const auto& t : *it) {
        if (!t.is_number_integer() || t.get<long long>() < 0 ||
            t.get<long long>() >= static_cast<long long>(base->tokenizer->vocab_size()))
            throw bad_request("tokens", cat("'tokens' holds ", t, ", not a token id of '", name, "' (vocabulary of ",
                                            base->tokenizer->vocab_size(), ")"));
        tokens.push_back(t.get<TokenId>());
    }
    send_json(res, 200, {{"prompt", base->tokenizer->decode(tokens)}});
}

void HttpServer::Impl::load_adapter(const httplib::Request& req, httplib::Response& res) {
    const Body body = parse_body(req);
    const std::string name = string_field(body, "lora_name", true);
    const std::string path = string_field(body, "lora_path", true);
    std::string base = string_field(body, "base_model_name", false);
    if (base.empty()) base = config.default_base;
    bool base_found = false;
    for (const auto& m : engine.models()) {
        if (m.name == name)
            throw ApiError(400, "adapter_exists", "lora_name",
                           cat("The lora adapter '", name, "' has already been loaded."));
        base_found |= m.name == base && m.parent.empty();
    }
    if (!base_found)
        throw ApiError(404, "model_not_found", "base_model_name", cat("The base model '", base, "' does not exist."));
    try {
        engine.register_adapter(name, path, base);
    } catch (const Error& e) {
        throw bad_request("lora_path", e.what());
    }
    res.set_content(cat("Success: LoRA adapter '", name, "' added successfully."), "text/plain");
}

void HttpServer::Impl::unload_adapter(const httplib::Request& req, httplib::Response& res) {
    const Body body = parse_body(req);
    const std::string name = string_field(body, "lora_name", true);
    if (!is_adapter(name))
        throw ApiError(404, "adapter_not_found", "lora_name", cat("The lora adapter '", name, "' cannot be found."));
    try {
        engine.unregister_adapter(name);
    } catch (const Error& e) {
        // Requests still use it: refused rather than waited for, so the client decides.
        throw ApiError(409, "adapter_in_use", "lora_name", e.what());
    }
    res.set_content(cat("Success: LoRA adapter '", name, "' removed successfully."), "text/plain");
}

void HttpServer::Impl::metrics(httplib::Response& res) {
    res.set_content(prometheus_text(engine.metrics(), {config.default_base, config.max_loras}),
                    "text/plain; version=0.0.4; charset=utf-8");
}

void HttpServer::Impl::routes() {
    const int threads = config.threads;
    server.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<std::size_t>(threads)); };
    server.set_payload_max_length(config.max_body_bytes);
    // An idle kept-alive connection holds its thread until this timeout, and stop() waits
    // for every thread: 1 s (not httplib's 5) keeps a stop, e.g. the workbench's server
    // toggle, short. Clients idle longer simply reconnect.
    server.set_keep_alive_timeout(1);
    server.set_socket_options([this](socket_t sock) {
        httplib::default_socket_options(sock);
        listening_socket = sock;
    });
    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
        if (config.api_key.empty() || req.path == "/health" ||
            req.get_header_value("Authorization") == "Bearer " + config.api_key)
            return httplib::Server::HandlerResponse::Unhandled;
        send_error(res, ApiError(401, "invalid_api_key", "",
                                 "missing or wrong API key: send the header 'Authorization: Bearer KEY'"));
        return httplib::Server::HandlerResponse::Handled;
    });
    // Route errors httplib answers itself (no such path, body too large) in OpenAI's shape too.
    server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return;
        const std::string message = res.status == 404   ? cat("no route ", req.method, " ", req.path)
                                    : res.status == 413 ? std::string("the request body is too large")
                                                        : cat("HTTP ", res.status);
        send_error(res, ApiError(res.status, res.status == 404 ? "not_found" : "invalid_request", "", message));
    });
    server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        send_error(res, ApiError(500, "internal_error", "", "internal error"));
    });
    if (config.on_request)
        server.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
            config.on_request(req.method, req.path, res.status);
        });

    using Req = const httplib::Request&;
    using Res = httplib::Response&;
    server.Get("/health", [](Req, Res res) { res.status = 200; });
    server.Get("/v1/models", [this](Req, Res res) { guarded(res, [&] { models(res); }); });
    server.Post("/v1/completions",
                [this](Req req, Res res) { guarded(res, [&] { generate(req, res, Endpoint::Completions); }); });
    server.Post("/v1/chat/completions",
                [this](Req req, Res res) { guarded(res, [&] { generate(req, res, Endpoint::ChatCompletions); }); });
    server.Post("/tokenize", [this](Req req, Res res) { guarded(res, [&] { tokenize(req, res); }); });
    server.Post("/detokenize", [this](Req req, Res res) { guarded(res, [&] { detokenize(req, res); }); });
    server.Post("/v1/load_lora_adapter", [this](Req req, Res res) { guarded(res, [&] { load_adapter(req, res); }); });
    server.Post("/v1/unload_lora_adapter",
                [this](Req req, Res res) { guarded(res, [&] { unload_adapter(req, res); }); });
    server.Get("/metrics", [this](Req, Res res) { guarded(res, [&] { metrics(res); }); });
}

HttpServer::HttpServer(Engine& engine, HttpServerConfig config)
    : impl_(std::make_unique<Impl>(engine, std::move(config))) {
    impl_->routes();
}

HttpServer::~HttpServer() {
    stop();
}

int HttpServer::bind(const std::string& host, int port) {
    const int bound =
        port == 0 ? impl_->server.bind_to_any_port(host) : (impl_->server.bind_to_port(host, port) ? port : -1);
    if (bound < 0) fail("cannot listen on ", host, ":", port, " (address in use or not available)");
    // httplib listens with a backlog of 5: a burst of clients connecting at once would
    // overflow it and see their connections dropped. Listening again widens it.
    ::listen(impl_->listening_socket, SOMAXCONN);
    return bound;
}

void HttpServer::run() {
    {
        const std::lock_guard lock(impl_->mutex);
        if (impl_->stopping) return;
        impl_->run_state = Impl::RunState::Starting;
    }
    impl_->server.listen_after_bind();
    impl_->run_state = Impl::RunState::Ended;
}

void HttpServer::stop() {
    std::vector<RequestId> running;
    {
        const std::lock_guard lock(impl_->mutex);
        impl_->stopping = true;
        running.assign(impl_->in_flight.begin(), impl_->in_flight.end());
    }
    impl_->cancel(running);
    // httplib ignores a stop() that comes before run() has started listening: wait
    // (briefly, bounded) for that, so this stop is never lost.
    for (int i = 0; i < 1000 && impl_->run_state == Impl::RunState::Starting && !impl_->server.is_running(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    impl_->server.stop();
}

}  // namespace lw
