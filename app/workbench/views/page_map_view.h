// The memory pool's page map: one cell per page (or per run of pages, for pools with
// more pages than the plot has pixels), in page order, row by row. Free pages
// are neutral; adapter weight pages take their adapter's color; KV cache pages take a
// tint of the color of the model their request runs, so one hue follows an adapter
// through its weights and its requests' cache. Hovering a cell names its owner; the
// caption totals each kind in pages and bytes.
#pragma once

#include "views/plot_view.h"

#include <QImage>

#include <cstddef>

class QCPItemPixmap;
class QMouseEvent;

namespace workbench {

// What the last drawing put in the grid: cells, and pages per kind.
struct PageMapCounts {
    std::size_t cells = 0;
    std::size_t free = 0, kv = 0, adapter = 0;
};

class PageMapView : public PlotView {
    Q_OBJECT
public:
    explicit PageMapView(QWidget* parent = nullptr);

    void showSnapshot(const MetricsPtr& snapshot, double seconds) override;

    PageMapCounts drawnCounts() const { return counts_; }
    int columns() const { return columns_; }
    // Consecutive pages per cell: 1 unless the pool has more pages than the plot has pixels.
    std::size_t pagesPerCell() const { return pagesPerCell_; }
    // The hover text of a page: its index and owner ("page 12: KV cache of request 7 (qv_r8)").
    QString describePage(std::size_t page) const;
    // The hover text of the cell that starts at `firstPage`.
    QString describeCell(std::size_t firstPage) const;
    // The (first) page under a point of the plot widget, or -1 where there is none.
    long long pageAt(const QPointF& pos) const;

protected:
    void redraw() override;
    void resizeEvent(QResizeEvent* event) override;

private:
    void showTooltip(QMouseEvent* event);
    QImage paintPages(int columns, int rows, int cellPixels);
    void updateCaption();

    MetricsPtr snapshot_;
    QCPItemPixmap* pixmap_;
    PageMapCounts counts_;
    int columns_ = 1;
    std::size_t pagesPerCell_ = 1;
};

}  // namespace workbench
