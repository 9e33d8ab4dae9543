// A LoRA adapter's weights laid out in pool pages for the kernels. Each module
// contributes `rank` rows of A (in_features values each) followed by `rank` rows of
// B transposed (out_features values each), stored in the runner's adapter dtype. A row
// never straddles a page, so a row is found by (page, byte offset) alone: the row
// table is what the segmented LoRA kernels (shrink: x.A rows, expand: += s.(xA).B^T
// rows) read, with ranks mixed freely in one batch.
#pragma once

#include "core/dtype.h"
#include "core/host_buffer.h"
#include "memory/page_pool.h"
#include "memory/upload_ticket.h"
#include "model/lora_adapter.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace lw {

class Backend;

struct RowRef {
    PageId page = 0;
    std::uint32_t offset = 0;  // bytes from the page start
};

struct PooledModule {
    int layer = 0;
    int module = 0;  // index into linear_module_names(): 0 q_proj ... 6 down_proj
    int rank = 0;
    float scale = 0.0f;
    int in_features = 0;
    int out_features = 0;
    std::uint32_t first_row = 0;  // A rows: [first_row, first_row + rank); B^T rows follow
};

struct PooledAdapter {
    std::uint64_t id = 0;  // the adapter manager's id (page owner id)
    DType dtype = DType::F32;
    std::vector<PooledModule> modules;
    std::vector<RowRef> rows;
    std::vector<PageId> pages;
    UploadTicket upload = 0;  // the upload that wrote `pages`: a forward that reads them waits for it
    // lookup[layer][module] = index into modules, or -1 when the adapter leaves it alone
    std::vector<std::array<int, 7>> lookup;

    const PooledModule* find(int layer, int module) const;
};

// Pages needed to hold `adapter` in `dtype` with pages of `page_bytes`; throws
// lw::Error naming the adapter when one of its rows is larger than a page.
std::size_t adapter_pages_needed(const LoraAdapter& adapter, std::size_t page_bytes, DType dtype);

// An adapter's pool pages built on the host, ready to copy: its rows converted to the pool
// dtype and laid out as upload_adapter places them. Building it (dequantizing, transposing
// B, converting) is most of an upload's work, so disk loads build it on their worker
// threads and the step thread only queues the copy. Its bytes come from the backend
// (Backend::allocate_host): pinned on a GPU, so that the copy is a DMA straight from them.
struct AdapterImage {
    DType dtype = DType::F32;
    std::size_t page_bytes = 0;
    HostBuffer bytes;      // page_count() pages of page_bytes
    PooledAdapter layout;  // rows' RowRef::page are indices into the image's pages
    std::size_t page_count() const { return page_bytes == 0 ? 0 : bytes.size() / page_bytes; }
};

// Throws lw::Error naming the adapter when a module is unknown, beyond `num_layers`,
// repeated, inconsistent with its rank, or a row is larger than a page. The bytes come
// from `allocate` (ordinary memory when it is empty).
AdapterImage build_adapter_image(const LoraAdapter& adapter, int num_layers, std::size_t page_bytes, DType dtype,
                                 const HostAllocator& allocate = {});

// Queues the image's copy into `pages` (image->page_count() of them) through the backend,
// which holds `image` until the copy has read it; the result records the upload's ticket.
PooledAdapter upload_adapter_image(std::shared_ptr<const AdapterImage> image, std::uint64_t id,
                                   std::span<const PageId> pages, Backend& backend);

// Both steps at once: places the adapter's rows in `pages` (adapter_pages_needed of
// them), converting from the stored dtype. `num_layers` sizes the lookup.
PooledAdapter upload_adapter(const LoraAdapter& adapter, std::uint64_t id, std::span<const PageId> pages,
                             int num_layers, DType dtype, Backend& backend);

}  // namespace lw
