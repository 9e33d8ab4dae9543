#include "library_view.h"

#include "drop_import.h"
#include "model_library.h"

#include <QDragEnterEvent>
#include <QDropEvent>
#include <QHeaderView>
#include <QMenu>
#include <QMimeData>

namespace workbench {

LibraryView::LibraryView(ModelLibrary* library, QWidget* parent) : QTreeView(parent), library_(library) {
    setModel(library);
    setAcceptDrops(true);
    setDropIndicatorShown(false);
    setDragDropMode(QAbstractItemView::DropOnly);
    setSelectionMode(QAbstractItemView::SingleSelection);
    setContextMenuPolicy(Qt::CustomContextMenu);
    setAlternatingRowColors(true);
    setUniformRowHeights(true);
    header()->setSectionResizeMode(QHeaderView::ResizeToContents);
    header()->setStretchLastSection(false);
    connect(this, &QWidget::customContextMenuRequested, this, &LibraryView::showContextMenu);
    connect(this, &QAbstractItemView::doubleClicked, this, [this](const QModelIndex& index) {
        const QModelIndex name = index.siblingAtColumn(ModelLibrary::Name);
        emit openChatRequested(name.data(ModelLibrary::ModelNameRole).toString());
    });
    // A new base or adapter shows unfolded.
    connect(library, &QAbstractItemModel::rowsInserted, this, [this](const QModelIndex& parent) {
        if (parent.isValid()) expand(parent);
    });
}

QString LibraryView::baseAt(const QModelIndex& index) const {
    if (!index.isValid()) return {};
    const QModelIndex name = index.siblingAtColumn(ModelLibrary::Name);
    const QModelIndex base = name.parent().isValid() ? name.parent() : name;
    return base.data(ModelLibrary::ModelNameRole).toString();
}

QSize LibraryView::sizeHint() const {
    return {fontMetrics().averageCharWidth() * 48, QTreeView::sizeHint().height()};
}

QString LibraryView::selectedBase() const {
    return baseAt(currentIndex());
}

void LibraryView::dragEnterEvent(QDragEnterEvent* event) {
    if (DropImport::localPaths(event->mimeData()).isEmpty()) return event->ignore();
    event->acceptProposedAction();
}

void LibraryView::dragMoveEvent(QDragMoveEvent* event) {
    if (DropImport::localPaths(event->mimeData()).isEmpty()) return event->ignore();
    event->acceptProposedAction();
}

void LibraryView::dropEvent(QDropEvent* event) {
    const QStringList paths = DropImport::localPaths(event->mimeData());
    if (paths.isEmpty()) return event->ignore();
    event->acceptProposedAction();
    const QString under = baseAt(indexAt(event->position().toPoint()));
    emit pathsDropped(paths, under.isEmpty() ? selectedBase() : under);
}

void LibraryView::showContextMenu(const QPoint& pos) {
    const QModelIndex name = indexAt(pos).siblingAtColumn(ModelLibrary::Name);
    if (!name.isValid()) return;
    const QString model = name.data(ModelLibrary::ModelNameRole).toString();
    QMenu menu(this);
    menu.addAction(QIcon::fromTheme("mail-message-new"), tr("Open chat pane"), this,
                   [this, model] { emit openChatRequested(model); });
    if (name.data(ModelLibrary::IsAdapterRole).toBool())
        menu.addAction(QIcon::fromTheme("edit-delete"), tr("Unload adapter"), this,
                       [this, model] { emit unloadRequested(model); });
    menu.exec(viewport()->mapToGlobal(pos));
}

}  // namespace workbench
