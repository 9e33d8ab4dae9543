#include "server/prometheus_text.h"

#include "runtime/request.h"

#include <chrono>
#include <sstream>

namespace lw {

std::string prometheus_label_value(const std::string& value) {
    std::string out;
    for (const char c : value) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

namespace {

class Writer {
public:
    void family(const std::string& name, const char* type, const char* help) {
        out_ << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
    }
    template <class T>
    void sample(const std::string& name, const std::string& labels, T value) {
        out_ << name;
        if (!labels.empty()) out_ << "{" << labels << "}";
        out_ << " " << value << "\n";
    }
    std::string str() const { return out_.str(); }

private:
    std::ostringstream out_;
};

std::string label(const char* key, const std::string& value) {
    return cat(key, "=\"", prometheus_label_value(value), "\"");
}

// Latencies as a summary: recent quantiles plus every sample's count and sum.
void summary(Writer& w, const std::string& name, const char* help, const std::string& model, const LatencyStats& s) {
    w.family(name, "summary", help);
    for (const auto& [q, v] : {std::pair{"0.5", s.p50}, {"0.9", s.p90}, {"0.99", s.p99}})
        w.sample(name, model + ",quantile=\"" + q + "\"", v);
    w.sample(name + "_sum", model, s.sum);
    w.sample(name + "_count", model, s.count);
}

void tier_counter(Writer& w, const char* what, const char* help, std::uint64_t pool, std::uint64_t host) {
    const std::string name = cat("lw_adapter_cache_", what, "_total");
    w.family(name, "counter", help);
    w.sample(name, label("tier", "pool"), pool);
    w.sample(name, label("tier", "host"), host);
}

}  // namespace

std::string prometheus_text(const MetricsSnapshot& s, const PrometheusLabels& labels) {
    Writer w;
    const std::string model = label("model_name", labels.model_name);

    w.family("vllm:num_requests_running", "gauge", "Requests in the running batch.");
    w.sample("vllm:num_requests_running", model, s.running);
    w.family("vllm:num_requests_waiting", "gauge", "Requests waiting to be scheduled.");
    w.sample("vllm:num_requests_waiting", model, s.waiting);

    // As vLLM: one sample whose labels list the adapters in use, valued with the time.
    std::string running_adapters, loading_adapters;
    for (const auto& a : s.adapters) {
        if (a.pins > 0) running_adapters += (running_adapters.empty() ? "" : ",") + a.name;
        if (a.loading) loading_adapters += (loading_adapters.empty() ? "" : ",") + a.name;
    }
    w.family("vllm:lora_requests_info", "gauge", "Running stats on lora requests.");
    const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    w.sample("vllm:lora_requests_info",
             label("running_lora_adapters", running_adapters) + "," +
                 label("max_lora", std::to_string(labels.max_loras)) + "," +
                 label("waiting_lora_adapters", loading_adapters),
             cat(std::fixed, now));

    w.family("vllm:prompt_tokens_total", "counter", "Prefill tokens processed.");
    w.sample("vllm:prompt_tokens_total", model, s.prompt_tokens);
    w.family("vllm:generation_tokens_total", "counter", "Generation tokens processed.");
    w.sample("vllm:generation_tokens_total", model, s.generation_tokens);
    w.family("vllm:num_preemptions_total", "counter", "Preemptions (sequences freed to recompute later).");
    w.sample("vllm:num_preemptions_total", model, s.preemptions);
    w.family("vllm:request_success_total", "counter", "Finished requests by finish reason.");
    const FinishReason reasons[] = {FinishReason::Stop, FinishReason::Length, FinishReason::Cancelled,
                                    FinishReason::Error};
    for (std::size_t i = 0; i < s.finished.size(); ++i)
        w.sample("vllm:request_success_total",
                 model + "," +
                     label("finished_reason", reasons[i] == FinishReason::Cancelled
                                                  ? std::string("abort")
                                                  : std::string(finish_reason_name(reasons[i]))),
                 s.finished[i]);
    summary(w, "vllm:time_to_first_token_seconds", "Time to first token.", model, s.time_to_first_token);
    summary(w, "vllm:time_per_output_token_seconds", "Time between output tokens.", model, s.inter_token_latency);

    w.family("lw_generation_tokens_per_second", "gauge", "Generated tokens per second over the recent steps.");
    w.sample("lw_generation_tokens_per_second", model, s.tokens_per_second);
    w.family("lw_pool_pages", "gauge", "Pages of the unified memory pool by use.");
    w.sample("lw_pool_pages", label("kind", "free"), s.pages_free);
    w.sample("lw_pool_pages", label("kind", "kv_cache"), s.pages_kv);
    w.sample("lw_pool_pages", label("kind", "adapter"), s.pages_adapter);
    w.family("lw_pool_page_bytes", "gauge", "Bytes in one page of the pool.");
    w.sample("lw_pool_page_bytes", "", s.page_bytes);

    const AdapterCacheStats& c = s.adapter_cache;
    tier_counter(w, "hits", "Requests that found their adapter in the tier.", c.pool.hits, c.host.hits);
    tier_counter(w, "misses", "Requests that did not find their adapter in the tier.", c.pool.misses, c.host.misses);
    tier_counter(w, "loads", "Adapters brought into the tier.", c.pool.loads, c.host.loads);
    tier_counter(w, "evictions", "Adapters pushed down from the tier.", c.pool.evictions, c.host.evictions);
    w.family("lw_adapters_resident", "gauge", "Adapters in each tier now (disk: every registered adapter).");
    w.sample("lw_adapters_resident", label("tier", "pool"), c.pool.resident);
    w.sample("lw_adapters_resident", label("tier", "host"), c.host.resident);
    w.sample("lw_adapters_resident", label("tier", "disk"), c.registered);
    w.family("lw_adapter_upload_bytes_total", "counter", "Bytes of adapter uploads to the pool that have landed.");
    w.sample("lw_adapter_upload_bytes_total", "", c.uploads.bytes);
    w.family("lw_adapter_upload_seconds_total", "counter",
             "Time the adapter uploads' copies took on the device, beside compute.");
    w.sample("lw_adapter_upload_seconds_total", "", c.uploads.seconds);
    return w.str();
}

}  // namespace lw
