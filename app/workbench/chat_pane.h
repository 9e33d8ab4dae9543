// One chat with one model (an adapter, or a bare base): its messages, a system prompt,
// sampling settings, and the controls to send, stop, regenerate, edit the last
// prompt and clear. Answers stream in through the engine bridge; a pane has at most
// one answer running. Errors are shown under the answer they ended. The header can be
// dragged onto another pane of the grid to swap the two.
#pragma once

#include "conversation.h"

#include <QFrame>
#include <QPointer>

class QLabel;
class QPlainTextEdit;
class QPushButton;
class QToolButton;

namespace workbench {

class EngineBridge;
class MessageView;
class SamplingEditor;

class ChatPane : public QFrame {
    Q_OBJECT
public:
    // The MIME type of a pane's header drag; its data is the pane's objectName.
    static constexpr const char* kDragMimeType = "application/x-lora-workbench-chat-pane";

    ChatPane(EngineBridge* bridge, const QString& model, QWidget* parent = nullptr);
    ~ChatPane() override;  // cancels a running answer

    const QString& model() const { return model_; }
    QString systemPrompt() const;
    void setSystemPrompt(const QString& prompt);
    SamplingSettings sampling() const;
    void setSampling(const SamplingSettings& sampling);
    const QList<ConversationMessage>& messages() const { return messages_; }

    // What the grid saves; restoring replaces messages, prompt and sampling (the
    // model stays this pane's). Not while an answer runs.
    PaneConversation conversation() const;
    void restore(const PaneConversation& conversation);

    bool isBusy() const { return ticket_ != 0; }
    // The bridge's ticket of the running answer, 0 when idle.
    quint64 ticket() const { return ticket_; }

    void setMaximized(bool maximized);

public slots:
    // Sends a prompt; false (and nothing sent) while busy or for blank text.
    bool send(const QString& text);
    // Asks the engine to stop; the answer finishes with reason "cancelled".
    void stop();
    // Asks again for the answer to the last prompt, replacing the last answer.
    void regenerate();
    // Moves the last prompt back into the input box for editing, dropping its answer.
    void editLastPrompt();
    // Forgets the messages (stopping a running answer).
    void clear();

signals:
    void busyChanged(bool busy);
    void answerFinished(const workbench::ChatStats& stats);
    void closeRequested();
    void maximizeToggled(bool maximized);
    // Another pane (by objectName) was dropped on this one's header or body.
    void paneDropped(const QString& sourceName);

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    QWidget* buildHeader();
    QWidget* buildInput();
    void startAnswer();
    ChatRequest requestFor() const;
    void onToken(quint64 ticket, const QString& text);
    void onFinished(quint64 ticket, const ChatStats& stats);
    void sendFromInput();
    void updateControls();
    void startHeaderDrag();

    QPointer<EngineBridge> bridge_;
    QString model_;
    QList<ConversationMessage> messages_;
    quint64 ticket_ = 0;

    QWidget* header_ = nullptr;
    QLabel* status_ = nullptr;
    QToolButton* systemButton_ = nullptr;
    QToolButton* maximizeButton_ = nullptr;
    SamplingEditor* samplingEditor_ = nullptr;
    QPlainTextEdit* systemPrompt_ = nullptr;
    MessageView* view_ = nullptr;
    QPlainTextEdit* input_ = nullptr;
    QPushButton* sendButton_ = nullptr;
    QPushButton* regenerateButton_ = nullptr;
    QPushButton* editButton_ = nullptr;
    QPoint dragStart_;
};

}  // namespace workbench
