// The adapter cache over three tiers (S-LoRA / vLLM): the device pool (at most
// max_loras adapters, their rows in pages of the shared PagePool), host RAM (at most
// max_cpu_loras loaded adapters; pooled adapters keep their host copy, so
// max_cpu_loras >= max_loras) and disk (every registered adapter). Requests pin the
// adapter they run with; unpinned adapters leave the pool least recently used first
// (back to host RAM), and host copies likewise (back to disk). Disk -> host loads run
// on worker threads, into host memory from the backend (pinned on a GPU); host -> pool
// uploads are queued on the device and overlap its work; everything else, including
// applying finished loads in poll(), runs on the engine's step thread. The class is not
// thread-safe. One manager per pool: its adapter ids are the owner ids of the pool's
// adapter pages.
#pragma once

#include "memory/adapter_cache_stats.h"
#include "memory/adapter_loader.h"
#include "memory/page_pool.h"
#include "memory/pooled_adapter.h"
#include "model/lora_adapter.h"
#include "model/model_config.h"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace lw {

class Backend;

struct AdapterManagerOptions {
    int max_loras = 4;       // adapters resident in the pool at once
    int max_cpu_loras = 8;   // adapters held in host RAM (pooled ones included)
    int max_lora_rank = 16;  // registration rejects adapters of higher rank
    int load_threads = 2;    // disk -> host workers
};

enum class AcquireStatus {
    Ready,    // pinned and in the pool: run with `adapter`, then release()
    Loading,  // being read from disk: ask again after poll()
    NoRoom,   // the pool or host RAM cannot take it now (pinned adapters, KV pages): free memory or wait
    Failed,   // its load failed: `error` says why; fail the request
};

struct AcquireResult {
    AcquireStatus status = AcquireStatus::Failed;
    const PooledAdapter* adapter = nullptr;  // when Ready; valid until the matching release()
    std::string error;                       // when Failed
};

class AdapterManager {
public:
    // `pool` and `backend` must outlive the manager; `backend` holds the pool's bytes.
    AdapterManager(PagePool& pool, Backend& backend, AdapterManagerOptions options);
    ~AdapterManager();  // gives every pooled adapter's pages back
    AdapterManager(const AdapterManager&) = delete;
    AdapterManager& operator=(const AdapterManager&) = delete;

    const AdapterManagerOptions& options() const { return options_; }

    // Reads the adapter once (load_lora_adapter) and registers it as below; throws
    // lw::Error naming the adapter when it cannot be read.
    void register_adapter(const std::string& name, const std::filesystem::path& path, const ModelConfig& base);
    // Registers an adapter already read from adapter->path (so that a caller can read
    // it off the step thread): checks it against `base` and max_lora_rank and throws
    // lw::Error naming the adapter when it is unusable, the name is taken or it could
    // never fit the pool. The copy stays in host RAM while there is room for it, with
    // `image` (its pool pages, built by the caller off the step thread) when it matches
    // the pool; later loads read adapter->path again.
    void register_loaded_adapter(const std::string& name, std::shared_ptr<const LoraAdapter> adapter,
                                 const ModelConfig& base, std::shared_ptr<const AdapterImage> image = nullptr);
    // Forgets the adapter and frees its pages; throws lw::Error while requests use it.
    void unregister_adapter(const std::string& name);
    bool contains(const std::string& name) const { return entries_.contains(name); }

    // Pins the adapter for one request when it is (or can now be put) in the pool,
    // evicting least recently used unpinned adapters as needed; otherwise starts what
    // brings it closer. Only a Ready result pins. Throws lw::Error for unknown names.
    AcquireResult acquire(const std::string& name);
    // Unpins once per Ready acquire; throws lw::Error when it is not pinned.
    void release(const std::string& name);
    // Brings an adapter that queued requests will need a tier closer, so that their
    // acquire finds it ready: from disk to host RAM if host RAM has room without touching
    // the pool; from host RAM into the pool, unpinned, if max_loras and the pool's pages
    // allow after evicting unpinned adapters least recently used first (never one that a
    // prefetch of this round wants: rounds end at poll()). An adapter already pooled
    // counts as just used. Returns whether a disk load or an upload started.
    bool prefetch(const std::string& name);
    // Evicts least recently used unpinned adapters from the pool until `pages` pages
    // have been freed or none is left; returns the pages freed.
    std::size_t evict_idle(std::size_t pages);

    // In the pool or in host RAM: placing it needs no disk read.
    bool in_memory(const std::string& name) const;
    // Pool pages the adapter would take to be placed now: 0 when it is in the pool,
    // else its size as of its last read (for admission by free pages).
    std::size_t pages_to_place(const std::string& name) const;

    // Applies finished disk loads and ends the prefetch round (the engine polls once per
    // step); returns how many loads were applied.
    std::size_t poll();
    // Blocks until a disk load has finished (for poll()) or none is in flight.
    void wait_for_load();

    AdapterCacheStats stats() const;
    std::vector<AdapterResidency> residency() const;  // by name
    // The adapter whose pages carry owner id `id` in the page map.
    std::optional<std::string> name_of(std::uint64_t id) const;

private:
    struct Entry {
        std::uint64_t id = 0;
        std::filesystem::path path;
        std::shared_ptr<const ModelConfig> base;
        // The host-RAM copy: its pool pages once built (all a placement needs; the adapter
        // as read, a file mapping or a buffer as large, is dropped then), else the adapter.
        std::shared_ptr<const LoraAdapter> host;
        std::shared_ptr<const AdapterImage> image;
        std::optional<PooledAdapter> pooled;  // its rows in the pool
        std::size_t pages = 0;                // pool pages it takes, as of its last read
        int pins = 0;
        std::uint64_t hits = 0, misses = 0;  // this adapter's share of the pool tier's
        bool loading = false;
        // An acquire's miss started its disk load; the acquire that finds it ready
        // counts no second outcome.
        bool miss_counted = false;
        std::uint64_t prefetch_round = 0;  // the last prefetch round that wanted it
        std::string error;                 // a failed load: unusable until registered again
        std::uint64_t last_used = 0;

        bool in_host() const { return host || image; }
    };

    Entry& entry(const std::string& name);
    const Entry& entry(const std::string& name) const;
    PageOwner owner(const Entry& e) const { return PageOwner{PageUse::Adapter, e.id}; }
    std::size_t count_hosted() const;
    std::size_t count_loading() const;
    std::size_t count_pooled() const;
    // Unpinned pooled adapters other than `keep`, least recently used first; for a
    // prefetch, none that this round's prefetches want.
    std::vector<Entry*> pool_victims(const Entry* keep, bool prefetching = false);

    AcquireResult place_in_pool(const std::string& name, Entry& e);
    // Uploads a host copy to the pool, unpinned: Ready, NoRoom or Failed.
    AcquireResult upload_to_pool(const std::string& name, Entry& e, bool prefetching);
    bool make_pool_room(const Entry& e, std::size_t pages, bool prefetching);
    void evict_from_pool(Entry& e);
    void release_pool_pages(Entry& e);
    bool start_load(const std::string& name, Entry& e, bool prefetching);
    bool free_host_slot(bool prefetching);
    AcquireResult fail_entry(Entry& e, std::string error);

    PagePool& pool_;
    Backend& backend_;
    AdapterManagerOptions options_;
    std::map<std::string, Entry> entries_;                  // node-based: PooledAdapter addresses stay put
    std::unordered_map<std::uint64_t, std::string> names_;  // id -> name
    std::uint64_t next_id_ = 1;
    std::uint64_t clock_ = 0;           // LRU time: bumped by every use
    std::uint64_t prefetch_round_ = 1;  // bumped by poll()
    AdapterTierStats pool_stats_;
    AdapterTierStats host_stats_;
    std::uint64_t no_room_ = 0;
    AdapterLoader loader_;
};

}  // namespace lw
