// Everything the workbench's live views and lora-serve's /metrics show, copied out of
// the engine in one piece: the pool's page map with owners, the adapter tiers, the
// composition of recent steps, queue lengths, latencies and throughput.
#pragma once

#include "memory/adapter_cache_stats.h"
#include "memory/page_pool.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace lw {

// Recent samples of one latency, in seconds, with their percentiles (0 without samples).
struct LatencyStats {
    std::vector<double> recent;  // oldest first
    std::uint64_t count = 0;     // every sample ever recorded
    double sum = 0.0;            // of every sample ever recorded (for Prometheus summaries)
    double p50 = 0.0, p90 = 0.0, p99 = 0.0;
};

// One engine step: what ran in it and how long it took.
struct StepRecord {
    std::uint64_t index = 0;  // counts every step the engine ran, so views can join snapshots
    double seconds = 0.0;
    std::size_t prefill_tokens = 0;
    std::size_t decode_tokens = 0;
    std::size_t sequences = 0;
    std::map<std::string, std::size_t> tokens_by_model;  // adapter name, or base name for the bare base
};

struct MetricsSnapshot {
    // The pool: one owner per page, and who the owners are.
    std::size_t page_bytes = 0;
    std::vector<PageOwner> pages;
    std::map<std::uint64_t, std::string> adapter_names;  // adapter page owner id -> adapter name
    std::map<std::uint64_t, std::string> kv_models;      // KV page owner id (request id) -> model it runs
    std::size_t pages_free = 0, pages_kv = 0, pages_adapter = 0;
    std::string pool_error;  // empty while the pool's accounting holds (PagePool::check_invariants)

    AdapterCacheStats adapter_cache;
    std::vector<AdapterResidency> adapters;

    std::vector<StepRecord> steps;  // the most recent, oldest first
    std::size_t waiting = 0, running = 0, loading_adapters = 0;

    LatencyStats time_to_first_token;
    LatencyStats inter_token_latency;
    double tokens_per_second = 0.0;  // generated tokens over the recent steps' span

    std::uint64_t prompt_tokens = 0;      // prefilled for finished or running requests (recomputes excluded)
    std::uint64_t generation_tokens = 0;  // generated
    std::uint64_t preemptions = 0;
    std::array<std::uint64_t, 4> finished{};  // by FinishReason: stop, length, cancelled, error
};

}  // namespace lw
