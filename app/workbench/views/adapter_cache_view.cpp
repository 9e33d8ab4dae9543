#include "views/adapter_cache_view.h"

#include "metrics/metrics_snapshot.h"

#include <qcustomplot.h>

#include <algorithm>

namespace workbench {

namespace {

const lw::AdapterTierStats& tierStats(const lw::AdapterCacheStats& stats, CacheTier tier) {
    return tier == CacheTier::Pool ? stats.pool : stats.host;
}

std::uint64_t eventCount(const lw::AdapterTierStats& stats, CacheEvent event) {
    switch (event) {
        case CacheEvent::Hits:
            return stats.hits;
        case CacheEvent::Misses:
            return stats.misses;
        case CacheEvent::Loads:
            return stats.loads;
        case CacheEvent::Evictions:
            return stats.evictions;
    }
    return 0;
}

}  // namespace

AdapterCacheView::AdapterCacheView(QWidget* parent) : PlotView(tr("Adapter cache"), parent) {
    rects_ = {plot()->axisRect(), addAxisRect()};
    const QStringList tierNames = {tr("pool"), tr("host")};
    const QStringList eventNames = {tr("hits"), tr("misses"), tr("loads"), tr("evictions")};
    for (int t = 0; t < kTiers; ++t) {
        QCPAxisRect* rect = rects_[t];
        rect->axis(QCPAxis::atLeft)->setLabel(tr("%1 /s").arg(tierNames[t]));
        rect->axis(QCPAxis::atBottom)->setLabel(t + 1 == kTiers ? tr("time (s)") : QString());
        for (int e = 0; e < kEvents; ++e) {
            QCPGraph* graph = plot()->addGraph(rect->axis(QCPAxis::atBottom), rect->axis(QCPAxis::atLeft));
            graph->setName(eventNames[e]);
            if (t > 0) plot()->legend->removeItem(plot()->legend->itemWithPlottable(graph));  // one legend for both
            graphs_[slot(CacheTier(t), CacheEvent(e))] = graph;
        }
    }
    showLegendUnderTitle(kEvents);
    finishSetup();
    redraw();
    setCaption(tr("No engine running."));
}

const QCPGraph* AdapterCacheView::series(CacheTier tier, CacheEvent event) const {
    return graphs_[slot(tier, event)];
}

void AdapterCacheView::showSnapshot(const MetricsPtr& snapshot, double seconds) {
    Sample sample{seconds, {}};
    for (int t = 0; t < kTiers; ++t)
        for (int e = 0; e < kEvents; ++e)
            sample.counters[slot(CacheTier(t), CacheEvent(e))] =
                eventCount(tierStats(snapshot->adapter_cache, CacheTier(t)), CacheEvent(e));

    // Counters that went down belong to a new engine, and a sample from long ago (the
    // views were hidden) would smear what happened since: rates start afresh.
    if (!recent_.empty()) {
        const Counters& last = recent_.back().counters;
        bool stale = seconds - recent_.back().seconds > 2 * kRateWindowSeconds;
        for (std::size_t i = 0; i < last.size(); ++i) stale |= sample.counters[i] < last[i];
        if (stale) recent_.clear();
    }
    recent_.push_back(sample);
    while (recent_.size() > 2 && recent_[1].seconds <= seconds - kRateWindowSeconds) recent_.pop_front();

    const Sample& base = recent_.front();
    if (seconds > base.seconds) {
        for (std::size_t i = 0; i < graphs_.size(); ++i)
            appendPoint(graphs_[i], seconds, double(sample.counters[i] - base.counters[i]) / (seconds - base.seconds));
    }
    latest_ = seconds;
    updateCaption(*snapshot);
    redraw();
}

void AdapterCacheView::updateCaption(const lw::MetricsSnapshot& snapshot) {
    const lw::AdapterCacheStats& c = snapshot.adapter_cache;
    // Host residency counts pooled adapters too; the rest of the registered ones are on disk only.
    const std::size_t diskOnly = c.registered > c.host.resident ? c.registered - c.host.resident : 0;
    QString html = tr("Now: <b>%1</b> in the GPU pool &nbsp; <b>%2</b> in host RAM &nbsp; <b>%3</b> on disk only "
                      "&nbsp; <b>%4</b> loading &nbsp; (%5 registered)")
                       .arg(c.pool.resident)
                       .arg(c.host.resident)
                       .arg(diskOnly)
                       .arg(c.loading)
                       .arg(c.registered);
    if (c.no_room > 0) html += tr(" &nbsp; %1 turned away for lack of pool room").arg(c.no_room);
    if (c.host.failed_loads > 0) html += tr(" &nbsp; %1 failed disk loads").arg(c.host.failed_loads);
    setCaption(html);
}

void AdapterCacheView::redraw() {
    for (int t = 0; t < kTiers; ++t) {
        for (int e = 0; e < kEvents; ++e) {
            // Same color for an event in both tiers; the tier is the row.
            graphs_[slot(CacheTier(t), CacheEvent(e))]->setPen(QPen(colors().series(e), 1.5));
        }
        showHistory(rects_[t], latest_);
    }
    plot()->replot(QCustomPlot::rpQueuedReplot);
}

}  // namespace workbench
