// The GPU's KV path against the CPU reference on random shapes: rope_write_kv (RoPE
// with linear and llama3 scaling, optional q/k/v biases, K and V stored at each token's
// position and nowhere else) and paged_attention (decode, prefill, chunked prefill,
// sliding window; GQA ratios 1 to 8 and 16; odd head counts; head_dim 32 to 256; blocks
// that do not divide the lengths; padding sequences; one split and several) against
// backend/cpu/{rope,paged_attention} run on the same rounded inputs.
// Tolerances: rotated q/k within 2 units in the last place of fp16/bf16 (the CPU rotates
// in fp32 too); attention outputs (weighted means of values in [-1, 1]) within 2e-3 (fp16)
// and 1.6e-2 (bf16) absolute: the output rounding plus fp32 summation order.
#include "support/test_support.h"

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/paged_attention.h"
#include "backend/cpu/rope.h"
#include "cuda_test_support.h"
#include "paged_attention.h"
#include "rope.h"

#include <algorithm>
#include <cstring>
#include <numeric>

using namespace lw;
using namespace lw::test;

namespace {

struct SeqSpec {
    int cached = 0;  // positions already in the cache
    int tokens = 0;  // new tokens this step (0: a padding sequence)
};

struct Case {
    std::string name;
    int num_heads, kv_heads, head_dim, block_tokens;
    int sliding_window = 0;
    std::vector<SeqSpec> seqs;
    RopeScaling::Type scaling = RopeScaling::Type::None;
    bool bias = false;
};

constexpr int kLayers = 2;
constexpr int kLayer = 1;  // the layer written and read; layer 0's pages must stay untouched
constexpr std::uint16_t kF16Nan = 0x7e00, kBf16Nan = 0x7fc0;

ModelConfig config_of(const Case& c) {
    ModelConfig m;
    m.num_heads = c.num_heads;
    m.num_kv_heads = c.kv_heads;
    m.head_dim = c.head_dim;
    m.rope_theta = 500000.0f;
    m.rope_scaling.type = c.scaling;
    if (c.scaling == RopeScaling::Type::Linear) m.rope_scaling.factor = 4.0f;
    if (c.scaling == RopeScaling::Type::Llama3) {
        m.rope_scaling.factor = 8.0f;
        m.rope_scaling.original_max_position_embeddings = 64;  // so that short tests cross every band
    }
    return m;
}

// One step of a batch, on host and device: the pool (with its page assignment), the
// fused qkv rows and the metadata arrays.
struct Step {
    const Case& c;
    DType dtype;
    int q_dim, kv_dim, row_stride, tokens = 0;
    std::size_t page_elems, page_count = 0;
    std::vector<std::vector<int>> tables;  // per sequence: block-major pages
    std::vector<int> seq_starts{0}, seq_positions, table_starts, flat_tables;
    std::vector<std::uint16_t> pool, qkv, bias;

    Step(const Case& c_, DType d, std::mt19937& rng)
        : c(c_),
          dtype(d),
          q_dim(c.num_heads * c.head_dim),
          kv_dim(c.kv_heads * c.head_dim),
          row_stride(q_dim + 2 * kv_dim),
          page_elems(2 * static_cast<std::size_t>(c.block_tokens) * kv_dim) {
        std::vector<int> blocks;
        for (const SeqSpec& s : c.seqs) {
            blocks.push_back((s.cached + s.tokens + c.block_tokens - 1) / c.block_tokens);
            page_count += static_cast<std::size_t>(blocks.back()) * kLayers;
        }
        page_count += 3;  // pages no sequence owns
        std::vector<int> order(page_count);
        std::iota(order.begin(), order.end(), 0);
        std::shuffle(order.begin(), order.end(), rng);
        // Unwritten slots hold NaN: reading one would poison the outputs.
        pool.assign(page_count * page_elems, dtype == DType::F16 ? kF16Nan : kBf16Nan);
        std::size_t next = 0;
        std::uniform_real_distribution<float> value(-1.0f, 1.0f);
        for (std::size_t s = 0; s < c.seqs.size(); ++s) {
            tables.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(next),
                                order.begin() + static_cast<std::ptrdiff_t>(next) + blocks[s] * kLayers);
            next += static_cast<std::size_t>(blocks[s]) * kLayers;
            for (int layer = 0; layer < kLayers; ++layer)
                for (int p = 0; p < c.seqs[s].cached; ++p)
                    for (int which = 0; which < 2; ++which)
                        for (int i = 0; i < kv_dim; ++i) *slot(s, layer, p, which, i) = to_half(dtype, value(rng));
            table_starts.push_back(static_cast<int>(flat_tables.size()));
            flat_tables.insert(flat_tables.end(), tables[s].begin(), tables[s].end());
            seq_positions.push_back(c.seqs[s].cached);
            tokens += c.seqs[s].tokens;
            seq_starts.push_back(tokens);
        }
        qkv = random_half(dtype, static_cast<std::size_t>(tokens) * row_stride, rng);
        if (c.bias) bias = random_half(dtype, static_cast<std::size_t>(row_stride), rng, -0.5f, 0.5f);
    }

    std::uint16_t* slot(std::size_t seq, int layer, int position, int which, int i) {
        const int page = tables[seq][static_cast<std::size_t>(position / c.block_tokens * kLayers + layer)];
        const std::size_t in_page =
            (static_cast<std::size_t>(which) * c.block_tokens + position % c.block_tokens) * kv_dim + i;
        return &pool[static_cast<std::size_t>(page) * page_elems + in_page];
    }

    int max_seq_tokens() const {
        int m = 0;
        for (const SeqSpec& s : c.seqs) m = std::max(m, s.tokens);
        return m;
    }
};

// The device side of a Step.
struct DeviceStep {
    DeviceArray<std::uint16_t> pool, qkv, bias;
    DeviceArray<int> seq_starts, seq_positions, table_starts, tables;
    DeviceArray<float> inv_freq;
    cuda::DevicePagedKv kv;
    cuda::DeviceTokenBatch batch;

    DeviceStep(const Step& s, const std::vector<float>& freq)
        : pool(s.pool),
          qkv(s.qkv),
          bias(s.bias.empty() ? std::vector<std::uint16_t>(1) : s.bias),
          seq_starts(s.seq_starts),
          seq_positions(s.seq_positions),
          table_starts(s.table_starts),
          tables(s.flat_tables),
          inv_freq(freq) {
        kv = {pool.get(), s.page_elems * 2, kLayers, s.c.kv_heads, s.c.head_dim, s.c.block_tokens, s.dtype};
        batch = {static_cast<int>(s.c.seqs.size()),
                 s.tokens,
                 s.max_seq_tokens(),
                 seq_starts.get(),
                 seq_positions.get(),
                 table_starts.get(),
                 tables.get()};
    }
};

std::vector<Case> cases() {
    return {
        {"decode MHA hd128", 7, 7, 128, 16, 0, {{0, 1}, {1, 1}, {15, 1}, {16, 1}, {300, 1}, {33, 1}}},
        {"decode GQA4 hd64 odd blocks", 12, 3, 64, 5, 0, {{9, 1}, {0, 1}, {77, 1}}, RopeScaling::Type::Llama3},
        {"decode GQA8 long", 32, 4, 128, 16, 0, {{1500, 1}, {2, 1}}},
        {"prefill GQA1 hd64", 4, 4, 64, 7, 0, {{0, 37}, {0, 1}, {0, 70}}, RopeScaling::Type::Linear, true},
        {"chunked prefill GQA8 with padding", 16, 2, 128, 16, 0, {{50, 20}, {0, 0}, {3, 5}, {100, 1}}},
        {"sliding window chunk", 8, 2, 64, 6, 16, {{40, 23}, {5, 3}, {100, 1}}, RopeScaling::Type::Llama3},
        {"hd256 GQA2", 4, 2, 256, 8, 0, {{10, 9}, {60, 1}}},
        {"hd96 bias", 6, 6, 96, 3, 0, {{4, 4}, {0, 2}}, RopeScaling::Type::None, true},
        // Decode (the kernel for one token per sequence): every group size up to 8 (those
        // that are no power of two leave heads of a block idle), a group spread over two
        // blocks, head_dim 32 to 256 (96: idle lanes), padding rows, long contexts, windows.
        {"decode GQA3 hd128 with padding", 12, 4, 128, 16, 0, {{0, 0}, {40, 1}, {0, 0}, {200, 1}, {0, 0}}},
        {"decode GQA5 hd64", 10, 2, 64, 8, 0, {{100, 1}, {7, 1}}},
        {"decode GQA6 hd256", 12, 2, 256, 4, 0, {{70, 1}, {1, 1}}},
        {"decode GQA7 hd96", 7, 1, 96, 16, 0, {{50, 1}, {3, 1}, {0, 0}}},
        {"decode GQA16 hd64", 32, 2, 64, 16, 0, {{90, 1}, {17, 1}}},
        {"decode GQA2 hd32", 4, 2, 32, 32, 0, {{33, 1}}},
        {"decode MHA long", 8, 8, 128, 16, 0, {{5000, 1}, {0, 0}, {4000, 1}, {130, 1}}},
        {"decode sliding window", 8, 2, 64, 16, 40, {{200, 1}, {10, 1}, {39, 1}, {40, 1}, {0, 0}}},
        {"decode narrow window", 4, 4, 128, 16, 5, {{100, 1}, {3, 1}}},
    };
}

}  // namespace

class TestPagedAttentionCuda : public QObject {
    Q_OBJECT
private slots:
    void rejectsBadShapes() {
        cuda::AttentionArgs a;
        a.kv = {reinterpret_cast<void*>(256), 4096, 2, 2, 64, 8, DType::F32};
        LW_EXPECT_ERROR(cuda::paged_attention(a, nullptr), "paged_attention", "F32");
        a.kv.dtype = DType::F16;
        a.kv.head_dim = 60;
        LW_EXPECT_ERROR(cuda::paged_attention(a, nullptr), "paged_attention", "head_dim 60");
        a.kv.head_dim = 64;
        a.num_heads = 3;
        LW_EXPECT_ERROR(cuda::paged_attention(a, nullptr), "3 query heads for 2 KV heads");
        a.num_heads = 4;
        a.layer = 2;
        LW_EXPECT_ERROR(cuda::paged_attention(a, nullptr), "layer 2");
        a.layer = 0;
        a.q = a.out = reinterpret_cast<void*>(256);
        a.q_stride = 256;
        a.kv_splits = 4;
        a.batch.num_tokens = 1;
        a.batch.num_seqs = 1;
        a.batch.max_seq_tokens = 1;
        int dummy = 0;
        a.batch.seq_starts = a.batch.seq_positions = a.batch.block_table_starts = a.batch.block_tables = &dummy;
        LW_EXPECT_ERROR(cuda::paged_attention(a, nullptr), "workspace of 0 bytes");
        cuda::RopeKvArgs r;
        r.kv = a.kv;
        r.kv.page_stride = 100;
        LW_EXPECT_ERROR(cuda::rope_write_kv(r, nullptr), "rope_write_kv", "page stride 100");
    }

    void matchesTheCpu() {
        LW_REQUIRE_GPU();
        std::mt19937 rng(2026);
        for (const Case& c : cases())
            for (DType dtype : {DType::F16, DType::BF16}) run(c, dtype, rng);
    }

    // Llama-2-7B's attention (32 heads of 128, fp16) over one layer's cache: decode at batch
    // 1 to 64 (a 128-token prompt's first steps, as lora-bench runs them, and longer
    // contexts) and a 512-token prefill chunk. Checks that split-K agrees with one split at
    // these sizes and prints the time and the cache bytes read per second.
    void llama7bTimings() {
        LW_REQUIRE_GPU();
        struct Shape {
            int seqs, context, tokens;
        };
        for (const Shape& shape : {Shape{1, 130, 1}, Shape{32, 130, 1}, Shape{64, 130, 1}, Shape{1, 4096, 1},
                                   Shape{8, 1024, 1}, Shape{32, 1024, 1}, Shape{64, 1024, 1}, Shape{1, 512, 512}})
            time_attention(shape.seqs, shape.context, shape.tokens);
    }

private:
    void time_attention(int seqs, int context, int tokens_per_seq) {
        const int heads = 32, hd = 128, bt = 16, kv_dim = heads * hd;
        const int blocks = (context + bt - 1) / bt, tokens = seqs * tokens_per_seq;
        const std::size_t page_elems = 2 * static_cast<std::size_t>(bt) * kv_dim;
        const std::size_t pages = static_cast<std::size_t>(seqs) * blocks;
        DeviceArray<std::uint16_t> pool(pages * page_elems);
        std::mt19937 rng(9);
        const auto chunk = random_half(DType::F16, std::size_t(1) << 22, rng);
        for (std::size_t at = 0; at < pages * page_elems; at += chunk.size())
            cuda::check(cudaMemcpy(pool.get() + at, chunk.data(), std::min(chunk.size(), pages * page_elems - at) * 2,
                                   cudaMemcpyHostToDevice),
                        "fill pool");
        std::vector<int> starts{0}, positions, table_starts, tables(pages);
        std::iota(tables.begin(), tables.end(), 0);
        std::shuffle(tables.begin(), tables.end(), rng);
        for (int s = 0; s < seqs; ++s) {
            starts.push_back((s + 1) * tokens_per_seq);
            positions.push_back(context - tokens_per_seq);
            table_starts.push_back(s * blocks);
        }
        DeviceArray<int> dstarts(starts), dpositions(positions), dtable_starts(table_starts), dtables(tables);
        DeviceArray<std::uint16_t> q(random_half(DType::F16, static_cast<std::size_t>(tokens) * kv_dim, rng));
        DeviceArray<std::uint16_t> out1(static_cast<std::size_t>(tokens) * kv_dim),
            out2(static_cast<std::size_t>(tokens) * kv_dim);
        cuda::AttentionArgs a;
        a.kv = {pool.get(), page_elems * 2, 1, heads, hd, bt, DType::F16};
        a.batch = {seqs, tokens, tokens_per_seq, dstarts.get(), dpositions.get(), dtable_starts.get(), dtables.get()};
        a.num_heads = heads;
        a.q = q.get();
        a.q_stride = kv_dim;
        a.out = out1.get();
        cuda::paged_attention(a, nullptr);
        const auto one_split = from_half(DType::F16, out1.download());

        a.kv_splits = tokens_per_seq == 1 ? cuda::suggested_kv_splits(seqs, heads, context) : 1;
        a.workspace_bytes = cuda::attention_workspace_bytes(tokens, heads, hd, a.kv_splits);
        DeviceArray<std::uint8_t> workspace(a.workspace_bytes);
        a.workspace = workspace.get();
        a.out = out2.get();
        cudaEvent_t start, stop;
        cuda::check(cudaEventCreate(&start), "event");
        cuda::check(cudaEventCreate(&stop), "event");
        std::vector<float> ms;
        for (int i = 0; i < 25; ++i) {
            cuda::check(cudaEventRecord(start), "record");
            cuda::paged_attention(a, nullptr);
            cuda::check(cudaEventRecord(stop), "record");
            cuda::check(cudaEventSynchronize(stop), "sync");
            float t = 0;
            cuda::check(cudaEventElapsedTime(&t, start, stop), "elapsed");
            if (i >= 5) ms.push_back(t);
        }
        cudaEventDestroy(start);
        cudaEventDestroy(stop);
        std::sort(ms.begin(), ms.end());
        const double median = ms[ms.size() / 2];
        const double bytes = static_cast<double>(seqs) * context * kv_dim * 2 * 2;
        qInfo("llama-7b attention: %d seqs x %d tokens, context %d, %d splits: %.1f us, %.0f GB/s of KV", seqs,
              tokens_per_seq, context, a.kv_splits, median * 1e3, bytes / (median * 1e-3) / 1e9);
        expect_close(from_half(DType::F16, out2.download()), one_split, 2e-3f, 0.0f,
                     "split-K against one split, " + std::to_string(seqs) + " seqs");
    }

    void run(const Case& c, DType dtype, std::mt19937& rng) {
        const std::string what = c.name + " " + dtype_label(dtype);
        const ModelConfig config = config_of(c);
        const Rope rope(config);
        Step step(c, dtype, rng);
        DeviceStep dev(step, rope.inv_freq());

        cuda::RopeKvArgs r;
        r.kv = dev.kv;
        r.batch = dev.batch;
        r.layer = kLayer;
        r.num_heads = c.num_heads;
        r.q = dev.qkv.get();
        r.k = dev.qkv.get() + step.q_dim;
        r.v = dev.qkv.get() + step.q_dim + step.kv_dim;
        r.row_stride = step.row_stride;
        r.inv_freq = dev.inv_freq.get();
        if (c.bias) {
            r.q_bias = dev.bias.get();
            r.k_bias = dev.bias.get() + step.q_dim;
            r.v_bias = dev.bias.get() + step.q_dim + step.kv_dim;
        }
        cuda::rope_write_kv(r, nullptr);
        const auto rotated = dev.qkv.download();
        const auto pool = dev.pool.download();
        check_rope(step, rope, rotated, what);
        check_cache(step, rotated, pool, what);
        if (QTest::currentTestFailed()) return;

        const std::vector<float> expected = cpu_attention(step, rotated, pool);
        for (int splits : {1, 3, 16, cuda::suggested_kv_splits(static_cast<int>(c.seqs.size()), c.kv_heads, 2000)}) {
            const std::size_t ws_bytes = cuda::attention_workspace_bytes(step.tokens, c.num_heads, c.head_dim, splits);
            DeviceArray<std::uint8_t> workspace(ws_bytes);
            DeviceArray<std::uint16_t> out(std::vector<std::uint16_t>(
                static_cast<std::size_t>(step.tokens) * step.q_dim, dtype == DType::F16 ? kF16Nan : kBf16Nan));
            cuda::AttentionArgs a;
            a.kv = dev.kv;
            a.batch = dev.batch;
            a.layer = kLayer;
            a.num_heads = c.num_heads;
            a.q = dev.qkv.get();
            a.q_stride = step.row_stride;
            a.out = out.get();
            a.sliding_window = c.sliding_window;
            a.kv_splits = splits;
            a.workspace = workspace.get();
            a.workspace_bytes = ws_bytes;
            cuda::paged_attention(a, nullptr);
            expect_close(from_half(dtype, out.download()), expected, dtype == DType::F16 ? 2e-3f : 1.6e-2f, 0.0f,
                         what + " attention, " + std::to_string(splits) + " splits");
            if (QTest::currentTestFailed()) return;
        }
    }

    // q and k rotated (after the bias) as lw::Rope does, within 2 ulp of the dtype.
    void check_rope(const Step& s, const Rope& rope, const std::vector<std::uint16_t>& rotated,
                    const std::string& what) {
        std::vector<float> expected, actual;
        int t = 0;
        for (std::size_t seq = 0; seq < s.c.seqs.size(); ++seq)
            for (int j = 0; j < s.c.seqs[seq].tokens; ++j, ++t) {
                const std::size_t row = static_cast<std::size_t>(t) * s.row_stride;
                std::vector<float> qk(static_cast<std::size_t>(s.q_dim + s.kv_dim));
                for (std::size_t i = 0; i < qk.size(); ++i)
                    qk[i] =
                        from_half(s.dtype, s.qkv[row + i]) + (s.bias.empty() ? 0.0f : from_half(s.dtype, s.bias[i]));
                rope.apply(qk.data(), s.c.num_heads + s.c.kv_heads, s.c.seqs[seq].cached + j);
                expected.insert(expected.end(), qk.begin(), qk.end());
                for (std::size_t i = 0; i < qk.size(); ++i) actual.push_back(from_half(s.dtype, rotated[row + i]));
            }
        expect_close(actual, expected, 1e-6f, 2 * half_epsilon(s.dtype), what + " rope");
    }

    // Each new token's K (as rotated) and V (plus bias) at its slot of kLayer; every other
    // byte of the pool as it was.
    void check_cache(const Step& s, const std::vector<std::uint16_t>& rotated, const std::vector<std::uint16_t>& pool,
                     const std::string& what) {
        Step expected = s;
        int t = 0;
        for (std::size_t seq = 0; seq < s.c.seqs.size(); ++seq)
            for (int j = 0; j < s.c.seqs[seq].tokens; ++j, ++t) {
                const std::size_t row = static_cast<std::size_t>(t) * s.row_stride;
                const int position = s.c.seqs[seq].cached + j;
                for (int i = 0; i < s.kv_dim; ++i) {
                    *expected.slot(seq, kLayer, position, 0, i) = rotated[row + s.q_dim + i];
                    std::uint16_t v = s.qkv[row + s.q_dim + s.kv_dim + i];
                    if (!s.bias.empty())
                        v = to_half(s.dtype,
                                    from_half(s.dtype, v) + from_half(s.dtype, s.bias[s.q_dim + s.kv_dim + i]));
                    *expected.slot(seq, kLayer, position, 1, i) = v;
                }
            }
        QVERIFY2(pool == expected.pool,
                 qPrintable(QString::fromStdString(what + ": pool differs from the expected writes")));
    }

    // lw::paged_attention over an F32 copy of the GPU's pool, with the GPU's rotated q.
    std::vector<float> cpu_attention(const Step& s, const std::vector<std::uint16_t>& rotated,
                                     const std::vector<std::uint16_t>& pool) {
        KvLayout layout{kLayers, s.c.kv_heads, s.c.head_dim, s.c.block_tokens, DType::F32};
        CpuBackend backend(s.page_count, s.page_elems * sizeof(float), 4);
        for (std::size_t p = 0; p < s.page_count; ++p) {
            const auto values = from_half(
                s.dtype,
                std::vector<std::uint16_t>(pool.begin() + static_cast<std::ptrdiff_t>(p * s.page_elems),
                                           pool.begin() + static_cast<std::ptrdiff_t>((p + 1) * s.page_elems)));
            backend.write_page(static_cast<PageId>(p), 0, std::as_bytes(std::span(values)));
        }
        std::vector<KvBlockTable> tables;
        for (std::size_t seq = 0; seq < s.c.seqs.size(); ++seq)
            tables.push_back({std::vector<PageId>(s.tables[seq].begin(), s.tables[seq].end()),
                              s.c.seqs[seq].cached + s.c.seqs[seq].tokens});
        std::vector<PagedKv> caches;
        for (const auto& table : tables) caches.emplace_back(layout, table, backend);
        std::vector<AttentionToken> tokens;
        std::vector<float> q;
        int t = 0;
        for (std::size_t seq = 0; seq < s.c.seqs.size(); ++seq)
            for (int j = 0; j < s.c.seqs[seq].tokens; ++j, ++t) {
                tokens.push_back({&caches[seq], s.c.seqs[seq].cached + j});
                for (int i = 0; i < s.q_dim; ++i)
                    q.push_back(from_half(s.dtype, rotated[static_cast<std::size_t>(t) * s.row_stride + i]));
            }
        std::vector<float> out(q.size());
        const AttentionShape shape{s.c.num_heads, s.c.kv_heads, s.c.head_dim,
                                   s.c.sliding_window > 0 ? std::optional<int>(s.c.sliding_window) : std::nullopt};
        paged_attention(shape, tokens, kLayer, q.data(), out.data(), backend.threads());
        return out;
    }
};

QTEST_APPLESS_MAIN(TestPagedAttentionCuda)
#include "test_paged_attention_cuda.moc"
