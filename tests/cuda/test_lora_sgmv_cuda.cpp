// The segmented LoRA kernels and their plan against a float64 reference computed from
// the adapters' own matrices: adapters of mixed ranks (1 to the maximum) and targets in
// one batch, base-only sequences between them, fused q|k|v and gate|up projections with
// modules missing, fp16 and bf16, rows placed on shuffled pages of a device pool whose
// page stride is larger than a page. Also: a graph captured once replays correctly after
// prepare() switches adapters, and bad input is refused with errors that name it.
//
// Tolerance: adapter values, x and y are generated exactly representable in the pool
// dtype, so the only errors are fp32 accumulation (relative 1e-4 of the delta's
// magnitude allowed) and the single rounding of y: 2^-10 |y| in fp16, 2^-7 |y| in bf16
// (twice the half-ulp). Tokens and columns no adapter touches must keep their bits.
#include "support/test_support.h"

#include "backend/cuda/lora_plan.h"
#include "core/error.h"
#include "core/half.h"
#include "cuda_check.h"
#include "memory/pooled_adapter.h"
#include "model/lora_adapter.h"

#include <cuda_runtime_api.h>

#include <QDebug>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <vector>

namespace {

using lw::DType;

constexpr std::size_t kPageBytes = 16384;
constexpr std::size_t kPageStride = kPageBytes + 256;  // the plan must use the stride, not the page size

std::uint16_t to_bits(float v, DType dtype) {
    return dtype == DType::F16 ? lw::f32_to_f16(v) : lw::f32_to_bf16(v);
}
float from_bits(std::uint16_t h, DType dtype) {
    return dtype == DType::F16 ? lw::f16_to_f32(h) : lw::bf16_to_f32(h);
}
// `v` rounded to the nearest value the dtype holds.
float representable(float v, DType dtype) {
    return from_bits(to_bits(v, dtype), dtype);
}

// A device page pool with the Backend interface, so that upload_adapter places rows
// in it exactly as the engine does. It runs no models.
class DevicePool : public lw::Backend {
public:
    DevicePool(std::size_t pages, std::size_t page_bytes, std::size_t stride, DType dtype)
        : pages_(pages), page_bytes_(page_bytes), stride_(stride), dtype_(dtype) {
        lw::cuda::check(cudaMalloc(reinterpret_cast<void**>(&base_), pages * stride), "test pool");
    }
    ~DevicePool() override { cudaFree(base_); }
    DevicePool(const DevicePool&) = delete;
    DevicePool& operator=(const DevicePool&) = delete;

    const std::byte* base() const { return base_; }
    std::size_t stride() const { return stride_; }

    std::string name() const override { return "test device pool"; }
    std::size_t page_count() const override { return pages_; }
    std::size_t page_bytes() const override { return page_bytes_; }
    DType pool_dtype() const override { return dtype_; }
    void write_page(lw::PageId page, std::size_t offset, std::span<const std::byte> bytes) override {
        lw::cuda::check(cudaMemcpy(base_ + page * stride_ + offset, bytes.data(), bytes.size(), cudaMemcpyHostToDevice),
                        "test pool write");
    }
    void read_page(lw::PageId page, std::size_t offset, std::span<std::byte> out) const override {
        lw::cuda::check(cudaMemcpy(out.data(), base_ + page * stride_ + offset, out.size(), cudaMemcpyDeviceToHost),
                        "test pool read");
    }
    std::unique_ptr<lw::ModelRunner> load_model(const lw::ModelConfig&, const lw::ModelWeights&) override {
        lw::fail("the LoRA test pool runs no models");
    }

private:
    std::size_t pages_, page_bytes_, stride_;
    DType dtype_;
    std::byte* base_ = nullptr;
};

template <class T>
struct DeviceArray {
    T* p = nullptr;
    std::size_t n = 0;
    explicit DeviceArray(std::size_t count) : n(count) {
        lw::cuda::check(cudaMalloc(reinterpret_cast<void**>(&p), std::max<std::size_t>(count, 1) * sizeof(T)),
                        "test buffer");
    }
    ~DeviceArray() { cudaFree(p); }
    DeviceArray(const DeviceArray&) = delete;
    DeviceArray& operator=(const DeviceArray&) = delete;
    void upload(const std::vector<T>& v) {
        lw::cuda::check(cudaMemcpy(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice), "test upload");
    }
    std::vector<T> download() const {
        std::vector<T> v(n);
        lw::cuda::check(cudaMemcpy(v.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost), "test download");
        return v;
    }
};

lw::ModelConfig small_config() {
    lw::ModelConfig c;
    c.hidden_size = 128;
    c.intermediate_size = 344;
    c.num_layers = 2;
    c.num_heads = 4;
    c.num_kv_heads = 2;
    c.head_dim = 32;
    return c;
}

// An adapter with random matrices whose values the pool dtype holds exactly, placed on
// pages taken from the front of `free_pages`.
struct TestAdapter {
    lw::LoraAdapter adapter;
    lw::PooledAdapter pooled;
    std::vector<lw::PageId> pages;
};

std::unique_ptr<TestAdapter> make_adapter(std::uint64_t id, const lw::ModelConfig& config,
                                          const std::vector<std::pair<int, int>>& module_ranks, DType dtype,
                                          std::mt19937& rng, std::vector<lw::PageId>& free_pages, DevicePool& pool) {
    auto t = std::make_unique<TestAdapter>();
    t->adapter.name = "adapter" + std::to_string(id);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (int layer = 0; layer < config.num_layers; ++layer)
        for (const auto& [module, rank] : module_ranks) {
            const std::string name = lw::linear_module_names()[static_cast<std::size_t>(module)];
            const lw::LinearShape shape = lw::linear_module_shape(config, name);
            auto a = std::make_shared<std::vector<float>>(static_cast<std::size_t>(rank * shape.in_features));
            auto b = std::make_shared<std::vector<float>>(static_cast<std::size_t>(shape.out_features * rank));
            const float a_scale = 1.0f / std::sqrt(static_cast<float>(shape.in_features));
            for (float& v : *a) v = representable(u(rng) * a_scale, dtype);
            for (float& v : *b) v = representable(u(rng), dtype);
            lw::LoraModule m;
            m.layer = layer;
            m.module = name;
            m.rank = rank;
            m.scale = 2.0f / static_cast<float>(rank);
            m.a = {name + ".A", DType::F32, {rank, shape.in_features}, std::as_bytes(std::span(*a))};
            m.b = {name + ".B", DType::F32, {shape.out_features, rank}, std::as_bytes(std::span(*b))};
            t->adapter.modules.push_back(m);
            t->adapter.storage.push_back(a);
            t->adapter.storage.push_back(b);
        }
    const std::size_t needed = lw::adapter_pages_needed(t->adapter, pool.page_bytes(), dtype);
    if (needed > free_pages.size()) lw::fail("test pool too small");
    t->pages.assign(free_pages.begin(), free_pages.begin() + static_cast<std::ptrdiff_t>(needed));
    free_pages.erase(free_pages.begin(), free_pages.begin() + static_cast<std::ptrdiff_t>(needed));
    t->pooled = lw::upload_adapter(t->adapter, id, t->pages, config.num_layers, dtype, pool);
    return t;
}

// A step: sequences of given lengths, each with an adapter or none.
struct TestStep {
    std::vector<lw::TokenId> token_ids;
    lw::StepBatch batch;
    std::vector<const TestAdapter*> token_adapter;  // per batch token

    explicit TestStep(const std::vector<std::pair<int, const TestAdapter*>>& sequences) {
        int total = 0;
        for (const auto& s : sequences) total += s.first;
        token_ids.assign(static_cast<std::size_t>(total), 1);
        int at = 0;
        for (const auto& [n, adapter] : sequences) {
            lw::StepSequence s;
            s.tokens = std::span<const lw::TokenId>(token_ids).subspan(static_cast<std::size_t>(at),
                                                                       static_cast<std::size_t>(n));
            s.adapter = adapter ? &adapter->pooled : nullptr;
            batch.sequences.push_back(s);
            token_adapter.insert(token_adapter.end(), static_cast<std::size_t>(n), adapter);
            at += n;
        }
    }
    TestStep(const TestStep&) = delete;  // the batch views token_ids
    TestStep& operator=(const TestStep&) = delete;
    int tokens() const { return static_cast<int>(token_adapter.size()); }
};

// y + the LoRA deltas, in float64, from the adapters' matrices; `touched` marks what a delta reaches.
std::vector<double> reference(const TestStep& step, int layer, const std::vector<int>& modules,
                              const lw::ModelConfig& config, const std::vector<float>& x, const std::vector<float>& y,
                              int y_stride, std::vector<bool>& touched, double& max_delta) {
    std::vector<double> out(y.begin(), y.end());
    touched.assign(y.size(), false);
    max_delta = 0.0;
    int offset = 0;
    for (int module : modules) {
        const std::string name = lw::linear_module_names()[static_cast<std::size_t>(module)];
        const lw::LinearShape shape = lw::linear_module_shape(config, name);
        for (int t = 0; t < step.tokens(); ++t) {
            const TestAdapter* adapter = step.token_adapter[static_cast<std::size_t>(t)];
            if (!adapter) continue;
            const auto& mods = adapter->adapter.modules;
            const auto it = std::find_if(mods.begin(), mods.end(),
                                         [&](const lw::LoraModule& m) { return m.layer == layer && m.module == name; });
            if (it == mods.end()) continue;
            const auto* a = reinterpret_cast<const float*>(it->a.data.data());
            const auto* b = reinterpret_cast<const float*>(it->b.data.data());
            std::vector<double> shrunk(static_cast<std::size_t>(it->rank), 0.0);
            for (int r = 0; r < it->rank; ++r)
                for (int k = 0; k < shape.in_features; ++k)
                    shrunk[static_cast<std::size_t>(r)] +=
                        static_cast<double>(x[static_cast<std::size_t>(t * shape.in_features + k)]) *
                        a[r * shape.in_features + k];
            for (int o = 0; o < shape.out_features; ++o) {
                double delta = 0.0;
                for (int r = 0; r < it->rank; ++r) delta += shrunk[static_cast<std::size_t>(r)] * b[o * it->rank + r];
                delta *= it->scale;
                const auto at = static_cast<std::size_t>(t * y_stride + offset + o);
                out[at] += delta;
                touched[at] = true;
                max_delta = std::max(max_delta, std::abs(delta));
            }
        }
        offset += shape.out_features;
    }
    return out;
}

std::vector<float> random_values(std::size_t n, DType dtype, std::mt19937& rng) {
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> v(n);
    for (float& f : v) f = representable(u(rng), dtype);
    return v;
}

std::vector<std::uint16_t> to_device_bits(const std::vector<float>& v, DType dtype) {
    std::vector<std::uint16_t> bits(v.size());
    std::transform(v.begin(), v.end(), bits.begin(), [&](float f) { return to_bits(f, dtype); });
    return bits;
}

// Inputs of one projection, uploaded, and the check of its output against the reference.
struct ProjectionCase {
    int layer;
    std::vector<int> modules;
    int in = 0, y_stride = 0;
    std::vector<float> x, y;
    std::unique_ptr<DeviceArray<std::uint16_t>> x_dev, y_dev;

    ProjectionCase(int layer_, std::vector<int> modules_, const lw::ModelConfig& config, int tokens, DType dtype,
                   std::mt19937& rng)
        : layer(layer_), modules(std::move(modules_)) {
        in = lw::linear_module_shape(config, lw::linear_module_names()[static_cast<std::size_t>(modules[0])])
                 .in_features;
        for (int m : modules)
            y_stride +=
                lw::linear_module_shape(config, lw::linear_module_names()[static_cast<std::size_t>(m)]).out_features;
        y_stride += 8;  // columns past the projection, which nothing may touch
        x = random_values(static_cast<std::size_t>(tokens * in), dtype, rng);
        y = random_values(static_cast<std::size_t>(tokens * y_stride), dtype, rng);
        x_dev = std::make_unique<DeviceArray<std::uint16_t>>(x.size());
        y_dev = std::make_unique<DeviceArray<std::uint16_t>>(y.size());
        x_dev->upload(to_device_bits(x, dtype));
        y_dev->upload(to_device_bits(y, dtype));
    }

    void apply(lw::cuda::LoraPlan& plan, cudaStream_t stream) {
        plan.shrink(layer, modules, x_dev->p, stream);
        plan.expand(layer, modules, y_dev->p, y_stride, stream);
    }

    // Compares the device's y with the reference; returns the largest error over its allowance.
    double check(const TestStep& step, const lw::ModelConfig& config, DType dtype, const std::string& what) {
        lw::cuda::check(cudaDeviceSynchronize(), "test sync");
        const std::vector<std::uint16_t> got_bits = y_dev->download();
        std::vector<bool> touched;
        double max_delta = 0.0;
        const std::vector<double> want = reference(step, layer, modules, config, x, y, y_stride, touched, max_delta);
        const double rel = dtype == DType::F16 ? std::ldexp(1.0, -10) : std::ldexp(1.0, -7);
        double worst = 0.0;
        for (std::size_t i = 0; i < want.size(); ++i) {
            if (!touched[i]) {
                if (got_bits[i] != to_bits(y[i], dtype))
                    lw::fail(what, ": element ", i, " (token ", i / static_cast<std::size_t>(y_stride), ", column ",
                             i % static_cast<std::size_t>(y_stride), ") changed though no adapter reaches it");
                continue;
            }
            const double got = from_bits(got_bits[i], dtype);
            const double allowed = rel * std::abs(want[i]) + 1e-4 * max_delta + 1e-30;
            const double ratio = std::abs(got - want[i]) / allowed;
            if (!(ratio <= 1.0))
                lw::fail(what, ": element ", i, " (token ", i / static_cast<std::size_t>(y_stride), ", column ",
                         i % static_cast<std::size_t>(y_stride), ") is ", got, ", expected ", want[i],
                         " (allowed error ", allowed, ")");
            worst = std::max(worst, ratio);
        }
        return worst;
    }
};

struct Stream {
    cudaStream_t s = nullptr;
    Stream() { lw::cuda::check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "test stream"); }
    ~Stream() { cudaStreamDestroy(s); }
};

std::vector<lw::PageId> shuffled_pages(std::size_t count, std::mt19937& rng) {
    std::vector<lw::PageId> pages(count);
    std::iota(pages.begin(), pages.end(), lw::PageId{0});
    std::shuffle(pages.begin(), pages.end(), rng);
    return pages;
}

// The projections of a Llama layer as the runner launches them, with k|v fused too.
const std::vector<std::vector<int>> kProjections = {{0, 1, 2}, {3}, {4, 5}, {6}, {1, 2}};

std::string dtype_label(DType dtype) {
    return std::string(lw::dtype_name(dtype));
}

}  // namespace

class TestLoraSgmvCuda : public QObject {
    Q_OBJECT
private slots:
    void init() {
        if (lw::cuda::device_count() == 0) QSKIP("no CUDA device: the LoRA kernels need one to run");
    }

    void mixedAdaptersRanksAndBaseOnlySequences() {
        for (DType dtype : {DType::F16, DType::BF16}) {
            std::mt19937 rng(1234);
            const lw::ModelConfig config = small_config();
            const int max_rank = 64;
            DevicePool pool(4096, kPageBytes, kPageStride, dtype);
            auto free_pages = shuffled_pages(pool.page_count(), rng);
            // Ranks 1 to the maximum; some adapters lack modules (k, or the whole MLP).
            std::vector<std::unique_ptr<TestAdapter>> adapters;
            adapters.push_back(
                make_adapter(11, config, {{0, 1}, {1, 1}, {2, 1}, {3, 1}}, dtype, rng, free_pages, pool));
            adapters.push_back(
                make_adapter(12, config, {{0, 8}, {2, 8}, {4, 8}, {5, 8}, {6, 8}}, dtype, rng, free_pages, pool));
            adapters.push_back(make_adapter(13, config, {{0, 64}, {1, 64}, {2, 64}, {3, 64}, {4, 64}, {5, 64}, {6, 64}},
                                            dtype, rng, free_pages, pool));
            adapters.push_back(make_adapter(14, config, {{1, 3}, {5, 17}, {6, 40}}, dtype, rng, free_pages, pool));
            adapters.push_back(make_adapter(15, config, {{0, 16}, {3, 33}}, dtype, rng, free_pages, pool));

            lw::cuda::LoraPlan plan(config, dtype, pool.base(), pool.stride(), pool.page_count(), {256, max_rank, 8});
            Stream stream;
            const auto* A = adapters.data();
            // Prefill chunks of many lengths (more than an item's 8 tokens too), decodes,
            // base-only sequences between adapted ones, and neighbours sharing an adapter.
            const TestStep step({{1, A[0].get()},
                                 {19, A[2].get()},
                                 {5, nullptr},
                                 {3, A[2].get()},
                                 {1, A[2].get()},
                                 {9, A[1].get()},
                                 {1, nullptr},
                                 {1, A[3].get()},
                                 {17, A[4].get()},
                                 {8, A[3].get()},
                                 {2, nullptr},
                                 {1, A[1].get()},
                                 {1, A[0].get()}});
            plan.prepare(step.batch, stream.s);
            QVERIFY(plan.active());
            for (const auto& modules : kProjections)
                for (int layer = 0; layer < config.num_layers; ++layer) {
                    ProjectionCase c(layer, modules, config, step.tokens(), dtype, rng);
                    c.apply(plan, stream.s);
                    const std::string what = dtype_label(dtype) + " layer " + std::to_string(layer) + " modules " +
                                             std::to_string(modules[0]) + "+" + std::to_string(modules.size());
                    const double worst = c.check(step, config, dtype, what);
                    qDebug("%s: largest error %.3f of the allowance", what.c_str(), worst);
                }
        }
    }

    void decodeOneAdapterAndManySequenceSteps() {
        for (DType dtype : {DType::F16, DType::BF16}) {
            std::mt19937 rng(99);
            const lw::ModelConfig config = small_config();
            DevicePool pool(8192, kPageBytes, kPageStride, dtype);
            auto free_pages = shuffled_pages(pool.page_count(), rng);
            std::vector<std::unique_ptr<TestAdapter>> adapters;
            std::uniform_int_distribution<int> rank(1, 32);
            for (int i = 0; i < 48; ++i)
                adapters.push_back(make_adapter(100 + static_cast<std::uint64_t>(i), config,
                                                {{0, rank(rng)}, {1, rank(rng)}, {2, rank(rng)}, {3, rank(rng)}}, dtype,
                                                rng, free_pages, pool));
            lw::cuda::LoraPlan plan(config, dtype, pool.base(), pool.stride(), pool.page_count(), {300, 32, 48});
            Stream stream;

            std::vector<std::pair<int, const TestAdapter*>> decode;
            for (const auto& a : adapters) decode.emplace_back(1, a.get());
            const TestStep decode_step(decode);
            const TestStep one_adapter({{300, adapters[7].get()}});
            std::vector<std::pair<int, const TestAdapter*>> chunks;  // over 128 items: the other shrink shape
            for (int i = 0; i < 150; ++i) chunks.emplace_back(2, i % 5 == 0 ? nullptr : adapters[i % 48].get());
            const TestStep many_sequences(chunks);
            for (const TestStep* step : {&decode_step, &one_adapter, &many_sequences}) {
                plan.prepare(step->batch, stream.s);
                for (const auto& modules : {std::vector<int>{0, 1, 2}, std::vector<int>{3}}) {
                    ProjectionCase c(1, modules, config, step->tokens(), dtype, rng);
                    c.apply(plan, stream.s);
                    c.check(*step, config, dtype,
                            dtype_label(dtype) + " step of " + std::to_string(step->tokens()) + " tokens");
                }
            }
        }
    }

    void baseOnlyAndEmptyStepsTouchNothing() {
        std::mt19937 rng(5);
        const lw::ModelConfig config = small_config();
        DevicePool pool(64, kPageBytes, kPageStride, DType::F16);
        lw::cuda::LoraPlan plan(config, DType::F16, pool.base(), pool.stride(), pool.page_count(), {64, 16, 4});
        Stream stream;
        const TestStep base_only({{4, nullptr}, {1, nullptr}});
        const TestStep empty({});
        for (const TestStep* step : {&base_only, &empty}) {
            plan.prepare(step->batch, stream.s);
            QVERIFY(!plan.active());
            ProjectionCase c(0, {0, 1, 2}, config, step->tokens(), DType::F16, rng);
            c.apply(plan, stream.s);
            c.check(*step, config, DType::F16, "base only");
        }
    }

    // More distinct adapters over the steps than the plan has slots: the least recently
    // used are replaced; an adapter that moved to other pages is uploaded again.
    void slotsAreReusedAndRefreshed() {
        const DType dtype = DType::BF16;
        std::mt19937 rng(77);
        const lw::ModelConfig config = small_config();
        DevicePool pool(2048, kPageBytes, kPageStride, dtype);
        auto free_pages = shuffled_pages(pool.page_count(), rng);
        std::vector<std::unique_ptr<TestAdapter>> adapters;
        for (int i = 0; i < 6; ++i)
            adapters.push_back(make_adapter(200 + static_cast<std::uint64_t>(i), config, {{0, 4 + i}, {3, 8}}, dtype,
                                            rng, free_pages, pool));
        lw::cuda::LoraPlan plan(config, dtype, pool.base(), pool.stride(), pool.page_count(), {32, 16, 3});
        Stream stream;
        auto run = [&](const TestStep& step, const std::string& what) {
            plan.prepare(step.batch, stream.s);
            ProjectionCase c(0, {0}, config, step.tokens(), dtype, rng);
            c.apply(plan, stream.s);
            c.check(step, config, dtype, what);
        };
        const auto* A = adapters.data();
        run(TestStep({{2, A[0].get()}, {1, A[1].get()}, {3, A[2].get()}}), "first three");
        run(TestStep({{1, A[3].get()}, {2, A[0].get()}, {1, A[4].get()}}), "two replaced");
        run(TestStep({{1, A[5].get()}, {1, A[1].get()}, {1, A[2].get()}}), "three replaced");
        // Adapter 0 evicted from the pool and placed again elsewhere under the same id.
        auto moved = make_adapter(200, config, {{0, 4}, {3, 8}}, dtype, rng, free_pages, pool);
        run(TestStep({{1, A[5].get()}, {3, moved.get()}}), "moved");
        LW_EXPECT_ERROR(
            plan.prepare(TestStep({{1, A[0].get()}, {1, A[1].get()}, {1, A[2].get()}, {1, A[3].get()}}).batch,
                         stream.s),
            "sequence 3", "max_adapters (3)");
    }

    // A graph captured after one prepare() replays right after another prepare() with
    // other adapters and ranks, as long as the token and sequence counts are the same.
    void capturedGraphFollowsTheTables() {
        const DType dtype = DType::F16;
        std::mt19937 rng(31);
        const lw::ModelConfig config = small_config();
        DevicePool pool(2048, kPageBytes, kPageStride, dtype);
        auto free_pages = shuffled_pages(pool.page_count(), rng);
        std::vector<std::unique_ptr<TestAdapter>> adapters;
        for (int i = 0; i < 8; ++i)
            adapters.push_back(make_adapter(300 + static_cast<std::uint64_t>(i), config,
                                            {{0, 1 + 7 * i}, {1, 2 + i}, {2, 60 - 3 * i}}, dtype, rng, free_pages,
                                            pool));
        lw::cuda::LoraPlan plan(config, dtype, pool.base(), pool.stride(), pool.page_count(), {16, 64, 8});
        Stream stream;
        const auto* A = adapters.data();
        const TestStep first({{1, A[0].get()}, {1, A[1].get()}, {1, A[2].get()}, {1, A[3].get()}});
        const TestStep second({{1, A[4].get()}, {1, nullptr}, {1, A[6].get()}, {1, A[6].get()}});
        ProjectionCase c(1, {0, 1, 2}, config, 4, dtype, rng);

        plan.prepare(first.batch, stream.s);
        cudaGraph_t graph = nullptr;
        lw::cuda::check(cudaStreamBeginCapture(stream.s, cudaStreamCaptureModeThreadLocal), "begin capture");
        c.apply(plan, stream.s);
        lw::cuda::check(cudaStreamEndCapture(stream.s, &graph), "end capture");
        cudaGraphExec_t exec = nullptr;
        lw::cuda::check(cudaGraphInstantiate(&exec, graph, 0), "instantiate");

        plan.prepare(second.batch, stream.s);
        lw::cuda::check(cudaGraphLaunch(exec, stream.s), "graph launch");
        c.check(second, config, dtype, "graph replay");
        // A step without adapters: the replayed launches must find nothing to do.
        const TestStep base_only({{1, nullptr}, {1, nullptr}, {1, nullptr}, {1, nullptr}});
        ProjectionCase untouched(1, {0, 1, 2}, config, 4, dtype, rng);
        lw::cuda::check(cudaMemcpy(c.y_dev->p, untouched.y_dev->p, untouched.y.size() * 2, cudaMemcpyDeviceToDevice),
                        "reset y");
        c.y = untouched.y;
        plan.prepare(base_only.batch, stream.s);
        QVERIFY(!plan.active());
        lw::cuda::check(cudaGraphLaunch(exec, stream.s), "graph launch");
        c.check(base_only, config, dtype, "graph replay without adapters");
        cudaGraphExecDestroy(exec);
        cudaGraphDestroy(graph);
    }

    void refusesWhatDoesNotFit() {
        std::mt19937 rng(8);
        const lw::ModelConfig config = small_config();
        DevicePool pool(512, kPageBytes, kPageStride, DType::F16);
        auto free_pages = shuffled_pages(pool.page_count(), rng);
        auto big = make_adapter(1, config, {{0, 32}}, DType::F16, rng, free_pages, pool);
        auto ok = make_adapter(2, config, {{0, 8}}, DType::F16, rng, free_pages, pool);
        Stream stream;
        LW_EXPECT_ERROR(
            lw::cuda::LoraPlan(config, DType::F32, pool.base(), pool.stride(), pool.page_count(), {8, 8, 2}),
            "F16 or BF16", "F32");
        lw::cuda::LoraPlan plan(config, DType::F16, pool.base(), pool.stride(), pool.page_count(), {8, 16, 2});
        LW_EXPECT_ERROR(plan.prepare(TestStep({{1, ok.get()}, {2, big.get()}}).batch, stream.s), "sequence 1", "id 1",
                        "rank 32", "max_rank");
        LW_EXPECT_ERROR(plan.prepare(TestStep({{5, ok.get()}, {4, nullptr}}).batch, stream.s), "sequence 1", "9 tokens",
                        "max_tokens 8");
        lw::cuda::LoraPlan bf16_plan(config, DType::BF16, pool.base(), pool.stride(), pool.page_count(), {8, 16, 2});
        LW_EXPECT_ERROR(bf16_plan.prepare(TestStep({{1, ok.get()}}).batch, stream.s), "F16", "BF16");

        plan.prepare(TestStep({{1, ok.get()}}).batch, stream.s);
        DeviceArray<std::uint16_t> x(1024), y(1024);
        LW_EXPECT_ERROR(plan.shrink(0, std::vector<int>{3, 6}, x.p, stream.s), "o_proj", "down_proj",
                        "different widths");
        LW_EXPECT_ERROR(plan.expand(0, std::vector<int>{0, 1}, y.p, 128, stream.s), "128", "192");
        LW_EXPECT_ERROR(plan.shrink(2, std::vector<int>{0}, x.p, stream.s), "layer 2");
        LW_EXPECT_ERROR(plan.expand(0, std::vector<int>{0, 1, 2, 3}, y.p, 512, stream.s), "4 modules");
        LW_EXPECT_ERROR(plan.shrink(0, std::vector<int>{7}, x.p, stream.s), "module index 7");
        LW_EXPECT_ERROR(plan.shrink(0, std::vector<int>{0}, reinterpret_cast<const std::byte*>(x.p) + 2, stream.s),
                        "16-byte aligned");
        LW_EXPECT_ERROR(plan.expand(0, std::vector<int>{0}, reinterpret_cast<std::byte*>(y.p) + 2, 128, stream.s),
                        "16-byte aligned");
        lw::cuda::check(cudaStreamSynchronize(stream.s), "no launch went wrong");
    }

    // Speeds printed for the record, on Llama-2-7B shapes in fp16: the decode step the
    // brief asks about (64 tokens of 64 adapters of rank 16, q_proj 4096x4096), a fused
    // q|k|v decode with ranks 8 to 64, and a prefill of 2048 tokens over 8 adapters.
    void kernelTimes() {
        const std::vector<int> q{0}, qkv{0, 1, 2};
        time_case("decode, 64 tokens x 64 adapters of rank 16, q_proj", 64, 1, q, [](int) { return 16; });
        time_case("decode, 64 tokens x 64 adapters of ranks 8-64, q|k|v", 64, 1, qkv,
                  [](int i) { return 8 << (i % 4); });
        time_case("prefill, 2048 tokens x 8 adapters of rank 16, q|k|v", 8, 256, qkv, [](int) { return 16; });
        // The yardstick: a device-to-device copy, counting bytes read and written.
        const std::size_t n = std::size_t(1) << 30;
        DeviceArray<std::byte> from(n), to(n);
        Stream stream;
        const double us = time_us(stream.s, 10, [&] {
            lw::cuda::check(cudaMemcpyAsync(to.p, from.p, n, cudaMemcpyDeviceToDevice, stream.s), "copy");
        });
        qDebug("device copy bandwidth: %.0f GB/s (%s)", 2.0 * n / (us * 1e3), lw::cuda::device_description().c_str());
    }

private:
    // Mean time of `fn`'s device work over `repeats` runs after one warm-up, in microseconds.
    template <class Fn>
    static double time_us(cudaStream_t stream, int repeats, Fn fn) {
        cudaEvent_t start = nullptr, stop = nullptr;
        lw::cuda::check(cudaEventCreate(&start), "event");
        lw::cuda::check(cudaEventCreate(&stop), "event");
        fn();
        lw::cuda::check(cudaEventRecord(start, stream), "record");
        for (int i = 0; i < repeats; ++i) fn();
        lw::cuda::check(cudaEventRecord(stop, stream), "record");
        lw::cuda::check(cudaEventSynchronize(stop), "sync");
        float ms = 0.0f;
        lw::cuda::check(cudaEventElapsedTime(&ms, start, stop), "elapsed");
        cudaEventDestroy(start);
        cudaEventDestroy(stop);
        return 1000.0 * ms / repeats;
    }

    // `adapters` sequences of `tokens` each, sequence i on an adapter of rank rank_of(i)
    // for `modules`; checked once, then timed as the runner replays decode steps: the
    // launches captured in a graph.
    template <class RankOf>
    static void time_case(const char* label, int adapters_count, int tokens, const std::vector<int>& modules,
                          RankOf rank_of) {
        const DType dtype = DType::F16;
        std::mt19937 rng(64);
        lw::ModelConfig config;
        config.hidden_size = 4096;
        config.intermediate_size = 11008;
        config.num_layers = 1;
        config.num_heads = 32;
        config.num_kv_heads = 32;
        config.head_dim = 128;
        DevicePool pool(4096, 65536, 65536, dtype);  // 8 rows of 8 KB a page
        auto free_pages = shuffled_pages(pool.page_count(), rng);
        std::vector<std::unique_ptr<TestAdapter>> adapters;
        std::vector<std::pair<int, const TestAdapter*>> sequences;
        double bytes = 0.0;
        int max_rank = 1;
        for (int i = 0; i < adapters_count; ++i) {
            std::vector<std::pair<int, int>> module_ranks;
            for (int m : modules) module_ranks.emplace_back(m, rank_of(i));
            adapters.push_back(
                make_adapter(500 + static_cast<std::uint64_t>(i), config, module_ranks, dtype, rng, free_pages, pool));
            sequences.emplace_back(tokens, adapters.back().get());
            bytes += static_cast<double>(rank_of(i)) * modules.size() * (4096 + 4096) * 2;
            max_rank = std::max(max_rank, rank_of(i));
        }
        const TestStep step(sequences);
        lw::cuda::LoraPlan plan(config, dtype, pool.base(), pool.stride(), pool.page_count(),
                                {step.tokens(), max_rank, adapters_count});
        Stream stream;
        plan.prepare(step.batch, stream.s);
        ProjectionCase c(0, modules, config, step.tokens(), dtype, rng);
        c.apply(plan, stream.s);
        c.check(step, config, dtype, label);

        const int per_graph = 50;
        cudaGraph_t graph = nullptr;
        cudaGraphExec_t exec = nullptr;
        lw::cuda::check(cudaStreamBeginCapture(stream.s, cudaStreamCaptureModeThreadLocal), "begin capture");
        for (int i = 0; i < per_graph; ++i) c.apply(plan, stream.s);
        lw::cuda::check(cudaStreamEndCapture(stream.s, &graph), "end capture");
        lw::cuda::check(cudaGraphInstantiate(&exec, graph, 0), "instantiate");
        const double us =
            time_us(stream.s, 20, [&] { lw::cuda::check(cudaGraphLaunch(exec, stream.s), "replay"); }) / per_graph;
        qDebug("LoRA %s, fp16: %.2f us per shrink+expand, %.1f MB of adapter rows, %.0f GB/s", label, us, bytes / 1e6,
               bytes / (us * 1e3));
        cudaGraphExecDestroy(exec);
        cudaGraphDestroy(graph);
    }
};

QTEST_APPLESS_MAIN(TestLoraSgmvCuda)
#include "test_lora_sgmv_cuda.moc"
