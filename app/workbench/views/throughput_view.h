// Throughput and latency over the last minute: generated tokens per second above; time
// to first token and inter-token latency (p50 and p90, in ms) below, on a log scale so
// that TTFT's hundreds and ITL's tens of milliseconds both read.
#pragma once

#include "views/plot_view.h"

namespace workbench {

class ThroughputView : public PlotView {
    Q_OBJECT
public:
    explicit ThroughputView(QWidget* parent = nullptr);

    void showSnapshot(const MetricsPtr& snapshot, double seconds) override;

    const QCPGraph* tokensPerSecond() const { return tokens_; }
    const QCPGraph* ttftP50() const { return ttft50_; }
    const QCPGraph* ttftP90() const { return ttft90_; }
    const QCPGraph* itlP50() const { return itl50_; }
    const QCPGraph* itlP90() const { return itl90_; }

protected:
    void redraw() override;

private:
    // A latency in ms, when there is one: a log axis has no place for 0 (no samples yet).
    static void appendLatency(QCPGraph* graph, double seconds, double latency);

    QCPAxisRect* latencyRect_;
    QCPGraph* tokens_;
    QCPGraph* ttft50_;
    QCPGraph* ttft90_;
    QCPGraph* itl50_;
    QCPGraph* itl90_;
    double latest_ = 0.0;
};

}  // namespace workbench
