#include "memory/adapter_manager.h"

#include "backend/backend.h"
#include "core/error.h"

#include <algorithm>
#include <chrono>
#include <utility>

namespace lw {

namespace {

AdapterManagerOptions checked(AdapterManagerOptions o) {
    if (o.max_loras < 1) fail("adapter manager: max_loras must be at least 1, got ", o.max_loras);
    if (o.max_cpu_loras < o.max_loras)
        fail("adapter manager: max_cpu_loras (", o.max_cpu_loras, ") must be at least max_loras (", o.max_loras,
             "): pooled adapters keep their host copy");
    if (o.max_lora_rank < 1) fail("adapter manager: max_lora_rank must be at least 1, got ", o.max_lora_rank);
    return o;
}

AcquireResult with_status(AcquireStatus status) {
    return AcquireResult{status, nullptr, {}};
}

}  // namespace

AdapterManager::AdapterManager(PagePool& pool, Backend& backend, AdapterManagerOptions options)
    : pool_(pool), backend_(backend), options_(checked(options)), loader_(options.load_threads) {}

AdapterManager::~AdapterManager() {
    for (auto& [name, e] : entries_)
        if (e.pooled) pool_.release(e.pooled->pages, owner(e));
}

void AdapterManager::register_adapter(const std::string& name, const std::filesystem::path& path,
                                      const ModelConfig& base) {
    std::shared_ptr<const LoraAdapter> adapter;
    try {
        adapter = std::make_shared<const LoraAdapter>(load_lora_adapter(path, name));
    } catch (const Error& e) {
        fail("cannot register adapter '", name, "': ", e.what());
    }
    register_loaded_adapter(name, std::move(adapter), base);
}

void AdapterManager::register_loaded_adapter(const std::string& name, std::shared_ptr<const LoraAdapter> adapter,
                                             const ModelConfig& base, std::shared_ptr<const AdapterImage> image) {
    if (!adapter) fail("adapter '", name, "': nothing to register");
    if (name.empty()) fail("adapter registration (", adapter->path.string(), "): the adapter needs a name");
    if (entries_.contains(name)) fail("adapter '", name, "' is already registered");
    validate_lora_adapter(*adapter, base, options_.max_lora_rank);
    const std::size_t pages = adapter_pages_needed(*adapter, pool_.page_bytes(), backend_.pool_dtype());
    if (pages > pool_.page_count())
        fail("adapter '", name, "' needs ", pages, " pages of ", pool_.page_bytes(), " bytes; the pool has only ",
             pool_.page_count());

    Entry e;
    e.id = next_id_++;
    e.path = adapter->path;
    e.pages = pages;
    e.base = std::make_shared<const ModelConfig>(base);
    e.last_used = ++clock_;
    if (count_hosted() + count_loading() < static_cast<std::size_t>(options_.max_cpu_loras)) {
        if (image && image->dtype == backend_.pool_dtype() && image->page_bytes == pool_.page_bytes())
            e.image = std::move(image);
        else
            e.host = std::move(adapter);
    }
    names_.emplace(e.id, name);
    entries_.emplace(name, std::move(e));
}

void AdapterManager::unregister_adapter(const std::string& name) {
    Entry& e = entry(name);
    if (e.pins > 0) fail("adapter '", name, "' is in use by ", e.pins, " request(s); it cannot be unloaded now");
    if (e.pooled) release_pool_pages(e);
    // A load still in flight finds no entry for its id in poll() and is dropped.
    names_.erase(e.id);
    entries_.erase(name);
}

AcquireResult AdapterManager::acquire(const std::string& name) {
    Entry& e = entry(name);
    if (!e.error.empty()) return AcquireResult{AcquireStatus::Failed, nullptr, e.error};
    if (e.pooled) {
        if (e.miss_counted) {
            e.miss_counted = false;  // prefetched into the pool while this request waited
        } else {
            ++pool_stats_.hits;
            ++e.hits;
        }
        ++e.pins;
        e.last_used = ++clock_;
        return AcquireResult{AcquireStatus::Ready, &*e.pooled, {}};
    }
    if (e.in_host()) return place_in_pool(name, e);
    if (e.loading) return with_status(AcquireStatus::Loading);
    if (!start_load(name, e, false)) {
        ++no_room_;
        return with_status(AcquireStatus::NoRoom);
    }
    ++pool_stats_.misses;
    ++host_stats_.misses;
    ++e.misses;
    e.miss_counted = true;
    return with_status(AcquireStatus::Loading);
}

void AdapterManager::release(const std::string& name) {
    Entry& e = entry(name);
    if (e.pins == 0) fail("adapter '", name, "' is released but no request holds it");
    --e.pins;
    e.last_used = ++clock_;
}

bool AdapterManager::prefetch(const std::string& name) {
    Entry& e = entry(name);
    if (!e.error.empty() || e.loading) return false;
    e.prefetch_round = prefetch_round_;
    if (e.pooled) {
        e.last_used = ++clock_;
        return false;
    }
    if (!e.in_host()) return start_load(name, e, true);
    // Queued now, the upload overlaps the step about to run; the next step's acquire hits.
    return upload_to_pool(name, e, true).status == AcquireStatus::Ready;
}

std::size_t AdapterManager::evict_idle(std::size_t pages) {
    std::size_t freed = 0;
    for (Entry* victim : pool_victims(nullptr)) {
        if (freed >= pages) break;
        freed += victim->pooled->pages.size();
        evict_from_pool(*victim);
    }
    return freed;
}

bool AdapterManager::in_memory(const std::string& name) const {
    const Entry& e = entry(name);
    return e.pooled || e.in_host();
}

std::size_t AdapterManager::pages_to_place(const std::string& name) const {
    const Entry& e = entry(name);
    return e.pooled ? 0 : e.pages;
}

std::size_t AdapterManager::poll() {
    ++prefetch_round_;
    std::size_t applied = 0;
    for (AdapterLoadResult& r : loader_.take_finished()) {
        const auto name = names_.find(r.id);
        if (name == names_.end()) continue;  // unregistered while loading
        Entry& e = entries_.at(name->second);
        e.loading = false;
        if (r.adapter) {
            e.image = std::move(r.image);
            if (!e.image) e.host = std::move(r.adapter);
            e.last_used = ++clock_;
            ++host_stats_.loads;
            host_stats_.load_seconds += r.seconds;
        } else {
            e.error = std::move(r.error);
            e.miss_counted = false;
            ++host_stats_.failed_loads;
        }
        ++applied;
    }
    return applied;
}

void AdapterManager::wait_for_load() {
    loader_.wait_for_result();
}

AdapterCacheStats AdapterManager::stats() const {
    AdapterCacheStats s;
    s.pool = pool_stats_;
    s.pool.resident = count_pooled();
    s.host = host_stats_;
    s.host.resident = count_hosted();
    s.registered = entries_.size();
    s.loading = count_loading();
    s.no_room = no_room_;
    s.uploads = backend_.upload_stats();
    return s;
}

std::vector<AdapterResidency> AdapterManager::residency() const {
    std::vector<AdapterResidency> out;
    for (const auto& [name, e] : entries_) {
        AdapterResidency r;
        r.name = name;
        r.id = e.id;
        r.tier = e.pooled ? AdapterTier::Pool : e.in_host() ? AdapterTier::Host : AdapterTier::Disk;
        r.loading = e.loading;
        r.pins = e.pins;
        r.hits = e.hits;
        r.misses = e.misses;
        if (e.pooled) r.pages = e.pooled->pages;
        r.error = e.error;
        out.push_back(std::move(r));
    }
    return out;
}

std::optional<std::string> AdapterManager::name_of(std::uint64_t id) const {
    const auto it = names_.find(id);
    if (it == names_.end()) return std::nullopt;
    return it->second;
}

AdapterManager::Entry& AdapterManager::entry(const std::string& name) {
    return const_cast<Entry&>(std::as_const(*this).entry(name));
}

const AdapterManager::Entry& AdapterManager::entry(const std::string& name) const {
    const auto it = entries_.find(name);
    if (it == entries_.end()) fail("adapter '", name, "' is not registered");
    return it->second;
}

std::size_t AdapterManager::count_hosted() const {
    return static_cast<std::size_t>(
        std::count_if(entries_.begin(), entries_.end(), [](const auto& kv) { return kv.second.in_host(); }));
}

std::size_t AdapterManager::count_loading() const {
    return static_cast<std::size_t>(
        std::count_if(entries_.begin(), entries_.end(), [](const auto& kv) { return kv.second.loading; }));
}

std::size_t AdapterManager::count_pooled() const {
    return static_cast<std::size_t>(
        std::count_if(entries_.begin(), entries_.end(), [](const auto& kv) { return kv.second.pooled.has_value(); }));
}

std::vector<AdapterManager::Entry*> AdapterManager::pool_victims(const Entry* keep, bool prefetching) {
    std::vector<Entry*> victims;
    for (auto& [name, e] : entries_)
        if (e.pooled && e.pins == 0 && &e != keep && !(prefetching && e.prefetch_round == prefetch_round_))
            victims.push_back(&e);
    std::sort(victims.begin(), victims.end(),
              [](const Entry* a, const Entry* b) { return a->last_used < b->last_used; });
    return victims;
}

AcquireResult AdapterManager::place_in_pool(const std::string& name, Entry& e) {
    AcquireResult placed = upload_to_pool(name, e, false);
    if (placed.status != AcquireStatus::Ready) {
        if (placed.status == AcquireStatus::NoRoom) ++no_room_;
        return placed;
    }
    if (e.miss_counted) {
        e.miss_counted = false;  // this request's misses were counted when its load started
    } else {
        ++pool_stats_.misses;
        ++host_stats_.hits;
        ++e.misses;
    }
    ++e.pins;
    return placed;
}

AcquireResult AdapterManager::upload_to_pool(const std::string& name, Entry& e, bool prefetching) {
    try {
        // A copy registered without an image: built here once, and kept instead of the copy.
        if (!e.image) {
            e.image = std::make_shared<const AdapterImage>(build_adapter_image(
                *e.host, e.base->num_layers, pool_.page_bytes(), backend_.pool_dtype(), backend_.host_allocator()));
            e.host.reset();
        }
    } catch (const Error& err) {
        return fail_entry(e, err.what());
    }
    const std::size_t pages = e.image->page_count();
    e.pages = pages;
    if (pages > pool_.page_count())
        return fail_entry(e,
                          cat("adapter '", name, "' needs ", pages, " pages; the pool has only ", pool_.page_count()));
    if (!make_pool_room(e, pages, prefetching)) return with_status(AcquireStatus::NoRoom);
    auto allocated = pool_.allocate(pages, owner(e));
    if (!allocated) fail("adapter '", name, "': ", pages, " pages were made free but cannot be allocated");
    const auto start = std::chrono::steady_clock::now();
    try {
        e.pooled = upload_adapter_image(e.image, e.id, *allocated, backend_);
    } catch (const std::exception& err) {
        pool_.release(*allocated, owner(e));
        return fail_entry(e, cat("uploading adapter '", name, "' to the pool failed: ", err.what()));
    }
    ++pool_stats_.loads;
    pool_stats_.load_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    e.last_used = ++clock_;
    return AcquireResult{AcquireStatus::Ready, &*e.pooled, {}};
}

bool AdapterManager::make_pool_room(const Entry& e, std::size_t pages, bool prefetching) {
    std::size_t free = pool_.free_count();
    std::size_t resident = count_pooled();
    const auto max_loras = static_cast<std::size_t>(options_.max_loras);
    const std::vector<Entry*> victims = pool_victims(&e, prefetching);
    std::size_t taken = 0;
    // Plan first, so that nothing is evicted when even all victims would not make room.
    for (; (resident >= max_loras || free < pages) && taken < victims.size(); ++taken) {
        free += victims[taken]->pooled->pages.size();
        --resident;
    }
    if (resident >= max_loras || free < pages) return false;
    for (std::size_t i = 0; i < taken; ++i) evict_from_pool(*victims[i]);
    return true;
}

void AdapterManager::evict_from_pool(Entry& e) {
    release_pool_pages(e);
    ++pool_stats_.evictions;
}

void AdapterManager::release_pool_pages(Entry& e) {
    // The pages may take KV entries in the very next forward: it must not overtake an
    // upload still writing them.
    backend_.order_uploads_before_compute(e.pooled->upload);
    pool_.release(e.pooled->pages, owner(e));
    e.pooled.reset();
}

bool AdapterManager::start_load(const std::string& name, Entry& e, bool prefetching) {
    const bool host_full = count_hosted() + count_loading() >= static_cast<std::size_t>(options_.max_cpu_loras);
    if (host_full && !free_host_slot(prefetching)) return false;
    loader_.submit(AdapterLoadJob{e.id, name, e.path, e.base, options_.max_lora_rank, pool_.page_bytes(),
                                  backend_.pool_dtype(), backend_.host_allocator()});
    e.loading = true;
    return true;
}

bool AdapterManager::free_host_slot(bool prefetching) {
    // Host copies alone go first: dropping a pooled adapter's copy costs its pages too.
    Entry* victim = nullptr;
    for (auto& [name, e] : entries_) {
        if (!e.in_host() || e.pins > 0) continue;
        // A prefetch leaves the pool alone, and the copies this round's prefetches want.
        if (prefetching && (e.pooled || e.prefetch_round == prefetch_round_)) continue;
        const auto rank = [](const Entry* x) { return std::pair(x->pooled.has_value(), x->last_used); };
        if (!victim || rank(&e) < rank(victim)) victim = &e;
    }
    if (!victim) return false;
    if (victim->pooled) evict_from_pool(*victim);
    victim->host.reset();
    victim->image.reset();
    ++host_stats_.evictions;
    return true;
}

AcquireResult AdapterManager::fail_entry(Entry& e, std::string error) {
    e.error = std::move(error);
    e.host.reset();
    e.image.reset();
    e.miss_counted = false;
    return AcquireResult{AcquireStatus::Failed, nullptr, e.error};
}

}  // namespace lw
