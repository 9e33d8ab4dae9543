#include "views/plot_view.h"

#include <QEvent>
#include <QLabel>
#include <QTextDocumentFragment>
#include <QVBoxLayout>

#include <qcustomplot.h>

namespace workbench {

PlotView::PlotView(const QString& title, QWidget* parent)
    : QWidget(parent), plot_(new QCustomPlot(this)), caption_(new QLabel(this)), colors_(palette()) {
    plot_->setMinimumSize(160, 120);
    plot_->setNoAntialiasingOnDrag(true);
    plot_->plotLayout()->insertRow(0);
    auto* heading = new QCPTextElement(plot_, title, QFont(font().family(), font().pointSize(), QFont::Bold));
    plot_->plotLayout()->addElement(0, 0, heading);
    plot_->plotLayout()->setRowSpacing(0);

    caption_->setTextFormat(Qt::RichText);
    caption_->setWordWrap(true);
    caption_->setTextInteractionFlags(Qt::TextSelectableByMouse);

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(2);
    layout->addWidget(plot_, 1);
    layout->addWidget(caption_);
}

QString PlotView::caption() const {
    return QTextDocumentFragment::fromHtml(caption_->text()).toPlainText();
}

void PlotView::setCaption(const QString& html) {
    caption_->setText(html);
}

QCPAxisRect* PlotView::addAxisRect() {
    QCPAxisRect* first = plot_->axisRect(0);
    if (!first->marginGroup(QCP::msLeft)) first->setMarginGroup(QCP::msLeft | QCP::msRight, new QCPMarginGroup(plot_));
    auto* rect = new QCPAxisRect(plot_);
    rect->setMarginGroup(QCP::msLeft | QCP::msRight, first->marginGroup(QCP::msLeft));
    plot_->plotLayout()->addElement(plot_->plotLayout()->rowCount(), 0, rect);
    return rect;
}

void PlotView::finishSetup() {
    QFont small = font();
    small.setPointSizeF(small.pointSizeF() * 0.85);
    for (QCPAxisRect* rect : plot_->axisRects()) {
        for (QCPAxis* axis : rect->axes()) {
            axis->setTickLabelFont(small);
            axis->setLabelFont(small);
        }
        QCPAxis* values = rect->axis(QCPAxis::atLeft);
        if (values->scaleType() == QCPAxis::stLinear) values->ticker()->setTickCount(3);
    }
    plot_->legend->setFont(small);
    colors_.applyTo(plot_);
}

void PlotView::showLegendUnderTitle(int maxColumns) {
    maxLegendColumns_ = maxColumns;
    QCPLegend* legend = plot_->legend;
    plot_->axisRect(0)->insetLayout()->take(legend);
    plot_->axisRect(0)->insetLayout()->simplify();
    plot_->plotLayout()->insertRow(1);
    plot_->plotLayout()->addElement(1, 0, legend);
    plot_->plotLayout()->setRowStretchFactor(1, 0.001);  // as tall as its items, no more
    legend->setVisible(true);
    legend->setFillOrder(QCPLegend::foColumnsFirst);
    legend->setWrap(maxColumns);
    legend->setMargins(QMargins(4, 0, 4, 0));
    legend->setRowSpacing(0);
}

void PlotView::appendPoint(QCPGraph* graph, double seconds, double value) {
    graph->addData(seconds, value);
    graph->data()->removeBefore(seconds - kHistorySeconds);
}

void PlotView::showHistory(QCPAxisRect* rect, double seconds) {
    const double end = qMax(seconds, kHistorySeconds);
    rect->axis(QCPAxis::atBottom)->setRange(end - kHistorySeconds, end);
    double top = 0.0;
    for (QCPGraph* graph : rect->graphs()) {
        bool found = false;
        const QCPRange values = graph->getValueRange(found, QCP::sdBoth, rect->axis(QCPAxis::atBottom)->range());
        if (found) top = qMax(top, values.upper);
    }
    rect->axis(QCPAxis::atLeft)->setRange(0.0, top > 0.0 ? top * 1.15 : 1.0);
}

void PlotView::resizeEvent(QResizeEvent* event) {
    QWidget::resizeEvent(event);
    if (maxLegendColumns_ == 0) return;
    // Room for a swatch and a name like "customer_b" per column.
    const int columnWidth = fontMetrics().horizontalAdvance(QStringLiteral("customer_b")) + 40;
    plot_->legend->setWrap(qBound(1, width() / columnWidth, maxLegendColumns_));
}

void PlotView::changeEvent(QEvent* event) {
    QWidget::changeEvent(event);
    if (event->type() != QEvent::PaletteChange) return;
    colors_ = ViewColors(palette());
    colors_.applyTo(plot_);
    redraw();
}

}  // namespace workbench
