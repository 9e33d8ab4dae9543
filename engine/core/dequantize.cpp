// Mirrors ggml's reference dequantizers (dequantize_row_q8_0 and friends) operation
// for operation, so results are bit-exact: each product is a single float multiply in
// the same order ggml writes it.
#include "core/dequantize.h"

#include "core/error.h"
#include "core/half.h"

#include <cstring>

namespace lw {
namespace {

template <class T>
T load(const std::byte* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

float load_f16(const std::byte* p) {
    return f16_to_f32(load<std::uint16_t>(p));
}

std::uint8_t byte_at(const std::byte* p, std::size_t i) {
    return static_cast<std::uint8_t>(p[i]);
}

// Q8_0: f16 scale, 32 signed bytes.
void q8_0(const std::byte* b, float* y) {
    const float d = load_f16(b);
    for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(static_cast<std::int8_t>(byte_at(b, 2 + j))) * d;
}

// Q4_0: f16 scale, 16 bytes of nibbles (low nibbles are values 0..15, high 16..31), offset 8.
void q4_0(const std::byte* b, float* y) {
    const float d = load_f16(b);
    for (int j = 0; j < 16; ++j) {
        const std::uint8_t q = byte_at(b, 2 + j);
        y[j] = static_cast<float>((q & 0x0f) - 8) * d;
        y[j + 16] = static_cast<float>((q >> 4) - 8) * d;
    }
}

// Q4_1: f16 scale and minimum, 16 bytes of nibbles.
void q4_1(const std::byte* b, float* y) {
    const float d = load_f16(b);
    const float m = load_f16(b + 2);
    for (int j = 0; j < 16; ++j) {
        const std::uint8_t q = byte_at(b, 4 + j);
        y[j] = static_cast<float>(q & 0x0f) * d + m;
        y[j + 16] = static_cast<float>(q >> 4) * d + m;
    }
}

// Q6_K: 256 values as 4-bit low parts (ql[128]), 2-bit high parts (qh[64]), 16 signed
// 8-bit scales, and an f16 super-scale.
void q6_k(const std::byte* b, float* y) {
    const std::byte* ql = b;
    const std::byte* qh = b + 128;
    const std::byte* sc = b + 192;
    const float d = load_f16(b + 208);
    for (int n = 0; n < 256; n += 128) {
        for (int l = 0; l < 32; ++l) {
            const int is = l / 16;
            const std::uint8_t h = byte_at(qh, l);
            const int q1 = ((byte_at(ql, l) & 0x0f) | (((h >> 0) & 3) << 4)) - 32;
            const int q2 = ((byte_at(ql, l + 32) & 0x0f) | (((h >> 2) & 3) << 4)) - 32;
            const int q3 = ((byte_at(ql, l) >> 4) | (((h >> 4) & 3) << 4)) - 32;
            const int q4 = ((byte_at(ql, l + 32) >> 4) | (((h >> 6) & 3) << 4)) - 32;
            auto scale = [&](int i) { return static_cast<float>(static_cast<std::int8_t>(byte_at(sc, is + i))); };
            y[l + 0] = d * scale(0) * static_cast<float>(q1);
            y[l + 32] = d * scale(2) * static_cast<float>(q2);
            y[l + 64] = d * scale(4) * static_cast<float>(q3);
            y[l + 96] = d * scale(6) * static_cast<float>(q4);
        }
        y += 128;
        ql += 64;
        qh += 32;
        sc += 8;
    }
}

template <void (*Block)(const std::byte*, float*)>
void blocks(const std::byte* src, float* dst, std::int64_t n, std::size_t block_elems, std::size_t block_bytes) {
    const std::int64_t count = n / static_cast<std::int64_t>(block_elems);
    for (std::int64_t i = 0; i < count; ++i) Block(src + i * block_bytes, dst + i * block_elems);
}

}  // namespace

void dequantize_row(DType t, const std::byte* src, float* dst, std::int64_t n) {
    const DTypeInfo& info = dtype_info(t);
    if (!info.is_float) fail("cannot convert ", info.name, " values to float");
    if (n < 0 || n % static_cast<std::int64_t>(info.block_elems) != 0)
        fail(n, " values of ", info.name, " are not a whole number of ", info.block_elems, "-value blocks");
    switch (t) {
        case DType::F64:
            for (std::int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(load<double>(src + i * 8));
            return;
        case DType::F32:
            if (n > 0) std::memcpy(dst, src, static_cast<std::size_t>(n) * 4);
            return;
        case DType::F16:
            for (std::int64_t i = 0; i < n; ++i) dst[i] = load_f16(src + i * 2);
            return;
        case DType::BF16:
            for (std::int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(load<std::uint16_t>(src + i * 2));
            return;
        case DType::Q8_0:
            return blocks<q8_0>(src, dst, n, info.block_elems, info.block_bytes);
        case DType::Q4_0:
            return blocks<q4_0>(src, dst, n, info.block_elems, info.block_bytes);
        case DType::Q4_1:
            return blocks<q4_1>(src, dst, n, info.block_elems, info.block_bytes);
        case DType::Q6_K:
            return blocks<q6_k>(src, dst, n, info.block_elems, info.block_bytes);
        default:
            fail("cannot convert ", info.name, " values to float");
    }
}

void dequantize(const TensorView& t, std::span<float> out) {
    const DTypeInfo& info = dtype_info(t.dtype);
    if (!info.is_float) fail("tensor '", t.name, "': cannot convert ", info.name, " to float");
    for (auto d : t.shape)
        if (d < 0) fail("tensor '", t.name, "': negative dimension in shape ", shape_string(t.shape));
    if (t.row_elems() % static_cast<std::int64_t>(info.block_elems) != 0)
        fail("tensor '", t.name, "': rows of ", t.row_elems(), " values are not a whole number of ", info.block_elems,
             "-value ", info.name, " blocks");
    const std::int64_t n = t.numel();
    const std::size_t bytes = dtype_bytes(t.dtype, n);
    if (t.data.size() != bytes)
        fail("tensor '", t.name, "': ", shape_string(t.shape), " ", info.name, " needs ", bytes, " bytes, found ",
             t.data.size());
    if (out.size() != static_cast<std::size_t>(n))
        fail("tensor '", t.name, "': output holds ", out.size(), " floats, expected ", n);
    dequantize_row(t.dtype, t.data.data(), out.data(), n);
}

}  // namespace lw
