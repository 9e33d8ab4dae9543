#include "views/throughput_view.h"

#include "metrics/metrics_snapshot.h"

#include <qcustomplot.h>

namespace workbench {

namespace {

QCPGraph* addGraph(QCustomPlot* plot, QCPAxisRect* rect, const QString& name) {
    QCPGraph* graph = plot->addGraph(rect->axis(QCPAxis::atBottom), rect->axis(QCPAxis::atLeft));
    graph->setName(name);
    return graph;
}

}  // namespace

ThroughputView::ThroughputView(QWidget* parent)
    : PlotView(tr("Throughput and latency"), parent), ttftRect_(addAxisRect()), itlRect_(addAxisRect()) {
    QCPAxisRect* tokensRect = plot()->axisRect();
    tokensRect->axis(QCPAxis::atLeft)->setLabel(tr("tokens/s"));
    ttftRect_->axis(QCPAxis::atLeft)->setLabel(tr("TTFT (ms)"));
    itlRect_->axis(QCPAxis::atLeft)->setLabel(tr("ITL (ms)"));
    itlRect_->axis(QCPAxis::atBottom)->setLabel(tr("time (s)"));
    plot()->setAutoAddPlottableToLegend(false);
    tokens_ = addGraph(plot(), tokensRect, tr("generated tokens/s"));
    ttft50_ = addGraph(plot(), ttftRect_, tr("p50"));
    ttft90_ = addGraph(plot(), ttftRect_, tr("p90"));
    itl50_ = addGraph(plot(), itlRect_, tr("p50"));
    itl90_ = addGraph(plot(), itlRect_, tr("p90"));
    // p50 and p90 read alike in both latency rows: one legend for both.
    ttft50_->addToLegend();
    ttft90_->addToLegend();
    showLegendUnderTitle(2);
    colors().applyTo(plot());
    redraw();
    setCaption(tr("No engine running."));
}

void ThroughputView::showSnapshot(const MetricsPtr& snapshot, double seconds) {
    const lw::MetricsSnapshot& s = *snapshot;
    appendPoint(tokens_, seconds, s.tokens_per_second);
    appendPoint(ttft50_, seconds, s.time_to_first_token.p50 * 1000.0);
    appendPoint(ttft90_, seconds, s.time_to_first_token.p90 * 1000.0);
    appendPoint(itl50_, seconds, s.inter_token_latency.p50 * 1000.0);
    appendPoint(itl90_, seconds, s.inter_token_latency.p90 * 1000.0);
    latest_ = seconds;
    setCaption(tr("<b>%1</b> tokens/s &nbsp; TTFT p50 %2 ms, p90 %3 ms &nbsp; ITL p50 %4 ms, p90 %5 ms &nbsp; "
                  "%6 running, %7 waiting, %8 preemptions")
                   .arg(s.tokens_per_second, 0, 'f', 1)
                   .arg(s.time_to_first_token.p50 * 1000.0, 0, 'f', 0)
                   .arg(s.time_to_first_token.p90 * 1000.0, 0, 'f', 0)
                   .arg(s.inter_token_latency.p50 * 1000.0, 0, 'f', 1)
                   .arg(s.inter_token_latency.p90 * 1000.0, 0, 'f', 1)
                   .arg(s.running)
                   .arg(s.waiting)
                   .arg(s.preemptions));
    redraw();
}

void ThroughputView::redraw() {
    QColor fill = colors().series(0);
    tokens_->setPen(QPen(fill, 1.5));
    fill.setAlpha(40);
    tokens_->setBrush(fill);
    for (QCPGraph* p50 : {ttft50_, itl50_}) p50->setPen(QPen(colors().series(2), 1.5));
    for (QCPGraph* p90 : {ttft90_, itl90_}) p90->setPen(QPen(colors().series(3), 1.5, Qt::DashLine));
    for (QCPAxisRect* rect : plot()->axisRects()) showHistory(rect, latest_);
    plot()->replot(QCustomPlot::rpQueuedReplot);
}

}  // namespace workbench
