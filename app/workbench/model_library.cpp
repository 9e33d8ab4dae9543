#include "model_library.h"

#include "metrics/metrics_snapshot.h"

#include <QLocale>

namespace workbench {

namespace {

QString tier_name(const lw::AdapterResidency& a) {
    if (!a.error.empty()) return ModelLibrary::tr("failed");
    if (a.loading) return ModelLibrary::tr("loading");
    switch (a.tier) {
        case lw::AdapterTier::Pool:
            return ModelLibrary::tr("pool");
        case lw::AdapterTier::Host:
            return ModelLibrary::tr("host");
        case lw::AdapterTier::Disk:
            break;
    }
    return ModelLibrary::tr("disk");
}

}  // namespace

ModelLibrary::ModelLibrary(QObject* parent) : QStandardItemModel(0, ColumnCount, parent) {
    setHorizontalHeaderLabels({tr("Name"), tr("Rank"), tr("Targets"), tr("Size"), tr("Tier"), tr("Hits")});
}

QList<QStandardItem*> ModelLibrary::makeRow() const {
    QList<QStandardItem*> row;
    for (int c = 0; c < ColumnCount; ++c) {
        auto* item = new QStandardItem;
        item->setEditable(false);
        row.append(item);
    }
    return row;
}

void ModelLibrary::setRow(QStandardItem* nameItem, const ModelEntry& entry) {
    QStandardItem* parent = nameItem->parent() ? nameItem->parent() : invisibleRootItem();
    const int r = nameItem->row();
    const bool adapter = !entry.base.isEmpty();
    nameItem->setText(entry.name);
    nameItem->setData(entry.name, ModelNameRole);
    nameItem->setData(adapter, IsAdapterRole);
    nameItem->setData(entry.path, PathRole);
    nameItem->setToolTip(QStringLiteral("%1\n%2 (%3)").arg(entry.name, entry.path, entry.format));
    parent->child(r, Rank)->setText(adapter ? QString::number(entry.rank) : QString());
    parent->child(r, Targets)->setText(entry.targets.join(QStringLiteral(", ")));
    parent->child(r, Size)->setText(QLocale().formattedDataSize(entry.bytes));
    if (!adapter) parent->child(r, Tier)->setText(entry.format);
}

void ModelLibrary::addBase(const ModelEntry& base) {
    QModelIndex existing = indexOf(base.name);
    if (!existing.isValid()) {
        appendRow(makeRow());
        existing = index(rowCount() - 1, Name);
    }
    setRow(itemFromIndex(existing), base);
}

void ModelLibrary::addAdapter(const ModelEntry& adapter) {
    const QModelIndex base = indexOf(adapter.base);
    if (!base.isValid()) return;  // the bridge loads adapters only onto loaded bases
    QModelIndex existing = indexOf(adapter.name);
    if (!existing.isValid()) {
        QStandardItem* baseItem = itemFromIndex(base);
        baseItem->appendRow(makeRow());
        existing = indexFromItem(baseItem->child(baseItem->rowCount() - 1, Name));
    }
    setRow(itemFromIndex(existing), adapter);
}

void ModelLibrary::removeAdapter(const QString& name) {
    const QModelIndex i = indexOf(name);
    if (i.isValid() && i.data(IsAdapterRole).toBool()) removeRow(i.row(), i.parent());
}

void ModelLibrary::showResidency(const lw::MetricsSnapshot& snapshot) {
    for (const lw::AdapterResidency& a : snapshot.adapters) {
        const QModelIndex i = indexOf(QString::fromStdString(a.name));
        if (!i.isValid()) continue;
        QStandardItem* parent = itemFromIndex(i.parent());
        QStandardItem* tier = parent->child(i.row(), Tier);
        QStandardItem* hits = parent->child(i.row(), Hits);
        tier->setText(tier_name(a));
        tier->setToolTip(a.error.empty() ? tr("%n request(s) using it now", nullptr, a.pins)
                                         : QString::fromStdString(a.error));
        hits->setText(QString::number(a.hits));
        hits->setToolTip(tr("%1 requests found it in the pool, %2 waited for it").arg(a.hits).arg(a.misses));
    }
}

QModelIndex ModelLibrary::indexOf(const QString& name) const {
    const QModelIndexList found = match(index(0, Name), ModelNameRole, name, 1, Qt::MatchExactly | Qt::MatchRecursive);
    return found.isEmpty() ? QModelIndex() : found.first();
}

QStringList ModelLibrary::baseNames() const {
    QStringList names;
    for (int r = 0; r < rowCount(); ++r) names.append(item(r, Name)->text());
    return names;
}

QStringList ModelLibrary::adapterNames() const {
    QStringList names;
    for (int r = 0; r < rowCount(); ++r)
        for (int c = 0; c < item(r, Name)->rowCount(); ++c) names.append(item(r, Name)->child(c, Name)->text());
    return names;
}

}  // namespace workbench
