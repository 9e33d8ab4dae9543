#include "paged_attention.h"

#include "cuda_check.h"
#include "dependent_launch.cuh"
#include "half_io.cuh"
#include "paged_kv_device.cuh"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <type_traits>

namespace lw::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kTile = 32;  // KV positions per shared-memory tile
constexpr int kMaxSharedBytes = 160 * 1024;
constexpr float kNegInf = -INFINITY;

// Query rows a block takes at most: tile tokens x query heads of one KV head.
int target_rows(int head_dim) {
    return head_dim > 128 ? 32 : 64;
}

struct Plan {
    int group = 0;        // query heads per KV head
    int tile_tokens = 0;  // query tokens of one sequence per block
    int tiles_per_seq = 0;
    int rows = 0;  // tile_tokens * group
    std::size_t shared_bytes = 0;
};

// Row stride of the K tile in floats: padded so that threads reading one column of
// successive rows with 16-byte loads hit distinct banks.
__host__ __device__ int k_stride(int hd) {
    return hd + 4;
}

Plan make_plan(const AttentionArgs& a) {
    Plan p;
    p.group = a.num_heads / a.kv.kv_heads;
    p.tile_tokens = std::max(1, std::min(a.batch.max_seq_tokens, target_rows(a.kv.head_dim) / p.group));
    p.tiles_per_seq = (a.batch.max_seq_tokens + p.tile_tokens - 1) / p.tile_tokens;
    p.rows = p.tile_tokens * p.group;
    const int hd = a.kv.head_dim;
    // q, acc: [rows][hd]; k: [kTile][k_stride]; v: [kTile][hd]; scores: [rows][kTile];
    // running max, sum and rescale per row.
    const std::size_t floats = 2 * static_cast<std::size_t>(p.rows) * hd + kTile * (k_stride(hd) + hd) +
                               static_cast<std::size_t>(p.rows) * kTile + 3 * static_cast<std::size_t>(p.rows);
    p.shared_bytes = floats * sizeof(float);
    return p;
}

struct SharedTile {
    float *q, *acc, *k, *v, *scores, *row_max, *row_sum, *rescale;
};

// Every array starts 16-byte aligned (all sizes are multiples of 4 floats but the last three).
__device__ SharedTile carve(float* base, int rows, int hd) {
    SharedTile s;
    s.q = base;
    s.acc = s.q + rows * hd;
    s.k = s.acc + rows * hd;
    s.v = s.k + kTile * k_stride(hd);
    s.scores = s.v + kTile * hd;
    s.row_max = s.scores + rows * kTile;
    s.row_sum = s.row_max + rows;
    s.rescale = s.row_sum + rows;
    return s;
}

// 16-byte pieces of a K (or V) tile a thread moves: kTile positions x head_dim / 8 over
// the block; the kernel is built for head_dim up to 128 and up to 256, as fewer pieces
// take fewer registers and leave room for more blocks per SM.
constexpr int pieces_for(int head_dim) {
    return kTile * (head_dim / 8) / kThreads;
}

// A thread's share of one tile in flight, registers only: the page of each of its
// pieces (-1: past the split's end) and the raw K and V words. Loading the next tile
// while the current one is computed, and page ids one tile further ahead, keeps the
// global loads of a block off its critical path.
template <int Pieces>
struct TileFetch {
    int page[Pieces];
    uint4 k[Pieces], v[Pieces];
};

struct TileSource {
    const AttentionArgs* a;
    const int* table;  // the sequence's block table, at `layer`
    int kv_head, end;
};

template <int Pieces>
__device__ void fetch_pages(const TileSource& src, int first, int (&page)[Pieces]) {
    const int chunks = src.a->kv.head_dim / 8, bt = src.a->kv.block_tokens, layers = src.a->kv.num_layers;
#pragma unroll
    for (int j = 0; j < Pieces; ++j) {
        const int c = threadIdx.x + j * kThreads, position = first + c / chunks;
        page[j] = c < kTile * chunks && position < src.end ? src.table[(position / bt) * layers] : -1;
    }
}

template <class T, int Pieces>
__device__ void fetch_kv(const TileSource& src, int first, TileFetch<Pieces>& f) {
    const int hd = src.a->kv.head_dim, chunks = hd / 8;
#pragma unroll
    for (int j = 0; j < Pieces; ++j) {
        if (f.page[j] < 0) continue;
        const int c = threadIdx.x + j * kThreads, position = first + c / chunks;
        const std::size_t at = static_cast<std::size_t>(src.kv_head) * hd + (c % chunks) * 8;
        f.k[j] = *reinterpret_cast<const uint4*>(kv_at<T>(src.a->kv, f.page[j], position, 0) + at);
        f.v[j] = *reinterpret_cast<const uint4*>(kv_at<T>(src.a->kv, f.page[j], position, 1) + at);
    }
}

// Converts the fetched tile to fp32 in shared memory; positions past the end become
// zeros, so that masked rows multiply finite values.
template <class T, int Pieces>
__device__ void store_tile(const TileFetch<Pieces>& f, int hd, const SharedTile& s) {
    const int chunks = hd / 8;
#pragma unroll
    for (int j = 0; j < Pieces; ++j) {
        const int c = threadIdx.x + j * kThreads;
        if (c >= kTile * chunks) continue;
        const int p = c / chunks, d = (c % chunks) * 8;
        float kf[8], vf[8];
        const T* kh = reinterpret_cast<const T*>(&f.k[j]);
        const T* vh = reinterpret_cast<const T*>(&f.v[j]);
#pragma unroll
        for (int e = 0; e < 8; ++e) {
            kf[e] = f.page[j] < 0 ? 0.0f : to_f32(kh[e]);
            vf[e] = f.page[j] < 0 ? 0.0f : to_f32(vh[e]);
        }
        float4* kd = reinterpret_cast<float4*>(s.k + p * k_stride(hd) + d);
        float4* vd = reinterpret_cast<float4*>(s.v + p * hd + d);
        kd[0] = make_float4(kf[0], kf[1], kf[2], kf[3]);
        kd[1] = make_float4(kf[4], kf[5], kf[6], kf[7]);
        vd[0] = make_float4(vf[0], vf[1], vf[2], vf[3]);
        vd[1] = make_float4(vf[4], vf[5], vf[6], vf[7]);
    }
}

// One block: a tile of one sequence's query tokens, the query heads of one KV head, and
// one split of the positions they see. Row r of the tile is token r / group, head
// kv_head * group + r % group.
template <class T, int Pieces>
__global__ void __launch_bounds__(kThreads) attention_kernel(AttentionArgs a, Plan plan) {
    static_assert(kTile == 32, "the softmax gives a tile's positions to the lanes of a warp");
    extern __shared__ float4 shared[];
    const int seq = blockIdx.x / plan.tiles_per_seq, tile = blockIdx.x % plan.tiles_per_seq;
    const int kv_head = blockIdx.y, split = blockIdx.z, splits = gridDim.z;
    const int seq_start = a.batch.seq_starts[seq];
    const int first_token = tile * plan.tile_tokens;
    const int tile_tokens = min(plan.tile_tokens, a.batch.seq_starts[seq + 1] - seq_start - first_token);
    if (tile_tokens <= 0) return;
    const int hd = a.kv.head_dim, group = plan.group, rows = tile_tokens * group;
    const int first_position = a.batch.seq_positions[seq] + first_token;
    const int last_position = first_position + tile_tokens - 1;
    const SharedTile s = carve(reinterpret_cast<float*>(shared), plan.rows, hd);

    // The positions this split reads: a share of the cache blocks the tile sees.
    const int lo = a.sliding_window > 0 ? max(0, first_position - a.sliding_window + 1) : 0;
    const int bt = a.kv.block_tokens, first_block = lo / bt;
    const int blocks = last_position / bt - first_block + 1;
    const int per_split = (blocks + splits - 1) / splits;
    const int begin = max(lo, (first_block + split * per_split) * bt);
    const int end = min(last_position + 1, (first_block + (split + 1) * per_split) * bt);
    const TileSource src{&a, a.batch.block_tables + a.batch.block_table_starts[seq] + a.layer, kv_head, end};
    TileFetch<Pieces> fetch;
    int next_pages[Pieces];
    fetch_pages(src, begin, fetch.page);
    fetch_kv<T, Pieces>(src, begin, fetch);
    fetch_pages(src, begin + kTile, next_pages);

    for (int i = threadIdx.x; i < rows * hd; i += blockDim.x) {
        const int r = i / hd, d = i % hd;
        const int token = seq_start + first_token + r / group, head = kv_head * group + r % group;
        s.q[i] = to_f32(static_cast<const T*>(a.q)[static_cast<std::size_t>(token) * a.q_stride + head * hd + d]);
        s.acc[i] = 0.0f;
    }
    for (int r = threadIdx.x; r < rows; r += blockDim.x) {
        s.row_max[r] = kNegInf;
        s.row_sum[r] = 0.0f;
    }
    const float scale = 1.0f / sqrtf(static_cast<float>(hd));
    // Lanes that share one dot product: all 128 threads busy even for one row.
    const int pairs = rows * kTile;
    const int lanes = pairs >= kThreads ? 1 : min(32, kThreads / pairs);
    const int lane_in_pair = threadIdx.x % lanes;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

    for (int first = begin; first < end; first += kTile) {
        __syncthreads();  // the previous tile's K, V and scores are consumed
        store_tile<T, Pieces>(fetch, hd, s);
        __syncthreads();
#pragma unroll
        for (int j = 0; j < Pieces; ++j) fetch.page[j] = next_pages[j];
        fetch_kv<T, Pieces>(src, first + kTile, fetch);
        fetch_pages(src, first + 2 * kTile, next_pages);

        for (int base = 0; base < pairs; base += kThreads / lanes) {
            const int pair = base + threadIdx.x / lanes;
            const int r = pair / kTile, p = pair % kTile;
            float dot = 0.0f;
            if (pair < pairs) {
                const float4* q4 = reinterpret_cast<const float4*>(s.q + r * hd);
                const float4* k4 = reinterpret_cast<const float4*>(s.k + p * k_stride(hd));
                for (int d = lane_in_pair; d < hd / 4; d += lanes) {
                    const float4 x = q4[d], y = k4[d];
                    dot += x.x * y.x + x.y * y.y + x.z * y.z + x.w * y.w;
                }
            }
            for (int o = lanes / 2; o > 0; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
            if (pair < pairs && lane_in_pair == 0) {
                const int position = first + p, query = first_position + r / group;
                const bool visible = position < end && position <= query &&
                                     (a.sliding_window <= 0 || position > query - a.sliding_window);
                s.scores[r * kTile + p] = visible ? dot * scale : kNegInf;
            }
        }
        __syncthreads();
        // Online softmax, a warp per row and a lane per position.
        for (int r = warp; r < rows; r += kThreads / 32) {
            const float score = s.scores[r * kTile + lane], old_max = s.row_max[r];
            float peak = score;
            for (int o = 16; o > 0; o >>= 1) peak = fmaxf(peak, __shfl_xor_sync(0xffffffffu, peak, o));
            peak = fmaxf(peak, old_max);
            const float weight = peak == kNegInf ? 0.0f : __expf(score - peak);
            float sum = weight;
            for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
            s.scores[r * kTile + lane] = weight;
            if (lane == 0) {
                const float rescale = peak == kNegInf ? 1.0f : __expf(old_max - peak);
                s.rescale[r] = rescale;
                s.row_sum[r] = s.row_sum[r] * rescale + sum;
                s.row_max[r] = peak;
            }
        }
        __syncthreads();
        for (int i = threadIdx.x; i < rows * hd; i += blockDim.x) {
            const int r = i / hd, d = i % hd;
            const float* weight = s.scores + r * kTile;
            float acc = s.acc[i] * s.rescale[r];
#pragma unroll 8
            for (int p = 0; p < kTile; ++p) acc += weight[p] * s.v[p * hd + d];
            s.acc[i] = acc;
        }
    }
    __syncthreads();

    for (int i = threadIdx.x; i < rows * hd; i += blockDim.x) {
        const int r = i / hd, d = i % hd;
        const int token = seq_start + first_token + r / group, head = kv_head * group + r % group;
        if (splits == 1) {
            // One split covers the query's own position, so its sum is at least 1.
            static_cast<T*>(a.out)[(static_cast<std::size_t>(token) * a.num_heads + head) * hd + d] =
                from_f32<T>(s.acc[i] / s.row_sum[r]);
        } else {
            const std::size_t part = (static_cast<std::size_t>(token) * a.num_heads + head) * splits + split;
            float* ws = static_cast<float*>(a.workspace);
            ws[part * (hd + 2) + d] = s.acc[i];
            if (d == 0) {
                ws[part * (hd + 2) + hd] = s.row_max[r];
                ws[part * (hd + 2) + hd + 1] = s.row_sum[r];
            }
        }
    }
}

// Decode (one query token per sequence), flash-decoding style. A block takes one
// sequence, up to Heads query heads of one KV head and one split of the positions the
// query sees. K and V rows go from the pages straight into registers: a group of Lanes
// lanes holds one position's row of the KV head, 16 bytes (8 dimensions) a lane, so a warp
// covers 32 / Lanes positions per load instruction, and each lane issues the K and V
// loads of several positions (two rounds of decode_unroll) before using the first. A dot
// product is reduced over its lane group with shuffles and then known to every lane of
// the group, which weighs its own 8 dimensions of V with it: each warp keeps its own
// online softmax in registers, with no shared memory or barrier until the block merges
// its warps at the end.
//
// Two warps a block: a short context (a 128-token prompt's) gives a block only a few
// rounds, and a small block leaves less of an SM idle through its start (the sequence's
// scalars, then its pages) and its last, partial round; measured on an H100 against 4 and
// 8 warps, it moves the most bytes per second at batch 32 and 64.
constexpr int kDecodeWarps = 2;
constexpr int kDecodeThreads = 32 * kDecodeWarps;

// Query heads a decode block takes: the GQA group rounded up to a power of two, at most
// 8 (each head costs 16 registers a lane); larger groups are spread over several blocks,
// "slices", that each read the KV head's rows.
int decode_heads(int group) {
    return group <= 1 ? 1 : group <= 2 ? 2 : group <= 4 ? 4 : 8;
}

// Positions of a round, whose K and V loads a lane issues together (two rounds in
// flight): 4 (128 bytes) where registers allow, fewer as the per-head query and output
// registers grow.
template <int Heads>
constexpr int decode_unroll() {
    return Heads <= 2 ? 4 : 2;
}

template <class T>
using Pair = std::conditional_t<std::is_same_v<T, __half>, __half2, __nv_bfloat162>;

__device__ __forceinline__ float2 to_f32x2(__half2 v) {
    return __half22float2(v);
}
__device__ __forceinline__ float2 to_f32x2(__nv_bfloat162 v) {
    return __bfloat1622float2(v);
}

// The 8 values of a 16-byte load, in fp32.
template <class T>
__device__ __forceinline__ void unpack8(const uint4& raw, float (&out)[8]) {
    const unsigned words[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const float2 f = to_f32x2(*reinterpret_cast<const Pair<T>*>(&words[i]));
        out[2 * i] = f.x;
        out[2 * i + 1] = f.y;
    }
}

// One round of a lane's K and V loads: 16 bytes of each of N positions.
template <int N>
struct Rows {
    uint4 k[N], v[N];
    bool valid[N];  // false past the split's end
};

// Lanes: the power of two from head_dim / 8 up (lanes past it idle); Heads: decode_heads.
template <class T, int Lanes, int Heads>
__global__ void __launch_bounds__(kDecodeThreads) decode_kernel(AttentionArgs a) {
    constexpr int kSlots = 32 / Lanes;  // positions a warp loads at once
    constexpr int kUnroll = decode_unroll<Heads>();
    // A lane's successive positions are a block's worth of slots apart: the warps
    // interleave, so that a split shorter than a round still spreads over all of them.
    constexpr int kStride = kDecodeWarps * kSlots;
    constexpr int kRound = kStride * kUnroll;  // positions a block reads per round
    constexpr unsigned kAll = 0xffffffffu;
    __shared__ float warp_max[kDecodeWarps][Heads], warp_sum[kDecodeWarps][Heads];
    __shared__ float warp_out[kDecodeWarps][Heads][Lanes * 8];

    // The sequence's scalars are all read before the padding check, so that their
    // latencies overlap rather than add up.
    const int seq = blockIdx.x, split = blockIdx.z, splits = gridDim.z;
    const int token = a.batch.seq_starts[seq], next_token = a.batch.seq_starts[seq + 1];
    const int query = a.batch.seq_positions[seq];
    const int* table = a.batch.block_tables + a.batch.block_table_starts[seq] + a.layer;
    wait_for_prior_kernel();          // q and this step's K/V come from the kernel before
    if (next_token == token) return;  // a padding sequence
    const int group = a.num_heads / a.kv.kv_heads, slices = gridDim.y / a.kv.kv_heads;
    const int kv_head = blockIdx.y / slices, slice = blockIdx.y % slices;
    const int first_head = kv_head * group + slice * Heads, heads = min(Heads, group - slice * Heads);

    // This split's share of the positions the query sees (possibly none).
    const int lo = a.sliding_window > 0 ? max(0, query - a.sliding_window + 1) : 0;
    const int per_split = (query - lo + splits) / splits;
    const int begin = lo + split * per_split, end = min(query + 1, begin + per_split);

    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int slot = lane / Lanes, chunk = lane % Lanes;
    const int hd = a.kv.head_dim, bt = a.kv.block_tokens, layers = a.kv.num_layers;
    const bool active = chunk * 8 < hd;
    const std::size_t lane_offset = static_cast<std::size_t>(kv_head) * hd + chunk * 8;
    const std::size_t v_offset = static_cast<std::size_t>(bt) * a.kv.kv_heads * hd;

    // The query's 8 dimensions of each head, scaled by 1/sqrt(head_dim) up front.
    const float scale = 1.0f / sqrtf(static_cast<float>(hd));
    const T* q_row = static_cast<const T*>(a.q) + static_cast<std::size_t>(token) * a.q_stride +
                     static_cast<std::size_t>(first_head) * hd + chunk * 8;
    float q[Heads][8], out[Heads][8], row_max[Heads], row_sum[Heads];
#pragma unroll
    for (int h = 0; h < Heads; ++h) {
#pragma unroll
        for (int e = 0; e < 8; ++e) {
            q[h][e] = active && h < heads ? to_f32(q_row[h * hd + e]) * scale : 0.0f;
            out[h][e] = 0.0f;
        }
        row_max[h] = kNegInf;
        row_sum[h] = 0.0f;
    }

    // The page of each position a lane reads in the next round (-1: past the split),
    // looked up a round ahead so that the block table's latency never precedes the K/V loads.
    int page[kUnroll];
    const auto fetch_pages = [&](int first) {
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            const int position = first + slot + u * kStride;
            page[u] = position < end ? table[(position / bt) * layers] : -1;
        }
    };
    // Issues the K/V loads of the round at `first` (whose pages `page` holds).
    const auto fetch_rows = [&](Rows<kUnroll>& rows, int first) {
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            rows.valid[u] = page[u] >= 0;
            // Unread slots stay zero: positions past the end may hold anything, NaN included.
            rows.k[u] = rows.v[u] = make_uint4(0, 0, 0, 0);
            if (rows.valid[u] && active) {
                const T* at = kv_at<T>(a.kv, page[u], first + slot + u * kStride, 0) + lane_offset;
                rows.k[u] = *reinterpret_cast<const uint4*>(at);
                rows.v[u] = *reinterpret_cast<const uint4*>(at + v_offset);
            }
        }
        fetch_pages(first + kRound);
    };
    // Folds a round into the warp's online softmax. Each round has the warp's first
    // position, so at least one score is finite and the running max is never -inf after it.
    const auto consume = [&](const Rows<kUnroll>& rows) {
        float score[kUnroll][Heads];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            float kf[8];
            unpack8<T>(rows.k[u], kf);
#pragma unroll
            for (int h = 0; h < Heads; ++h) {
                float dot = 0.0f;
#pragma unroll
                for (int e = 0; e < 8; ++e) dot += q[h][e] * kf[e];
#pragma unroll
                for (int o = Lanes / 2; o > 0; o >>= 1) dot += __shfl_xor_sync(kAll, dot, o);
                score[u][h] = rows.valid[u] ? dot : kNegInf;
            }
        }
        // The max is shared by the warp's slots, so their sums and outputs add up at the end.
#pragma unroll
        for (int h = 0; h < Heads; ++h) {
            float peak = row_max[h];
#pragma unroll
            for (int u = 0; u < kUnroll; ++u) peak = fmaxf(peak, score[u][h]);
#pragma unroll
            for (int o = Lanes; o < 32; o <<= 1) peak = fmaxf(peak, __shfl_xor_sync(kAll, peak, o));
            const float rescale = __expf(row_max[h] - peak);
            row_max[h] = peak;
            row_sum[h] *= rescale;
#pragma unroll
            for (int e = 0; e < 8; ++e) out[h][e] *= rescale;
#pragma unroll
            for (int u = 0; u < kUnroll; ++u) {
                score[u][h] = __expf(score[u][h] - peak);
                row_sum[h] += score[u][h];
            }
        }
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            float vf[8];
            unpack8<T>(rows.v[u], vf);
#pragma unroll
            for (int h = 0; h < Heads; ++h)
#pragma unroll
                for (int e = 0; e < 8; ++e) out[h][e] += score[u][h] * vf[e];
        }
    };

    // Two rounds in flight: the next round's loads are issued before this one is consumed,
    // so a warp waits on memory once, not once per round. Two named buffers (the loop
    // unrolled by two) rather than a copy, which would wait for the loads it copies.
    int first = begin + warp * kSlots;
    fetch_pages(first);
    Rows<kUnroll> even, odd;
    if (first < end) fetch_rows(even, first);
    for (; first < end; first += 2 * kRound) {
        if (first + kRound < end) fetch_rows(odd, first + kRound);
        consume(even);
        if (first + kRound >= end) break;
        if (first + 2 * kRound < end) fetch_rows(even, first + 2 * kRound);
        consume(odd);
    }

#pragma unroll
    for (int h = 0; h < Heads; ++h)
#pragma unroll
        for (int o = Lanes; o < 32; o <<= 1) {
            row_sum[h] += __shfl_xor_sync(kAll, row_sum[h], o);
#pragma unroll
            for (int e = 0; e < 8; ++e) out[h][e] += __shfl_xor_sync(kAll, out[h][e], o);
        }
    if (slot == 0)
#pragma unroll
        for (int h = 0; h < Heads; ++h)
#pragma unroll
            for (int e = 0; e < 8; ++e) warp_out[warp][h][chunk * 8 + e] = out[h][e];
    if (lane == 0)
#pragma unroll
        for (int h = 0; h < Heads; ++h) {
            warp_max[warp][h] = row_max[h];
            warp_sum[warp][h] = row_sum[h];
        }
    __syncthreads();

    // Merge the warps: a warp without positions (max -inf) weighs nothing, and a split
    // without any (all -inf) leaves a zero sum that combine_kernel skips.
    for (int i = threadIdx.x; i < heads * hd; i += kDecodeThreads) {
        const int h = i / hd, d = i % hd;
        float peak = kNegInf;
#pragma unroll
        for (int w = 0; w < kDecodeWarps; ++w) peak = fmaxf(peak, warp_max[w][h]);
        float sum = 0.0f, value = 0.0f;
#pragma unroll
        for (int w = 0; w < kDecodeWarps; ++w) {
            const float weight = warp_max[w][h] == kNegInf ? 0.0f : __expf(warp_max[w][h] - peak);
            sum += warp_sum[w][h] * weight;
            value += warp_out[w][h][d] * weight;
        }
        const std::size_t row = static_cast<std::size_t>(token) * a.num_heads + first_head + h;
        if (splits == 1) {
            static_cast<T*>(a.out)[row * hd + d] = from_f32<T>(value / sum);
        } else {
            float* ws = static_cast<float*>(a.workspace) + (row * splits + split) * (hd + 2);
            ws[d] = value;
            if (d == 0) {
                ws[hd] = peak;
                ws[hd + 1] = sum;
            }
        }
    }
}

constexpr int kCombineThreads = 128;

// Max of `v` over the block (a multiple of 32 threads); `scratch` holds 32 floats.
__device__ float block_max(float v, float* scratch) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    __syncthreads();  // scratch may still be read by a previous call
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < static_cast<int>(blockDim.x / 32) ? scratch[lane] : kNegInf;
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Merges the splits of each (token, head): out = sum_s acc_s e^(m_s - M) / sum_s l_s e^(m_s - M).
// Threads take splits in parallel and share each split's weight through shared memory, so
// that no load waits on another: a split-K decode step's tail is this kernel's latency.
template <class T>
__global__ void __launch_bounds__(kCombineThreads) combine_kernel(AttentionArgs a) {
    constexpr int kDims = 256 / kCombineThreads;  // dimensions a thread merges, at most
    __shared__ float weight[kCombineThreads], scratch[32];
    const int token = blockIdx.x, head = blockIdx.y, hd = a.kv.head_dim, splits = a.kv_splits;
    const std::size_t row = static_cast<std::size_t>(token) * a.num_heads + head;
    wait_for_prior_kernel();  // the splits' partials
    const float* ws = static_cast<const float*>(a.workspace) + row * splits * (hd + 2);
    // Split s's max is ws[s * (hd + 2) + hd], its sum the float after; -inf: no positions.
    float peak = kNegInf;
    for (int s = threadIdx.x; s < splits; s += kCombineThreads) peak = fmaxf(peak, ws[s * (hd + 2) + hd]);
    peak = block_max(peak, scratch);
    float total = 0.0f;
    for (int s = threadIdx.x; s < splits; s += kCombineThreads) {
        const float m = ws[s * (hd + 2) + hd];
        total += m == kNegInf ? 0.0f : ws[s * (hd + 2) + hd + 1] * __expf(m - peak);
    }
    total = block_sum(total, scratch);
    float acc[kDims] = {};
    for (int base = 0; base < splits; base += kCombineThreads) {
        const int s = base + threadIdx.x, count = min(kCombineThreads, splits - base);
        __syncthreads();  // the previous chunk's weights are used
        if (s < splits) {
            const float m = ws[s * (hd + 2) + hd];
            weight[threadIdx.x] = m == kNegInf ? 0.0f : __expf(m - peak);
        }
        __syncthreads();
#pragma unroll
        for (int i = 0; i < kDims; ++i) {
            const int d = threadIdx.x + i * kCombineThreads;
            if (d >= hd) continue;
#pragma unroll 8
            for (int j = 0; j < count; ++j) acc[i] += ws[(base + j) * (hd + 2) + d] * weight[j];
        }
    }
#pragma unroll
    for (int i = 0; i < kDims; ++i) {
        const int d = threadIdx.x + i * kCombineThreads;
        if (d < hd) static_cast<T*>(a.out)[row * hd + d] = from_f32<T>(acc[i] / total);
    }
}

// The attention kernel for head_dim up to Pieces' limit, its shared memory limit raised once.
template <class T, int Pieces>
void launch_tiles(const AttentionArgs& a, const Plan& plan, cudaStream_t stream) {
    static const int configured = [] {
        return cudaFuncSetAttribute(attention_kernel<T, Pieces>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    kMaxSharedBytes);
    }();
    check(configured, "paged_attention: raising the shared memory limit");
    const dim3 grid(static_cast<unsigned>(a.batch.num_seqs * plan.tiles_per_seq), static_cast<unsigned>(a.kv.kv_heads),
                    static_cast<unsigned>(a.kv_splits));
    attention_kernel<T, Pieces><<<grid, kThreads, plan.shared_bytes, stream>>>(a, plan);
}

template <class T, int Lanes, int Heads>
void launch_decode(const AttentionArgs& a, cudaStream_t stream) {
    const int slices = (a.num_heads / a.kv.kv_heads + Heads - 1) / Heads;
    const dim3 grid(static_cast<unsigned>(a.batch.num_seqs), static_cast<unsigned>(a.kv.kv_heads * slices),
                    static_cast<unsigned>(a.kv_splits));
    launch_dependent("paged_attention", decode_kernel<T, Lanes, Heads>, grid, dim3(kDecodeThreads), 0, stream, a);
}

template <class T, int Lanes>
void launch_decode(const AttentionArgs& a, cudaStream_t stream) {
    switch (decode_heads(a.num_heads / a.kv.kv_heads)) {
        case 1:
            return launch_decode<T, Lanes, 1>(a, stream);
        case 2:
            return launch_decode<T, Lanes, 2>(a, stream);
        case 4:
            return launch_decode<T, Lanes, 4>(a, stream);
        default:
            return launch_decode<T, Lanes, 8>(a, stream);
    }
}

// The decode kernel where every sequence has at most one token, the tiled one otherwise,
// then the merge of the splits.
template <class T>
void launch(const AttentionArgs& a, const Plan& plan, cudaStream_t stream) {
    const int hd = a.kv.head_dim;
    if (a.batch.max_seq_tokens == 1) {
        if (hd <= 64)
            launch_decode<T, 8>(a, stream);
        else if (hd <= 128)
            launch_decode<T, 16>(a, stream);
        else
            launch_decode<T, 32>(a, stream);
    } else if (hd <= 128) {
        launch_tiles<T, pieces_for(128)>(a, plan, stream);
    } else {
        launch_tiles<T, pieces_for(256)>(a, plan, stream);
    }
    if (a.kv_splits > 1)
        launch_dependent("paged_attention", combine_kernel<T>,
                         dim3(static_cast<unsigned>(a.batch.num_tokens), static_cast<unsigned>(a.num_heads)),
                         dim3(kCombineThreads), 0, stream, a);
}

}  // namespace

std::size_t attention_workspace_bytes(int num_tokens, int num_heads, int head_dim, int kv_splits) {
    if (kv_splits <= 1) return 0;
    return static_cast<std::size_t>(num_tokens) * num_heads * kv_splits * (head_dim + 2) * sizeof(float);
}

int suggested_kv_splits(int num_seqs, int kv_heads, int max_context) {
    // Asked once: the runner calls this every step.
    static const int sms = [] {
        int device = 0, count = 0;
        check(cudaGetDevice(&device), "suggested_kv_splits: cudaGetDevice");
        check(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device), "suggested_kv_splits: SM count");
        return count;
    }();
    // The decode kernel is bound by the cache's bytes in flight: about four (sequence, KV
    // head, split) blocks per SM keep enough loads outstanding. A decode block reads a
    // split of up to 16 positions (a page of the usual layouts) with one wait on memory;
    // shorter splits would cost more in partial results and merging than they read.
    const int blocks = std::max(1, num_seqs * kv_heads);
    const int to_fill = (4 * sms + blocks - 1) / blocks;
    const int by_length = std::max(1, (max_context + 15) / 16);
    return std::clamp(std::min(to_fill, by_length), 1, 32);
}

void paged_attention(const AttentionArgs& a, cudaStream_t stream) {
    const char* who = "paged_attention";
    check_paged_kv(a.kv, who);
    check_token_batch(a.batch, who);
    if (a.layer < 0 || a.layer >= a.kv.num_layers)
        fail(who, ": layer ", a.layer, " outside the ", a.kv.num_layers, " of the KV layout");
    if (a.num_heads <= 0 || a.num_heads % a.kv.kv_heads != 0)
        fail(who, ": ", a.num_heads, " query heads for ", a.kv.kv_heads, " KV heads");
    if (a.num_heads / a.kv.kv_heads > target_rows(a.kv.head_dim))
        fail(who, ": ", a.num_heads / a.kv.kv_heads, " query heads per KV head, at most ", target_rows(a.kv.head_dim),
             " supported");
    if (!a.q || !a.out || a.q_stride < a.num_heads * a.kv.head_dim)
        fail(who, ": q (row stride ", a.q_stride, ") and out are required, rows of ", a.num_heads * a.kv.head_dim);
    if (a.sliding_window < 0) fail(who, ": sliding window ", a.sliding_window);
    if (a.kv_splits < 1 || a.kv_splits > 65535) fail(who, ": ", a.kv_splits, " KV splits");
    const std::size_t needed = attention_workspace_bytes(a.batch.num_tokens, a.num_heads, a.kv.head_dim, a.kv_splits);
    if (needed > 0 && (!a.workspace || a.workspace_bytes < needed))
        fail(who, ": workspace of ", a.workspace_bytes, " bytes, ", a.kv_splits, " splits need ", needed);
    if (a.batch.num_tokens == 0) return;
    const Plan plan = make_plan(a);
    if (plan.shared_bytes > static_cast<std::size_t>(kMaxSharedBytes))
        fail(who, ": ", plan.rows, " rows of head_dim ", a.kv.head_dim, " need ", plan.shared_bytes,
             " bytes of shared memory");
    dispatch_half(a.kv.dtype, who, [&](auto tag) { launch<decltype(tag)>(a, plan, stream); });
    check(cudaGetLastError(), who);
}

}  // namespace lw::cuda
