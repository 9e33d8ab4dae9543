// Unicode tables for NFC, generated into unicode_nfc_data.cpp (see that file).
#pragma once

#include <cstddef>
#include <cstdint>

namespace lw::unicode {

struct CombiningClassRange {
    std::uint32_t first, last, ccc;
};
// One level of canonical decomposition: cp -> a (+ b when b != 0). Sorted by cp.
struct Decomposition {
    std::uint32_t cp, a, b;
};
// Primary composites: a + b -> cp. Sorted by (a, b).
struct Composition {
    std::uint32_t a, b, cp;
};

extern const CombiningClassRange kCombiningClasses[];
extern const std::size_t kCombiningClassCount;
extern const Decomposition kDecompositions[];
extern const std::size_t kDecompositionCount;
extern const Composition kCompositions[];
extern const std::size_t kCompositionCount;

}  // namespace lw::unicode
