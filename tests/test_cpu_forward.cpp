// The CPU forward pass against transformers + PEFT (tests/data/forward, made by
// tools/fixtures/make_forward_fixtures.py): every request of a fixture runs in ONE
// batch, base-only and adapted sequences mixed, prefilled whole or in chunks of 3 next
// to other sequences' decode steps, then decoded greedily. Tokens must match, logprobs
// and the last prompt position's log-softmax within 2e-4; a request run alone gets what
// it got in the crowd; malformed batches fail naming the sequence and change nothing.
#include "support/forward_fixture.h"
#include "support/test_support.h"

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/paged_attention.h"
#include "backend/cpu/rope.h"
#include "core/error.h"
#include "memory/page_pool.h"
#include "memory/pooled_adapter.h"
#include "model/lora_adapter.h"
#include "model/model_loader.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <chrono>
#include <map>
#include <optional>
#include <random>
#include <thread>

namespace {

constexpr double kTolerance = 2e-4;
// Small pages: several KV blocks per sequence and adapter modules spread over pages.
constexpr std::size_t kPageBytes = 1024;
constexpr std::size_t kPages = 2048;

using Request = lw::test::ForwardRequest;
using lw::test::log_softmax;

struct Generation {
    std::vector<lw::TokenId> tokens;
    std::vector<double> logprobs;
    std::vector<double> prompt_last_logprobs;
};

// One CPU device and the pool that accounts for its pages, shared by the models on it.
struct Device {
    lw::CpuBackend backend{kPages, kPageBytes, 2};
    lw::PagePool pool{kPages, kPageBytes};
    std::uint64_t next_owner = 1;  // page owner ids, unique across the models
};

// A model (tests/data/<model>: an HF folder or a GGUF file) on a device, with its
// adapters uploaded into pool pages.
class Engine {
public:
    Engine(const std::string& model, Device& device)
        : model_(lw::load_model(lw::test::data_path(model))),
          device_(device),
          backend_(device.backend),
          pool_(device.pool),
          runner_(backend_.load_model(model_.config, model_.weights)) {}

    ~Engine() {
        for (const auto& [name, pooled] : pooled_) pool_.release(pooled.pages, {lw::PageUse::Adapter, pooled.id});
    }

    const lw::PooledAdapter* adapter(const std::optional<std::string>& name) {
        if (!name) return nullptr;
        if (auto it = pooled_.find(*name); it != pooled_.end()) return &it->second;
        return &pooled_.emplace(*name, upload(lw::load_lora_adapter(lw::test::data_path("peft/" + *name))))
                    .first->second;
    }

    lw::PooledAdapter upload(const lw::LoraAdapter& a) {
        adapters_.push_back(a);  // the pooled rows were copied, but keep the source as a loader would
        const std::uint64_t id = device_.next_owner++;
        const auto pages =
            pool_.allocate(lw::adapter_pages_needed(a, kPageBytes, backend_.pool_dtype()), {lw::PageUse::Adapter, id});
        if (!pages) lw::fail("test pool too small for adapter ", a.name);
        return lw::upload_adapter(a, id, *pages, model_.config.num_layers, backend_.pool_dtype(), backend_);
    }

    lw::KvBlockTable kv_table(std::uint64_t sequence, std::size_t positions) {
        lw::KvBlockTable table;
        table.pages = *pool_.allocate(runner_->kv_layout().pages_for(positions), {lw::PageUse::KvCache, sequence});
        return table;
    }
    void release(const lw::KvBlockTable& table, std::uint64_t sequence) {
        pool_.release(table.pages, {lw::PageUse::KvCache, sequence});
    }

    // Generates every request greedily in one batch. Each step every unfinished request
    // brings its next prompt chunk (at most `chunk` tokens; 0: the whole prompt) or its
    // newest token, so chunked prefills share steps with other requests' decodes.
    std::vector<Generation> generate(const std::vector<Request>& requests, std::size_t chunk) {
        const std::size_t n = requests.size();
        std::vector<Generation> out(n);
        std::vector<lw::KvBlockTable> tables;
        std::vector<std::uint64_t> owners;
        for (const Request& r : requests) {
            owners.push_back(device_.next_owner++);
            tables.push_back(kv_table(owners.back(), r.prompt.size() + r.tokens.size()));
        }
        std::vector<std::size_t> prefilled(n, 0);
        const int vocab = model_.config.vocab_size;
        while (true) {
            lw::StepBatch batch;
            std::vector<std::size_t> who;
            for (std::size_t i = 0; i < n; ++i) {
                const Request& r = requests[i];
                if (out[i].tokens.size() == r.tokens.size()) continue;
                lw::StepSequence s;
                s.kv = &tables[i];
                s.position = tables[i].tokens;
                s.adapter = adapter(r.adapter);
                if (prefilled[i] < r.prompt.size()) {
                    const std::size_t take =
                        chunk ? std::min(chunk, r.prompt.size() - prefilled[i]) : r.prompt.size() - prefilled[i];
                    s.tokens = std::span(r.prompt).subspan(prefilled[i], take);
                    prefilled[i] += take;
                    s.wants_logits = prefilled[i] == r.prompt.size();
                } else {
                    s.tokens = std::span(out[i].tokens).last(1);
                    s.wants_logits = true;
                }
                batch.sequences.push_back(s);
                if (s.wants_logits) who.push_back(i);
            }
            if (batch.sequences.empty()) break;
            std::vector<float> logits(who.size() * std::size_t(vocab));
            runner_->forward(batch, logits);
            for (std::size_t k = 0; k < who.size(); ++k) {
                Generation& g = out[who[k]];
                const auto lp = log_softmax(std::span(logits).subspan(k * std::size_t(vocab), std::size_t(vocab)));
                if (g.tokens.empty()) g.prompt_last_logprobs = lp;
                const auto best = std::max_element(lp.begin(), lp.end()) - lp.begin();
                g.tokens.push_back(lw::TokenId(best));
                g.logprobs.push_back(lp[std::size_t(best)]);
            }
        }
        for (std::size_t i = 0; i < n; ++i) release(tables[i], owners[i]);
        pool_.check_invariants();
        return out;
    }

    const lw::ModelConfig& config() const { return model_.config; }
    lw::ModelRunner& runner() { return *runner_; }

private:
    lw::LoadedModel model_;
    Device& device_;
    lw::CpuBackend& backend_;
    lw::PagePool& pool_;
    std::unique_ptr<lw::ModelRunner> runner_;
    std::vector<lw::LoraAdapter> adapters_;
    std::map<std::string, lw::PooledAdapter> pooled_;
};

std::string label(std::size_t i, const Request& r) {
    return lw::cat("request ", i, " (", r.adapter.value_or("base"), ")");
}

// Fails unless every request got the fixture's tokens and its logprobs and last-prompt
// log-softmax within kTolerance; prints the largest errors.
void expect_fixture(const std::string& model, const std::vector<Request>& requests,
                    const std::vector<Generation>& got) {
    double worst_logprob = 0, worst_prompt = 0;
    for (std::size_t i = 0; i < requests.size(); ++i) {
        const Request& want = requests[i];
        QVERIFY2(got[i].tokens == want.tokens, label(i, want).c_str());
        for (std::size_t k = 0; k < want.logprobs.size(); ++k)
            worst_logprob = std::max(worst_logprob, std::abs(got[i].logprobs[k] - want.logprobs[k]));
        QCOMPARE(got[i].prompt_last_logprobs.size(), want.prompt_last_logprobs.size());
        for (std::size_t k = 0; k < want.prompt_last_logprobs.size(); ++k)
            worst_prompt =
                std::max(worst_prompt, std::abs(got[i].prompt_last_logprobs[k] - want.prompt_last_logprobs[k]));
    }
    qInfo("%s: max |logprob error| %.3g over generated tokens, %.3g over the last prompt position's log-softmax",
          model.c_str(), worst_logprob, worst_prompt);
    QVERIFY(worst_logprob <= kTolerance);
    QVERIFY(worst_prompt <= kTolerance);
}

}  // namespace

class TestCpuForward : public QObject {
    Q_OBJECT
private slots:
    void batchMatchesTransformers_data() {
        QTest::addColumn<QString>("model");
        QTest::addColumn<int>("chunk");
        for (const char* model : {"tiny_llama", "tiny_qwen2", "tiny_mistral"}) {
            QTest::addRow("%s whole prompts", model) << model << 0;
            QTest::addRow("%s chunks of 3", model) << model << 3;
        }
    }
    void batchMatchesTransformers() {
        QFETCH(QString, model);
        QFETCH(int, chunk);
        const auto requests = lw::test::read_forward_fixture(model.toStdString());
        Device device;
        Engine engine("models/" + model.toStdString(), device);
        expect_fixture(model.toStdString(), requests, engine.generate(requests, std::size_t(chunk)));
    }

    void modelsShareOneDevice() {
        // Two bases on one backend and one pool: each keeps its adapters' pages while
        // the other runs, and both still match their fixtures.
        Device device;
        Engine llama("models/tiny_llama", device), qwen2("models/tiny_qwen2", device);
        const auto llama_requests = lw::test::read_forward_fixture("tiny_llama"),
                   qwen2_requests = lw::test::read_forward_fixture("tiny_qwen2");
        expect_fixture("tiny_llama", llama_requests, llama.generate(llama_requests, 3));
        if (QTest::currentTestFailed()) return;
        const std::size_t adapter_pages = device.pool.used_by(lw::PageUse::Adapter);
        QVERIFY(adapter_pages > 0);
        expect_fixture("tiny_qwen2", qwen2_requests, qwen2.generate(qwen2_requests, 0));
        if (QTest::currentTestFailed()) return;
        expect_fixture("tiny_llama", llama_requests, llama.generate(llama_requests, 0));
        QCOMPARE(device.pool.used_by(lw::PageUse::Adapter), adapter_pages);
        QCOMPARE(device.pool.used_by(lw::PageUse::KvCache), std::size_t{0});
    }

    void ggufTwinsFollowTheFixtures() {
        // The Qwen2 twin holds the HF weights unchanged: it must match like the HF folder.
        const auto qwen2_requests = lw::test::read_forward_fixture("tiny_qwen2");
        Device device;
        Engine qwen2("gguf/tiny_qwen2_twin.gguf", device);
        expect_fixture("tiny_qwen2_twin.gguf", qwen2_requests, qwen2.generate(qwen2_requests, 3));
        if (QTest::currentTestFailed()) return;

        // The Llama twin is partly quantized (Q4_1, Q8_0, ...) and carries llama3 scaling as
        // rope_freqs, with Q/K put back in HF order, so that the HF adapters apply: its
        // last-prompt log-softmax stays within quantization error of the fixture for
        // every request. Greedy continuations may part where quantization tips a choice.
        const auto llama_requests = lw::test::read_forward_fixture("tiny_llama");
        Engine llama("gguf/tiny_llama_twin.gguf", device);
        const auto got = llama.generate(llama_requests, 3);
        double worst = 0;
        for (std::size_t i = 0; i < llama_requests.size(); ++i) {
            QCOMPARE(got[i].tokens[0], llama_requests[i].tokens[0]);
            for (std::size_t k = 0; k < got[i].prompt_last_logprobs.size(); ++k)
                worst = std::max(worst,
                                 std::abs(got[i].prompt_last_logprobs[k] - llama_requests[i].prompt_last_logprobs[k]));
        }
        qInfo("tiny_llama_twin.gguf: max |last-prompt log-softmax error| %.3g", worst);
        QVERIFY(worst < 0.05);
    }

    void aloneMatchesCrowd_data() {
        QTest::addColumn<QString>("model");
        for (const char* model : {"tiny_llama", "tiny_qwen2", "tiny_mistral"}) QTest::addRow("%s", model) << model;
    }
    void aloneMatchesCrowd() {
        QFETCH(QString, model);
        const auto requests = lw::test::read_forward_fixture(model.toStdString());
        Device device;
        Engine engine("models/" + model.toStdString(), device);
        const auto crowd = engine.generate(requests, 3);
        for (std::size_t i = 0; i < requests.size(); ++i) {
            const auto alone = engine.generate({requests[i]}, 0)[0];
            const std::string who = label(i, requests[i]);
            QVERIFY2(alone.tokens == crowd[i].tokens, who.c_str());
            for (std::size_t k = 0; k < alone.logprobs.size(); ++k)
                QVERIFY2(std::abs(alone.logprobs[k] - crowd[i].logprobs[k]) < 1e-5, who.c_str());
        }
    }

    void malformedBatchesNameTheSequenceAndChangeNothing() {
        Device device;
        Engine engine("models/tiny_llama", device);
        const int vocab = engine.config().vocab_size;
        const std::vector<lw::TokenId> good{5, 6, 7}, bad{5, vocab, 7};
        lw::KvBlockTable ok = engine.kv_table(1, 3), other = engine.kv_table(2, 3), short_table = engine.kv_table(3, 1);
        std::vector<float> logits(2 * std::size_t(vocab));
        auto batch_of = [&](lw::StepSequence second) {
            lw::StepBatch b;
            b.sequences.push_back({good, 0, &ok, nullptr, true});
            b.sequences.push_back(second);
            return b;
        };
        LW_EXPECT_ERROR(engine.runner().forward(batch_of({bad, 0, &other, nullptr, true}), logits), "sequence 1",
                        "token 320", "vocabulary");
        // With 1 KB pages a block holds 4 positions: a table for one position is too short for five.
        const std::vector<lw::TokenId> five{1, 2, 3, 4, 5};
        LW_EXPECT_ERROR(engine.runner().forward(batch_of({five, 0, &short_table, nullptr, true}), logits), "sequence 1",
                        "KV block table has");
        LW_EXPECT_ERROR(engine.runner().forward(batch_of({good, 2, &other, nullptr, true}), logits), "sequence 1",
                        "position 2");
        LW_EXPECT_ERROR(engine.runner().forward(batch_of({good, 0, &ok, nullptr, true}), logits), "sequence 1",
                        "shares");
        LW_EXPECT_ERROR(engine.runner().forward(batch_of({good, 0, &other, nullptr, false}), logits), "logits");
        LW_EXPECT_ERROR(engine.runner().forward(batch_of({{}, 0, &other, nullptr, true}), logits), "sequence 1",
                        "no tokens");

        // An adapter uploaded for another model (tiny_mistral: 2 layers, v_proj of 16 outputs).
        Engine mistral("models/tiny_mistral", device);
        auto foreign = engine.upload(lw::load_lora_adapter(lw::test::data_path("peft/qv_r8")));
        lw::KvBlockTable mistral_kv = mistral.kv_table(4, 3);
        lw::StepBatch b;
        b.sequences.push_back({good, 0, &mistral_kv, &foreign, true});
        std::vector<float> one(static_cast<std::size_t>(vocab));
        LW_EXPECT_ERROR(mistral.runner().forward(b, one), "sequence 0", "another model", "3 layers");
        foreign.lookup.resize(std::size_t(mistral.config().num_layers));
        LW_EXPECT_ERROR(mistral.runner().forward(b, one), "sequence 0", "another model", "v_proj");

        QCOMPARE(ok.tokens, 0);
        QCOMPARE(other.tokens, 0);
        QCOMPARE(mistral_kv.tokens, 0);
        // An empty batch does nothing; the same batch, well formed, runs and advances both caches.
        engine.runner().forward({}, {});
        engine.runner().forward(batch_of({good, 0, &other, nullptr, true}), logits);
        QCOMPARE(ok.tokens, 3);
        QCOMPARE(other.tokens, 3);
        QVERIFY(std::all_of(logits.begin(), logits.end(), [](float v) { return std::isfinite(v); }));
        device.pool.release(foreign.pages, {lw::PageUse::Adapter, foreign.id});
        engine.release(ok, 1);
        engine.release(other, 2);
        engine.release(short_table, 3);
        mistral.release(mistral_kv, 4);
        device.pool.check_invariants();
        QCOMPARE(device.pool.free_count(), kPages);
    }

    void backendPagesAreAlignedAndBounded() {
        lw::CpuBackend backend(4, 100, 1);
        for (lw::PageId p = 0; p < 4; ++p) QCOMPARE(reinterpret_cast<std::uintptr_t>(backend.page_data(p)) % 64, 0u);
        const std::vector<std::byte> bytes(40, std::byte{7});
        backend.write_page(3, 60, bytes);
        std::vector<std::byte> back(40);
        backend.read_page(3, 60, back);
        QVERIFY(back == bytes);
        LW_EXPECT_ERROR(backend.write_page(3, 61, bytes), "page 3", "overruns");
        LW_EXPECT_ERROR(backend.read_page(4, 0, back), "page 4");
    }

    void threadPoolVisitsEveryIndexOnce() {
        lw::ThreadPool threads(3);
        QCOMPARE(threads.size(), 3);
        for (std::size_t n : {0, 1, 2, 7, 1000}) {
            for (int round = 0; round < 20; ++round) {
                std::vector<std::atomic<int>> visits(n);
                threads.parallel_for(n, [&](std::size_t i) { ++visits[i]; });
                QVERIFY(std::all_of(visits.begin(), visits.end(), [](const auto& v) { return v == 1; }));
            }
        }
    }

    void threadPoolJobsNeverRunPastTheirCall() {
        // Thousands of tiny jobs back to back (workers spinning), then jobs after a pause
        // (workers asleep): every item runs once, inside its own call, never after it returned.
        lw::ThreadPool threads(4);
        std::vector<std::vector<std::atomic<int>>> visits;
        for (int job = 0; job < 5000; ++job) visits.emplace_back(std::size_t(2 + job % 5));
        for (int job = 0; job < 5000; ++job) {
            auto& mine = visits[std::size_t(job)];
            threads.parallel_for(mine.size(), [&](std::size_t i) { ++mine[i]; });
            QVERIFY(std::all_of(mine.begin(), mine.end(), [](const auto& v) { return v == 1; }));
            if (job % 1000 == 999) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        for (const auto& job : visits)
            QVERIFY(std::all_of(job.begin(), job.end(), [](const auto& v) { return v == 1; }));
    }

    void pagedAttentionMatchesANaiveSoftmax_data() {
        QTest::addColumn<int>("window");
        QTest::addRow("full context") << 0;
        QTest::addRow("sliding window of 4") << 4;
    }
    void pagedAttentionMatchesANaiveSoftmax() {
        // Two sequences (11 and 7 positions) in blocks of 3 positions on scattered pages,
        // 6 query heads sharing 2 KV heads; layer 1 of 2.
        QFETCH(int, window);
        lw::ModelConfig c;
        c.num_layers = 2;
        c.num_heads = 6;
        c.num_kv_heads = 2;
        c.head_dim = 8;
        const int kv_dim = c.kv_dim(), q_dim = c.q_dim(), layer = 1;
        const lw::KvLayout layout = lw::make_kv_layout(c, 384, lw::DType::F32);
        QCOMPARE(layout.block_tokens, 3);
        lw::CpuBackend backend(64, 384, 3);
        const std::vector<int> lengths{11, 7};
        std::vector<lw::KvBlockTable> tables(2);
        lw::PageId next = 63;
        for (std::size_t s = 0; s < 2; ++s)
            for (std::size_t p = 0; p < layout.pages_for(std::size_t(lengths[s])); ++p)
                tables[s].pages.push_back(next--);
        std::vector<lw::PagedKv> caches;
        for (const auto& t : tables) caches.emplace_back(layout, t, backend);
        std::vector<lw::AttentionToken> tokens;
        for (std::size_t s = 0; s < 2; ++s)
            for (int p = 0; p < lengths[s]; ++p) tokens.push_back({&caches[s], p});

        std::mt19937 rng(7);
        std::normal_distribution<float> normal;
        auto random = [&](std::size_t n) {
            std::vector<float> v(n);
            for (float& x : v) x = normal(rng);
            return v;
        };
        const auto k = random(tokens.size() * std::size_t(kv_dim)), v = random(tokens.size() * std::size_t(kv_dim));
        const auto q = random(tokens.size() * std::size_t(q_dim));
        lw::write_kv(tokens, layer, k.data(), v.data(), kv_dim);
        std::vector<float> out(q.size());
        const lw::AttentionShape shape{c.num_heads, c.num_kv_heads, c.head_dim,
                                       window ? std::optional<int>(window) : std::nullopt};
        lw::paged_attention(shape, tokens, layer, q.data(), out.data(), backend.threads());

        double worst = 0;
        std::size_t first_of_sequence = 0;
        for (std::size_t t = 0; t < tokens.size(); ++t) {
            if (t > 0 && tokens[t].kv != tokens[t - 1].kv) first_of_sequence = t;
            const int p = tokens[t].position;
            const int from = window ? std::max(0, p - window + 1) : 0;
            for (int h = 0; h < c.num_heads; ++h) {
                const int kvh = h / 3;
                const float* qh = &q[t * std::size_t(q_dim) + std::size_t(h * c.head_dim)];
                std::vector<double> weights;
                for (int j = from; j <= p; ++j) {
                    const float* kj =
                        &k[(first_of_sequence + std::size_t(j)) * std::size_t(kv_dim) + std::size_t(kvh * c.head_dim)];
                    double dot = 0;
                    for (int d = 0; d < c.head_dim; ++d) dot += double(qh[d]) * kj[d];
                    weights.push_back(dot / std::sqrt(double(c.head_dim)));
                }
                const double peak = *std::max_element(weights.begin(), weights.end());
                double sum = 0;
                for (double& w : weights) sum += (w = std::exp(w - peak));
                for (int d = 0; d < c.head_dim; ++d) {
                    double want = 0;
                    for (int j = from; j <= p; ++j)
                        want += weights[std::size_t(j - from)] / sum *
                                v[(first_of_sequence + std::size_t(j)) * std::size_t(kv_dim) +
                                  std::size_t(kvh * c.head_dim + d)];
                    worst =
                        std::max(worst, std::abs(want - out[t * std::size_t(q_dim) + std::size_t(h * c.head_dim + d)]));
                }
            }
        }
        QVERIFY2(worst < 1e-5, qPrintable(QString::number(worst)));
    }

    void ropeScalingAndFrequencyFactors() {
        lw::ModelConfig c;
        c.head_dim = 8;
        c.rope_theta = 10000.0f;
        const lw::Rope plain(c);
        QCOMPARE(plain.inv_freq().size(), std::size_t{4});
        QCOMPARE(plain.inv_freq()[0], 1.0f);
        QVERIFY(std::abs(plain.inv_freq()[2] - 0.01f) < 1e-7f);  // 10000^(-4/8)

        // Linear scaling by 4: position 8 turns a vector as far as position 2 unscaled.
        c.rope_scaling.type = lw::RopeScaling::Type::Linear;
        c.rope_scaling.factor = 4.0f;
        const lw::Rope linear(c);
        std::vector<float> a{1, 2, 3, 4, 5, 6, 7, 8}, b = a;
        linear.apply(a.data(), 1, 8);
        plain.apply(b.data(), 1, 2);
        for (std::size_t i = 0; i < a.size(); ++i) QVERIFY(std::abs(a[i] - b[i]) < 1e-5f);
        // Rotate-half pairs dimension i with i + 4: at position 1 the first pair turns by 1 radian.
        std::vector<float> unit{1, 0, 0, 0, 0, 0, 0, 0};
        plain.apply(unit.data(), 1, 1);
        QVERIFY(std::abs(unit[0] - std::cos(1.0f)) < 1e-6f && std::abs(unit[4] - std::sin(1.0f)) < 1e-6f);

        // GGUF's per-frequency divisors.
        c.rope_scaling = {};
        c.rope_freq_factors = {1, 2, 4, 8};
        const lw::Rope factors(c);
        for (std::size_t i = 0; i < 4; ++i)
            QVERIFY(std::abs(factors.inv_freq()[i] - plain.inv_freq()[i] / c.rope_freq_factors[i]) < 1e-9f);
        c.rope_freq_factors = {1, 2};
        LW_EXPECT_ERROR(lw::Rope{c}, "frequency factors");
    }

    void ggufFrequencyFactorsEqualLlama3Scaling() {
        // The GGUF twin of tiny_llama carries llama3 scaling precomputed as rope_freqs.
        const auto hf = lw::load_model(lw::test::data_path("models/tiny_llama"));
        const auto gguf = lw::load_model(lw::test::data_path("gguf/tiny_llama_twin.gguf"));
        QCOMPARE(hf.config.rope_scaling.type, lw::RopeScaling::Type::Llama3);
        QCOMPARE(gguf.config.rope_scaling.type, lw::RopeScaling::Type::None);
        const lw::Rope from_hf(hf.config), from_gguf(gguf.config);
        QCOMPARE(from_gguf.inv_freq().size(), from_hf.inv_freq().size());
        for (std::size_t i = 0; i < from_hf.inv_freq().size(); ++i)
            QVERIFY(std::abs(from_gguf.inv_freq()[i] - from_hf.inv_freq()[i]) <= 1e-5f * from_hf.inv_freq()[i]);
    }
};

QTEST_GUILESS_MAIN(TestCpuForward)
#include "test_cpu_forward.moc"
