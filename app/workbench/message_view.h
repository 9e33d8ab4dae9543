// The messages of one chat pane as a read-only document: the user's prompts on a
// shaded band, answers under the model's name, and under each finished answer what
// it cost (time to first token, tokens/s) or its error. Streamed text is appended at
// the end without laying out the rest again, and the view follows it unless the user
// has scrolled up to read. Colors come from the palette, so light and dark both work.
#pragma once

#include "conversation.h"

#include <QTextBrowser>

namespace workbench {

class MessageView : public QTextBrowser {
    Q_OBJECT
public:
    explicit MessageView(QWidget* parent = nullptr);

    // The name shown over answers.
    void setAssistantName(const QString& name) { assistantName_ = name; }
    // Draws all messages again; the last one, if an answer without stats, is the one
    // appendToAnswer extends.
    void showMessages(const QList<ConversationMessage>& messages);
    void appendToAnswer(const QString& text);

    // "TTFT 120 ms · 41.0 tok/s · 32 tokens" (and the finish reason when not "stop").
    static QString statsLine(const ChatStats& stats);

protected:
    void changeEvent(QEvent* event) override;

private:
    void draw();
    bool scrolledToBottom() const;
    void scrollToBottom();

    QString assistantName_;
    QList<ConversationMessage> shown_;  // drawn again when the palette changes
};

}  // namespace workbench
