#include "tokenizer/unicode_nfc.h"

#include "tokenizer/unicode_nfc_data.h"
#include "tokenizer/utf8.h"

#include <algorithm>
#include <vector>

namespace lw::unicode {

namespace {

// Hangul syllables compose and decompose by arithmetic (Unicode 3.12).
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

std::uint32_t combining_class(char32_t c) {
    const auto* end = kCombiningClasses + kCombiningClassCount;
    const auto* it = std::upper_bound(kCombiningClasses, end, c,
                                      [](char32_t v, const CombiningClassRange& r) { return v < r.first; });
    if (it == kCombiningClasses) return 0;
    --it;
    return c <= it->last ? it->ccc : 0;
}

void decompose(char32_t c, std::vector<char32_t>& out) {
    if (c >= kSBase && c < kSBase + kSCount) {
        const char32_t s = c - kSBase;
        out.push_back(kLBase + s / kNCount);
        out.push_back(kVBase + (s % kNCount) / kTCount);
        if (s % kTCount) out.push_back(kTBase + s % kTCount);
        return;
    }
    const auto* end = kDecompositions + kDecompositionCount;
    const auto* it =
        std::lower_bound(kDecompositions, end, c, [](const Decomposition& d, char32_t v) { return d.cp < v; });
    if (it == end || it->cp != c) {
        out.push_back(c);
        return;
    }
    decompose(it->a, out);
    if (it->b) decompose(it->b, out);
}

char32_t compose(char32_t a, char32_t b) {
    if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
        return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
    if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount)
        return a + (b - kTBase);
    const auto* end = kCompositions + kCompositionCount;
    const auto* it = std::lower_bound(kCompositions, end, std::pair<char32_t, char32_t>(a, b),
                                      [](const Composition& c, const std::pair<char32_t, char32_t>& v) {
                                          return c.a < v.first || (c.a == v.first && c.b < v.second);
                                      });
    return it != end && it->a == a && it->b == b ? it->cp : 0;
}

}  // namespace

std::string nfc(std::string_view text) {
    // Everything below U+0300 is already NFC and cannot combine with a neighbour.
    if (std::all_of(text.begin(), text.end(), [](char ch) { return static_cast<unsigned char>(ch) < 0xCC; }))
        return std::string(text);

    std::vector<char32_t> cps;
    for (std::size_t pos = 0; pos < text.size();) decompose(utf8::next(text, pos), cps);

    // Canonical ordering: stable sort each run of non-starters by combining class.
    for (std::size_t i = 0; i < cps.size();) {
        if (combining_class(cps[i]) == 0) {
            ++i;
            continue;
        }
        std::size_t j = i;
        while (j < cps.size() && combining_class(cps[j]) != 0) ++j;
        std::stable_sort(cps.begin() + i, cps.begin() + j,
                         [](char32_t x, char32_t y) { return combining_class(x) < combining_class(y); });
        i = j;
    }

    // Canonical composition.
    std::vector<char32_t> out;
    std::size_t starter = SIZE_MAX;
    std::uint32_t last_ccc = 0;
    for (char32_t c : cps) {
        const std::uint32_t ccc = combining_class(c);
        if (starter != SIZE_MAX) {
            const bool blocked = out.size() - 1 != starter && (last_ccc == 0 || last_ccc >= ccc);
            if (!blocked) {
                if (const char32_t composed = compose(out[starter], c)) {
                    out[starter] = composed;
                    continue;
                }
            }
        }
        if (ccc == 0) starter = out.size();
        last_ccc = ccc;
        out.push_back(c);
    }

    std::string result;
    result.reserve(text.size());
    for (char32_t c : out) utf8::append(result, c);
    return result;
}

}  // namespace lw::unicode
