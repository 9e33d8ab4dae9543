// The unified page pool (S-LoRA's unified paging): one set of fixed-size pages per
// device, shared by KV-cache blocks and adapter weights, so that memory freed by one
// serves the other. This class is the bookkeeping only (who owns which page); the
// bytes live in the backend's memory (Backend::write_page, ModelRunner::forward).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace lw {

using PageId = std::uint32_t;

enum class PageUse : std::uint8_t { Free, KvCache, Adapter };

// Who holds a page: a sequence (KvCache, id = sequence id) or an adapter (Adapter,
// id = adapter id). Free pages have use Free and id 0.
struct PageOwner {
    PageUse use = PageUse::Free;
    std::uint64_t id = 0;
    friend bool operator==(const PageOwner&, const PageOwner&) = default;
};

std::string describe(const PageOwner& owner);  // "free", "kv:12", "adapter:3"

class PagePool {
public:
    PagePool(std::size_t page_count, std::size_t page_bytes);

    std::size_t page_count() const { return owners_.size(); }
    std::size_t page_bytes() const { return page_bytes_; }
    std::size_t free_count() const { return free_.size(); }
    std::size_t used_by(PageUse use) const;

    // All or nothing: `n` pages for `owner`, or nullopt (and nothing taken) when fewer are free.
    std::optional<std::vector<PageId>> allocate(std::size_t n, PageOwner owner);
    // Gives pages back; throws lw::Error (and changes nothing) if any is not held by `owner`.
    void release(std::span<const PageId> pages, PageOwner owner);

    // The page map, one owner per page: what the workbench draws and /metrics counts.
    const std::vector<PageOwner>& owners() const { return owners_; }

    // Throws lw::Error unless every page is either free (and on the free list once) or
    // held by exactly one owner. Tests call it after every operation.
    void check_invariants() const;

private:
    std::size_t page_bytes_;
    std::vector<PageOwner> owners_;
    std::vector<PageId> free_;  // a stack: recently freed pages are reused first
};

}  // namespace lw
