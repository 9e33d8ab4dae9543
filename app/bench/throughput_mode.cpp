#include "throughput_mode.h"

#include "bench_report.h"
#include "metrics/metrics_snapshot.h"
#include "request_tracker.h"

#include <iostream>
#include <set>
#include <thread>

namespace lw::bench {

namespace {

constexpr auto kMetricsPoll = std::chrono::milliseconds(200);

GenerationRequest make_request(const BenchSetup& s, const BenchOptions& o, int i, int max_tokens) {
    GenerationRequest r;
    r.model = o.distinct > 0 ? s.adapter_names[static_cast<std::size_t>(i % o.distinct)] : s.base;
    r.prompt = random_prompt(o.prompt, s.config.vocab_size, o.seed * 65537u + static_cast<std::uint64_t>(i));
    r.sampling.temperature = 0.0f;
    r.max_tokens = max_tokens;
    r.ignore_eos = true;
    return r;
}

// Submits the batch and waits for it; returns the engine steps it ran (the step
// recorder keeps only recent ones, so they are collected while it runs).
std::vector<StepRecord> run_round(BenchSetup& s, const BenchOptions& o, int batch, int max_tokens,
                                  RequestTracker& tracker) {
    Engine& engine = *s.engine;
    const MetricsSnapshot before = engine.metrics();
    std::uint64_t seen = before.steps.empty() ? 0 : before.steps.back().index + 1;
    std::vector<StepRecord> steps;
    auto collect = [&] {
        for (StepRecord& r : engine.metrics().steps)
            if (r.index >= seen) {
                seen = r.index + 1;
                steps.push_back(std::move(r));
            }
    };
    std::vector<GenerationRequest> requests;
    for (int i = 0; i < batch; ++i) requests.push_back(make_request(s, o, i, max_tokens));
    tracker.submit(std::move(requests));  // together, so that one step admits the whole batch
    const auto deadline =
        BenchClock::now() + std::chrono::duration_cast<BenchClock::duration>(std::chrono::duration<double>(o.timeout));
    while (!tracker.wait_all(std::min(deadline, BenchClock::now() + kMetricsPoll))) {
        collect();
        if (BenchClock::now() >= deadline) {
            tracker.cancel_all();
            fail("the batch of ", batch, " did not finish within --timeout ", o.timeout, " s");
        }
    }
    collect();
    for (const TrackedRequest& r : tracker.requests())
        if (r.finish != FinishReason::Length)
            fail("a request for ", r.model, " finished with '",
                 finish_reason_name(r.finish.value_or(FinishReason::Error)), "' instead of generating all its tokens",
                 r.error.empty() ? "" : ": " + r.error);
    return steps;
}

nlohmann::json measure_batch(BenchSetup& s, const BenchOptions& o, int batch, double bandwidth) {
    Engine& engine = *s.engine;

    if (o.warmup > 0) {
        RequestTracker warm(engine);
        run_round(s, o, batch, o.warmup, warm);
    }
    RequestTracker tracker(engine);
    const auto start = BenchClock::now();
    const std::vector<StepRecord> steps = run_round(s, o, batch, o.gen, tracker);
    const double wall = std::chrono::duration<double>(BenchClock::now() - start).count();

    // Decode steps with the whole batch in them: the steady state being measured.
    std::vector<double> step_seconds;
    double decode_seconds = 0.0;
    std::size_t decode_tokens = 0, generated = 0;
    for (const StepRecord& r : steps) {
        generated += r.decode_tokens;
        if (r.prefill_tokens != 0 || r.decode_tokens != static_cast<std::size_t>(batch)) continue;
        step_seconds.push_back(r.seconds);
        decode_seconds += r.seconds;
        decode_tokens += r.decode_tokens;
    }
    if (step_seconds.empty())
        fail("no decode step ran the whole batch of ", batch,
             " (raise --gen, or --max-num-batched-tokens so prefill ends sooner)");
    const Percentiles step = percentiles(step_seconds);

    std::vector<double> ttft, itl;
    std::size_t tokens = 0;
    for (const TrackedRequest& r : tracker.requests()) {
        tokens += r.tokens.size();
        ttft.push_back(std::chrono::duration<double>(r.tokens.front() - r.submitted).count());
        for (std::size_t k = 1; k < r.tokens.size(); ++k)
            itl.push_back(std::chrono::duration<double>(r.tokens[k] - r.tokens[k - 1]).count());
    }

    // Bytes a decode step must move: every weight once, the batch's KV cache at its mean
    // context (P + G/2), and the A/B rows of each distinct adapter in the batch.
    const ModelConfig& c = s.config;
    const std::size_t pool_elem = dtype_info(engine.pool_dtype()).block_bytes;
    const double context = o.prompt + o.gen / 2.0;
    const double kv_bytes = batch * context * c.num_layers * 2.0 * c.kv_dim() * static_cast<double>(pool_elem);
    double adapter_rows = 0.0;
    for (int k = 0; k < o.distinct; ++k)
        adapter_rows += static_cast<double>(adapter_bytes(c, s.adapters.rank_of(k), o.targets, pool_elem));
    const double embed_rows =
        static_cast<double>(batch) * c.hidden_size * static_cast<double>(dtype_info(s.weight_dtype).block_bytes);
    const double weight_bytes = static_cast<double>(s.weight_bytes_per_step) + embed_rows;
    const double step_bytes = weight_bytes + kv_bytes + adapter_rows;
    const double floor_seconds = bandwidth > 0.0 ? step_bytes / bandwidth : 0.0;
    const double tokens_per_second = static_cast<double>(decode_tokens) / decode_seconds;

    std::set<int> ranks;
    for (int k = 0; k < o.distinct; ++k) ranks.insert(s.adapters.rank_of(k));
    std::string rank_text;
    for (int r : ranks) rank_text += (rank_text.empty() ? "" : ",") + std::to_string(r);

    Table t("throughput: " + o.model + ", batch " + std::to_string(batch) + ", prompt " + std::to_string(o.prompt) +
            ", gen " + std::to_string(o.gen) + ", " +
            (o.distinct > 0 ? std::to_string(o.distinct) + " distinct adapters (rank " + rank_text + ")"
                            : std::string("base only")));
    t.row("device", engine.backend_name());
    t.row("decode tokens/s",
          fixed(tokens_per_second, 1) + "  (" + std::to_string(step_seconds.size()) + " full-batch decode steps)");
    t.row("end-to-end tokens/s", fixed(static_cast<double>(tokens) / wall, 1) + "  (prefill included)");
    t.row("decode step", percentiles_ms(step));
    t.row("bytes per decode step", bytes_text(step_bytes) + "  (weights " + bytes_text(weight_bytes) + ", KV " +
                                       bytes_text(kv_bytes) + ", adapters " + bytes_text(adapter_rows) + ")");
    if (bandwidth > 0.0) {
        t.row("copy bandwidth", bytes_text(bandwidth) + "/s");
        t.row("bandwidth floor", fixed(floor_seconds * 1e3, 2) + " ms per step; p50 step is " +
                                     fixed(step.p50 / floor_seconds, 2) + "x the floor (" +
                                     fixed(100.0 * floor_seconds / step.p50, 1) + "% of it)");
    }
    t.row("TTFT", percentiles_ms(percentiles(ttft)));
    t.row("inter-token latency", percentiles_ms(percentiles(itl)));
    t.print();

    return {{"batch", batch},
            {"prompt", o.prompt},
            {"gen", o.gen},
            {"distinct_adapters", o.distinct},
            {"distinct_ranks", ranks},
            {"decode_tokens_per_second", tokens_per_second},
            {"end_to_end_tokens_per_second", static_cast<double>(tokens) / wall},
            {"generated_tokens", tokens},
            {"engine_decode_tokens", generated},
            {"full_batch_decode_steps", step_seconds.size()},
            {"step_seconds", to_json(step)},
            {"bytes_per_step",
             {{"total", step_bytes}, {"weights", weight_bytes}, {"kv", kv_bytes}, {"adapters", adapter_rows}}},
            {"copy_bandwidth_bytes_per_second", bandwidth > 0.0 ? nlohmann::json(bandwidth) : nlohmann::json(nullptr)},
            {"floor_seconds", bandwidth > 0.0 ? nlohmann::json(floor_seconds) : nlohmann::json(nullptr)},
            {"step_over_floor", bandwidth > 0.0 ? nlohmann::json(step.p50 / floor_seconds) : nlohmann::json(nullptr)},
            {"floor_fraction", bandwidth > 0.0 ? nlohmann::json(floor_seconds / step.p50) : nlohmann::json(nullptr)},
            {"ttft_seconds", to_json(percentiles(ttft))},
            {"itl_seconds", to_json(percentiles(itl))},
            {"wall_seconds", wall}};
}

}  // namespace

nlohmann::json run_throughput(BenchSetup& s, const BenchOptions& o) {
    double bandwidth = 0.0;
    try {
        bandwidth = s.engine->measure_copy_bandwidth();
    } catch (const Error& e) {
        std::cerr << "lora-bench: " << e.what() << "; the bandwidth floor is not reported\n";
    }
    nlohmann::json runs = nlohmann::json::array();
    for (int batch : o.batches) runs.push_back(measure_batch(s, o, batch, bandwidth));
    return {{"runs", runs}};
}

}  // namespace lw::bench
