// GPU sampling against runtime/sampler.cpp's rules: greedy equals the CPU's argmax
// (lowest id on ties) and its logprob within 1e-4; top-k, top-p and min-p never choose
// a token the CPU's filters exclude; a seeded draw depends only on (seed, step, logits),
// not on the batch around it; and temperature draws follow softmax(logits / T) (a
// chi-square test on 40000 draws, at a threshold a correct sampler exceeds about once
// in 10^5 runs).
#include "support/test_support.h"

#include "cuda_test_support.h"
#include "runtime/sampler.h"
#include "sampling.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <set>

using namespace lw;
using namespace lw::test;

namespace {

struct Draws {
    std::vector<int> tokens;
    std::vector<float> logprobs;
};

// Samples every row of `logits` ([rows][vocab]) with its settings.
Draws sample(const std::vector<float>& logits, int vocab, const std::vector<cuda::SamplingSettings>& settings) {
    const int rows = static_cast<int>(settings.size());
    DeviceArray<float> dlogits(logits), dlogprobs(settings.size());
    DeviceArray<cuda::SamplingSettings> dsettings(settings);
    DeviceArray<int> dtokens(settings.size());
    cuda::sample_tokens(dlogits.get(), rows, vocab, dsettings.get(), dtokens.get(), dlogprobs.get(), nullptr);
    return {dtokens.download(), dlogprobs.download()};
}

// The same logits row for each of `settings`.
std::vector<float> repeat(const std::vector<float>& row, std::size_t times) {
    std::vector<float> out;
    for (std::size_t i = 0; i < times; ++i) out.insert(out.end(), row.begin(), row.end());
    return out;
}

std::vector<float> random_logits(int vocab, std::mt19937& rng, float scale = 4.0f) {
    std::normal_distribution<float> dist(0.0f, scale);
    std::vector<float> x(static_cast<std::size_t>(vocab));
    for (auto& v : x) v = dist(rng);
    return x;
}

// Tokens in the CPU sampler's order: most likely first, ties to the lower id.
std::vector<int> ranked(const std::vector<float>& x) {
    std::vector<int> ids(x.size());
    std::iota(ids.begin(), ids.end(), 0);
    std::stable_sort(ids.begin(), ids.end(), [&](int a, int b) { return x[a] > x[b]; });
    return ids;
}

std::vector<cuda::SamplingSettings> steps(cuda::SamplingSettings base, int count) {
    std::vector<cuda::SamplingSettings> out;
    for (int i = 0; i < count; ++i) {
        base.step = static_cast<std::uint64_t>(i);
        out.push_back(base);
    }
    return out;
}

}  // namespace

class TestSamplingCuda : public QObject {
    Q_OBJECT
private slots:
    void rejectsBadInput() {
        LW_EXPECT_ERROR(cuda::sample_tokens(nullptr, 1, 0, nullptr, nullptr, nullptr, nullptr), "sample_tokens",
                        "vocabulary of 0");
        LW_EXPECT_ERROR(cuda::sample_tokens(nullptr, 2, 10, nullptr, nullptr, nullptr, nullptr), "sample_tokens",
                        "required");
    }

    void greedyIsTheCpuArgmax() {
        LW_REQUIRE_GPU();
        std::mt19937 rng(1);
        for (int vocab : {1, 7, 32000, 128256}) {
            std::vector<float> logits;
            std::vector<cuda::SamplingSettings> settings;
            for (int row = 0; row < 6; ++row) {
                auto x = random_logits(vocab, rng);
                if (vocab > 100) {  // a tie for the maximum: the lower id wins
                    const int a = static_cast<int>(rng() % static_cast<unsigned>(vocab));
                    const int b = static_cast<int>(rng() % static_cast<unsigned>(vocab));
                    x[a] = x[b] = 100.0f + row;
                }
                if (row == 5)
                    for (int i = 0; i < vocab / 2; ++i) x[i] = -std::numeric_limits<float>::infinity();
                logits.insert(logits.end(), x.begin(), x.end());
                cuda::SamplingSettings s;
                s.temperature = row == 3 ? 0.7f : 0.0f;
                s.top_k = row == 3 ? 1 : 0;  // top-k 1 is greedy too
                settings.push_back(s);
            }
            const Draws d = sample(logits, vocab, settings);
            for (int row = 0; row < 6; ++row) {
                const std::span<const float> x(logits.data() + static_cast<std::size_t>(row) * vocab, vocab);
                SamplingParams p;
                p.temperature = 0.0f;
                const SampledToken cpu = Sampler(p, 0).sample(x, TokenHistory{});
                QCOMPARE(d.tokens[row], cpu.token);
                QVERIFY2(std::abs(d.logprobs[row] - cpu.logprob) <= 1e-4f,
                         qPrintable(QString("vocab %1 row %2: logprob %3 vs %4")
                                        .arg(vocab)
                                        .arg(row)
                                        .arg(d.logprobs[row])
                                        .arg(cpu.logprob)));
            }
        }
    }

    void noTokenToChooseGivesMinusOne() {
        LW_REQUIRE_GPU();
        const std::vector<float> x(50, -std::numeric_limits<float>::infinity());
        for (float t : {0.0f, 1.0f}) {
            cuda::SamplingSettings s;
            s.temperature = t;
            QCOMPARE(sample(x, 50, {s}).tokens[0], -1);
        }
        // Settings the host would reject keep nothing: -1 and a NaN logprob, no read out of bounds.
        cuda::SamplingSettings s;
        s.top_p = 0.0f;
        const Draws d = sample(std::vector<float>{1.0f, 2.0f, 3.0f}, 3, {s});
        QCOMPARE(d.tokens[0], -1);
        QVERIFY(std::isnan(d.logprobs[0]));
    }

    void filtersNeverChooseExcludedTokens() {
        LW_REQUIRE_GPU();
        std::mt19937 rng(3);
        const int vocab = 5000, draws = 3000;
        for (int trial = 0; trial < 4; ++trial) {
            auto x = random_logits(vocab, rng, 1.0f);
            const std::vector<int> order = ranked(x);
            if (trial == 1)  // ties across the top-k boundary: only the lowest ids of the tie may be kept
                for (int r = 3; r < 9; ++r) x[order[r]] = x[order[3]];
            const std::vector<int> tied_order = ranked(x);

            cuda::SamplingSettings s;
            s.temperature = 1.5f;
            s.seed = 100 + trial;
            s.top_k = 6;
            std::set<int> allowed(tied_order.begin(), tied_order.begin() + 6);
            check_within(x, vocab, steps(s, draws), allowed, "top-k 6, trial " + std::to_string(trial));

            // top-p 0.5 of a distribution: the smallest most-likely prefix reaching half the mass.
            s.top_k = 0;
            s.top_p = 0.5f;
            s.temperature = 0.5f;
            const float peak = x[tied_order[0]];
            double total = 0.0;
            for (float v : x) total += std::exp((v - peak) / s.temperature);
            std::set<int> nucleus;
            double cumulative = 0.0;
            for (int id : tied_order) {
                if (cumulative >= s.top_p * total) break;
                cumulative += std::exp((x[id] - peak) / s.temperature);
                nucleus.insert(id);
            }
            check_within(x, vocab, steps(s, draws), nucleus, "top-p 0.5, trial " + std::to_string(trial));

            // min-p 0.3 with top-k 50 and top-p 0.9.
            s.top_k = 50;
            s.top_p = 0.9f;
            s.min_p = 0.3f;
            s.temperature = 1.0f;
            std::set<int> kept;
            for (int i = 0; i < 50; ++i)
                if (std::exp(x[tied_order[i]] - peak) >= 0.3) kept.insert(tied_order[i]);
            check_within(x, vocab, steps(s, draws), kept, "min-p 0.3, trial " + std::to_string(trial));
        }
    }

    void seededDrawsDoNotDependOnTheBatch() {
        LW_REQUIRE_GPU();
        std::mt19937 rng(4);
        const int vocab = 1000;
        const auto mine = random_logits(vocab, rng, 1.0f);
        cuda::SamplingSettings s;
        s.temperature = 1.0f;
        s.top_p = 0.95f;
        s.seed = 0xfeedbeefcafeULL;
        std::vector<int> alone;
        for (int step = 0; step < 20; ++step) {
            s.step = static_cast<std::uint64_t>(step);
            alone.push_back(sample(mine, vocab, {s}).tokens[0]);
        }
        QVERIFY2(std::set<int>(alone.begin(), alone.end()).size() > 5, "successive steps should draw different tokens");
        // The same request at row 3 of a batch of others.
        for (int step = 0; step < 20; ++step) {
            std::vector<float> logits;
            std::vector<cuda::SamplingSettings> settings;
            for (int row = 0; row < 6; ++row) {
                const auto x = row == 3 ? mine : random_logits(vocab, rng);
                logits.insert(logits.end(), x.begin(), x.end());
                cuda::SamplingSettings other;
                other.seed = rng();
                other.top_k = 20;
                settings.push_back(row == 3 ? s : other);
                settings.back().step = static_cast<std::uint64_t>(row == 3 ? step : rng() % 100);
            }
            QCOMPARE(sample(logits, vocab, settings).tokens[3], alone[static_cast<std::size_t>(step)]);
        }
    }

    void temperatureDrawsFollowTheSoftmax() {
        LW_REQUIRE_GPU();
        const std::vector<float> x{1.0f, 0.5f, -0.3f, 2.0f, 0.0f, 1.2f, -1.0f, 0.8f};
        const int vocab = 8, draws = 40000;
        struct Setting {
            float temperature;
            int top_k;
            float top_p;
        };
        for (const Setting& setting : {Setting{0.7f, 0, 1.0f}, Setting{1.3f, 5, 1.0f}, Setting{1.0f, 0, 0.8f}}) {
            cuda::SamplingSettings s;
            s.temperature = setting.temperature;
            s.top_k = setting.top_k;
            s.top_p = setting.top_p;
            s.seed = 42;
            const Draws d = sample(repeat(x, draws), vocab, steps(s, draws));
            // Expected frequencies: the CPU's candidate rules, then softmax(x / T) over them.
            const std::vector<int> order = ranked(x);
            std::vector<double> weight(vocab, 0.0);
            const int k = setting.top_k > 0 ? setting.top_k : vocab;
            double total = 0.0;
            for (int r = 0; r < k; ++r) total += std::exp((x[order[r]] - x[order[0]]) / s.temperature);
            double cumulative = 0.0;
            for (int r = 0; r < k && cumulative < setting.top_p * total; ++r) {
                weight[order[r]] = std::exp((x[order[r]] - x[order[0]]) / s.temperature);
                cumulative += weight[order[r]];
            }
            std::vector<int> counts(vocab, 0);
            for (int t : d.tokens) {
                QVERIFY(t >= 0 && t < vocab);
                QVERIFY2(weight[t] > 0.0, qPrintable(QString("token %1 was excluded").arg(t)));
                ++counts[t];
            }
            double chi2 = 0.0;
            int dof = -1;
            for (int t = 0; t < vocab; ++t) {
                if (weight[t] == 0.0) continue;
                const double expected = draws * weight[t] / cumulative;
                chi2 += (counts[t] - expected) * (counts[t] - expected) / expected;
                ++dof;
            }
            // The 1 - 1e-5 quantile of chi-square with up to 7 degrees of freedom is below 37.
            qInfo("T %.1f top-k %d top-p %.1f: chi2 %.2f with %d degrees of freedom", setting.temperature,
                  setting.top_k, setting.top_p, chi2, dof);
            QVERIFY2(chi2 < 37.0, qPrintable(QString("chi2 %1 with %2 dof").arg(chi2).arg(dof)));
        }
    }

private:
    void check_within(const std::vector<float>& x, int vocab, const std::vector<cuda::SamplingSettings>& settings,
                      const std::set<int>& allowed, const std::string& what) {
        const Draws d = sample(repeat(x, settings.size()), vocab, settings);
        std::set<int> seen;
        for (int t : d.tokens) {
            if (!allowed.contains(t))
                QFAIL(qPrintable(QString::fromStdString(what + ": chose excluded token " + std::to_string(t))));
            seen.insert(t);
        }
        qInfo("%s: %zu of %zu allowed tokens drawn", what.c_str(), seen.size(), allowed.size());
        QVERIFY2(seen.size() > 1 || allowed.size() == 1, qPrintable(QString::fromStdString(what + ": one token only")));
    }
};

QTEST_APPLESS_MAIN(TestSamplingCuda)
#include "test_sampling_cuda.moc"
