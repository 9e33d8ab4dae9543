// The four live views in splitters: memory pool, batch composition, adapter cache,
// throughput and latency; a 2x2 grid when wide, one column when taller than wide (a
// side dock). Snapshots may arrive at any rate; the views draw the latest one at most
// kMaxRefreshHz times a second, and not while hidden.
#pragma once

#include "engine_types.h"

#include <QElapsedTimer>
#include <QTimer>
#include <QWidget>

class QSplitter;

namespace workbench {

class AdapterCacheView;
class BatchView;
class PageMapView;
class PlotView;
class ThroughputView;

class LiveViews : public QWidget {
    Q_OBJECT
public:
    static constexpr int kMaxRefreshHz = 15;

    explicit LiveViews(QWidget* parent = nullptr);

    PageMapView* pageMap() const { return pageMap_; }
    AdapterCacheView* adapterCache() const { return adapterCache_; }
    BatchView* batch() const { return batch_; }
    ThroughputView* throughput() const { return throughput_; }

public slots:
    void showSnapshot(const workbench::MetricsPtr& snapshot);

protected:
    void showEvent(QShowEvent* event) override;
    void resizeEvent(QResizeEvent* event) override;

private:
    void refresh();

    PageMapView* pageMap_;
    AdapterCacheView* adapterCache_;
    BatchView* batch_;
    ThroughputView* throughput_;
    QList<PlotView*> views_;
    QList<QSplitter*> pairs_;  // (page map, batch) and (cache, throughput): side by side or stacked
    MetricsPtr pending_;       // the latest snapshot not drawn yet
    QTimer refreshTimer_;
    QElapsedTimer clock_;
};

}  // namespace workbench
