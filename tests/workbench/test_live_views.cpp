// The live views fed hand-built metrics snapshots: the page map draws every page in its
// owner's color and totals each kind; the adapter cache plots rates per tier; the batch
// view joins steps across snapshots; the throughput view plots what the snapshot says;
// LiveViews draws at most kMaxRefreshHz times a second and never while hidden. Then
// the same views fed by a real engine through the EngineBridge while chats run.
#include "engine_bridge.h"
#include "metrics/metrics_snapshot.h"
#include "runtime/engine.h"
#include "views/adapter_cache_view.h"
#include "views/batch_view.h"
#include "views/live_views.h"
#include "views/page_map_view.h"
#include "views/throughput_view.h"
#include "workbench/tiny_engine.h"

#include <QElapsedTimer>
#include <QSignalSpy>
#include <QTest>
#include <QToolTip>

#include <qcustomplot.h>

#include <memory>

using namespace workbench;

namespace {

constexpr std::size_t kPageBytes = 64 * 1024;

void setPages(lw::MetricsSnapshot& s, std::size_t from, std::size_t count, lw::PageUse use, std::uint64_t id) {
    for (std::size_t p = from; p < from + count; ++p) s.pages[p] = {use, id};
}

// 1000 pages: 600 free, 300 KV of two requests (7 runs qv_r8, 9 the bare base), 100 of
// three adapters. Owners interleave, as a pool in use does.
std::shared_ptr<lw::MetricsSnapshot> poolSnapshot() {
    auto s = std::make_shared<lw::MetricsSnapshot>();
    s->page_bytes = kPageBytes;
    s->pages.resize(1000);
    setPages(*s, 0, 40, lw::PageUse::Adapter, 1);
    setPages(*s, 40, 200, lw::PageUse::KvCache, 7);
    setPages(*s, 240, 30, lw::PageUse::Adapter, 2);
    setPages(*s, 270, 100, lw::PageUse::KvCache, 9);
    setPages(*s, 370, 30, lw::PageUse::Adapter, 3);
    s->adapter_names = {{1, "qv_r8"}, {2, "all_r4"}, {3, "layers_subset"}};
    s->kv_models = {{7, "qv_r8"}, {9, "tiny_llama"}};
    s->pages_free = 600;
    s->pages_kv = 300;
    s->pages_adapter = 100;
    return s;
}

lw::StepRecord step(std::uint64_t index, std::map<std::string, std::size_t> byModel, std::size_t prefill) {
    lw::StepRecord r;
    r.index = index;
    r.tokens_by_model = std::move(byModel);
    std::size_t total = 0;
    for (const auto& [model, tokens] : r.tokens_by_model) total += tokens;
    r.prefill_tokens = prefill;
    r.decode_tokens = total - prefill;
    r.sequences = r.tokens_by_model.size();
    r.seconds = 0.01;
    return r;
}

std::shared_ptr<lw::MetricsSnapshot> stepsSnapshot(std::uint64_t first, std::uint64_t last) {
    auto s = std::make_shared<lw::MetricsSnapshot>();
    for (std::uint64_t i = first; i <= last; ++i)
        s->steps.push_back(i < 50 ? step(i, {{"early", 4}, {"qv_r8", 1}}, 4) : step(i, {{"qv_r8", 2}, {"base", 3}}, 0));
    return s;
}

// The value a series holds at `key` (NaN when it has none).
template <typename Plottable>
double valueAt(const Plottable* plottable, double key) {
    for (auto it = plottable->data()->constBegin(); it != plottable->data()->constEnd(); ++it)
        if (it->key == key) return it->value;
    return qQNaN();
}

int legendItems(const QCustomPlot* plot) {
    int items = 0;
    for (int i = 0; i < plot->legend->itemCount(); ++i) items += plot->legend->item(i) != nullptr;
    return items;
}

// The middle of a cell (page `cell` while each page has its own), in the plot's pixels, as drawn now.
QPointF cellCenter(PageMapView& view, std::size_t cell) {
    view.plot()->replot();
    const std::size_t columns = std::size_t(view.columns());
    return {view.plot()->xAxis->coordToPixel(double(cell % columns) + 0.5),
            view.plot()->yAxis->coordToPixel(double(cell / columns) + 0.5)};
}

// The color drawn at the middle of a page's cell.
QRgb drawnColor(PageMapView& view, std::size_t page) {
    const QPointF at = cellCenter(view, page);
    const QImage image = view.plot()->grab().toImage();
    if (view.pageAt(at) != static_cast<long long>(page)) return 0;  // hover and drawing must agree
    return image.pixel(at.toPoint());
}

}  // namespace

class TestLiveViews : public QObject {
    Q_OBJECT
private slots:
    void pageMapDrawsEveryPageByKind() {
        PageMapView view;
        view.resize(600, 400);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        view.showSnapshot(poolSnapshot(), 0.0);

        const PageMapCounts counts = view.drawnCounts();
        QCOMPARE(counts.cells, std::size_t(1000));
        QCOMPARE(counts.free, std::size_t(600));
        QCOMPARE(counts.kv, std::size_t(300));
        QCOMPARE(counts.adapter, std::size_t(100));

        const QString caption = view.caption();
        QVERIFY2(caption.contains("free 600 pages (37.5 MiB)"), qPrintable(caption));
        QVERIFY2(caption.contains("KV cache 300 pages (18.8 MiB)"), qPrintable(caption));
        QVERIFY2(caption.contains("adapter weights 100 pages"), qPrintable(caption));
        for (const char* model : {"qv_r8", "all_r4", "layers_subset", "tiny_llama"})
            QVERIFY2(caption.contains(model), qPrintable(caption));

        QCOMPARE(view.describePage(100), QString("page 100 of 1000: KV cache of request 7 (qv_r8)"));
        QCOMPARE(view.describePage(250), QString("page 250 of 1000: weights of adapter all_r4"));
        QCOMPARE(view.describePage(999), QString("page 999 of 1000: free"));
        QVERIFY(view.describePage(1000).isEmpty());

        // The pixels: each kind and owner in its color (adapter 1's weights and request 7's
        // KV cache share qv_r8's hue in two shades).
        const ViewColors colors(view.palette());
        QCOMPARE(drawnColor(view, 10), colors.forModel("qv_r8").rgb());
        QCOMPARE(drawnColor(view, 100), colors.kvForModel("qv_r8").rgb());
        QCOMPARE(drawnColor(view, 300), colors.kvForModel("tiny_llama").rgb());
        QCOMPARE(drawnColor(view, 380), colors.forModel("layers_subset").rgb());
        QCOMPARE(drawnColor(view, 700), colors.freePage().rgb());
        QVERIFY(colors.forModel("qv_r8") != colors.kvForModel("qv_r8"));

        // Hovering a cell names its page.
        QTest::qWait(50);  // let the layout settle: a resize redraws the grid in a new shape
        const QPoint cell = cellCenter(view, 250).toPoint();
        QCOMPARE(view.pageAt(cell), 250);
        QTest::mouseMove(view.plot(), cell);
        QTRY_COMPARE(QToolTip::text(), view.describePage(250));
    }

    void pageMapFollowsThePalette() {
        PageMapView view;
        view.resize(400, 300);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        view.showSnapshot(poolSnapshot(), 0.0);
        QPalette dark;
        dark.setColor(QPalette::Base, QColor(30, 30, 30));
        dark.setColor(QPalette::Text, QColor(230, 230, 230));
        view.setPalette(dark);
        const ViewColors colors(view.palette());
        QVERIFY(colors.dark());
        QCOMPARE(drawnColor(view, 700), colors.freePage().rgb());
        QCOMPARE(drawnColor(view, 100), colors.kvForModel("qv_r8").rgb());
        QVERIFY(colors.freePage().lightness() < 80);
    }

    void pageMapDrawsALargePool() {
        auto s = std::make_shared<lw::MetricsSnapshot>();
        s->page_bytes = kPageBytes;
        s->pages.resize(100000);
        for (std::size_t p = 0; p < s->pages.size(); ++p) {
            if (p % 5 == 1) s->pages[p] = {lw::PageUse::KvCache, p % 50};
            if (p % 5 == 2) s->pages[p] = {lw::PageUse::Adapter, 1 + p % 3};
        }
        for (std::uint64_t id = 0; id < 50; ++id) s->kv_models[id] = "model" + std::to_string(id % 7);
        s->adapter_names = {{1, "a"}, {2, "b"}, {3, "c"}};
        PageMapView view;
        view.resize(800, 500);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        QTest::qWait(50);
        constexpr int kDraws = 20;
        QElapsedTimer timer;
        timer.start();
        for (int i = 0; i < kDraws; ++i) {
            view.showSnapshot(s, 0.0);
            view.plot()->replot();
        }
        qInfo("100000 pages: %.1f ms to paint and replot (mean of %d, %dx%d plot)", timer.nsecsElapsed() / 1e6 / kDraws,
              kDraws, view.plot()->width(), view.plot()->height());
        const PageMapCounts counts = view.drawnCounts();
        QCOMPARE(view.pagesPerCell(), std::size_t(1));
        QCOMPARE(counts.cells, std::size_t(100000));
        QCOMPARE(counts.kv, std::size_t(20000));
        QCOMPARE(counts.adapter, std::size_t(20000));
        QCOMPARE(counts.free, std::size_t(60000));

        // A plot with fewer pixels than pages: runs of pages share a cell, every page is counted.
        view.resize(200, 160);
        QTest::qWait(50);
        view.showSnapshot(s, 0.0);
        const std::size_t perCell = view.pagesPerCell();
        QVERIFY(perCell > 1);
        QCOMPARE(view.drawnCounts().cells, (std::size_t(100000) + perCell - 1) / perCell);
        QCOMPARE(view.drawnCounts().kv, std::size_t(20000));
        QCOMPARE(view.drawnCounts().free, std::size_t(60000));
        QCOMPARE(view.pageAt(cellCenter(view, 1)), static_cast<long long>(perCell));
        QVERIFY(view.describeCell(perCell).contains(QString("pages %1 to %2").arg(perCell).arg(2 * perCell - 1)));
    }

    void adapterCachePlotsRatesPerTier() {
        AdapterCacheView view;
        auto at = [&](double seconds, std::uint64_t poolHits, std::uint64_t poolMisses, std::uint64_t hostLoads) {
            auto s = std::make_shared<lw::MetricsSnapshot>();
            s->adapter_cache.pool.hits = poolHits;
            s->adapter_cache.pool.misses = poolMisses;
            s->adapter_cache.host.loads = hostLoads;
            s->adapter_cache.pool.resident = 2;
            s->adapter_cache.host.resident = 5;
            s->adapter_cache.registered = 12;
            s->adapter_cache.loading = 1;
            view.showSnapshot(s, seconds);
        };
        at(0.0, 0, 0, 0);
        at(0.5, 5, 1, 0);
        at(1.0, 10, 2, 0);
        at(2.0, 10, 2, 3);
        const QCPGraph* hits = view.series(CacheTier::Pool, CacheEvent::Hits);
        QCOMPARE(hits->dataCount(), 3);  // a rate needs two samples
        QCOMPARE(valueAt(hits, 0.5), 10.0);
        QCOMPARE(valueAt(hits, 1.0), 10.0);  // over the last second: 10 hits
        QCOMPARE(valueAt(hits, 2.0), 0.0);
        QCOMPARE(valueAt(view.series(CacheTier::Pool, CacheEvent::Misses), 1.0), 2.0);
        QCOMPARE(valueAt(view.series(CacheTier::Host, CacheEvent::Loads), 2.0), 3.0);
        QCOMPARE(valueAt(view.series(CacheTier::Host, CacheEvent::Hits), 2.0), 0.0);
        QCOMPARE(valueAt(view.series(CacheTier::Pool, CacheEvent::Evictions), 2.0), 0.0);

        const QString caption = view.caption();
        QVERIFY2(caption.contains("2 in the GPU pool") && caption.contains("5 in host RAM") &&
                     caption.contains("7 on disk only") && caption.contains("1 loading") &&
                     caption.contains("12 registered"),
                 qPrintable(caption));

        // A new engine's counters start from zero: no negative rates.
        at(3.0, 1, 0, 0);
        at(3.5, 2, 0, 0);
        QVERIFY(!(valueAt(hits, 3.0) < 0));
        QCOMPARE(valueAt(hits, 3.5), 2.0);

        // The history is bounded to the last minute.
        for (int i = 0; i < 200; ++i) at(4.0 + i, 2, 0, 0);
        QVERIFY(hits->dataCount() <= int(PlotView::kHistorySeconds) + 1);

        // After a long gap (hidden views) the old sample is no base for a rate.
        at(300.0, 50, 0, 0);
        QVERIFY(qIsNaN(valueAt(hits, 300.0)));
        at(300.5, 60, 0, 0);
        QCOMPARE(valueAt(hits, 300.5), 20.0);
    }

    void batchJoinsStepsAcrossSnapshots() {
        BatchView view;
        view.showSnapshot(stepsSnapshot(0, 59), 0.0);
        QCOMPARE(view.steps().size(), std::size_t(60));
        QCOMPARE(view.models(), QStringList({"base", "early", "qv_r8"}));
        view.showSnapshot(stepsSnapshot(30, 129), 0.1);  // overlaps the first by 30 steps

        QCOMPARE(view.steps().size(), BatchView::kSteps);
        for (std::size_t i = 0; i < view.steps().size(); ++i) QCOMPARE(view.steps()[i].index, 30 + i);
        QCOMPARE(view.barsFor("qv_r8")->dataCount(), 100);
        QCOMPARE(valueAt(view.barsFor("qv_r8"), 40), 1.0);
        QCOMPARE(valueAt(view.barsFor("qv_r8"), 120), 2.0);
        QCOMPARE(valueAt(view.barsFor("base"), 120), 3.0);
        QCOMPARE(valueAt(view.barsFor("base"), 40), 0.0);
        QCOMPARE(valueAt(view.prefillBars(), 40), 4.0);
        QCOMPARE(valueAt(view.decodeBars(), 40), 1.0);
        QCOMPARE(valueAt(view.decodeBars(), 120), 5.0);
        // Stacked in name order.
        QCOMPARE(view.barsFor("qv_r8")->barBelow(), view.barsFor("early"));
        QCOMPARE(view.barsFor("early")->barBelow(), view.barsFor("base"));
        QVERIFY(!view.barsFor("base")->barBelow());
        QVERIFY(view.describeStep(120).startsWith("step 120: 5 tokens (0 prefill, 5 decode) in 2 sequences"));

        view.showSnapshot(stepsSnapshot(80, 179), 0.2);  // "early" steps have left the window
        QCOMPARE(view.models(), QStringList({"base", "qv_r8"}));
        QCOMPARE(view.barsFor("qv_r8")->barBelow(), view.barsFor("base"));
        QCOMPARE(view.steps().front().index, std::uint64_t(80));

        QCOMPARE(legendItems(view.plot()), 4);  // prefill, decode, base, qv_r8

        view.showSnapshot(stepsSnapshot(0, 4), 0.3);  // a new engine counts from 0 again
        QCOMPARE(view.steps().size(), std::size_t(5));
        QCOMPARE(view.steps().back().index, std::uint64_t(4));

        // Too many models for a legend: it keeps prefill and decode; hovering names the rest.
        auto crowded = std::make_shared<lw::MetricsSnapshot>();
        std::map<std::string, std::size_t> many;
        for (int m = 0; m <= BatchView::kMaxLegendModels; ++m) many["adapter" + std::to_string(m)] = 1;
        crowded->steps = {step(5, many, 0)};
        view.showSnapshot(crowded, 0.4);
        QCOMPARE(view.models().size(), BatchView::kMaxLegendModels + 3);  // with base and qv_r8
        QCOMPARE(legendItems(view.plot()), 2);
        QVERIFY(view.describeStep(5).contains("adapter8: 1"));
    }

    void throughputPlotsTheSnapshot() {
        ThroughputView view;
        auto s = std::make_shared<lw::MetricsSnapshot>();
        s->tokens_per_second = 42.5;
        view.showSnapshot(s, 0.5);  // no latency samples yet: nothing for the log axis
        QCOMPARE(view.ttftP50()->dataCount(), 0);
        s->time_to_first_token.p50 = 0.120;
        s->time_to_first_token.p90 = 0.300;
        s->inter_token_latency.p50 = 0.020;
        s->inter_token_latency.p90 = 0.035;
        view.showSnapshot(s, 1.0);
        QCOMPARE(valueAt(view.tokensPerSecond(), 0.5), 42.5);
        QCOMPARE(valueAt(view.tokensPerSecond(), 1.0), 42.5);
        QCOMPARE(valueAt(view.ttftP50(), 1.0), 120.0);
        QCOMPARE(valueAt(view.ttftP90(), 1.0), 300.0);
        QCOMPARE(valueAt(view.itlP50(), 1.0), 20.0);
        QCOMPARE(valueAt(view.itlP90(), 1.0), 35.0);
        QVERIFY2(view.caption().contains("42.5 tokens/s"), qPrintable(view.caption()));
        const QCPRange latency = view.plot()->axisRect(1)->axis(QCPAxis::atLeft)->range();
        QCOMPARE(latency.lower, 10.0);  // whole decades around 20 to 300 ms
        QCOMPARE(latency.upper, 1000.0);
    }

    void refreshIsCappedAndSkipsHiddenViews() {
        LiveViews views;
        views.resize(1000, 700);
        views.show();
        QVERIFY(QTest::qWaitForWindowExposed(&views));
        QTest::qWait(100);
        QSignalSpy replots(views.pageMap()->plot(), &QCustomPlot::afterReplot);

        // Snapshots far faster than anyone can see: every 2 ms for a second.
        QElapsedTimer timer;
        timer.start();
        std::shared_ptr<lw::MetricsSnapshot> last;
        for (std::size_t i = 0; timer.elapsed() < 1000; ++i) {
            last = poolSnapshot();
            last->pages[999] = {lw::PageUse::KvCache, 7};  // tell the last apart
            last->steps = {step(i, {{"qv_r8", 1}}, 0)};
            views.showSnapshot(last);
            QTest::qWait(2);
        }
        QTest::qWait(200);
        const double seconds = timer.elapsed() / 1000.0;
        qInfo("%lld page map replots in %.2f s", static_cast<long long>(replots.count()), seconds);
        QVERIFY(replots.count() >= 3);
        QVERIFY2(replots.count() <= seconds * LiveViews::kMaxRefreshHz + 2,
                 qPrintable(QString::number(replots.count())));
        QCOMPARE(views.pageMap()->drawnCounts().kv, std::size_t(301));  // the last one is drawn
        QCOMPARE(views.batch()->steps().back().index, last->steps.back().index);

        // Hidden, nothing is drawn; shown again, the latest snapshot is.
        views.hide();
        replots.clear();
        auto hidden = poolSnapshot();
        views.showSnapshot(hidden);
        QTest::qWait(200);
        QCOMPARE(replots.count(), 0);
        views.show();
        QTRY_VERIFY(replots.count() > 0);
        QCOMPARE(views.pageMap()->drawnCounts().kv, std::size_t(300));
    }

    void drawTheEnginesSnapshots() {
        lw::test::TinyChatModel model;
        EngineBridge bridge;
        QString error;
        const QString base = lw::test::start_tiny_engine(bridge, model, {{"qv", "peft/qv_r8"}}, error);
        QVERIFY2(!base.isEmpty(), qPrintable(error));

        LiveViews views;
        views.resize(1000, 700);
        views.show();
        QVERIFY(QTest::qWaitForWindowExposed(&views));
        MetricsPtr last, busy;
        const auto connection = connect(&bridge, &EngineBridge::metricsUpdated, &views, [&](const MetricsPtr& s) {
            views.showSnapshot(s);
            last = s;
        });
        QSignalSpy finished(&bridge, &EngineBridge::chatFinished);
        for (const QString& name : {QString("qv"), base, QString("qv")}) {
            ChatRequest request;
            request.model = name;
            request.messages = {{"user", "Tell me about paging"}};
            request.sampling.maxTokens = 120;
            request.sampling.seed = 1;
            bridge.chat(request);
        }
        // The tiny model answers within a few of the bridge's snapshots, so catch the
        // pool mid-stream by asking the engine as often as we can.
        QElapsedTimer waited;
        waited.start();
        while (finished.size() < 3 && waited.elapsed() < 20000) {
            auto now = std::make_shared<lw::MetricsSnapshot>(bridge.engine()->metrics());
            if (!busy && now->pages_kv > 0) busy = now;
            QCoreApplication::processEvents();
        }
        QCOMPARE(finished.size(), 3);
        QTRY_VERIFY_WITH_TIMEOUT(last && last->running == 0, 2000);
        disconnect(connection);
        QTest::qWait(3 * 1000 / LiveViews::kMaxRefreshHz);

        // The last snapshot is what the page map shows.
        const PageMapCounts drawn = views.pageMap()->drawnCounts();
        QCOMPARE(drawn.cells, last->pages.size());
        QCOMPARE(drawn.free, last->pages_free);
        QCOMPARE(drawn.kv, last->pages_kv);
        QCOMPARE(drawn.adapter, last->pages_adapter);
        QVERIFY(last->pages_adapter > 0);  // qv stays in the pool while idle

        // Mid-stream the pool held the requests' KV cache, and the page map draws it.
        QVERIFY(busy);
        PageMapView map;
        map.showSnapshot(busy, 0.0);
        QCOMPARE(map.drawnCounts().kv, busy->pages_kv);
        QCOMPARE(map.drawnCounts().free, busy->pages_free);
        QCOMPARE(map.drawnCounts().adapter, busy->pages_adapter);
        QCOMPARE(map.drawnCounts().cells, busy->pages.size());
        QVERIFY(map.caption().contains(QString("KV cache %1 pages").arg(busy->pages_kv)));

        // The batches ran qv and the bare base, step after step.
        QVERIFY(views.batch()->models().contains("qv"));
        QVERIFY(views.batch()->models().contains(base));
        const auto& steps = views.batch()->steps();
        for (std::size_t i = 1; i < steps.size(); ++i) QVERIFY(steps[i].index > steps[i - 1].index);
        QVERIFY(views.throughput()->tokensPerSecond()->dataCount() > 0);
    }
};

QTEST_MAIN(TestLiveViews)
#include "test_live_views.moc"
