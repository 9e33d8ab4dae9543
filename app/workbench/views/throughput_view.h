// Throughput and latency over the last minute: generated tokens per second, time to
// first token and inter-token latency (p50 and p90, in milliseconds), one row each.
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
    QCPAxisRect* ttftRect_;
    QCPAxisRect* itlRect_;
    QCPGraph* tokens_;
    QCPGraph* ttft50_;
    QCPGraph* ttft90_;
    QCPGraph* itl50_;
    QCPGraph* itl90_;
    double latest_ = 0.0;
};

}  // namespace workbench
