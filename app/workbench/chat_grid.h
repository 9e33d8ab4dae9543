// The chat panes, side by side: rows of panes in splitters the user can resize, panes
// swapped by dragging one's header onto another, one pane maximized at a time.
// Broadcasting sends one prompt to many panes at once, so their answers share the
// engine's batches. The whole grid saves to and opens from a conversation file.
#pragma once

#include "conversation.h"

#include <QList>
#include <QPointer>
#include <QStringList>
#include <QWidget>

class QLabel;
class QSplitter;

namespace workbench {

class ChatPane;
class EngineBridge;

class ChatGrid : public QWidget {
    Q_OBJECT
public:
    explicit ChatGrid(EngineBridge* bridge, QWidget* parent = nullptr);

    // Opens a new pane for a model (an adapter or a base) at the end of the grid.
    ChatPane* openPane(const QString& model);
    // Closes a pane, stopping its answer.
    void closePane(ChatPane* pane);
    QList<ChatPane*> panes() const { return panes_; }

    // Sends `prompt` to every open pane whose model is listed (all panes when `models`
    // is empty). Busy panes are skipped; returns how many panes it was sent to.
    int broadcast(const QString& prompt, const QStringList& models = {});

    void swapPanes(ChatPane* a, ChatPane* b);
    // Shows only this pane; null shows them all again.
    void maximize(ChatPane* pane);
    ChatPane* maximizedPane() const { return maximized_; }

    // Writes every pane's conversation; throws lw::Error naming the file.
    void save(const QString& path) const;
    // Replaces the panes with the file's; throws lw::Error naming the file and the field
    // at fault, and then leaves the grid as it was.
    void open(const QString& path);

signals:
    void panesChanged();

private:
    void layoutPanes();
    void adopt(ChatPane* pane);

    EngineBridge* bridge_;
    QList<ChatPane*> panes_;
    QPointer<ChatPane> maximized_;
    QSplitter* rows_;
    QLabel* placeholder_;
};

}  // namespace workbench
