#include "trace_mode.h"

#include "bench_report.h"
#include "metrics/metrics_snapshot.h"
#include "request_tracker.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <thread>

namespace lw::bench {

namespace {

struct Arrival {
    double at = 0.0;  // seconds after the start
    int input = 0, output = 0;
    int adapter = -1;  // -1: the base
};

// The whole schedule is drawn up front from the seed, so runs are comparable.
std::vector<Arrival> make_schedule(const BenchOptions& o, int adapters) {
    std::mt19937_64 rng(o.seed);
    std::exponential_distribution<double> gap(o.rate);
    std::uniform_int_distribution<int> input(o.input_len.min, o.input_len.max);
    std::uniform_int_distribution<int> output(o.output_len.min, o.output_len.max);
    std::vector<double> weights(static_cast<std::size_t>(std::max(adapters, 1)), 1.0);
    if (o.popularity.zipf)
        for (std::size_t k = 0; k < weights.size(); ++k)
            weights[k] = 1.0 / std::pow(static_cast<double>(k + 1), o.popularity.alpha);
    std::discrete_distribution<int> pick(weights.begin(), weights.end());
    std::vector<Arrival> schedule;
    for (double t = gap(rng); t < o.duration; t += gap(rng))
        schedule.push_back({t, input(rng), output(rng), adapters > 0 ? pick(rng) : -1});
    return schedule;
}

nlohmann::json tier_json(const AdapterTierStats& t) {
    return {{"hits", t.hits},           {"misses", t.misses},
            {"loads", t.loads},         {"failed_loads", t.failed_loads},
            {"evictions", t.evictions}, {"load_seconds", t.load_seconds},
            {"resident", t.resident}};
}

nlohmann::json uploads_json(const UploadStats& u) {
    return {{"bytes", u.bytes}, {"seconds", u.seconds}};
}

// The pool loads' copies, which run beside compute on a GPU.
std::string uploads_text(const UploadStats& u, std::uint64_t loads) {
    if (u.bytes == 0) return "none";
    std::string text = fixed(static_cast<double>(u.bytes) / 1e9, 2) + " GB in " + fixed(u.seconds, 3) + " s (" +
                       fixed(u.seconds > 0.0 ? static_cast<double>(u.bytes) / u.seconds / 1e9 : 0.0, 1) + " GB/s)";
    if (loads > 0) text += ", " + fixed(u.seconds / static_cast<double>(loads) * 1e3, 2) + " ms per load";
    return text;
}

std::string tier_text(const AdapterTierStats& t) {
    return std::to_string(t.loads) + " loads in " + fixed(t.load_seconds, 2) + " s, " + std::to_string(t.hits) +
           " hits, " + std::to_string(t.misses) + " misses, " + std::to_string(t.evictions) + " evictions";
}

double seconds(BenchClock::duration d) {
    return std::chrono::duration<double>(d).count();
}

BenchClock::duration after(double s) {
    return std::chrono::duration_cast<BenchClock::duration>(std::chrono::duration<double>(s));
}

// What a tier did since `before` (residency as it is now).
AdapterTierStats since(AdapterTierStats now, const AdapterTierStats& before) {
    now.hits -= before.hits;
    now.misses -= before.misses;
    now.loads -= before.loads;
    now.failed_loads -= before.failed_loads;
    now.evictions -= before.evictions;
    now.load_seconds -= before.load_seconds;
    return now;
}

// --warm-pool: a 1-token request per adapter, in order, so that the trace starts as after
// a long run over all of them: the host tier holding what it has room for, the pool the
// most recently used.
void warm_pool(BenchSetup& s, const BenchOptions& o) {
    std::vector<GenerationRequest> requests;
    for (std::size_t i = 0; i < s.adapter_names.size(); ++i) {
        GenerationRequest r;
        r.model = s.adapter_names[i];
        r.prompt = random_prompt(8, s.config.vocab_size, o.seed * 7919u + i);
        r.sampling.temperature = 0.0f;
        r.max_tokens = 1;
        r.ignore_eos = true;
        requests.push_back(std::move(r));
    }
    RequestTracker warm(*s.engine);
    warm.submit(std::move(requests));
    if (!warm.wait_all(BenchClock::now() + after(o.timeout)))
        fail("--warm-pool: the warm-up requests did not finish within --timeout (", o.timeout, " s)");
    for (const TrackedRequest& r : warm.requests())
        if (r.finish == FinishReason::Error) fail("--warm-pool: a warm-up request for ", r.model, " failed: ", r.error);
}

}  // namespace

nlohmann::json run_trace(BenchSetup& s, const BenchOptions& o) {
    Engine& engine = *s.engine;
    const int adapters = static_cast<int>(s.adapter_names.size());
    const std::vector<Arrival> schedule = make_schedule(o, adapters);
    if (schedule.empty())
        fail("no request arrives in ", o.duration, " s at ", o.rate, " req/s: raise --duration or --rate");
    const int context = s.config.max_position_embeddings;
    if (o.input_len.max >= context)
        fail("--input-len up to ", o.input_len.max, " does not fit ", o.model, "'s context of ", context, " tokens");

    if (o.warm_pool) warm_pool(s, o);
    const MetricsSnapshot before = engine.metrics();
    RequestTracker tracker(engine);
    const auto start = BenchClock::now();
    for (std::size_t i = 0; i < schedule.size(); ++i) {
        const Arrival& a = schedule[i];
        std::this_thread::sleep_until(start + after(a.at));
        GenerationRequest r;
        r.model = a.adapter >= 0 ? s.adapter_names[static_cast<std::size_t>(a.adapter)] : s.base;
        r.prompt = random_prompt(a.input, s.config.vocab_size, o.seed * 1000003u + i);
        r.sampling.temperature = 0.0f;
        r.max_tokens = a.output;
        r.ignore_eos = true;
        tracker.submit({std::move(r)});
    }
    const auto last_arrival = BenchClock::now();
    const bool drained = tracker.wait_all(last_arrival + after(o.timeout));
    if (!drained) tracker.cancel_all();
    const MetricsSnapshot m = engine.metrics();

    std::vector<double> ttft, itl;
    std::size_t finished = 0, met_slo = 0, tokens = 0, errors = 0;
    BenchClock::time_point last_finish = start;
    std::string first_error;
    for (const TrackedRequest& r : tracker.requests()) {
        tokens += r.tokens.size();
        if (!r.tokens.empty()) {
            const double first = seconds(r.tokens.front() - r.submitted);
            ttft.push_back(first);
            if (first <= o.slo_ttft) ++met_slo;
            for (std::size_t k = 1; k < r.tokens.size(); ++k) itl.push_back(seconds(r.tokens[k] - r.tokens[k - 1]));
        }
        if (r.finish == FinishReason::Length || r.finish == FinishReason::Stop) {
            ++finished;
            if (!r.tokens.empty()) last_finish = std::max(last_finish, r.tokens.back());
        } else if (r.finish == FinishReason::Error) {
            ++errors;
            if (first_error.empty()) first_error = r.error;
        }
    }
    const double span = seconds(last_finish - start);
    const double req_per_s = span > 0.0 ? static_cast<double>(finished) / span : 0.0;
    const double slo = static_cast<double>(met_slo) / static_cast<double>(schedule.size());
    const Percentiles ttft_p = percentiles(ttft), itl_p = percentiles(itl);
    // The trace's own share of the cache's work and the preemptions (not the warm-up's).
    const AdapterTierStats pool = since(m.adapter_cache.pool, before.adapter_cache.pool);
    const AdapterTierStats host = since(m.adapter_cache.host, before.adapter_cache.host);
    const UploadStats uploads = m.adapter_cache.uploads - before.adapter_cache.uploads;
    const std::uint64_t preemptions = m.preemptions - before.preemptions;

    Table t("trace: " + o.model + ", " + fixed(o.rate, 1) + " req/s for " + fixed(o.duration, 0) + " s, " +
            std::to_string(adapters) + " adapters (" +
            (o.popularity.zipf ? "zipf " + fixed(o.popularity.alpha, 2) : std::string("uniform")) + "), lengths " +
            std::to_string(o.input_len.min) + "-" + std::to_string(o.input_len.max) + " in, " +
            std::to_string(o.output_len.min) + "-" + std::to_string(o.output_len.max) + " out");
    t.row("device", engine.backend_name());
    t.row("requests", std::to_string(schedule.size()) + " sent, " + std::to_string(finished) + " finished, " +
                          std::to_string(errors) + " failed" + (drained ? "" : ", the rest cancelled at --timeout"));
    t.row("throughput", fixed(req_per_s, 2) + " req/s, " + fixed(span > 0.0 ? tokens / span : 0.0, 1) + " tokens/s");
    t.row("TTFT", percentiles_ms(ttft_p));
    t.row("inter-token latency", percentiles_ms(itl_p));
    t.row("SLO attainment", fixed(100.0 * slo, 1) + "% with TTFT <= " + fixed(o.slo_ttft, 1) + " s");
    t.row("adapters in pool", tier_text(pool));
    t.row("pool uploads", uploads_text(uploads, pool.loads));
    t.row("adapters in host RAM", tier_text(host));
    t.row("preemptions", std::to_string(preemptions));
    if (!first_error.empty()) t.row("first error", first_error);
    t.print();

    return {{"rate", o.rate},
            {"duration", o.duration},
            {"popularity", o.popularity.zipf ? "zipf:" + fixed(o.popularity.alpha, 2) : "uniform"},
            {"input_len", {o.input_len.min, o.input_len.max}},
            {"output_len", {o.output_len.min, o.output_len.max}},
            {"requests_sent", schedule.size()},
            {"requests_finished", finished},
            {"requests_failed", errors},
            {"drained", drained},
            {"span_seconds", span},
            {"requests_per_second", req_per_s},
            {"tokens_per_second", span > 0.0 ? tokens / span : 0.0},
            {"generated_tokens", tokens},
            {"ttft_seconds", to_json(ttft_p)},
            {"itl_seconds", to_json(itl_p)},
            {"slo_ttft_seconds", o.slo_ttft},
            {"slo_attainment", slo},
            {"adapter_cache",
             {{"pool", tier_json(pool)},
              {"host", tier_json(host)},
              {"registered", m.adapter_cache.registered},
              {"uploads", uploads_json(uploads)},
              {"no_room", m.adapter_cache.no_room - before.adapter_cache.no_room}}},
            {"warm_pool", o.warm_pool},
            {"preemptions", preemptions},
            {"first_error", first_error}};
}

}  // namespace lw::bench
