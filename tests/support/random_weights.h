// Random stored weights of any float-like dtype for the kernel tests: random bytes
// wherever any value is valid (quantized values), and finite scales and plain values
// drawn from [-1, 1) (scales a tenth of that, so sums stay well inside f16 range).
#pragma once

#include "core/dtype.h"

#include <cstddef>
#include <random>
#include <vector>

namespace lw::test {

// `elems` values of `dtype` (a whole number of its blocks) laid out contiguously,
// starting `skew` bytes into the returned buffer (to test unaligned rows).
std::vector<std::byte> random_weights(DType dtype, std::size_t elems, std::size_t skew, std::mt19937& rng);

}  // namespace lw::test
