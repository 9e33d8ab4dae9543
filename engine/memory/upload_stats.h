// What the pool's uploads (Backend::write_pages) have cost the device: the bytes of the
// copies that have landed and the time the copies themselves took (on a GPU, from each
// upload's first copy starting to its last one ending on the upload stream, while compute
// runs beside it; on the CPU, the memcpy). The adapter cache's views show it beside the
// step thread's time per pool load.
#pragma once

#include <cstddef>

namespace lw {

struct UploadStats {
    std::size_t bytes = 0;
    double seconds = 0.0;

    UploadStats operator-(const UploadStats& before) const { return {bytes - before.bytes, seconds - before.seconds}; }
};

}  // namespace lw
