// The KV cache of running sequences in pool pages: each sequence owns a block table
// that grows a block (num_layers pages, one per layer) at a time as its positions
// grow, with pages taken from the shared PagePool under the owner {KvCache, sequence}.
// Growth is all or nothing, so a sequence that cannot grow keeps exactly what it had
// and the scheduler can preempt or wait. Several managers (one per base model, each
// with its own layout) may share a pool as long as sequence ids are unique among them.
#pragma once

#include "memory/kv_layout.h"
#include "memory/page_pool.h"

#include <cstddef>
#include <cstdint>
#include <unordered_map>

namespace lw {

using SequenceId = std::uint64_t;

class KvCacheManager {
public:
    KvCacheManager(PagePool& pool, KvLayout layout);
    ~KvCacheManager();  // gives every sequence's pages back
    KvCacheManager(const KvCacheManager&) = delete;
    KvCacheManager& operator=(const KvCacheManager&) = delete;

    const KvLayout& layout() const { return layout_; }

    // Pages `sequence` still needs to hold `tokens` positions (0 if it already can).
    std::size_t pages_needed(SequenceId sequence, std::size_t tokens) const;
    // Grows the sequence's table (creating it if new) to hold `tokens` positions.
    // Returns false, changing nothing, when the pool has too few free pages.
    bool reserve(SequenceId sequence, std::size_t tokens);
    // Positions the sequence's pages can hold; 0 for an unknown sequence.
    std::size_t capacity(SequenceId sequence) const;

    // The sequence's table, for StepSequence::kv. Stays at the same address until
    // free(); throws lw::Error for an unknown sequence.
    KvBlockTable& table(SequenceId sequence);
    bool contains(SequenceId sequence) const { return tables_.contains(sequence); }

    // Gives the sequence's pages back and forgets it (finished, failed, cancelled or
    // preempted); returns the pages freed, 0 for an unknown sequence.
    std::size_t free(SequenceId sequence);

    std::size_t sequence_count() const { return tables_.size(); }
    std::size_t pages_used() const;  // by all sequences of this manager
    std::size_t pages_free() const { return pool_.free_count(); }

private:
    PagePool& pool_;
    KvLayout layout_;
    std::unordered_map<SequenceId, KvBlockTable> tables_;  // node-based: tables keep their address
};

}  // namespace lw
