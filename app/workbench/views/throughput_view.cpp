#include "views/throughput_view.h"

#include "metrics/metrics_snapshot.h"

#include <qcustomplot.h>

#include <cmath>

namespace workbench {

namespace {

QCPGraph* addGraph(QCustomPlot* plot, QCPAxisRect* rect, const QString& name) {
    QCPGraph* graph = plot->addGraph(rect->axis(QCPAxis::atBottom), rect->axis(QCPAxis::atLeft));
    graph->setName(name);
    return graph;
}

}  // namespace

void ThroughputView::appendLatency(QCPGraph* graph, double seconds, double latency) {
    if (latency > 0.0) appendPoint(graph, seconds, latency * 1000.0);
}

ThroughputView::ThroughputView(QWidget* parent)
    : PlotView(tr("Throughput and latency"), parent), latencyRect_(addAxisRect()) {
    QCPAxisRect* tokensRect = plot()->axisRect();
    tokensRect->axis(QCPAxis::atLeft)->setLabel(tr("tokens/s"));
    QCPAxis* latency = latencyRect_->axis(QCPAxis::atLeft);
    latency->setLabel(tr("latency (ms)"));
    latency->setScaleType(QCPAxis::stLogarithmic);
    latency->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    latencyRect_->axis(QCPAxis::atBottom)->setLabel(tr("time (s)"));
    plot()->setAutoAddPlottableToLegend(false);
    tokens_ = addGraph(plot(), tokensRect, tr("generated tokens/s"));
    ttft50_ = addGraph(plot(), latencyRect_, tr("TTFT p50"));
    ttft90_ = addGraph(plot(), latencyRect_, tr("TTFT p90"));
    itl50_ = addGraph(plot(), latencyRect_, tr("ITL p50"));
    itl90_ = addGraph(plot(), latencyRect_, tr("ITL p90"));
    for (QCPGraph* graph : {ttft50_, ttft90_, itl50_, itl90_}) graph->addToLegend();
    showLegendUnderTitle(4);
    finishSetup();
    redraw();
    setCaption(tr("No engine running."));
}

void ThroughputView::showSnapshot(const MetricsPtr& snapshot, double seconds) {
    const lw::MetricsSnapshot& s = *snapshot;
    appendPoint(tokens_, seconds, s.tokens_per_second);
    appendLatency(ttft50_, seconds, s.time_to_first_token.p50);
    appendLatency(ttft90_, seconds, s.time_to_first_token.p90);
    appendLatency(itl50_, seconds, s.inter_token_latency.p50);
    appendLatency(itl90_, seconds, s.inter_token_latency.p90);
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
    ttft50_->setPen(QPen(colors().series(2), 1.5));
    ttft90_->setPen(QPen(colors().series(2), 1.5, Qt::DashLine));
    itl50_->setPen(QPen(colors().series(4), 1.5));
    itl90_->setPen(QPen(colors().series(4), 1.5, Qt::DashLine));
    showHistory(plot()->axisRect(), latest_);

    // The log axis spans whole decades around the visible latencies, so it has labels.
    const QCPRange shown = latencyRect_->axis(QCPAxis::atBottom)->range();
    showHistory(latencyRect_, latest_);
    double low = 0.0, high = 0.0;
    for (QCPGraph* graph : latencyRect_->graphs()) {
        bool found = false;
        const QCPRange values = graph->getValueRange(found, QCP::sdPositive, shown);
        if (!found) continue;
        low = low > 0.0 ? qMin(low, values.lower) : values.lower;
        high = qMax(high, values.upper);
    }
    if (low > 0.0)
        latencyRect_->axis(QCPAxis::atLeft)
            ->setRange(std::pow(10.0, std::floor(std::log10(low))), std::pow(10.0, std::ceil(std::log10(high * 1.01))));
    else
        latencyRect_->axis(QCPAxis::atLeft)->setRange(1.0, 1000.0);
    plot()->replot(QCustomPlot::rpQueuedReplot);
}

}  // namespace workbench
