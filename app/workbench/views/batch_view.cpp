#include "views/batch_view.h"

#include <QMouseEvent>
#include <QToolTip>

#include <qcustomplot.h>

#include <cmath>

namespace workbench {

namespace {

constexpr double kBarWidth = 0.8;

QCPBars* makeBars(QCPAxisRect* rect, const QString& name) {
    auto* bars = new QCPBars(rect->axis(QCPAxis::atBottom), rect->axis(QCPAxis::atLeft));
    bars->setName(name);
    bars->setWidth(kBarWidth);
    bars->setStackingGap(0);
    return bars;
}

}  // namespace

BatchView::BatchView(QWidget* parent) : PlotView(tr("Batch composition"), parent), phaseRect_(addAxisRect()) {
    plot()->yAxis->setLabel(tr("tokens"));
    phaseRect_->axis(QCPAxis::atLeft)->setLabel(tr("by phase"));
    phaseRect_->axis(QCPAxis::atBottom)->setLabel(tr("engine step"));
    for (QCPAxisRect* rect : plot()->axisRects()) {
        rect->axis(QCPAxis::atBottom)->ticker()->setTickStepStrategy(QCPAxisTicker::tssReadability);
        rect->setRangeDrag(Qt::Horizontal);
    }
    plot()->setAutoAddPlottableToLegend(false);
    prefill_ = makeBars(phaseRect_, tr("prefill"));
    decode_ = makeBars(phaseRect_, tr("decode"));
    decode_->moveAbove(prefill_);
    prefill_->addToLegend();
    decode_->addToLegend();
    showLegendUnderTitle(5);  // prefill and decode first, then the models

    plot()->setMouseTracking(true);
    connect(plot(), &QCustomPlot::mouseMove, this, &BatchView::showTooltip);
    finishSetup();
    redraw();
    setCaption(tr("No steps yet."));
}

void BatchView::showSnapshot(const MetricsPtr& snapshot, double) {
    const std::vector<lw::StepRecord>& recent = snapshot->steps;
    // A newest step older than ours means a new engine: start over.
    if (!recent.empty() && !steps_.empty() && recent.back().index < steps_.back().index) steps_.clear();
    for (const lw::StepRecord& step : recent)
        if (steps_.empty() || step.index > steps_.back().index) steps_.push_back(step);
    while (steps_.size() > kSteps) steps_.pop_front();

    if (!steps_.empty()) {
        std::size_t tokens = 0;
        double seconds = 0.0;
        for (const lw::StepRecord& step : steps_) {
            tokens += step.prefill_tokens + step.decode_tokens;
            seconds += step.seconds;
        }
        setCaption(tr("Last %1 steps: %2 tokens per step, %3 ms per step &nbsp; %4 running, %5 waiting")
                       .arg(steps_.size())
                       .arg(double(tokens) / steps_.size(), 0, 'f', 1)
                       .arg(1000.0 * seconds / steps_.size(), 0, 'f', 1)
                       .arg(snapshot->running)
                       .arg(snapshot->waiting));
    }
    redraw();
}

void BatchView::redraw() {
    // Bars for exactly the models in the window, stacked in name order.
    QMap<QString, QVector<double>> values;
    QVector<double> keys, prefill, decode;
    for (const lw::StepRecord& step : steps_) {
        for (const auto& [model, tokens] : step.tokens_by_model) values[QString::fromStdString(model)];
    }
    for (auto it = bars_.begin(); it != bars_.end();) {
        if (values.contains(it.key())) {
            ++it;
        } else {
            plot()->removePlottable(it.value());
            it = bars_.erase(it);
        }
    }
    for (const lw::StepRecord& step : steps_) {
        const double key = double(step.index);
        keys << key;
        prefill << double(step.prefill_tokens);
        decode << double(step.decode_tokens);
        for (auto it = values.begin(); it != values.end(); ++it) {
            const auto tokens = step.tokens_by_model.find(it.key().toStdString());
            *it << (tokens == step.tokens_by_model.end() ? 0.0 : double(tokens->second));
        }
    }
    QCPBars* below = nullptr;
    for (auto it = values.begin(); it != values.end(); ++it) {
        QCPBars*& bars = bars_[it.key()];
        if (!bars) bars = makeBars(plot()->axisRect(), it.key());
        bars->moveAbove(below);
        below = bars;
        bars->setData(keys, *it, true);
        const QColor color = colors().forModel(it.key());
        bars->setPen(QPen(color.darker(130)));
        bars->setBrush(color);
    }
    // The legend lists the models in name order after prefill and decode, unless there are too many.
    for (QCPBars* bars : std::as_const(bars_)) {
        bars->removeFromLegend();
        if (bars_.size() <= kMaxLegendModels) bars->addToLegend();
    }
    prefill_->setData(keys, prefill, true);
    decode_->setData(keys, decode, true);
    prefill_->setPen(Qt::NoPen);
    prefill_->setBrush(colors().series(0));
    decode_->setPen(Qt::NoPen);
    decode_->setBrush(colors().series(1));

    const double last = steps_.empty() ? double(kSteps) : double(steps_.back().index);
    double top = 1.0, phaseTop = 1.0;
    for (const lw::StepRecord& step : steps_) {
        std::size_t tokens = 0;
        for (const auto& [model, count] : step.tokens_by_model) tokens += count;
        top = qMax(top, double(tokens));
        phaseTop = qMax(phaseTop, double(step.prefill_tokens + step.decode_tokens));
    }
    for (QCPAxisRect* rect : plot()->axisRects())
        rect->axis(QCPAxis::atBottom)->setRange(last - double(kSteps) + 0.5, last + 0.5);
    plot()->yAxis->setRange(0, top * 1.1);
    phaseRect_->axis(QCPAxis::atLeft)->setRange(0, phaseTop * 1.1);
    colors().applyTo(plot());  // the new bars' legend items
    plot()->replot(QCustomPlot::rpQueuedReplot);
}

QString BatchView::describeStep(std::uint64_t index) const {
    for (const lw::StepRecord& step : steps_) {
        if (step.index != index) continue;
        QString text = tr("step %1: %2 tokens (%3 prefill, %4 decode) in %5 sequences, %6 ms")
                           .arg(step.index)
                           .arg(step.prefill_tokens + step.decode_tokens)
                           .arg(step.prefill_tokens)
                           .arg(step.decode_tokens)
                           .arg(step.sequences)
                           .arg(step.seconds * 1000.0, 0, 'f', 1);
        for (const auto& [model, tokens] : step.tokens_by_model)
            text += QStringLiteral("\n  %1: %2").arg(QString::fromStdString(model)).arg(tokens);
        return text;
    }
    return {};
}

void BatchView::showTooltip(QMouseEvent* event) {
    const double key = plot()->xAxis->pixelToCoord(event->position().x());
    const QString text = key < 0 ? QString() : describeStep(static_cast<std::uint64_t>(std::llround(key)));
    if (text.isEmpty())
        QToolTip::hideText();
    else
        QToolTip::showText(event->globalPosition().toPoint(), text, plot());
}

}  // namespace workbench
