// Owned CUDA memory: device memory (cudaMalloc) or pinned host memory (cudaMallocHost,
// which copies to and from the device asynchronously), freed with its owner. Errors
// name what the memory was for.
#pragma once

#include <cstddef>
#include <string>

namespace lw::cuda {

class CudaBuffer {
public:
    // `what` names the allocation in the error when there is no room.
    static CudaBuffer device(std::size_t bytes, const std::string& what);
    static CudaBuffer pinned(std::size_t bytes, const std::string& what);

    CudaBuffer() = default;
    ~CudaBuffer();
    CudaBuffer(CudaBuffer&& other) noexcept;
    CudaBuffer& operator=(CudaBuffer&& other) noexcept;
    CudaBuffer(const CudaBuffer&) = delete;
    CudaBuffer& operator=(const CudaBuffer&) = delete;

    void* get() const { return data_; }
    template <class T>
    T* as() const {
        return static_cast<T*>(data_);
    }
    std::size_t bytes() const { return bytes_; }

private:
    enum class Where { Device, PinnedHost };
    CudaBuffer(std::size_t bytes, Where where, const std::string& what);

    void* data_ = nullptr;
    std::size_t bytes_ = 0;
    Where where_ = Where::Device;
};

}  // namespace lw::cuda
