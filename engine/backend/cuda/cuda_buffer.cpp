#include "backend/cuda/cuda_buffer.h"

#include "core/error.h"

#include <cuda_runtime_api.h>

#include <utility>

namespace lw::cuda {

CudaBuffer CudaBuffer::device(std::size_t bytes, const std::string& what) {
    return CudaBuffer(bytes, Where::Device, what);
}

CudaBuffer CudaBuffer::pinned(std::size_t bytes, const std::string& what) {
    return CudaBuffer(bytes, Where::PinnedHost, what);
}

CudaBuffer::CudaBuffer(std::size_t bytes, Where where, const std::string& what) : bytes_(bytes), where_(where) {
    if (bytes == 0) return;
    const cudaError_t e = where == Where::Device ? cudaMalloc(&data_, bytes) : cudaMallocHost(&data_, bytes);
    if (e != cudaSuccess) {
        cudaGetLastError();  // an allocation failure is not sticky: clear it
        data_ = nullptr;
        fail("cuda: cannot allocate ", bytes, " bytes of ", where == Where::Device ? "device" : "pinned host",
             " memory for ", what, ": ", cudaGetErrorString(e));
    }
}

CudaBuffer::~CudaBuffer() {
    if (!data_) return;
    if (where_ == Where::Device)
        cudaFree(data_);
    else
        cudaFreeHost(data_);
}

CudaBuffer::CudaBuffer(CudaBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)), where_(other.where_) {}

CudaBuffer& CudaBuffer::operator=(CudaBuffer&& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(bytes_, other.bytes_);
    std::swap(where_, other.where_);
    return *this;
}

}  // namespace lw::cuda
