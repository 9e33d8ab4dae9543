// Colors for the live views, derived from the widget's palette so every plot reads well
// in light and dark themes, with one stable hue per adapter or model name so the same
// adapter has the same color in every view and every session.
#pragma once

#include <QColor>
#include <QPalette>
#include <QString>

class QCustomPlot;

namespace workbench {

class ViewColors {
public:
    explicit ViewColors(const QPalette& palette);

    bool dark() const { return dark_; }
    QColor background() const { return background_; }
    QColor text() const { return text_; }
    QColor axis() const { return axis_; }
    QColor grid() const { return grid_; }
    QColor freePage() const { return freePage_; }

    // The solid color of an adapter or base model: its weights, its tokens in a batch.
    QColor forModel(const QString& name) const;
    // A paler (light theme) or dimmer (dark theme) tint of the same hue: the KV cache
    // pages of requests that run the model.
    QColor kvForModel(const QString& name) const;
    // The gray that stands for "any model" in legends of the two shades above.
    QColor anyModel() const;
    QColor anyKv() const;
    // Series that are not models (hits, misses, p50, ...): the n-th of a set of distinct hues.
    QColor series(int n) const;

    // Paints a plot's background, axes, grids, titles and legends.
    void applyTo(QCustomPlot* plot) const;

private:
    QColor solid(int hue) const;
    QColor tint(int hue) const;

    bool dark_ = false;
    QColor background_, text_, axis_, grid_, freePage_;
};

}  // namespace workbench
