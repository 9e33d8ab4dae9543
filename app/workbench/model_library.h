// The library tree's model: base models at the top, each with its adapters under it,
// with what the engine says of each (rank, targets, size on disk) and what the
// metrics say now (tier: pool, host or disk, and pool hits).
#pragma once

#include "engine_types.h"

#include <QStandardItemModel>

namespace lw {
struct MetricsSnapshot;
}

namespace workbench {

class ModelLibrary : public QStandardItemModel {
    Q_OBJECT
public:
    enum Column { Name, Rank, Targets, Size, Tier, Hits, ColumnCount };
    enum Role { ModelNameRole = Qt::UserRole + 1, IsAdapterRole, PathRole };

    explicit ModelLibrary(QObject* parent = nullptr);

    // A name seen again (after an engine restart) updates its row.
    void addBase(const ModelEntry& base);
    void addAdapter(const ModelEntry& adapter);  // under its base, which must be listed
    void removeAdapter(const QString& name);

    // Updates the tier and hits columns of every adapter listed.
    void showResidency(const lw::MetricsSnapshot& snapshot);

    // The row of a model (column Name), invalid when it is not listed.
    QModelIndex indexOf(const QString& name) const;
    QStringList baseNames() const;
    QStringList adapterNames() const;  // of every base

private:
    QList<QStandardItem*> makeRow() const;
    void setRow(QStandardItem* nameItem, const ModelEntry& entry);
};

}  // namespace workbench
