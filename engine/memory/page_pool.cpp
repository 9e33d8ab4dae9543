#include "memory/page_pool.h"

#include "core/error.h"

#include <algorithm>
#include <limits>

namespace lw {

namespace {

const char* use_name(PageUse use) {
    switch (use) {
        case PageUse::Free:
            return "free";
        case PageUse::KvCache:
            return "kv";
        case PageUse::Adapter:
            return "adapter";
    }
    return "unknown";
}

}  // namespace

std::string describe(const PageOwner& owner) {
    if (owner.use == PageUse::Free) return "free";
    return cat(use_name(owner.use), ":", owner.id);
}

PagePool::PagePool(std::size_t page_count, std::size_t page_bytes) : page_bytes_(page_bytes) {
    if (page_bytes == 0) fail("page pool: page size must be positive");
    if (page_count > std::numeric_limits<PageId>::max())
        fail("page pool: ", page_count, " pages exceed the ", std::numeric_limits<PageId>::max(),
             " a page id can name");
    owners_.resize(page_count);
    // Highest id at the bottom of the stack, so a fresh pool hands out pages 0, 1, 2, ...
    free_.reserve(page_count);
    for (std::size_t i = page_count; i > 0; --i) free_.push_back(static_cast<PageId>(i - 1));
}

std::size_t PagePool::used_by(PageUse use) const {
    return static_cast<std::size_t>(
        std::count_if(owners_.begin(), owners_.end(), [use](const PageOwner& o) { return o.use == use; }));
}

std::optional<std::vector<PageId>> PagePool::allocate(std::size_t n, PageOwner owner) {
    if (owner.use == PageUse::Free) fail("page pool: cannot allocate pages for the owner 'free'");
    if (n > free_.size()) return std::nullopt;
    // Popped in stack order: the top of the free list first.
    std::vector<PageId> pages(free_.rbegin(), free_.rbegin() + static_cast<std::ptrdiff_t>(n));
    free_.resize(free_.size() - n);
    for (PageId p : pages) owners_[p] = owner;
    return pages;
}

void PagePool::release(std::span<const PageId> pages, PageOwner owner) {
    std::vector<PageId> sorted(pages.begin(), pages.end());
    std::sort(sorted.begin(), sorted.end());
    if (auto dup = std::adjacent_find(sorted.begin(), sorted.end()); dup != sorted.end())
        fail("page pool: ", describe(owner), " releases page ", *dup, " twice");
    for (PageId p : sorted) {
        if (p >= owners_.size())
            fail("page pool: ", describe(owner), " releases page ", p, ", beyond the ", owners_.size(), " pages");
        if (owners_[p] != owner || owner.use == PageUse::Free)
            fail("page pool: ", describe(owner), " releases page ", p, ", which is held by ", describe(owners_[p]));
    }
    for (PageId p : pages) {
        owners_[p] = PageOwner{};
        free_.push_back(p);
    }
}

void PagePool::check_invariants() const {
    std::vector<bool> listed(owners_.size(), false);
    for (PageId p : free_) {
        if (p >= owners_.size())
            fail("page pool invariant: free list holds page ", p, ", beyond the ", owners_.size(), " pages");
        if (listed[p]) fail("page pool invariant: page ", p, " is on the free list twice");
        if (owners_[p] != PageOwner{})
            fail("page pool invariant: page ", p, " is on the free list but held by ", describe(owners_[p]));
        listed[p] = true;
    }
    for (std::size_t p = 0; p < owners_.size(); ++p) {
        const PageOwner& o = owners_[p];
        if (o.use != PageUse::Free) continue;
        if (o.id != 0) fail("page pool invariant: free page ", p, " carries owner id ", o.id);
        if (!listed[p]) fail("page pool invariant: page ", p, " is free but not on the free list");
    }
}

}  // namespace lw
