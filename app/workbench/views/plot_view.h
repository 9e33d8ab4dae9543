// What the four live views share: a QCustomPlot with a title, a caption line under it,
// colors that follow the palette (light or dark, and changes of it), and rolling time
// series over the last minute. Each view turns a metrics snapshot into plottables and
// queues one replot; LiveViews decides how often that happens.
#pragma once

#include "engine_types.h"
#include "views/view_colors.h"

#include <QWidget>

class QCustomPlot;
class QCPAxisRect;
class QCPGraph;
class QLabel;

namespace workbench {

class PlotView : public QWidget {
    Q_OBJECT
public:
    // Seconds of history the time series keep and show.
    static constexpr double kHistorySeconds = 60.0;

    PlotView(const QString& title, QWidget* parent);

    // `snapshot` is never null; `seconds`: when it was taken, on a clock that only moves forward.
    virtual void showSnapshot(const MetricsPtr& snapshot, double seconds) = 0;

    QCustomPlot* plot() const { return plot_; }
    QString caption() const;  // the line under the plot, as plain text

protected:
    // Rebuilds the plottables from the view's data and queues a replot.
    virtual void redraw() = 0;

    const ViewColors& colors() const { return colors_; }
    // The end of a view's constructor: compact axes (small fonts, few value ticks, so a
    // view stays legible a quarter of a dock high) and the palette's colors.
    void finishSetup();
    void setCaption(const QString& html);
    // A new axis rect under the others, its left and right margins aligned with theirs.
    QCPAxisRect* addAxisRect();
    // Moves the plot's legend out of the data, into a row under the title, with as many
    // columns (up to `maxColumns`) as the width holds.
    void showLegendUnderTitle(int maxColumns);
    // Appends a point to a time series and forgets the points older than the history.
    static void appendPoint(QCPGraph* graph, double seconds, double value);
    // Shows the history up to `seconds` on the key axis (the first minute fills from the
    // left, then it scrolls), and 0 to the largest visible value.
    static void showHistory(QCPAxisRect* rect, double seconds);

    void changeEvent(QEvent* event) override;
    void resizeEvent(QResizeEvent* event) override;

private:
    QCustomPlot* plot_;
    QLabel* caption_;
    ViewColors colors_;
    int maxLegendColumns_ = 0;  // 0: the legend is not in a row of its own
};

}  // namespace workbench
