#include "backend/backend.h"

#include "core/error.h"

#include <algorithm>
#include <chrono>

namespace lw {

UploadTicket newest_upload(const StepBatch& batch) {
    UploadTicket newest = 0;
    for (const StepSequence& s : batch.sequences)
        if (s.adapter) newest = std::max(newest, s.adapter->upload);
    return newest;
}

void Backend::check_page_range(PageId page, std::size_t offset, std::size_t size, const char* what) const {
    if (page >= page_count()) fail(name(), ": ", what, " page ", page, " of a pool of ", page_count());
    if (offset > page_bytes() || size > page_bytes() - offset)
        fail(name(), ": ", what, " ", size, " bytes at offset ", offset, " of page ", page, " overruns its ",
             page_bytes(), " bytes");
}

void Backend::check_page_upload(std::span<const PageId> pages, std::size_t bytes) const {
    if (bytes != pages.size() * page_bytes())
        fail(name(), ": an upload of ", bytes, " bytes to ", pages.size(), " pages of ", page_bytes(),
             " bytes is not whole pages");
    for (PageId p : pages)
        if (p >= page_count()) fail(name(), ": upload to page ", p, " of a pool of ", page_count());
}

// Copied before returning: there is no owner to keep alive and no upload to wait for.
UploadTicket Backend::write_pages(std::span<const PageId> pages, const HostBuffer& bytes, std::shared_ptr<const void>) {
    check_page_upload(pages, bytes.size());
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < pages.size(); ++i)
        write_page(pages[i], 0, bytes.bytes().subspan(i * page_bytes(), page_bytes()));
    const std::lock_guard lock(upload_stats_mutex_);
    upload_stats_.bytes += bytes.size();
    upload_stats_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return ++last_ticket_;
}

UploadStats Backend::upload_stats() const {
    const std::lock_guard lock(upload_stats_mutex_);
    return upload_stats_;
}

void Backend::order_uploads_before_compute(UploadTicket) {}

void ModelRunner::forward_sampled(const StepBatch&, std::span<const DeviceSampling>, std::span<DeviceSample>) {
    fail("this backend does not sample on the device; run forward() and sample the logits on the host");
}

}  // namespace lw
