#include "views/live_views.h"

#include "views/adapter_cache_view.h"
#include "views/batch_view.h"
#include "views/page_map_view.h"
#include "views/throughput_view.h"

#include <QHBoxLayout>
#include <QSplitter>

namespace workbench {

LiveViews::LiveViews(QWidget* parent)
    : QWidget(parent),
      pageMap_(new PageMapView),
      adapterCache_(new AdapterCacheView),
      batch_(new BatchView),
      throughput_(new ThroughputView),
      views_{pageMap_, adapterCache_, batch_, throughput_} {
    auto* top = new QSplitter(Qt::Horizontal);
    top->addWidget(pageMap_);
    top->addWidget(batch_);
    auto* bottom = new QSplitter(Qt::Horizontal);
    bottom->addWidget(adapterCache_);
    bottom->addWidget(throughput_);
    auto* rows = new QSplitter(Qt::Vertical);
    rows->addWidget(top);
    rows->addWidget(bottom);
    pairs_ = {top, bottom};
    auto* layout = new QHBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(rows);

    refreshTimer_.setInterval((1000 + kMaxRefreshHz - 1) / kMaxRefreshHz);
    connect(&refreshTimer_, &QTimer::timeout, this, &LiveViews::refresh);
}

void LiveViews::showSnapshot(const workbench::MetricsPtr& snapshot) {
    if (!snapshot) return;
    if (!clock_.isValid()) clock_.start();  // time 0 is the first snapshot
    pending_ = snapshot;
    // While the timer runs, its next tick draws this; after a quiet spell, draw at once.
    if (!refreshTimer_.isActive()) refresh();
}

void LiveViews::showEvent(QShowEvent* event) {
    QWidget::showEvent(event);
    if (!refreshTimer_.isActive()) refresh();
}

void LiveViews::resizeEvent(QResizeEvent* event) {
    QWidget::resizeEvent(event);
    const Qt::Orientation orientation = height() > width() ? Qt::Vertical : Qt::Horizontal;
    for (QSplitter* pair : std::as_const(pairs_)) pair->setOrientation(orientation);
}

void LiveViews::refresh() {
    if (!pending_ || !isVisible()) {
        refreshTimer_.stop();  // idle until the next snapshot or until shown
        return;
    }
    const double seconds = clock_.nsecsElapsed() / 1e9;
    for (PlotView* view : views_) view->showSnapshot(pending_, seconds);
    pending_.reset();
    refreshTimer_.start();  // the next drawing comes one interval later at the earliest
}

}  // namespace workbench
