// The library tree: base models and their adapters (ModelLibrary). Files dropped on it
// are imported (onto the base under the cursor); its context menu opens a chat pane or
// unloads an adapter; a double click opens a chat pane.
#pragma once

#include <QTreeView>

namespace workbench {

class ModelLibrary;

class LibraryView : public QTreeView {
    Q_OBJECT
public:
    explicit LibraryView(ModelLibrary* library, QWidget* parent = nullptr);

    // The base of the selected row (itself or its adapter's base); empty when none.
    QString selectedBase() const;
    QSize sizeHint() const override;  // wide enough for names and the columns beside them

signals:
    // `base`: the base under the drop (or selected), empty when there is none.
    void pathsDropped(const QStringList& paths, const QString& base);
    void openChatRequested(const QString& model);
    void unloadRequested(const QString& adapter);

protected:
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dragMoveEvent(QDragMoveEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    QString baseAt(const QModelIndex& index) const;
    void showContextMenu(const QPoint& pos);

    ModelLibrary* library_;
};

}  // namespace workbench
