// What the adapter cache views and /metrics show: per tier, how often a request found
// its adapter there (hits) or not (misses), how often adapters were brought in (loads,
// with the time they took) or pushed out (evictions), and how many are there now.
#pragma once

#include "memory/page_pool.h"
#include "memory/upload_stats.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lw {

struct AdapterTierStats {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::uint64_t loads = 0;         // brought into this tier (pool: uploads; host: disk reads after registration's)
    std::uint64_t failed_loads = 0;  // host: disk reads that failed
    std::uint64_t evictions = 0;     // pushed down a tier (pool -> host, host -> disk)
    double load_seconds = 0.0;       // total time of the loads (pool: the step thread's, queueing the upload)
    std::size_t resident = 0;        // adapters in this tier now
};

struct AdapterCacheStats {
    AdapterTierStats pool;
    AdapterTierStats host;       // host residency counts pooled adapters too: they keep their host copy
    std::size_t registered = 0;  // the disk tier: every registered adapter
    std::size_t loading = 0;     // disk -> host loads in flight
    std::uint64_t no_room = 0;   // acquires turned away because the pool could not make room
    UploadStats uploads;         // the pool loads' copies on the device
};

enum class AdapterTier : std::uint8_t { Disk, Host, Pool };

// One adapter's place in the tiers, for the adapter list and the page map's labels.
struct AdapterResidency {
    std::string name;
    std::uint64_t id = 0;  // owner id of its pages in the pool's page map
    AdapterTier tier = AdapterTier::Disk;
    bool loading = false;
    int pins = 0;               // requests using it now
    std::uint64_t hits = 0;     // requests that found it in the pool
    std::uint64_t misses = 0;   // requests that had to wait for it to reach the pool
    std::vector<PageId> pages;  // in the pool, when tier is Pool
    std::string error;          // why its last load failed; it is unusable until registered again
};

}  // namespace lw
