#include "backend/backend.h"

#include "core/error.h"

namespace lw {

void Backend::check_page_range(PageId page, std::size_t offset, std::size_t size, const char* what) const {
    if (page >= page_count()) fail(name(), ": ", what, " page ", page, " of a pool of ", page_count());
    if (offset > page_bytes() || size > page_bytes() - offset)
        fail(name(), ": ", what, " ", size, " bytes at offset ", offset, " of page ", page, " overruns its ",
             page_bytes(), " bytes");
}

void ModelRunner::forward_sampled(const StepBatch&, std::span<const DeviceSampling>, std::span<DeviceSample>) {
    fail("this backend does not sample on the device; run forward() and sample the logits on the host");
}

}  // namespace lw
