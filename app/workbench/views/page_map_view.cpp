#include "views/page_map_view.h"

#include "metrics/metrics_snapshot.h"

#include <QLocale>
#include <QMouseEvent>
#include <QSet>
#include <QToolTip>

#include <qcustomplot.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <unordered_map>

namespace workbench {

namespace {

// Cells at least this many pixels wide get a one-pixel gap, so that small pools read as a grid.
constexpr int kGapFromPixels = 5;
constexpr int kMaxCellPixels = 24;
constexpr int kMaxNamedModels = 12;

QString bytesText(std::size_t bytes) {
    return QLocale::c().formattedDataSize(static_cast<qint64>(bytes), 1, QLocale::DataSizeIecFormat);
}

QString swatch(const QColor& color) {
    return QStringLiteral("<span style='color:%1'>&#9632;</span>").arg(color.name());
}

QString nameOf(const std::map<std::uint64_t, std::string>& names, std::uint64_t id) {
    const auto it = names.find(id);
    return it == names.end() ? QString() : QString::fromStdString(it->second);
}

}  // namespace

PageMapView::PageMapView(QWidget* parent) : PlotView(tr("Memory pool"), parent), pixmap_(new QCPItemPixmap(plot())) {
    QCPAxisRect* rect = plot()->axisRect();
    rect->setAutoMargins(QCP::msNone);
    rect->setMargins(QMargins(4, 2, 4, 2));
    for (QCPAxis* axis : rect->axes()) axis->setVisible(false);
    plot()->yAxis->setRangeReversed(true);  // page 0 at the top left, like reading
    pixmap_->setScaled(true, Qt::IgnoreAspectRatio, Qt::FastTransformation);
    pixmap_->setPen(Qt::NoPen);
    pixmap_->topLeft->setCoords(0, 0);
    plot()->setMouseTracking(true);
    connect(plot(), &QCustomPlot::mouseMove, this, &PageMapView::showTooltip);
    finishSetup();
    redraw();
}

void PageMapView::showSnapshot(const MetricsPtr& snapshot, double) {
    snapshot_ = snapshot;
    redraw();
}

void PageMapView::resizeEvent(QResizeEvent* event) {
    PlotView::resizeEvent(event);
    redraw();  // the grid's shape follows the widget's
}

void PageMapView::redraw() {
    const std::size_t pages = snapshot_ ? snapshot_->pages.size() : 0;
    // A pixel per cell at least: a pool with more pages than the plot has pixels puts a
    // run of consecutive pages in each cell, so nothing is dropped by scaling.
    const double width = qMax(plot()->width() - 8, 16), height = qMax(plot()->height() - 30, 16);
    const auto pixels = static_cast<std::size_t>(width * height);
    pagesPerCell_ = qMax<std::size_t>(1, (pages + pixels - 1) / pixels);
    const std::size_t cells = (pages + pagesPerCell_ - 1) / pagesPerCell_;
    // Columns so that square cells fill the plot's shape.
    columns_ = qMax(1, static_cast<int>(std::ceil(std::sqrt(static_cast<double>(cells) * width / height))));
    const int rows = qMax(1, static_cast<int>((cells + columns_ - 1) / columns_));
    const int cellPixels = qBound(1, static_cast<int>(qMin(width / columns_, height / rows)), kMaxCellPixels);

    pixmap_->setPixmap(QPixmap::fromImage(paintPages(columns_, rows, cellPixels)));
    pixmap_->bottomRight->setCoords(columns_, rows);
    plot()->xAxis->setRange(0, columns_);
    plot()->yAxis->setRange(0, rows);
    updateCaption();
    plot()->replot(QCustomPlot::rpQueuedReplot);
}

QImage PageMapView::paintPages(int columns, int rows, int cellPixels) {
    QImage image(columns * cellPixels, rows * cellPixels, QImage::Format_RGB32);
    image.fill(colors().background());
    counts_ = {};
    if (!snapshot_) return image;

    // One color per owner, found once: the map may hold 100k pages but few owners.
    std::unordered_map<std::uint64_t, QRgb> kvColors, adapterColors;
    for (const auto& [id, model] : snapshot_->kv_models)
        kvColors[id] = colors().kvForModel(QString::fromStdString(model)).rgb();
    for (const auto& [id, name] : snapshot_->adapter_names)
        adapterColors[id] = colors().forModel(QString::fromStdString(name)).rgb();
    const QRgb freeColor = colors().freePage().rgb(), anyKv = colors().anyKv().rgb(),
               anyAdapter = colors().anyModel().rgb();
    const auto colorOf = [&](const std::unordered_map<std::uint64_t, QRgb>& known, std::uint64_t id, QRgb fallback) {
        const auto it = known.find(id);
        return it == known.end() ? fallback : it->second;
    };

    const int fill = cellPixels >= kGapFromPixels ? cellPixels - 1 : cellPixels;
    const std::vector<lw::PageOwner>& pages = snapshot_->pages;
    for (std::size_t cell = 0; cell * pagesPerCell_ < pages.size(); ++cell) {
        // The cell shows the kind most of its pages have (used kinds win ties), in the
        // color of the first page of that kind.
        const std::size_t first = cell * pagesPerCell_, end = std::min(first + pagesPerCell_, pages.size());
        std::array<std::size_t, 3> kinds{}, example{};  // indexed by PageUse: Free, KvCache, Adapter
        for (std::size_t page = end; page-- > first;) {
            const auto use = static_cast<std::size_t>(pages[page].use);
            ++kinds[use];
            example[use] = page;
        }
        std::size_t major = 0;
        for (std::size_t use = 1; use < kinds.size(); ++use)
            if (kinds[use] >= kinds[major]) major = use;
        const lw::PageOwner& owner = pages[example[major]];
        QRgb color = freeColor;
        if (owner.use == lw::PageUse::KvCache) color = colorOf(kvColors, owner.id, anyKv);
        if (owner.use == lw::PageUse::Adapter) color = colorOf(adapterColors, owner.id, anyAdapter);
        counts_.free += kinds[static_cast<std::size_t>(lw::PageUse::Free)];
        counts_.kv += kinds[static_cast<std::size_t>(lw::PageUse::KvCache)];
        counts_.adapter += kinds[static_cast<std::size_t>(lw::PageUse::Adapter)];

        const int x = static_cast<int>(cell % columns) * cellPixels, y = static_cast<int>(cell / columns) * cellPixels;
        for (int dy = 0; dy < fill; ++dy) {
            QRgb* line = reinterpret_cast<QRgb*>(image.scanLine(y + dy)) + x;
            std::fill(line, line + fill, color);
        }
        ++counts_.cells;
    }
    return image;
}

void PageMapView::updateCaption() {
    if (!snapshot_) {
        setCaption(tr("No engine running."));
        return;
    }
    const lw::MetricsSnapshot& s = *snapshot_;
    const auto total = [&](const QColor& color, const QString& kind, std::size_t pages) {
        return tr("%1 %2 %3 pages (%4)").arg(swatch(color), kind).arg(pages).arg(bytesText(pages * s.page_bytes));
    };
    QStringList parts = {total(colors().freePage(), tr("free"), s.pages_free),
                         total(colors().anyKv(), tr("KV cache"), s.pages_kv),
                         total(colors().anyModel(), tr("adapter weights"), s.pages_adapter)};
    QString html = parts.join(QStringLiteral(" &nbsp; "));

    // The models that own pages now, in their colors (weights, then KV tint).
    QSet<QString> seen;
    QStringList models;
    const auto addModel = [&](const std::string& name) {
        const QString model = QString::fromStdString(name);
        if (seen.contains(model) || models.size() >= kMaxNamedModels) return;
        seen.insert(model);
        models << swatch(colors().forModel(model)) + swatch(colors().kvForModel(model)) + QLatin1Char(' ') +
                      model.toHtmlEscaped();
    };
    for (const auto& [id, name] : s.adapter_names) addModel(name);
    for (const auto& [id, name] : s.kv_models) addModel(name);
    if (!models.isEmpty()) html += QStringLiteral("<br>") + models.join(QStringLiteral(" &nbsp; "));
    if (!s.pool_error.empty())
        html += QStringLiteral("<br><b>%1</b> %2")
                    .arg(tr("Pool accounting broken:"), QString::fromStdString(s.pool_error).toHtmlEscaped());
    setCaption(html);
}

long long PageMapView::pageAt(const QPointF& pos) const {
    if (!snapshot_) return -1;
    const double x = plot()->xAxis->pixelToCoord(pos.x()), y = plot()->yAxis->pixelToCoord(pos.y());
    if (x < 0 || y < 0 || x >= columns_) return -1;
    const long long cell = static_cast<long long>(y) * columns_ + static_cast<long long>(x);
    const long long page = cell * static_cast<long long>(pagesPerCell_);
    return page < static_cast<long long>(snapshot_->pages.size()) ? page : -1;
}

QString PageMapView::describePage(std::size_t page) const {
    if (!snapshot_ || page >= snapshot_->pages.size()) return {};
    const lw::PageOwner& owner = snapshot_->pages[page];
    const QString where = tr("page %1 of %2").arg(page).arg(snapshot_->pages.size());
    switch (owner.use) {
        case lw::PageUse::Free:
            return tr("%1: free").arg(where);
        case lw::PageUse::KvCache: {
            const QString model = nameOf(snapshot_->kv_models, owner.id);
            return tr("%1: KV cache of request %2 (%3)")
                .arg(where)
                .arg(owner.id)
                .arg(model.isEmpty() ? tr("model unknown") : model);
        }
        case lw::PageUse::Adapter: {
            const QString name = nameOf(snapshot_->adapter_names, owner.id);
            return tr("%1: weights of adapter %2").arg(where, name.isEmpty() ? tr("#%1").arg(owner.id) : name);
        }
    }
    return where;
}

QString PageMapView::describeCell(std::size_t firstPage) const {
    const QString text = describePage(firstPage);
    if (pagesPerCell_ == 1) return text;
    const std::size_t last = std::min(firstPage + pagesPerCell_, snapshot_->pages.size()) - 1;
    return text + QLatin1Char('\n') + tr("(this cell: pages %1 to %2)").arg(firstPage).arg(last);
}

void PageMapView::showTooltip(QMouseEvent* event) {
    const long long page = pageAt(event->position());
    if (page < 0)
        QToolTip::hideText();
    else
        QToolTip::showText(event->globalPosition().toPoint(), describeCell(static_cast<std::size_t>(page)), plot());
}

}  // namespace workbench
