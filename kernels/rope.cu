#include "rope.h"

#include "cuda_check.h"
#include "half_io.cuh"
#include "paged_kv_device.cuh"

#include <utility>

namespace lw::cuda {
namespace {

constexpr int kThreads = 128;

// One block per token: rotate its query and key heads, then store its K and V rows.
template <class T>
__global__ void rope_kv_kernel(RopeKvArgs a) {
    const int t = blockIdx.x;
    const TokenSlot slot = token_slot(a.batch, a.kv, a.layer, t);
    const int hd = a.kv.head_dim, half = hd / 2, kv_dim = a.kv.kv_heads * hd;
    T* k_cache = kv_row<T>(a.kv, slot, 0);
    T* v_cache = kv_row<T>(a.kv, slot, 1);
    const std::size_t row = static_cast<std::size_t>(t) * a.row_stride;
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
    const auto* q_bias = static_cast<const T*>(a.q_bias);
    const auto* k_bias = static_cast<const T*>(a.k_bias);
    for (int idx = threadIdx.x; idx < (a.num_heads + a.kv.kv_heads) * half; idx += blockDim.x) {
        const int head = idx / half, i = idx % half;
        const bool is_q = head < a.num_heads;
        const int offset = (is_q ? head : head - a.num_heads) * hd;
        T* v = (is_q ? static_cast<T*>(a.q) : static_cast<T*>(a.k)) + row + offset;
        const T* bias = is_q ? q_bias : k_bias;
        float x1 = to_f32(v[i]), x2 = to_f32(v[i + half]);
        if (bias) {
            x1 += to_f32(bias[offset + i]);
            x2 += to_f32(bias[offset + i + half]);
        }
        const float cf = cos_s[i], sf = sin_s[i];
        const T r1 = from_f32<T>(x1 * cf - x2 * sf), r2 = from_f32<T>(x2 * cf + x1 * sf);
        v[i] = r1;
        v[i + half] = r2;
        if (!is_q) {
            k_cache[offset + i] = r1;
            k_cache[offset + i + half] = r2;
        }
    }
    const T* v_new = static_cast<const T*>(a.v) + row;
    const auto* v_bias = static_cast<const T*>(a.v_bias);
    for (int i = threadIdx.x; i < kv_dim; i += blockDim.x)
        v_cache[i] = v_bias ? from_f32<T>(to_f32(v_new[i]) + to_f32(v_bias[i])) : v_new[i];
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
    dispatch_half(args.kv.dtype, "rope_write_kv", [&](auto tag) {
        if (args.batch.num_tokens > 0)
            rope_kv_kernel<decltype(tag)><<<args.batch.num_tokens, kThreads, 0, stream>>>(args);
    });
    check(cudaGetLastError(), "rope_write_kv");
}

}  // namespace lw::cuda
