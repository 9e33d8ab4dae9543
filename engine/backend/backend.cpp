#include "backend/backend.h"

#include "core/error.h"

namespace lw {

void ModelRunner::forward_sampled(const StepBatch&, std::span<const DeviceSampling>, std::span<DeviceSample>) {
    fail("this backend does not sample on the device; run forward() and sample the logits on the host");
}

}  // namespace lw
