// The sampler: each parameter changes the choice the way vLLM / transformers define
// it, seeded streams repeat, and log-probabilities are those of the raw logits.
#include "support/test_support.h"

#include "core/error.h"
#include "runtime/sampler.h"

#include <cmath>
#include <map>
#include <vector>

namespace {

std::vector<float> log_softmax(const std::vector<float>& x) {
    double peak = *std::max_element(x.begin(), x.end()), sum = 0;
    for (float v : x) sum += std::exp(v - peak);
    std::vector<float> out;
    for (float v : x) out.push_back(static_cast<float>(v - peak - std::log(sum)));
    return out;
}

lw::SamplingParams greedy() {
    lw::SamplingParams p;
    p.temperature = 0;
    return p;
}

std::map<lw::TokenId, int> histogram(lw::Sampler& s, const std::vector<float>& logits, int draws) {
    std::map<lw::TokenId, int> counts;
    lw::TokenHistory h;
    for (int i = 0; i < draws; ++i) ++counts[s.sample(logits, h).token];
    return counts;
}

}  // namespace

class TestSampler : public QObject {
    Q_OBJECT
private slots:
    void greedyTakesTheArgmaxAndReportsRawLogprobs() {
        const std::vector<float> logits{0.5f, 3.0f, -1.0f, 2.9f};
        auto p = greedy();
        p.top_logprobs = 3;
        lw::Sampler s(p, 1);
        const auto r = s.sample(logits, {});
        QCOMPARE(r.token, 1);
        const auto ref = log_softmax(logits);
        QVERIFY(std::abs(r.logprob - ref[1]) < 1e-6f);
        QCOMPARE(int(r.top.size()), 3);
        QCOMPARE(r.top[0].token, 1);
        QCOMPARE(r.top[1].token, 3);
        QCOMPARE(r.top[2].token, 0);
        QVERIFY(std::abs(r.top[1].logprob - ref[3]) < 1e-6f);
    }
    void temperatureSamplingFollowsTheSoftmax() {
        const std::vector<float> logits{1.0f, 2.0f, 0.0f};
        lw::SamplingParams p;
        p.temperature = 0.7f;
        lw::Sampler s(p, 7);
        const int draws = 40000;
        const auto counts = histogram(s, logits, draws);
        double z = 0;
        for (float v : logits) z += std::exp(v / 0.7);
        for (int t = 0; t < 3; ++t) {
            const double expected = std::exp(logits[t] / 0.7) / z;
            const double got = counts.count(t) ? counts.at(t) / double(draws) : 0.0;
            QVERIFY2(std::abs(got - expected) < 0.01,
                     qPrintable(QString("token %1: %2 vs %3").arg(t).arg(got).arg(expected)));
        }
    }
    void seededStreamsRepeatAndDiffer() {
        const std::vector<float> logits(50, 0.0f);
        lw::SamplingParams p;
        p.seed = 42;
        lw::Sampler a(p, 1), b(p, 999);  // the fallback seed is ignored when a seed is given
        p.seed = 43;
        lw::Sampler c(p, 1);
        std::vector<lw::TokenId> ta, tb, tc;
        for (int i = 0; i < 20; ++i) {
            ta.push_back(a.sample(logits, {}).token);
            tb.push_back(b.sample(logits, {}).token);
            tc.push_back(c.sample(logits, {}).token);
        }
        QCOMPARE(ta, tb);
        QVERIFY(ta != tc);
    }
    void topKTopPAndMinPNarrowTheChoice() {
        const std::vector<float> logits{4.0f, 3.9f, 3.8f, 0.0f, -1.0f};
        lw::SamplingParams p;
        p.top_k = 2;
        lw::Sampler k(p, 3);
        for (const auto& [t, n] : histogram(k, logits, 2000)) QVERIFY(t == 0 || t == 1);

        p = {};
        p.top_p = 0.5f;  // token 0 alone holds ~0.36: two tokens are needed to reach 0.5
        lw::Sampler tp(p, 3);
        const auto hp = histogram(tp, logits, 2000);
        QCOMPARE(int(hp.size()), 2);

        p = {};
        p.min_p = 0.5f;  // keeps tokens with at least half the top probability: 0, 1, 2
        lw::Sampler mp(p, 3);
        const auto hm = histogram(mp, logits, 3000);
        QCOMPARE(int(hm.size()), 3);
        QVERIFY(!hm.count(3) && !hm.count(4));
    }
    void repetitionPenaltyUsesPromptAndOutput() {
        const std::vector<float> logits{2.0f, 1.5f, -0.5f};
        auto p = greedy();
        p.repetition_penalty = 2.0f;
        lw::Sampler s(p, 1);
        lw::TokenHistory h;
        h.add_prompt(std::vector<lw::TokenId>{0});
        QCOMPARE(s.sample(logits, h).token, 1);  // 2.0 / 2 = 1.0 < 1.5
        h.add_output(1);
        QCOMPARE(s.sample(logits, h).token, 0);  // 1.0 > 0.75
    }
    void presenceAndFrequencyPenaltiesUseOutputOnly() {
        const std::vector<float> logits{2.0f, 1.5f};
        auto p = greedy();
        p.frequency_penalty = 0.3f;
        lw::Sampler s(p, 1);
        lw::TokenHistory h;
        h.add_prompt(std::vector<lw::TokenId>{0, 0, 0, 0});
        QCOMPARE(s.sample(logits, h).token, 0);  // the prompt does not count
        h.add_output(0);
        QCOMPARE(s.sample(logits, h).token, 0);  // 2.0 - 0.3 > 1.5
        h.add_output(0);
        QCOMPARE(s.sample(logits, h).token, 1);  // 2.0 - 0.6 < 1.5

        p = greedy();
        p.presence_penalty = 0.6f;
        lw::Sampler pres(p, 1);
        lw::TokenHistory once;
        once.add_output(0);
        QCOMPARE(pres.sample(logits, once).token, 1);
    }
    void suppressedTokensAreNeverChosen() {
        const std::vector<float> logits{5.0f, 1.0f, 0.0f};
        lw::Sampler g(greedy(), 1);
        const std::vector<lw::TokenId> eos{0};
        QCOMPARE(g.sample(logits, {}, eos).token, 1);
        lw::SamplingParams p;
        lw::Sampler s(p, 5);
        for (int i = 0; i < 500; ++i) QVERIFY(s.sample(logits, {}, eos).token != 0);
        const std::vector<lw::TokenId> all{0, 1, 2};
        LW_EXPECT_ERROR(g.sample(logits, {}, all), "suppressed");
    }
    void badParametersNameTheField() {
        lw::SamplingParams p;
        p.temperature = -1;
        LW_EXPECT_ERROR(lw::validate_sampling_params(p), "temperature");
        p = {};
        p.top_p = 0;
        LW_EXPECT_ERROR(lw::validate_sampling_params(p), "top_p");
        p = {};
        p.top_k = -2;
        LW_EXPECT_ERROR(lw::validate_sampling_params(p), "top_k");
        p = {};
        p.min_p = 1.5f;
        LW_EXPECT_ERROR(lw::validate_sampling_params(p), "min_p");
        p = {};
        p.repetition_penalty = 0;
        LW_EXPECT_ERROR(lw::validate_sampling_params(p), "repetition_penalty");
        p = {};
        p.top_logprobs = 21;
        LW_EXPECT_ERROR(lw::validate_sampling_params(p), "top_logprobs");
        p = {};
        p.temperature = std::nanf("");
        LW_EXPECT_ERROR(lw::Sampler(p, 1), "temperature");
    }
};

QTEST_APPLESS_MAIN(TestSampler)
#include "test_sampler.moc"
