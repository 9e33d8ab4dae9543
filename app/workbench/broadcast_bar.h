// "Send to all": one prompt to every open chat pane, or to the ones ticked in its
// Targets menu, so that the answers stream together from the engine's shared batches.
// Panes opened later are targets until they are unticked.
#pragma once

#include <QSet>
#include <QStringList>
#include <QWidget>

class QLabel;
class QLineEdit;
class QPushButton;
class QToolButton;

namespace workbench {

class ChatGrid;

class BroadcastBar : public QWidget {
    Q_OBJECT
public:
    explicit BroadcastBar(ChatGrid* grid, QWidget* parent = nullptr);

    // The open panes' models that a broadcast goes to now.
    QStringList targets() const;
    void setTargeted(const QString& model, bool targeted);

public slots:
    // Broadcasts the text in the box (and empties it when some pane took it).
    void send();

private:
    void updateState();
    void fillTargetsMenu();

    ChatGrid* grid_;
    QSet<QString> unticked_;
    QLineEdit* prompt_;
    QToolButton* targetsButton_;
    QPushButton* sendButton_;
    QLabel* result_;
};

}  // namespace workbench
