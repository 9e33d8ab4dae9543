// A named, typed, shaped view of tensor bytes that live elsewhere (a mapped file or a
// buffer owned by the loader that made the view). Shapes are in PyTorch order,
// outermost first; for quantized types the blocks run along the last dimension.
#pragma once

#include "core/dtype.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace lw {

struct TensorView {
    std::string name;
    DType dtype = DType::F32;
    std::vector<std::int64_t> shape;
    std::span<const std::byte> data;

    std::int64_t numel() const {
        std::int64_t n = 1;
        for (auto d : shape) n *= d;
        return n;
    }
    // Elements in one row (the last dimension); 1 for a scalar.
    std::int64_t row_elems() const { return shape.empty() ? 1 : shape.back(); }
};

// "[4096, 11008]"
std::string shape_string(const std::vector<std::int64_t>& shape);

}  // namespace lw
