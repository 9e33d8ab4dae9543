#include "backend/cpu/quantized_dot.h"

#include "core/dequantize.h"
#include "core/error.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#define LW_HAVE_X86 1
// Compiled for AVX2 whatever the build's -march, and only called where the CPU has it.
#define LW_AVX2 __attribute__((target("avx2,fma,f16c")))
#endif

namespace lw {
namespace {

float portable_f32(const std::byte* row, const float* x, int n) {
    float sum = 0.0f;
    for (int i = 0; i < n; ++i) {
        float w;
        std::memcpy(&w, row + static_cast<std::size_t>(i) * sizeof(float), sizeof w);
        sum += w * x[i];
    }
    return sum;
}

// Any float-like type: dequantize a few blocks into a buffer that stays in L1, dot it
// with `F32Dot`. The portable path for every type, and the vector path for the types
// too rare to deserve their own kernel (F64, Q6_K).
template <DType T, RowDot F32Dot>
float dequantized_dot(const std::byte* row, const float* x, int n) {
    constexpr int kChunk = 256;  // a whole number of blocks of every type
    const DTypeInfo& info = dtype_info(T);
    const std::size_t chunk_bytes = kChunk / info.block_elems * info.block_bytes;
    alignas(32) float buffer[kChunk];
    float sum = 0.0f;
    for (int i = 0; i < n; i += kChunk, row += chunk_bytes) {
        const int count = std::min(kChunk, n - i);
        dequantize_row(T, row, buffer, count);
        sum += F32Dot(reinterpret_cast<const std::byte*>(buffer), x + i, count);
    }
    return sum;
}

// Byte-product kernels, portable: exact integer sums per block, then the scales.
std::int32_t nibble(const std::byte* q, int j) {  // value j of a Q4 block's 16 bytes
    const auto b = static_cast<std::uint8_t>(q[j % 16]);
    return j < 16 ? (b & 0x0f) : (b >> 4);
}

float portable_load_f16(const std::byte* p) {
    float v;
    dequantize_row(DType::F16, p, &v, 1);
    return v;
}

float portable_q8_q8_0(const std::byte* row, const Q8Activation& x, int n) {
    float sum = 0.0f;
    for (int b = 0; b < n / 32; ++b, row += 34) {
        std::int32_t s = 0;
        for (int j = 0; j < 32; ++j) s += static_cast<std::int8_t>(row[2 + j]) * x.q[std::size_t(b * 32 + j)];
        sum += portable_load_f16(row) * x.scale[std::size_t(b)] * static_cast<float>(s);
    }
    return sum;
}

template <bool HasMin>
float portable_q8_q4(const std::byte* row, const Q8Activation& x, int n) {
    constexpr std::size_t kHeader = HasMin ? 4 : 2;
    float sum = 0.0f;
    for (int b = 0; b < n / 32; ++b, row += kHeader + 16) {
        std::int32_t s = 0;
        for (int j = 0; j < 32; ++j) s += nibble(row + kHeader, j) * x.q[std::size_t(b * 32 + j)];
        if (!HasMin) s -= 8 * x.q_sum[std::size_t(b)];
        sum += portable_load_f16(row) * x.scale[std::size_t(b)] * static_cast<float>(s);
        if (HasMin) sum += portable_load_f16(row + 2) * x.sum[std::size_t(b)];
    }
    return sum;
}

#ifdef LW_HAVE_X86

LW_AVX2 float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

LW_AVX2 float load_f16(const std::byte* p) {
    std::uint16_t h;
    std::memcpy(&h, p, sizeof h);
    return _cvtsh_ss(h);
}

// The low 8 bytes of b as 8 floats, unsigned or signed.
LW_AVX2 __m256 u8_to_f32(__m128i b) {
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b));
}
LW_AVX2 __m256 i8_to_f32(__m128i b) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b));
}

// Plain types: `Load` turns 8 stored values into 8 floats; the tail goes through the
// reference conversion.
template <DType T, std::size_t Size, __m256 (*Load)(const std::byte*)>
LW_AVX2 float avx2_plain(const std::byte* row, const float* x, int n) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(Load(row + i * Size), _mm256_loadu_ps(x + i), acc0);
        acc1 = _mm256_fmadd_ps(Load(row + (i + 8) * Size), _mm256_loadu_ps(x + i + 8), acc1);
    }
    if (i + 8 <= n) {
        acc0 = _mm256_fmadd_ps(Load(row + i * Size), _mm256_loadu_ps(x + i), acc0);
        i += 8;
    }
    float sum = hsum(_mm256_add_ps(acc0, acc1));
    for (; i < n; ++i) {
        float w;
        dequantize_row(T, row + i * Size, &w, 1);
        sum += w * x[i];
    }
    return sum;
}

LW_AVX2 __m256 load_f32x8(const std::byte* p) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
}
LW_AVX2 __m256 load_f16x8(const std::byte* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
LW_AVX2 __m256 load_bf16x8(const std::byte* p) {
    const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));  // bf16 is the high half of an f32
}

LW_AVX2 float avx2_f32(const std::byte* row, const float* x, int n) {
    return avx2_plain<DType::F32, 4, load_f32x8>(row, x, n);
}

// Q8_0 blocks: an f16 scale d, 32 signed bytes. Σ (q·d)·x = d · Σ q·x per block.
LW_AVX2 float avx2_q8_0(const std::byte* row, const float* x, int n) {
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 32, row += 34) {
        const auto* q = reinterpret_cast<const __m128i*>(row + 2);
        const __m128i lo = _mm_loadu_si128(q), hi = _mm_loadu_si128(q + 1);
        __m256 s0 = _mm256_mul_ps(i8_to_f32(lo), _mm256_loadu_ps(x + i));
        __m256 s1 = _mm256_mul_ps(i8_to_f32(hi), _mm256_loadu_ps(x + i + 16));
        s0 = _mm256_fmadd_ps(i8_to_f32(_mm_unpackhi_epi64(lo, lo)), _mm256_loadu_ps(x + i + 8), s0);
        s1 = _mm256_fmadd_ps(i8_to_f32(_mm_unpackhi_epi64(hi, hi)), _mm256_loadu_ps(x + i + 24), s1);
        acc = _mm256_fmadd_ps(_mm256_add_ps(s0, s1), _mm256_set1_ps(load_f16(row)), acc);
    }
    return hsum(acc);
}

// Q4_0 and Q4_1 blocks: an f16 scale d (and for Q4_1 an f16 minimum m), then 16 bytes
// whose low nibbles are values 0..15 and high nibbles 16..31. Each weight is q·d + m,
// one fma; Q4_0's (q - 8)·d is q·d + (-8d), which that fma rounds exactly as the
// reference does.
template <bool HasMin>
LW_AVX2 float avx2_q4(const std::byte* row, const float* x, int n) {
    constexpr std::size_t kHeader = HasMin ? 4 : 2;
    const __m128i low4 = _mm_set1_epi8(0x0f);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 32, row += kHeader + 16) {
        const float d = load_f16(row);
        const __m256 scale = _mm256_set1_ps(d);
        const __m256 min = _mm256_set1_ps(HasMin ? load_f16(row + 2) : -8.0f * d);
        const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + kHeader));
        const __m128i lo = _mm_and_si128(q, low4), hi = _mm_and_si128(_mm_srli_epi16(q, 4), low4);
        const __m256 w0 = _mm256_fmadd_ps(u8_to_f32(lo), scale, min);
        const __m256 w1 = _mm256_fmadd_ps(u8_to_f32(_mm_unpackhi_epi64(lo, lo)), scale, min);
        const __m256 w2 = _mm256_fmadd_ps(u8_to_f32(hi), scale, min);
        const __m256 w3 = _mm256_fmadd_ps(u8_to_f32(_mm_unpackhi_epi64(hi, hi)), scale, min);
        acc0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + i), acc0);
        acc1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(w2, _mm256_loadu_ps(x + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(w3, _mm256_loadu_ps(x + i + 24), acc3);
    }
    return hsum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
}

// Byte-product kernels: 32 weight bytes times 32 activation bytes into 8 int32 lanes
// (maddubs: u8 x s8 pairs into s16, which cannot overflow here, then pairs into s32).
LW_AVX2 __m256 byte_dot(__m256i w_unsigned, __m256i x_signed) {
    const __m256i pairs = _mm256_maddubs_epi16(w_unsigned, x_signed);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

LW_AVX2 float avx2_q8_q8_0(const std::byte* row, const Q8Activation& x, int n) {
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < n / 32; ++b, row += 34) {
        const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2));
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.q.data() + b * 32));
        // Signed by signed: |w| times q with w's sign.
        const __m256 dot = byte_dot(_mm256_sign_epi8(w, w), _mm256_sign_epi8(q, w));
        acc = _mm256_fmadd_ps(dot, _mm256_set1_ps(load_f16(row) * x.scale[std::size_t(b)]), acc);
    }
    return hsum(acc);
}

template <bool HasMin>
LW_AVX2 float avx2_q8_q4(const std::byte* row, const Q8Activation& x, int n) {
    constexpr std::size_t kHeader = HasMin ? 4 : 2;
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    __m256 acc = _mm256_setzero_ps();
    float extra = 0.0f;  // Q4_1: Σ m·Σx; Q4_0: Σ d·scale·Σq (times -8)
    for (int b = 0; b < n / 32; ++b, row += kHeader + 16) {
        const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + kHeader));
        const __m256i w = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), low4);
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.q.data() + b * 32));
        const float scale = load_f16(row) * x.scale[std::size_t(b)];
        acc = _mm256_fmadd_ps(byte_dot(w, q), _mm256_set1_ps(scale), acc);
        if (HasMin)
            extra += load_f16(row + 2) * x.sum[std::size_t(b)];
        else
            extra += scale * static_cast<float>(x.q_sum[std::size_t(b)]);
    }
    return HasMin ? hsum(acc) + extra : hsum(acc) - 8.0f * extra;
}

RowDot avx2_kernel(DType t) {
    switch (t) {
        case DType::F32:
            return avx2_f32;
        case DType::F16:
            return avx2_plain<DType::F16, 2, load_f16x8>;
        case DType::BF16:
            return avx2_plain<DType::BF16, 2, load_bf16x8>;
        case DType::Q8_0:
            return avx2_q8_0;
        case DType::Q4_0:
            return avx2_q4<false>;
        case DType::Q4_1:
            return avx2_q4<true>;
        case DType::F64:
            return dequantized_dot<DType::F64, avx2_f32>;
        case DType::Q6_K:
            return dequantized_dot<DType::Q6_K, avx2_f32>;
        default:
            return nullptr;
    }
}

#endif  // LW_HAVE_X86

RowDot portable_kernel(DType t) {
    switch (t) {
        case DType::F32:
            return portable_f32;
        case DType::F64:
            return dequantized_dot<DType::F64, portable_f32>;
        case DType::F16:
            return dequantized_dot<DType::F16, portable_f32>;
        case DType::BF16:
            return dequantized_dot<DType::BF16, portable_f32>;
        case DType::Q8_0:
            return dequantized_dot<DType::Q8_0, portable_f32>;
        case DType::Q4_0:
            return dequantized_dot<DType::Q4_0, portable_f32>;
        case DType::Q4_1:
            return dequantized_dot<DType::Q4_1, portable_f32>;
        case DType::Q6_K:
            return dequantized_dot<DType::Q6_K, portable_f32>;
        default:
            return nullptr;
    }
}

RowDotQ8 q8_kernel(DType t, DotIsa isa) {
#ifdef LW_HAVE_X86
    if (isa == DotIsa::Avx2) {
        if (t == DType::Q8_0) return avx2_q8_q8_0;
        if (t == DType::Q4_0) return avx2_q8_q4<false>;
        if (t == DType::Q4_1) return avx2_q8_q4<true>;
        return nullptr;
    }
#endif
    if (t == DType::Q8_0) return portable_q8_q8_0;
    if (t == DType::Q4_0) return portable_q8_q4<false>;
    if (t == DType::Q4_1) return portable_q8_q4<true>;
    return nullptr;
}

const char* isa_name(DotIsa isa) {
    return isa == DotIsa::Avx2 ? "AVX2+FMA+F16C" : "portable";
}

}  // namespace

bool dot_isa_supported(DotIsa isa) {
    switch (isa) {
        case DotIsa::Portable:
            return true;
        case DotIsa::Avx2:
#ifdef LW_HAVE_X86
            return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#else
            return false;
#endif
    }
    return false;
}

DotIsa best_dot_isa() {
    static const DotIsa best = dot_isa_supported(DotIsa::Avx2) ? DotIsa::Avx2 : DotIsa::Portable;
    return best;
}

RowDot row_dot(DType t, DotIsa isa) {
    if (!dot_isa_supported(isa)) fail("this CPU cannot run the ", isa_name(isa), " dot product kernels");
    RowDot kernel = portable_kernel(t);
#ifdef LW_HAVE_X86
    if (isa == DotIsa::Avx2) kernel = avx2_kernel(t);
#endif
    if (!kernel) fail("no dot product kernel for ", dtype_name(t), " rows: not a float type");
    return kernel;
}

RowDotQ8 row_dot_q8(DType t, DotIsa isa) {
    if (!dot_isa_supported(isa)) fail("this CPU cannot run the ", isa_name(isa), " dot product kernels");
    return q8_kernel(t, isa);
}

void Q8Activation::quantize(const float* x, int n) {
    const auto blocks = static_cast<std::size_t>(n / 32);
    q.resize(blocks * 32);
    scale.resize(blocks);
    q_sum.resize(blocks);
    sum.resize(blocks);
    for (std::size_t b = 0; b < blocks; ++b) {
        const float* v = x + b * 32;
        float amax = 0.0f, total = 0.0f;
        for (int j = 0; j < 32; ++j) {
            amax = std::max(amax, std::abs(v[j]));
            total += v[j];
        }
        scale[b] = amax / 127.0f;
        const float inverse = amax > 0.0f ? 127.0f / amax : 0.0f;
        std::int32_t qs = 0;
        for (int j = 0; j < 32; ++j) {
            q[b * 32 + j] = static_cast<std::int8_t>(std::lrintf(v[j] * inverse));
            qs += q[b * 32 + j];
        }
        q_sum[b] = qs;
        sum[b] = total;
    }
}

}  // namespace lw
