// The messages of one chat pane as a read-only document: the user's prompts on a
// shaded band, answers under the model's name, and under each finished answer what
// it cost (time to first token, tokens/s) or its error. Changes at the end (a new
// message, streamed text, an answer's stats, dropping the last messages) touch only
// the end of the document, so a long conversation costs nothing to extend; the view
// follows new text unless the user has scrolled up to read. Colors come from the
// palette (the whole document is drawn again when it changes), so light and dark work.
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

    // Draws these messages in place of what was shown.
    void showMessages(const QList<ConversationMessage>& messages);
    void appendMessage(const ConversationMessage& message);
    // Extends the last message (the answer streaming in).
    void appendToAnswer(const QString& text);
    // Shows the last answer's stats (or error) under it.
    void finishAnswer(const ChatStats& stats);
    // Keeps the first `count` messages and removes the rest.
    void truncate(qsizetype count);

    // "TTFT 120 ms · 41.0 tok/s · 32 tokens" (and the finish reason when not "stop").
    static QString statsLine(const ChatStats& stats);

protected:
    void changeEvent(QEvent* event) override;

private:
    void draw(QTextCursor& cursor, const ConversationMessage& message);
    void drawStats(QTextCursor& cursor, const ChatStats& stats);
    QTextCursor endCursor();
    bool scrolledToBottom() const;
    void scrollToBottom();

    QString assistantName_;
    QList<ConversationMessage> shown_;  // drawn again when the palette changes
    QList<int> starts_;                 // where each shown message begins in the document
};

}  // namespace workbench
