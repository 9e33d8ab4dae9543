#include "rope.h"

#include "cuda_check.h"
#include "dependent_launch.cuh"
#include "half_io.cuh"
#include "paged_kv_device.cuh"

#include <cstdint>
#include <utility>

namespace lw::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kVec = 4;  // values per access: head_dim is a multiple of 8, so half of it is one of 4

template <class T>
struct alignas(sizeof(T) * kVec) Chunk {
    T v[kVec];
};

template <class T>
__device__ __forceinline__ Chunk<T> load_chunk(const T* p) {
    return *reinterpret_cast<const Chunk<T>*>(p);
}

template <class T>
__device__ __forceinline__ void store_chunk(T* p, const Chunk<T>& c) {
    *reinterpret_cast<Chunk<T>*>(p) = c;
}

// Adds bias (when given) to kVec values, in fp32.
template <class T>
__device__ __forceinline__ void biased(const Chunk<T>& c, const T* bias, float (&f)[kVec]) {
    Chunk<T> b{};
    if (bias) b = load_chunk(bias);
#pragma unroll
    for (int e = 0; e < kVec; ++e) f[e] = to_f32(c.v[e]) + (bias ? to_f32(b.v[e]) : 0.0f);
}

// Block (token, slice): each thread one unit of the token's work, so that every load of
// a block is issued at once. The units: kVec pairs (i, i + half) of one q or k head to
// rotate (q heads first), then kVec values of the V row to store.
template <class T>
__global__ void __launch_bounds__(kThreads) rope_kv_kernel(RopeKvArgs a) {
    const int t = blockIdx.x;
    const TokenSlot slot = token_slot(a.batch, a.kv, a.layer, t);
    const int hd = a.kv.head_dim, half = hd / 2, kv_dim = a.kv.kv_heads * hd;
    const int per_head = half / kVec, rotations = (a.num_heads + a.kv.kv_heads) * per_head;
    const int first_unit = static_cast<int>(blockIdx.y) * kThreads, unit = first_unit + static_cast<int>(threadIdx.x);
    const std::size_t row = static_cast<std::size_t>(t) * a.row_stride;

    if (first_unit < rotations) {  // the same for the whole block: the barrier is safe
        // One angle per frequency, shared by every head (head_dim <= 256, see check_paged_kv).
        __shared__ float cos_s[128], sin_s[128];
        for (int i = threadIdx.x; i < half; i += blockDim.x) {
            const float angle = __fmul_rn(a.inv_freq[i], static_cast<float>(slot.position));
            double s, c;
            sincos(static_cast<double>(angle), &s, &c);
            cos_s[i] = static_cast<float>(c);
            sin_s[i] = static_cast<float>(s);
        }
        __syncthreads();
        wait_for_prior_kernel();  // q|k|v comes from the GEMM before; the angles did not need it
        if (unit < rotations) {
            const int head = unit / per_head, i = (unit % per_head) * kVec;
            const bool is_q = head < a.num_heads;
            const int offset = (is_q ? head : head - a.num_heads) * hd;
            T* v = (is_q ? static_cast<T*>(a.q) : static_cast<T*>(a.k)) + row + offset;
            const T* bias = static_cast<const T*>(is_q ? a.q_bias : a.k_bias);
            float x1[kVec], x2[kVec];
            biased(load_chunk(v + i), bias ? bias + offset + i : nullptr, x1);
            biased(load_chunk(v + i + half), bias ? bias + offset + i + half : nullptr, x2);
            Chunk<T> r1, r2;
#pragma unroll
            for (int e = 0; e < kVec; ++e) {
                const float cf = cos_s[i + e], sf = sin_s[i + e];
                r1.v[e] = from_f32<T>(x1[e] * cf - x2[e] * sf);
                r2.v[e] = from_f32<T>(x2[e] * cf + x1[e] * sf);
            }
            store_chunk(v + i, r1);
            store_chunk(v + i + half, r2);
            if (!is_q) {
                T* k_cache = kv_row<T>(a.kv, slot, 0);
                store_chunk(k_cache + offset + i, r1);
                store_chunk(k_cache + offset + i + half, r2);
            }
            return;
        }
    }
    wait_for_prior_kernel();
    const int i = (unit - rotations) * kVec;
    if (i >= kv_dim) return;
    const auto* v_bias = static_cast<const T*>(a.v_bias);
    float f[kVec];
    biased(load_chunk(static_cast<const T*>(a.v) + row + i), v_bias ? v_bias + i : nullptr, f);
    Chunk<T> out;
#pragma unroll
    for (int e = 0; e < kVec; ++e) out.v[e] = from_f32<T>(f[e]);
    store_chunk(kv_row<T>(a.kv, slot, 1) + i, out);
}

}  // namespace

void rope_write_kv(const RopeKvArgs& args, cudaStream_t stream) {
    check_paged_kv(args.kv, "rope_write_kv");
    check_token_batch(args.batch, "rope_write_kv");
    const int kv_dim = args.kv.kv_heads * args.kv.head_dim;
    if (args.layer < 0 || args.layer >= args.kv.num_layers)
        fail("rope_write_kv: layer ", args.layer, " outside the ", args.kv.num_layers, " of the KV layout");
    if (args.num_heads <= 0 || args.num_heads % args.kv.kv_heads != 0)
        fail("rope_write_kv: ", args.num_heads, " query heads for ", args.kv.kv_heads, " KV heads");
    for (const auto& [pointer, name] :
         {std::pair<const void*, const char*>{args.q, "q"}, {args.k, "k"}, {args.v, "v"}, {args.inv_freq, "inv_freq"}})
        if (!pointer) fail("rope_write_kv: no ", name, " given");
    if (args.row_stride < kv_dim) fail("rope_write_kv: row stride ", args.row_stride, " below kv_dim ", kv_dim);
    // Each thread moves kVec values at once: rows and bias vectors must start at such a boundary.
    if (args.row_stride % kVec != 0)
        fail("rope_write_kv: row stride ", args.row_stride, " is not a multiple of ", kVec);
    for (const auto& [pointer, name] : {std::pair<const void*, const char*>{args.q, "q"},
                                        {args.k, "k"},
                                        {args.v, "v"},
                                        {args.q_bias, "q_bias"},
                                        {args.k_bias, "k_bias"},
                                        {args.v_bias, "v_bias"}})
        if (reinterpret_cast<std::uintptr_t>(pointer) % (kVec * dtype_bytes(args.kv.dtype, 1)) != 0)
            fail("rope_write_kv: ", name, " is not aligned to ", kVec, " values");
    dispatch_half(args.kv.dtype, "rope_write_kv", [&](auto tag) {
        const int units = (args.num_heads + args.kv.kv_heads) * (args.kv.head_dim / 2 / kVec) + kv_dim / kVec;
        const dim3 grid(static_cast<unsigned>(args.batch.num_tokens),
                        static_cast<unsigned>((units + kThreads - 1) / kThreads));
        if (args.batch.num_tokens > 0)
            launch_dependent("rope_write_kv", rope_kv_kernel<decltype(tag)>, grid, dim3(kThreads), 0, stream, args);
    });
}

}  // namespace lw::cuda
