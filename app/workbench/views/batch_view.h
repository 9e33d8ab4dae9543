// Batch composition: one stacked bar per engine step for the last steps, tokens per
// model (adapter, or base for the bare base) above, prefill against decode below.
// Snapshots each carry the engine's most recent steps; steps are joined across
// snapshots by their index, so each is drawn once.
#pragma once

#include "views/plot_view.h"

#include "metrics/metrics_snapshot.h"

#include <QMap>

#include <cstdint>
#include <deque>
#include <optional>

class QCPBars;
class QMouseEvent;

namespace workbench {

class BatchView : public PlotView {
    Q_OBJECT
public:
    static constexpr std::size_t kSteps = 100;
    // Past this many models the legend would bury the bars: hovering names them instead.
    static constexpr int kMaxLegendModels = 8;

    explicit BatchView(QWidget* parent = nullptr);

    void showSnapshot(const MetricsPtr& snapshot, double seconds) override;

    // The steps shown, oldest first.
    const std::deque<lw::StepRecord>& steps() const { return steps_; }
    QStringList models() const { return bars_.keys(); }
    const QCPBars* barsFor(const QString& model) const { return bars_.value(model); }
    const QCPBars* prefillBars() const { return prefill_; }
    const QCPBars* decodeBars() const { return decode_; }
    // The hover text of a step ("step 12: 40 tokens in 3 sequences ...").
    QString describeStep(std::uint64_t index) const;

protected:
    void redraw() override;

private:
    void showTooltip(QMouseEvent* event);

    std::deque<lw::StepRecord> steps_;
    QMap<QString, QCPBars*> bars_;  // sorted by name: the stacking order
    QCPAxisRect* phaseRect_;
    QCPBars* prefill_;
    QCPBars* decode_;
};

}  // namespace workbench
