// /metrics: the engine's metrics snapshot in Prometheus' text format, under vLLM's
// names where vLLM has one (vllm:num_requests_running, vllm:lora_requests_info,
// vllm:prompt_tokens_total, ...) and lw_* names for the unified pool and adapter tiers.
#pragma once

#include "metrics/metrics_snapshot.h"

#include <string>

namespace lw {

struct PrometheusLabels {
    std::string model_name;  // vLLM labels its metrics with the served model
    int max_loras = 0;
};

std::string prometheus_text(const MetricsSnapshot& snapshot, const PrometheusLabels& labels);

// A label value with \, " and newline escaped as the text format requires.
std::string prometheus_label_value(const std::string& value);

}  // namespace lw
