#include "memory/kv_cache_manager.h"

#include "core/error.h"

namespace lw {

namespace {

PageOwner owner_of(SequenceId sequence) {
    return PageOwner{PageUse::KvCache, sequence};
}

}  // namespace

KvCacheManager::KvCacheManager(PagePool& pool, KvLayout layout) : pool_(pool), layout_(layout) {
    layout_.pages_for(0);  // rejects a layout not made by make_kv_layout
}

KvCacheManager::~KvCacheManager() {
    for (auto& [sequence, table] : tables_) pool_.release(table.pages, owner_of(sequence));
}

std::size_t KvCacheManager::pages_needed(SequenceId sequence, std::size_t tokens) const {
    const std::size_t wanted = layout_.pages_for(tokens);
    const auto it = tables_.find(sequence);
    const std::size_t held = it == tables_.end() ? 0 : it->second.pages.size();
    return wanted > held ? wanted - held : 0;
}

bool KvCacheManager::reserve(SequenceId sequence, std::size_t tokens) {
    const std::size_t missing = pages_needed(sequence, tokens);
    if (missing == 0) {
        tables_.try_emplace(sequence);
        return true;
    }
    auto pages = pool_.allocate(missing, owner_of(sequence));
    if (!pages) return false;
    auto& table = tables_[sequence];
    table.pages.insert(table.pages.end(), pages->begin(), pages->end());
    return true;
}

std::size_t KvCacheManager::capacity(SequenceId sequence) const {
    const auto it = tables_.find(sequence);
    if (it == tables_.end()) return 0;
    const auto blocks = it->second.pages.size() / static_cast<std::size_t>(layout_.num_layers);
    return blocks * static_cast<std::size_t>(layout_.block_tokens);
}

KvBlockTable& KvCacheManager::table(SequenceId sequence) {
    const auto it = tables_.find(sequence);
    if (it == tables_.end()) fail("KV cache: sequence ", sequence, " has no block table");
    return it->second;
}

std::size_t KvCacheManager::free(SequenceId sequence) {
    const auto it = tables_.find(sequence);
    if (it == tables_.end()) return 0;
    const std::size_t count = it->second.pages.size();
    pool_.release(it->second.pages, owner_of(sequence));
    tables_.erase(it);
    return count;
}

std::size_t KvCacheManager::pages_used() const {
    std::size_t total = 0;
    for (const auto& [sequence, table] : tables_) total += table.pages.size();
    return total;
}

}  // namespace lw
