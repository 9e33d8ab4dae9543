#include "runtime/engine.h"

#include "backend/cpu/cpu_backend.h"
#ifdef LW_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#include "cuda_check.h"
#endif
#include "memory/adapter_manager.h"
#include "metrics/latency_recorder.h"
#include "metrics/metrics_snapshot.h"
#include "metrics/step_recorder.h"
#include "runtime/base_model.h"
#include "runtime/scheduler.h"
#include "runtime/sequence.h"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>

namespace lw {

namespace {

using Events = std::vector<std::pair<EventCallback, GenerationEvent>>;

// How long a step loop that could schedule nothing (adapters still loading) waits
// before it polls again, unless new work wakes it first.
constexpr auto kStalledPoll = std::chrono::milliseconds(2);

RequestError invalid(std::string field, const std::string& message) {
    return RequestError(RequestError::Kind::InvalidArgument, std::move(field), message);
}

std::unique_ptr<Backend> make_backend(const EngineConfig& c) {
    if (c.page_bytes == 0) fail("engine: page_bytes must be positive");
    if (c.pool_bytes < c.page_bytes)
        fail("engine: pool_bytes (", c.pool_bytes, ") must hold at least one page of ", c.page_bytes, " bytes");
    if (c.backend != "cpu" && c.backend != "cuda") fail("engine: unknown backend '", c.backend, "' (cpu or cuda)");
    const std::size_t pages = c.pool_bytes / c.page_bytes;
    if (c.backend == "cuda") {
#ifdef LW_HAVE_CUDA
        if (cuda::device_count() > 0)
            return std::make_unique<CudaBackend>(
                pages, c.page_bytes,
                CudaBackendOptions{DType::F16, c.max_num_seqs, c.max_num_batched_tokens, c.max_lora_rank, c.max_loras});
        const char* why = "no CUDA device was found";
#else
        const char* why = "this build has no CUDA";
#endif
        // Once per process: tests and tools create many engines.
        static std::once_flag said;
        std::call_once(said, [why] { std::fprintf(stderr, "lora-workbench: %s; using the CPU backend\n", why); });
    }
    return std::make_unique<CpuBackend>(pages, c.page_bytes, c.threads);
}

// Disk -> host loads read, validate and lay out an adapter's pool pages (134 MB for a
// rank-64 7B adapter): with thousands of adapters they set the pace, so they get half
// the cores, within [2, 8].
int adapter_load_threads() {
    return std::clamp(static_cast<int>(std::thread::hardware_concurrency() / 2), 2, 8);
}

double seconds_between(Clock::time_point from, Clock::time_point to) {
    return std::chrono::duration<double>(to - from).count();
}

}  // namespace

struct Engine::Impl final : SchedulerMemory {
    explicit Impl(EngineConfig c)
        : backend(make_backend(c)),
          pool(backend->page_count(), backend->page_bytes()),
          adapters(pool, *backend,
                   AdapterManagerOptions{c.max_loras, c.max_cpu_loras, c.max_lora_rank, adapter_load_threads()}),
          scheduler(
              SchedulerConfig{c.max_num_seqs, c.max_num_batched_tokens, std::max(1, c.max_cpu_loras - c.max_loras)},
              *this) {}

    // SchedulerMemory, called on the step thread under `mutex`.
    AdapterAdmission acquire_adapter(Sequence& seq, std::string& error) override;
    void prefetch_adapter(Sequence& seq) override;
    bool adapter_in_memory(const Sequence& seq) const override;
    bool reserve_kv(Sequence& seq, std::size_t tokens) override;
    void release(Sequence& seq) override;

    struct Route {
        std::size_t base = 0;
        std::string adapter;  // empty: the bare base
    };
    Route route(const std::string& model) const;
    void validate(const GenerationRequest& r, const BaseModel& base) const;
    std::string unique_name(const std::string& wanted) const;
    bool name_taken(const std::string& name) const;

    // One base's share of a step: prepared under `mutex`, run under `device_mutex` alone.
    struct BaseBatch {
        BaseModel* base = nullptr;
        std::vector<ScheduledChunk> chunks;
        StepBatch batch;
        std::vector<Sequence*> sampling;  // the sequences that get a next token, in order
        // Either the device draws every one of their tokens (when each can be drawn
        // there) or their logits come back and the host samples.
        bool on_device = false;
        std::vector<DeviceSampling> samplers;
        std::vector<DeviceSample> samples;
        std::vector<float> logits;
        std::string error;  // why the forward pass failed
    };

    void run();
    bool step(std::unique_lock<std::mutex>& lock, Events& events);
    BaseBatch prepare(BaseModel& base, std::vector<ScheduledChunk> chunks, StepRecord& record);
    void forward(BaseBatch& b);
    void complete(BaseBatch& b, std::size_t& generated, Events& events);
    void finish(Sequence& seq, FinishReason reason, std::string error, Events& events);
    static void deliver(Events& events);

    std::unique_ptr<Backend> backend;
    PagePool pool;
    AdapterManager adapters;
    std::vector<std::unique_ptr<BaseModel>> bases;
    struct AdapterEntry {
        std::size_t base = 0;
        std::filesystem::path path;
    };
    std::map<std::string, AdapterEntry> adapter_entries;
    Scheduler scheduler;
    std::map<RequestId, std::unique_ptr<Sequence>> sequences;
    std::vector<RequestId> cancels;
    RequestId next_id = 1;

    LatencyRecorder ttft;
    LatencyRecorder itl;
    StepRecorder steps;
    std::uint64_t prompt_tokens = 0;
    std::uint64_t generation_tokens = 0;
    std::uint64_t preemptions = 0;
    std::array<std::uint64_t, 4> finished{};

    // `mutex` guards everything above and below; `device_mutex` the backend while a
    // forward pass or a model load uses it. Take device_mutex first when both are needed.
    std::mutex device_mutex;
    mutable std::mutex mutex;
    std::condition_variable wake;
    bool news = false;  // submissions, cancellations or stop since the step loop last looked
    bool stopping = false;
    std::thread thread;  // last: started once everything above exists
};

AdapterAdmission Engine::Impl::acquire_adapter(Sequence& seq, std::string& error) {
    if (seq.adapter().empty() || seq.pooled) return AdapterAdmission::Ready;
    const AcquireResult r = adapters.acquire(seq.adapter());
    switch (r.status) {
        case AcquireStatus::Ready:
            seq.pooled = r.adapter;
            return AdapterAdmission::Ready;
        case AcquireStatus::Loading:
        case AcquireStatus::NoRoom:
            return AdapterAdmission::Wait;
        case AcquireStatus::Failed:
            break;
    }
    error = cat("adapter '", seq.adapter(), "' cannot be loaded: ", r.error);
    return AdapterAdmission::Failed;
}

void Engine::Impl::prefetch_adapter(Sequence& seq) {
    if (!seq.adapter().empty()) adapters.prefetch(seq.adapter());
}

bool Engine::Impl::adapter_in_memory(const Sequence& seq) const {
    return seq.adapter().empty() || seq.pooled || adapters.in_memory(seq.adapter());
}

bool Engine::Impl::reserve_kv(Sequence& seq, std::size_t tokens) {
    KvCacheManager& kv = *bases[seq.base()]->kv;
    if (kv.reserve(seq.id(), tokens)) return true;
    // Idle adapters' pages go before any running sequence is preempted.
    const std::size_t needed = kv.pages_needed(seq.id(), tokens);
    if (needed > pool.free_count()) adapters.evict_idle(needed - pool.free_count());
    return kv.reserve(seq.id(), tokens);
}

void Engine::Impl::release(Sequence& seq) {
    bases[seq.base()]->kv->free(seq.id());
    if (seq.pooled) {
        adapters.release(seq.adapter());
        seq.pooled = nullptr;
    }
}

Engine::Impl::Route Engine::Impl::route(const std::string& model) const {
    for (std::size_t i = 0; i < bases.size(); ++i)
        if (bases[i]->name == model) return {i, {}};
    if (const auto it = adapter_entries.find(model); it != adapter_entries.end()) return {it->second.base, model};
    throw RequestError(RequestError::Kind::UnknownModel, "model", cat("model '", model, "' does not exist"));
}

void Engine::Impl::validate(const GenerationRequest& r, const BaseModel& base) const {
    const int vocab = base.model->config.vocab_size;
    const auto in_vocab = [vocab](TokenId t) { return t >= 0 && t < vocab; };
    if (r.prompt.empty()) throw invalid("prompt", "the prompt is empty");
    if (!std::all_of(r.prompt.begin(), r.prompt.end(), in_vocab))
        throw invalid("prompt", cat("the prompt holds a token id outside ", base.name, "'s vocabulary of ", vocab));
    if (r.prompt.size() >= base.context())
        throw invalid("prompt", cat("the prompt has ", r.prompt.size(), " tokens; ", base.name, "'s context is ",
                                    base.context(), " tokens"));
    const std::size_t pages = base.kv->layout().pages_for(r.prompt.size() + 1);
    if (pages > pool.page_count())
        throw invalid("prompt", cat("the prompt has ", r.prompt.size(), " tokens, whose KV cache needs ", pages,
                                    " pages; the pool has only ", pool.page_count()));
    if (r.max_tokens < 1) throw invalid("max_tokens", cat("max_tokens must be at least 1, got ", r.max_tokens));
    if (r.min_tokens < 0 || r.min_tokens > r.max_tokens)
        throw invalid("min_tokens",
                      cat("min_tokens must be in [0, max_tokens = ", r.max_tokens, "], got ", r.min_tokens));
    try {
        validate_sampling_params(r.sampling);
    } catch (const Error& e) {
        const std::string message = e.what();  // "top_p must be in (0, 1], got 2": it starts with the field
        throw invalid(message.substr(0, message.find(' ')), message);
    }
    if (!r.stop.empty() && !base.model->tokenizer)
        throw invalid("stop", cat("stop strings need a tokenizer; ", base.name, " has none"));
    if (std::any_of(r.stop.begin(), r.stop.end(), [](const std::string& s) { return s.empty(); }))
        throw invalid("stop", "stop strings must not be empty");
    if (!std::all_of(r.stop_token_ids.begin(), r.stop_token_ids.end(), in_vocab))
        throw invalid("stop_token_ids",
                      cat("stop_token_ids hold an id outside ", base.name, "'s vocabulary of ", vocab));
}

bool Engine::Impl::name_taken(const std::string& name) const {
    return adapter_entries.contains(name) ||
           std::any_of(bases.begin(), bases.end(), [&](const auto& b) { return b->name == name; });
}

std::string Engine::Impl::unique_name(const std::string& wanted) const {
    const std::string stem = wanted.empty() ? "model" : wanted;
    std::string name = stem;
    for (int n = 2; name_taken(name); ++n) name = cat(stem, "-", n);
    return name;
}

void Engine::Impl::run() {
    std::unique_lock lock(mutex);
    while (true) {
        wake.wait(lock, [&] { return stopping || news || !scheduler.idle(); });
        if (stopping) return;
        news = false;
        Events events;
        bool ran = false;
        try {
            ran = step(lock, events);
        } catch (const std::exception& e) {
            // A broken invariant, not a bad request: fail what runs rather than the process.
            while (!sequences.empty())
                finish(*sequences.begin()->second, FinishReason::Error, cat("engine step failed: ", e.what()), events);
        }
        lock.unlock();
        deliver(events);
        lock.lock();
        if (!ran && !scheduler.idle()) wake.wait_for(lock, kStalledPoll, [&] { return stopping || news; });
    }
}

bool Engine::Impl::step(std::unique_lock<std::mutex>& lock, Events& events) {
    const auto start = Clock::now();
    for (RequestId id : std::exchange(cancels, {}))
        if (const auto it = sequences.find(id); it != sequences.end())
            finish(*it->second, FinishReason::Cancelled, {}, events);
    adapters.poll();

    const SchedulerOutput out = scheduler.schedule();
    preemptions += out.preempted.size();
    for (const FailedAdmission& f : out.failed) finish(*f.seq, FinishReason::Error, f.error, events);
    if (out.chunks.empty()) return false;

    StepRecord record;
    std::vector<BaseBatch> batches;
    for (std::size_t b = 0; b < bases.size(); ++b) {
        std::vector<ScheduledChunk> chunks;
        for (const ScheduledChunk& c : out.chunks)
            if (c.seq->base() == b) chunks.push_back(c);
        if (!chunks.empty()) batches.push_back(prepare(*bases[b], std::move(chunks), record));
    }
    // Only this thread finishes sequences or changes their caches, so what the batches
    // point to stays put while submit, cancel and metrics go on.
    lock.unlock();
    {
        std::lock_guard device(device_mutex);
        for (BaseBatch& b : batches) forward(b);
    }
    lock.lock();
    std::size_t generated = 0;
    for (BaseBatch& b : batches) complete(b, generated, events);

    const auto end = Clock::now();
    record.seconds = seconds_between(start, end);
    record.sequences = out.chunks.size();
    steps.record(std::move(record), generated, end);
    return true;
}

Engine::Impl::BaseBatch Engine::Impl::prepare(BaseModel& base, std::vector<ScheduledChunk> chunks, StepRecord& record) {
    BaseBatch b;
    b.base = &base;
    for (const ScheduledChunk& c : chunks) {
        Sequence& seq = *c.seq;
        b.batch.sequences.push_back({std::span(seq.tokens()).subspan(c.start, c.count), static_cast<int>(c.start),
                                     &base.kv->table(seq.id()), seq.pooled, c.wants_logits});
        if (c.wants_logits) b.sampling.push_back(&seq);
        const bool decode = c.count == 1 && c.start >= seq.prompt_size();
        (decode ? record.decode_tokens : record.prefill_tokens) += c.count;
        record.tokens_by_model[seq.request().model] += c.count;
    }
    b.chunks = std::move(chunks);
    b.on_device =
        base.runner->samples_on_device() &&
        std::all_of(b.sampling.begin(), b.sampling.end(), [](const Sequence* s) { return s->device_sampling(); });
    if (b.on_device) {
        for (const Sequence* s : b.sampling) b.samplers.push_back(*s->device_sampling());
        b.samples.resize(b.sampling.size());
    } else {
        b.logits.resize(b.sampling.size() * static_cast<std::size_t>(base.model->config.vocab_size));
    }
    return b;
}

void Engine::Impl::forward(BaseBatch& b) {
    try {
        if (b.on_device)
            b.base->runner->forward_sampled(b.batch, b.samplers, b.samples);
        else
            b.base->runner->forward(b.batch, b.logits);
    } catch (const std::exception& e) {
        b.error = cat("the forward pass of ", b.base->name, " failed: ", e.what());
    }
}

void Engine::Impl::complete(BaseBatch& b, std::size_t& generated, Events& events) {
    if (!b.error.empty()) {
        for (const ScheduledChunk& c : b.chunks) finish(*c.seq, FinishReason::Error, b.error, events);
        return;
    }
    for (const ScheduledChunk& c : b.chunks) c.seq->advance(c.count);
    const auto vocab = static_cast<std::size_t>(b.base->model->config.vocab_size);
    const auto now = Clock::now();
    for (std::size_t k = 0; k < b.sampling.size(); ++k) {
        Sequence& seq = *b.sampling[k];
        const auto previous = seq.last_token_at;
        if (seq.generated() == 0) prompt_tokens += seq.prompt_size();
        std::optional<FinishReason> reason;
        GenerationEvent event;
        try {
            if (b.on_device)
                event = seq.accept(SampledToken{b.samples[k].token, b.samples[k].logprob, {}}, reason);
            else
                event = seq.sample(std::span(b.logits).subspan(k * vocab, vocab), reason);
        } catch (const std::exception& e) {
            finish(seq, FinishReason::Error, cat("sampling failed: ", e.what()), events);
            continue;
        }
        if (previous)
            itl.record(seconds_between(*previous, now));
        else
            ttft.record(seconds_between(seq.arrival, now));
        ++generation_tokens;
        ++generated;
        events.emplace_back(seq.on_event(), std::move(event));
        if (reason) finish(seq, *reason, {}, events);
    }
}

void Engine::Impl::finish(Sequence& seq, FinishReason reason, std::string error, Events& events) {
    events.emplace_back(seq.on_event(), seq.finished(reason, std::move(error)));
    ++finished[static_cast<std::size_t>(reason)];
    scheduler.remove(seq);
    sequences.erase(seq.id());
}

void Engine::Impl::deliver(Events& events) {
    for (auto& [callback, event] : events) {
        if (!callback) continue;
        try {
            callback(event);
        } catch (...) {
            // A front end's failure to take an event must not stop the step loop for everyone.
        }
    }
}

Engine::Engine(EngineConfig config) : impl_(std::make_unique<Impl>(config)) {
    impl_->thread = std::thread([this] { impl_->run(); });
}

Engine::~Engine() {
    {
        std::lock_guard lock(impl_->mutex);
        impl_->stopping = true;
    }
    impl_->wake.notify_all();
    impl_->thread.join();
    Events events;
    while (!impl_->sequences.empty())
        impl_->finish(*impl_->sequences.begin()->second, FinishReason::Cancelled, {}, events);
    Impl::deliver(events);
}

std::string Engine::load_base(const std::filesystem::path& path) {
    return load_base(load_model(path));  // reading the file, the slow part, happens off the lock
}

std::string Engine::load_base(LoadedModel loaded) {
    validate_weights(loaded.weights, loaded.config, loaded.name);
    auto model = std::make_shared<LoadedModel>(std::move(loaded));
    std::lock_guard device(impl_->device_mutex);
    std::lock_guard lock(impl_->mutex);
    model->name = impl_->unique_name(model->name);
    std::string name = model->name;
    impl_->bases.push_back(
        std::make_unique<BaseModel>(make_base_model(name, std::move(model), *impl_->backend, impl_->pool)));
    return impl_->bases.back()->name;
}

void Engine::register_adapter(const std::string& name, const std::filesystem::path& path, const std::string& base) {
    const auto find_base = [&] {
        const auto it =
            std::find_if(impl_->bases.begin(), impl_->bases.end(), [&](const auto& b) { return b->name == base; });
        if (it == impl_->bases.end()) fail("cannot register adapter '", name, "': no base model is named '", base, "'");
        return it;
    };
    std::shared_ptr<const LoadedModel> model;
    {
        std::lock_guard lock(impl_->mutex);
        model = (*find_base())->model;  // bases are never removed
    }
    // Reading, checking and laying out the pool pages happen off the lock, so that the
    // step thread never converts an adapter while requests wait.
    std::shared_ptr<const LoraAdapter> adapter;
    std::shared_ptr<const AdapterImage> image;
    try {
        adapter = std::make_shared<const LoraAdapter>(load_lora_adapter(path, name));
        validate_lora_adapter(*adapter, model->config, impl_->adapters.options().max_lora_rank);
        image = std::make_shared<const AdapterImage>(
            build_adapter_image(*adapter, model->config.num_layers, impl_->backend->page_bytes(),
                                impl_->backend->pool_dtype(), impl_->backend->host_allocator()));
    } catch (const Error& e) {
        fail("cannot register adapter '", name, "': ", e.what());
    }
    std::lock_guard lock(impl_->mutex);
    const auto it = find_base();
    if (impl_->name_taken(name)) fail("cannot register adapter '", name, "': the name is already taken");
    impl_->adapters.register_loaded_adapter(name, std::move(adapter), (*it)->model->config, std::move(image));
    impl_->adapter_entries[name] = {static_cast<std::size_t>(it - impl_->bases.begin()), path};
}

void Engine::unregister_adapter(const std::string& name) {
    std::lock_guard lock(impl_->mutex);
    if (!impl_->adapter_entries.contains(name)) fail("adapter '", name, "' is not registered");
    const auto users = std::count_if(impl_->sequences.begin(), impl_->sequences.end(),
                                     [&](const auto& s) { return s.second->adapter() == name; });
    if (users > 0) fail("adapter '", name, "' is in use by ", users, " request(s); it cannot be unloaded now");
    impl_->adapters.unregister_adapter(name);
    impl_->adapter_entries.erase(name);
}

RequestId Engine::submit(GenerationRequest request, EventCallback on_event) {
    std::vector<Submission> one;
    one.push_back({std::move(request), std::move(on_event)});
    return submit_all(std::move(one)).front();
}

std::vector<RequestId> Engine::submit_all(std::vector<Submission> submissions) {
    std::lock_guard lock(impl_->mutex);
    std::vector<Impl::Route> routes;
    for (const Submission& s : submissions) {
        routes.push_back(impl_->route(s.request.model));
        impl_->validate(s.request, *impl_->bases[routes.back().base]);
    }
    std::vector<RequestId> ids;
    for (std::size_t i = 0; i < submissions.size(); ++i) {
        const Impl::Route& route = routes[i];
        const BaseModel& base = *impl_->bases[route.base];
        GenerationRequest& request = submissions[i].request;
        const RequestId id = impl_->next_id++;
        StopRules rules{request.ignore_eos ? std::vector<TokenId>{} : base.eos, base.context()};
        const Tokenizer* tokenizer = base.model->tokenizer ? &*base.model->tokenizer : nullptr;
        auto seq = std::make_unique<Sequence>(id, std::move(request), std::move(submissions[i].on_event), route.base,
                                              std::move(rules), tokenizer);
        seq->set_adapter(route.adapter);
        impl_->scheduler.add(*seq);
        impl_->sequences.emplace(id, std::move(seq));
        ids.push_back(id);
    }
    impl_->news = true;
    impl_->wake.notify_one();
    return ids;
}

void Engine::cancel(RequestId id) {
    std::lock_guard lock(impl_->mutex);
    impl_->cancels.push_back(id);
    impl_->news = true;
    impl_->wake.notify_one();
}

std::vector<Engine::ModelInfo> Engine::models() const {
    std::lock_guard lock(impl_->mutex);
    std::vector<ModelInfo> out;
    for (const auto& b : impl_->bases) out.push_back({b->name, {}, b->model->path});
    for (const auto& [name, a] : impl_->adapter_entries) out.push_back({name, impl_->bases[a.base]->name, a.path});
    return out;
}

std::shared_ptr<const LoadedModel> Engine::base_of(const std::string& model) const {
    std::lock_guard lock(impl_->mutex);
    return impl_->bases[impl_->route(model).base]->model;
}

MetricsSnapshot Engine::metrics() const {
    std::lock_guard lock(impl_->mutex);
    const Impl& m = *impl_;
    MetricsSnapshot s;
    s.page_bytes = m.pool.page_bytes();
    s.pages = m.pool.owners();
    s.pages_free = m.pool.free_count();
    s.pages_kv = m.pool.used_by(PageUse::KvCache);
    s.pages_adapter = m.pool.used_by(PageUse::Adapter);
    try {
        m.pool.check_invariants();
    } catch (const Error& e) {
        s.pool_error = e.what();
    }
    s.adapter_cache = m.adapters.stats();
    s.adapters = m.adapters.residency();
    for (const AdapterResidency& r : s.adapters) s.adapter_names[r.id] = r.name;
    for (const auto& [id, seq] : m.sequences) s.kv_models[id] = seq->request().model;
    s.steps = m.steps.recent();
    s.waiting = m.scheduler.waiting().size();
    s.running = m.scheduler.running().size();
    s.loading_adapters = s.adapter_cache.loading;
    s.time_to_first_token = m.ttft.stats();
    s.inter_token_latency = m.itl.stats();
    s.tokens_per_second = m.steps.tokens_per_second();
    s.prompt_tokens = m.prompt_tokens;
    s.generation_tokens = m.generation_tokens;
    s.preemptions = m.preemptions;
    s.finished = m.finished;
    return s;
}

std::string Engine::backend_name() const {
    return impl_->backend->name();
}

DType Engine::pool_dtype() const {
    return impl_->backend->pool_dtype();
}

double Engine::measure_copy_bandwidth() {
    std::lock_guard device(impl_->device_mutex);
    return impl_->backend->measure_copy_bandwidth();
}

}  // namespace lw
