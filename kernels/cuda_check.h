// CUDA error checking and device discovery shared by every kernel and CUDA test.
#pragma once

#include <string>

namespace lw::cuda {

// Number of usable CUDA devices; 0 when there is no GPU or no driver (never throws).
int device_count();
// "NVIDIA H100 80GB HBM3, sm_90, 79.1 GiB"; empty when there is no device.
std::string device_description(int device = 0);

// Throws lw::Error with `what` and CUDA's message unless `status` is cudaSuccess.
void check(int status, const char* what);

}  // namespace lw::cuda
