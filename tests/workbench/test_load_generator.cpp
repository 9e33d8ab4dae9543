// The load generator: its plan as pure seeded functions (Poisson gaps at the rate,
// tenants by uniform or Zipf popularity, tenant k on model k mod M, lengths within
// their ranges, settings checked field by field), then the real thing through an
// EngineBridge on the tiny chat model with two adapters: it sends at about the rate,
// only to the chosen adapters, counts answers and errors, and stops cleanly; and its
// dialog starts and stops it with the settings on the form.
#include "engine_bridge.h"
#include "load_generator.h"
#include "load_generator_dialog.h"
#include "metrics/metrics_snapshot.h"
#include "support/test_support.h"
#include "workbench/tiny_engine.h"

#include <QElapsedTimer>
#include <QPushButton>
#include <QSignalSpy>
#include <QTest>

#include <cmath>
#include <memory>

using namespace workbench;

namespace {

LoadSettings plan_settings(Popularity popularity, int tenants, QStringList models) {
    LoadSettings s;
    s.models = std::move(models);
    s.tenants = tenants;
    s.popularity = popularity;
    s.requestsPerSecond = 5.0;
    s.seed = 42;
    return s;
}

// Fraction of `draws` requests that came from each tenant and went to each model.
struct Tally {
    std::vector<double> tenants;
    QMap<QString, double> models;
};

Tally tally(LoadPlan& plan, int tenantCount, int draws) {
    Tally t;
    t.tenants.assign(std::size_t(tenantCount), 0.0);
    for (int i = 0; i < draws; ++i) {
        const PlannedRequest r = plan.nextRequest();
        t.tenants[std::size_t(r.tenant)] += 1.0 / draws;
        t.models[r.model] += 1.0 / draws;
    }
    return t;
}

}  // namespace

class TestLoadGenerator : public QObject {
    Q_OBJECT

    std::unique_ptr<lw::test::TinyChatModel> model_;
    std::unique_ptr<EngineBridge> bridge_;
    QString base_;

private slots:
    void planIsSeeded() {
        const LoadSettings s = plan_settings(Popularity::Zipf, 6, {"a", "b"});
        LoadPlan one(s), two(s);
        for (int i = 0; i < 100; ++i) {
            QCOMPARE(one.nextGap(), two.nextGap());
            const PlannedRequest x = one.nextRequest(), y = two.nextRequest();
            QCOMPARE(x.tenant, y.tenant);
            QCOMPARE(x.model, y.model);
            QCOMPARE(x.prompt, y.prompt);
            QCOMPARE(x.maxTokens, y.maxTokens);
            QCOMPARE(x.seed, y.seed);
        }
        LoadSettings other = s;
        other.seed = 43;
        LoadPlan three(other);
        QVERIFY(three.nextGap() != LoadPlan(s).nextGap());
    }

    void arrivalsArePoissonAtTheRate() {
        LoadPlan plan(plan_settings(Popularity::Uniform, 1, {"a"}));
        const int n = 40000;
        double sum = 0.0, squares = 0.0;
        for (int i = 0; i < n; ++i) {
            const double gap = plan.nextGap();
            QVERIFY(gap >= 0.0);
            sum += gap;
            squares += gap * gap;
        }
        const double mean = sum / n, deviation = std::sqrt(squares / n - mean * mean);
        QVERIFY2(std::abs(mean - 0.2) < 0.2 * 0.03, qPrintable(QString::number(mean)));
        // Exponential gaps: the deviation equals the mean.
        QVERIFY2(std::abs(deviation / mean - 1.0) < 0.05, qPrintable(QString::number(deviation / mean)));
    }

    void uniformPopularitySpreadsEvenly() {
        LoadPlan plan(plan_settings(Popularity::Uniform, 4, {"a", "b"}));
        for (double share : plan.tenantShares()) QCOMPARE(share, 0.25);
        const Tally t = tally(plan, 4, 40000);
        for (double share : t.tenants) QVERIFY2(std::abs(share - 0.25) < 0.01, qPrintable(QString::number(share)));
        QCOMPARE(t.models.keys(), QStringList({"a", "b"}));
        QVERIFY(std::abs(t.models["a"] - 0.5) < 0.01);
    }

    void zipfPopularitySkews() {
        LoadPlan plan(plan_settings(Popularity::Zipf, 4, {"a", "b", "c"}));
        // 1, 1/2, 1/3, 1/4 over their sum, 25/12.
        const std::vector<double> want = {12.0 / 25, 6.0 / 25, 4.0 / 25, 3.0 / 25};
        for (std::size_t k = 0; k < want.size(); ++k) QVERIFY(std::abs(plan.tenantShares()[k] - want[k]) < 1e-12);
        const Tally t = tally(plan, 4, 40000);
        for (std::size_t k = 0; k < want.size(); ++k)
            QVERIFY2(std::abs(t.tenants[k] - want[k]) < 0.01, qPrintable(QString::number(t.tenants[k])));
        // Tenant k uses model k mod 3: "a" serves tenants 0 and 3.
        QCOMPARE(t.models.keys(), QStringList({"a", "b", "c"}));
        QVERIFY(std::abs(t.models["a"] - (want[0] + want[3])) < 0.01);
        QVERIFY(std::abs(t.models["c"] - want[2]) < 0.01);
    }

    void lengthsStayInTheirRanges() {
        LoadSettings s = plan_settings(Popularity::Uniform, 3, {"a"});
        s.minPromptWords = 2;
        s.maxPromptWords = 5;
        s.minOutputTokens = 7;
        s.maxOutputTokens = 9;
        LoadPlan plan(s);
        QSet<int> words, outputs;
        for (int i = 0; i < 2000; ++i) {
            const PlannedRequest r = plan.nextRequest();
            QCOMPARE(r.prompt.split(' ').size(), r.promptWords);
            QVERIFY(r.seed >= 0);
            words.insert(r.promptWords);
            outputs.insert(r.maxTokens);
        }
        QCOMPARE(words, QSet<int>({2, 3, 4, 5}));
        QCOMPARE(outputs, QSet<int>({7, 8, 9}));
    }

    void badSettingsNameTheirField() {
        const LoadSettings good = plan_settings(Popularity::Zipf, 2, {"a"});
        QVERIFY(good.validate().isEmpty());
        const auto expect = [&](auto change, const char* field) {
            LoadSettings s = good;
            change(s);
            QVERIFY2(s.validate().startsWith(field), qPrintable(s.validate()));
        };
        expect([](LoadSettings& s) { s.models.clear(); }, "models");
        expect([](LoadSettings& s) { s.tenants = 0; }, "tenants");
        expect([](LoadSettings& s) { s.requestsPerSecond = 0.0; }, "requests per second");
        expect([](LoadSettings& s) { s.requestsPerSecond = qQNaN(); }, "requests per second");
        expect([](LoadSettings& s) { s.requestsPerSecond = 1e9; }, "requests per second");
        expect([](LoadSettings& s) { s.zipfExponent = -1.0; }, "Zipf exponent");
        expect([](LoadSettings& s) { s.maxPromptWords = 0; }, "prompt words");
        expect([](LoadSettings& s) { s.minOutputTokens = 0; }, "output tokens");
        expect([](LoadSettings& s) { s.maxInFlight = 0; }, "max in flight");

        // The generator refuses them and stays stopped, saying why.
        EngineBridge bridge;
        LoadGenerator generator(&bridge);
        LoadSettings bad = good;
        bad.tenants = -3;
        generator.start(bad);
        QVERIFY(!generator.isRunning());
        QVERIFY(generator.stats().lastError.contains("tenants"));
    }

    // The engine for the tests that need one: the tiny chat model with three adapters.
    void initTestCase() {
        model_ = std::make_unique<lw::test::TinyChatModel>();
        bridge_ = std::make_unique<EngineBridge>();
        QString error;
        base_ = lw::test::start_tiny_engine(
            *bridge_, *model_,
            {{"qv", "peft/qv_r8"}, {"r4", "peft/all_r4_rslora_bin"}, {"unused", "peft/layers_subset"}}, error);
        QVERIFY2(!base_.isEmpty(), qPrintable(error));
    }

    void sendsAtTheRateToTheChosenAdaptersAndStops() {
        QVERIFY(bridge_);
        LoadGenerator generator(bridge_.get());
        LoadSettings s = plan_settings(Popularity::Uniform, 4, {"qv", "r4"});
        s.requestsPerSecond = 20.0;
        s.minPromptWords = 2;
        s.maxPromptWords = 6;
        s.minOutputTokens = 4;
        s.maxOutputTokens = 8;
        QSet<QString> seenInBatches;
        connect(bridge_.get(), &EngineBridge::metricsUpdated, &generator, [&](const MetricsPtr& m) {
            for (const lw::StepRecord& step : m->steps)
                for (const auto& [model, tokens] : step.tokens_by_model)
                    seenInBatches.insert(QString::fromStdString(model));
        });

        QElapsedTimer clock;
        clock.start();
        generator.start(s);
        QVERIFY(generator.isRunning());
        QTest::qWait(2000);
        const double seconds = clock.elapsed() / 1000.0;
        const LoadStats& stats = generator.stats();
        qInfo("%llu sent in %.2f s at 20/s: %llu answered, %d in flight", stats.sent, seconds, stats.finished,
              stats.inFlight);
        // Poisson: 40 expected, a standard deviation of about 6.3.
        QVERIFY2(stats.sent >= 20 && stats.sent <= 65, qPrintable(QString::number(stats.sent)));
        QCOMPARE(QSet<QString>(stats.sentByModel.keyBegin(), stats.sentByModel.keyEnd()), QSet<QString>({"qv", "r4"}));
        QVERIFY2(stats.finished > 0, qPrintable(stats.lastError));
        QCOMPARE(stats.errors, quint64(0));
        QVERIFY(seenInBatches.contains("qv") && seenInBatches.contains("r4"));
        QVERIFY(!seenInBatches.contains("unused"));
        QVERIFY(!seenInBatches.contains(base_));

        generator.stop();
        QVERIFY(!generator.isRunning());
        const quint64 sent = stats.sent;
        QTRY_COMPARE_WITH_TIMEOUT(generator.stats().inFlight, 0, 10000);
        QTest::qWait(300);
        QCOMPARE(generator.stats().sent, sent);
        QCOMPARE(stats.finished + stats.errors + stats.cancelled, sent);
    }

    void errorsAreCountedAndNamed() {
        QVERIFY(bridge_);
        LoadGenerator generator(bridge_.get());
        LoadSettings s = plan_settings(Popularity::Uniform, 2, {"not-loaded"});
        s.requestsPerSecond = 50.0;
        generator.start(s);
        QTRY_VERIFY_WITH_TIMEOUT(generator.stats().errors >= 3, 5000);
        generator.stop();
        QVERIFY2(generator.stats().lastError.contains("not-loaded"), qPrintable(generator.stats().lastError));
        QCOMPARE(generator.stats().finished, quint64(0));
    }

    void dialogStartsAndStopsWithTheFormsSettings() {
        QVERIFY(bridge_);
        LoadGenerator generator(bridge_.get());
        LoadGeneratorDialog dialog(&generator);
        dialog.setModels({base_, "qv", "r4"});
        QCOMPARE(dialog.settings().models, QStringList({base_, "qv", "r4"}));  // none chosen yet: all
        LoadSettings s = plan_settings(Popularity::Zipf, 3, {"r4"});
        s.requestsPerSecond = 10.0;
        s.maxOutputTokens = 4;
        s.minOutputTokens = 2;
        dialog.setSettings(s);
        dialog.show();
        QVERIFY(!dialog.stopButton()->isEnabled());

        QTest::mouseClick(dialog.startButton(), Qt::LeftButton);
        QVERIFY(generator.isRunning());
        QCOMPARE(generator.settings().models, QStringList({"r4"}));
        QCOMPARE(generator.settings().tenants, 3);
        QCOMPARE(generator.settings().requestsPerSecond, 10.0);
        QCOMPARE(generator.settings().popularity, Popularity::Zipf);
        QVERIFY(dialog.statusText().startsWith("Running"));
        QVERIFY(!dialog.startButton()->isEnabled());
        QTRY_VERIFY_WITH_TIMEOUT(generator.stats().sent > 0, 3000);
        QTRY_VERIFY(dialog.statusText().contains("Sent to: r4 "));

        QTest::mouseClick(dialog.stopButton(), Qt::LeftButton);
        QVERIFY(!generator.isRunning());
        QVERIFY(dialog.statusText().startsWith("Stopped"));
        QTRY_COMPARE_WITH_TIMEOUT(generator.stats().inFlight, 0, 10000);

        // Unloading an adapter takes it off the list.
        bridge_->unloadAdapter("r4");
        QTRY_VERIFY_WITH_TIMEOUT(!dialog.settings().models.contains("r4"), 5000);
    }

    void cleanupTestCase() {
        bridge_.reset();
        model_.reset();
    }
};

QTEST_MAIN(TestLoadGenerator)
#include "test_load_generator.moc"
