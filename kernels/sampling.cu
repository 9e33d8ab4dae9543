#include "sampling.h"

#include "core/error.h"
#include "cuda_check.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cmath>

namespace lw::cuda {
namespace {

constexpr unsigned kFull = 0xffffffffu;

// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3"): the
// same (key, counter) always gives the same four words.
__device__ uint4 philox(uint2 key, uint4 ctr) {
    for (int round = 0; round < 10; ++round) {
        const unsigned lo0 = 0xD2511F53u * ctr.x, hi0 = __umulhi(0xD2511F53u, ctr.x);
        const unsigned lo1 = 0xCD9E8D57u * ctr.z, hi1 = __umulhi(0xCD9E8D57u, ctr.z);
        ctr = make_uint4(hi1 ^ ctr.y ^ key.x, lo1, hi0 ^ ctr.w ^ key.y, lo0);
        key.x += 0x9E3779B9u;
        key.y += 0xBB67AE85u;
    }
    return ctr;
}

// A uniform double in [0, 1) for draw `step` of the stream `seed`.
__device__ double uniform(std::uint64_t seed, std::uint64_t step) {
    const uint4 r = philox(make_uint2(static_cast<unsigned>(seed), static_cast<unsigned>(seed >> 32)),
                           make_uint4(static_cast<unsigned>(step), static_cast<unsigned>(step >> 32), 0u, 0u));
    const std::uint64_t bits = (static_cast<std::uint64_t>(r.x) << 21) ^ (r.y >> 11);
    return static_cast<double>(bits & ((1ull << 53) - 1)) * 0x1p-53;
}

// Orders floats as unsigned integers (for -inf and finite values) so thresholds can be
// found by bisection over the integers.
__device__ unsigned order_key(float x) {
    const unsigned u = __float_as_uint(x);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__device__ float key_value(unsigned k) {
    return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

// A candidate has a finite (or +inf) logit; NaN and -inf are never chosen.
__device__ bool candidate(float x) {
    return x > -INFINITY;
}

// Reduces over the block in a fixed order, so results do not vary from run to run.
template <class T, class Op>
__device__ T block_reduce(T v, Op op, T* scratch) {
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(kFull, v, o));
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = scratch[0];
    for (int w = 1; w < warps; ++w) v = op(v, scratch[w]);
    return v;
}

// Exclusive prefix sum over the threads of the block, in thread order; `total` gets the sum.
template <class T>
__device__ T block_exclusive_scan(T v, T* scratch, T& total) {
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
    T inclusive = v;
    for (int o = 1; o < 32; o <<= 1) {
        const T up = __shfl_up_sync(kFull, inclusive, o);
        if (lane >= o) inclusive += up;
    }
    T exclusive = __shfl_up_sync(kFull, inclusive, 1);
    if (lane == 0) exclusive = T{};
    __syncthreads();
    if (lane == 31) scratch[warp] = inclusive;
    __syncthreads();
    T offset{}, sum{};
    for (int w = 0; w < warps; ++w) {
        if (w < warp) offset += scratch[w];
        sum += scratch[w];
    }
    total = sum;
    return offset + exclusive;
}

struct Scratch {
    float f[32];
    int i[32];
    unsigned u[32];
};

constexpr auto kPlus = [](auto a, auto b) { return a + b; };

// The kept set is every candidate whose key is above `key`, plus the first `ties`
// (lowest ids) of those whose key equals it: top-k and top-p both cut there.
struct Cut {
    unsigned key = 0;
    unsigned ties = UINT_MAX;
};

struct Row {
    const float* logits;
    int vocab;
    float peak;
    float temperature;
    __device__ float prob(float x) const { return __expf((x - peak) / temperature); }
};

__device__ int count_at_least(const Row& row, unsigned key, Scratch& s) {
    int n = 0;
    for (int i = threadIdx.x; i < row.vocab; i += blockDim.x) {
        const float x = row.logits[i];
        n += candidate(x) && order_key(x) >= key;
    }
    return block_reduce(n, kPlus, s.i);
}

// Probability mass of the kept set's members whose key is at least `key`.
__device__ float mass_at_least(const Row& row, const Cut& cut, unsigned key, Scratch& s) {
    float m = 0.0f;
    for (int i = threadIdx.x; i < row.vocab; i += blockDim.x) {
        const float x = row.logits[i];
        const unsigned k = order_key(x);
        if (candidate(x) && k >= key && k > cut.key) m += row.prob(x);
    }
    m = block_reduce(m, kPlus, s.f);
    if (key <= cut.key && cut.ties != UINT_MAX) m += static_cast<float>(cut.ties) * row.prob(key_value(cut.key));
    return m;
}

// Largest key v in [lo, hi] with pred(v) true (pred(lo) is).
template <class Pred>
__device__ unsigned bisect(unsigned lo, unsigned hi, Pred pred) {
    while (lo < hi) {
        const auto mid = static_cast<unsigned>(lo + (static_cast<std::uint64_t>(hi) - lo + 1) / 2);
        if (pred(mid))
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

// The k most likely candidates (ties to the lower id).
__device__ Cut top_k_cut(const Row& row, int k, Scratch& s) {
    Cut cut;
    cut.key = bisect(0u, UINT_MAX, [&](unsigned v) { return count_at_least(row, v, s) >= k; });
    cut.ties = static_cast<unsigned>(k - count_at_least(row, cut.key + 1, s));
    return cut;
}

// Narrows `cut` to the most likely members whose mass first reaches top_p of the kept mass.
__device__ Cut top_p_cut(const Row& row, Cut cut, float top_p, Scratch& s) {
    const float target = top_p * mass_at_least(row, cut, 0u, s);
    const unsigned key = bisect(cut.key, UINT_MAX, [&](unsigned v) { return mass_at_least(row, cut, v, s) >= target; });
    const float above = mass_at_least(row, cut, key + 1, s);
    unsigned ties = cut.ties;
    if (key != cut.key) {
        int n = 0;
        for (int i = threadIdx.x; i < row.vocab; i += blockDim.x) {
            const float x = row.logits[i];
            n += candidate(x) && order_key(x) == key;
        }
        ties = static_cast<unsigned>(block_reduce(n, kPlus, s.i));
    }
    const float each = row.prob(key_value(key));
    const float needed = ceilf((target - above) / each);
    cut.key = key;
    cut.ties = static_cast<unsigned>(fminf(fmaxf(needed, 1.0f), static_cast<float>(ties)));
    return cut;
}

// Draws from the kept set (min_p applied) with the uniform number u in [0, 1): each
// thread takes a contiguous chunk so that ties are ranked by id and the draw walks
// the vocabulary in order.
__device__ int draw(const Row& row, const Cut& cut, float min_p, double u, Scratch& s) {
    const int chunk = (row.vocab + blockDim.x - 1) / blockDim.x;
    const int begin = min(row.vocab, static_cast<int>(threadIdx.x) * chunk), end = min(row.vocab, begin + chunk);
    int local_ties = 0;
    for (int i = begin; i < end; ++i) local_ties += candidate(row.logits[i]) && order_key(row.logits[i]) == cut.key;
    int all_ties = 0;
    const int first_rank = block_exclusive_scan(local_ties, s.i, all_ties);
    const auto kept = [&](int i, int& rank) {
        const float x = row.logits[i];
        if (!candidate(x)) return false;
        const unsigned k = order_key(x);
        if (k < cut.key || (k == cut.key && static_cast<unsigned>(rank++) >= cut.ties)) return false;
        return row.prob(x) >= min_p;  // the most likely token has probability 1 here
    };
    float local_mass = 0.0f;
    int last = -1, rank = first_rank;
    for (int i = begin; i < end; ++i)
        if (kept(i, rank)) {
            local_mass += row.prob(row.logits[i]);
            last = i;
        }
    float total = 0.0f;
    const float before = block_exclusive_scan(local_mass, s.f, total);
    const double target = u * total;
    int chosen = INT_MAX;
    if (local_mass > 0.0f && target >= before && target < before + local_mass) {
        double left = target - before;
        rank = first_rank;
        chosen = last;  // rounding may carry past the last member
        for (int i = begin; i < end; ++i)
            if (kept(i, rank)) {
                const float p = row.prob(row.logits[i]);
                if (left < p) {
                    chosen = i;
                    break;
                }
                left -= p;
            }
    }
    chosen = block_reduce(
        chosen, [](int a, int b) { return min(a, b); }, s.i);
    if (chosen != INT_MAX) return chosen;
    return block_reduce(
        last, [](int a, int b) { return max(a, b); }, s.i);  // u * total rounded up to total
}

__global__ void sample_kernel(const float* logits, int vocab, const SamplingSettings* settings, int* tokens,
                              float* logprobs) {
    __shared__ Scratch s;
    const float* x = logits + static_cast<std::size_t>(blockIdx.x) * vocab;
    const SamplingSettings st = settings[blockIdx.x];

    float peak = -INFINITY;
    int count = 0;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x)
        if (candidate(x[i])) {
            peak = fmaxf(peak, x[i]);
            ++count;
        }
    peak = block_reduce(
        peak, [](float a, float b) { return fmaxf(a, b); }, s.f);
    count = block_reduce(count, kPlus, s.i);
    if (count == 0) {
        if (threadIdx.x == 0) {
            tokens[blockIdx.x] = -1;
            logprobs[blockIdx.x] = NAN;
        }
        return;
    }
    int argmax = INT_MAX;
    for (int i = threadIdx.x; i < vocab && argmax == INT_MAX; i += blockDim.x)
        if (x[i] == peak) argmax = i;
    argmax = block_reduce(
        argmax, [](int a, int b) { return min(a, b); }, s.i);
    float sum = 0.0f;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x)
        if (candidate(x[i])) sum += __expf(x[i] - peak);
    const float log_norm = peak + logf(block_reduce(sum, kPlus, s.f));

    int token = argmax;
    if (st.temperature > 0.0f && st.top_k != 1) {
        const Row row{x, vocab, peak, st.temperature};
        Cut cut;
        if (st.top_k > 0 && st.top_k < count) cut = top_k_cut(row, st.top_k, s);
        if (st.top_p < 1.0f) cut = top_p_cut(row, cut, st.top_p, s);
        token = draw(row, cut, st.min_p, uniform(st.seed, st.step), s);
    }
    if (threadIdx.x == 0) {  // settings that keep nothing (top_p 0, which the host rejects) give -1
        tokens[blockIdx.x] = token;
        logprobs[blockIdx.x] = token >= 0 ? x[token] - log_norm : NAN;
    }
}

}  // namespace

void sample_tokens(const float* logits, int num_seqs, int vocab, const SamplingSettings* settings, int* tokens,
                   float* logprobs, cudaStream_t stream) {
    if (num_seqs < 0 || vocab <= 0) fail("sample_tokens: ", num_seqs, " sequences over a vocabulary of ", vocab);
    if (num_seqs > 0 && (!logits || !settings || !tokens || !logprobs))
        fail("sample_tokens: logits, settings, tokens and logprobs are required");
    if (num_seqs == 0) return;
    const int threads = std::min(1024, (vocab + 31) / 32 * 32);
    sample_kernel<<<num_seqs, threads, 0, stream>>>(logits, vocab, settings, tokens, logprobs);
    check(cudaGetLastError(), "sample_tokens");
}

}  // namespace lw::cuda
