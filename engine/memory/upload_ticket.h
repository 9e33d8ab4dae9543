// Names one upload to the pool (Backend::write_pages). Tickets increase with every upload
// and uploads land in ticket order, so waiting for ticket T covers every upload before
// it. 0: nothing to wait for.
#pragma once

#include <cstdint>

namespace lw {

using UploadTicket = std::uint64_t;

}  // namespace lw
