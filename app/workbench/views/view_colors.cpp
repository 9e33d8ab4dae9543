#include "views/view_colors.h"

#include <qcustomplot.h>

#include <array>

namespace workbench {

namespace {

// FNV-1a: unlike qHash it is the same in every process, so colors survive restarts.
int hueOf(const QString& name) {
    std::uint32_t h = 2166136261u;
    for (const char c : name.toUtf8()) {
        h ^= static_cast<unsigned char>(c);
        h *= 16777619u;
    }
    return static_cast<int>(h % 360u);
}

// `from` moved the fraction `f` of the way to `to`.
QColor mix(const QColor& from, const QColor& to, double f) {
    return QColor::fromRgbF(from.redF() + (to.redF() - from.redF()) * f,
                            from.greenF() + (to.greenF() - from.greenF()) * f,
                            from.blueF() + (to.blueF() - from.blueF()) * f);
}

}  // namespace

ViewColors::ViewColors(const QPalette& palette) {
    background_ = palette.color(QPalette::Base);
    text_ = palette.color(QPalette::Text);
    dark_ = background_.lightness() < 128;
    axis_ = mix(background_, text_, 0.5);
    grid_ = mix(background_, text_, 0.18);
    freePage_ = mix(background_, text_, 0.14);  // a pool of free pages still shows as a grid
}

QColor ViewColors::solid(int hue) const {
    return dark_ ? QColor::fromHsv(hue, 170, 235) : QColor::fromHsv(hue, 200, 200);
}

QColor ViewColors::tint(int hue) const {
    return dark_ ? QColor::fromHsv(hue, 150, 125) : QColor::fromHsv(hue, 70, 245);
}

QColor ViewColors::forModel(const QString& name) const {
    return solid(hueOf(name));
}

QColor ViewColors::kvForModel(const QString& name) const {
    return tint(hueOf(name));
}

QColor ViewColors::anyModel() const {
    return QColor::fromHsv(0, 0, solid(0).value() * 3 / 4);
}

QColor ViewColors::anyKv() const {
    return QColor::fromHsv(0, 0, dark_ ? 105 : 215);
}

QColor ViewColors::series(int n) const {
    static constexpr std::array<int, 8> kHues = {210, 25, 120, 355, 275, 45, 180, 320};
    return solid(kHues[static_cast<std::size_t>(n) % kHues.size()]);
}

void ViewColors::applyTo(QCustomPlot* plot) const {
    plot->setBackground(background_);
    const QPen axisPen(axis_);
    const QPen gridPen(grid_, 0, Qt::DotLine);
    for (QCPAxisRect* rect : plot->axisRects()) {
        rect->setBackground(background_);
        for (QCPAxis* axis : rect->axes()) {
            axis->setBasePen(axisPen);
            axis->setTickPen(axisPen);
            axis->setSubTickPen(axisPen);
            axis->setTickLabelColor(text_);
            axis->setLabelColor(text_);
            axis->grid()->setPen(gridPen);
            axis->grid()->setZeroLinePen(Qt::NoPen);
        }
    }
    for (QCPLayoutElement* element : plot->plotLayout()->elements(true)) {
        if (auto* title = qobject_cast<QCPTextElement*>(element)) title->setTextColor(text_);
        if (auto* legend = qobject_cast<QCPLegend*>(element)) {
            legend->setBrush(Qt::NoBrush);  // legends sit in their own row, outside the data
            legend->setBorderPen(Qt::NoPen);
            legend->setTextColor(text_);
            for (int i = 0; i < legend->itemCount(); ++i)
                if (QCPAbstractLegendItem* item = legend->item(i))
                    item->setTextColor(text_);  // wrapped grids have empty cells
        }
    }
}

}  // namespace workbench
