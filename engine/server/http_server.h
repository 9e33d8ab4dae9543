// lora-serve's HTTP API over an lw::Engine, following vLLM's OpenAI-compatible server:
// /v1/models, /v1/completions, /v1/chat/completions (streaming with SSE), /tokenize,
// /detokenize, /v1/load_lora_adapter, /v1/unload_lora_adapter, /metrics, /health.
// Each connection is served on a thread of its own pool; handlers submit to the
// engine and wait for its events, so one slow or failing client holds up no other.
#pragma once

#include <functional>
#include <memory>
#include <string>

namespace lw {

class Engine;

struct HttpServerConfig {
    std::string api_key;       // when set, every route but /health needs "Authorization: Bearer KEY"
    std::string default_base;  // adapters loaded without base_model_name attach to it
    int max_loras = 0;         // shown in vllm:lora_requests_info
    int threads = 128;         // concurrent connections (a stream holds its thread until done)
    std::size_t max_body_bytes = 16u << 20;
    // Called once each request is answered, on its connection's thread (the workbench's
    // request log): method, path and HTTP status.
    std::function<void(const std::string& method, const std::string& path, int status)> on_request;
};

class HttpServer {
public:
    HttpServer(Engine& engine, HttpServerConfig config);
    // Stops serving and cancels the requests it submitted. A thread in run() must have
    // returned first (stop(), then join it): handlers still running use this object.
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    // Binds host:port (port 0: a free one) and returns the port; throws lw::Error naming
    // the address when it cannot.
    int bind(const std::string& host, int port);
    // Serves until stop(); call after bind().
    void run();
    // Thread-safe; ends run() and every open stream (their requests are cancelled).
    void stop();

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace lw
