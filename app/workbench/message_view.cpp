#include "message_view.h"

#include <QScrollBar>
#include <QTextBlock>
#include <QTextCursor>

namespace workbench {
namespace {

QTextCharFormat headerFormat(const QPalette& palette) {
    QTextCharFormat f;
    f.setFontWeight(QFont::Bold);
    f.setForeground(palette.color(QPalette::Text));
    return f;
}

QTextCharFormat bodyFormat(const QPalette& palette) {
    QTextCharFormat f;
    f.setForeground(palette.color(QPalette::Text));
    return f;
}

QTextCharFormat noteFormat(const QPalette& palette, const QFont& font) {
    QTextCharFormat f;
    f.setForeground(palette.color(QPalette::PlaceholderText));
    f.setFontPointSize(std::max(6.0, font.pointSizeF() * 0.85));
    return f;
}

QTextBlockFormat blockFormat(const QPalette& palette, bool shaded, double topMargin) {
    QTextBlockFormat f;
    f.setTopMargin(topMargin);
    f.setLeftMargin(6);
    f.setRightMargin(6);
    if (shaded) f.setBackground(palette.color(QPalette::AlternateBase));
    return f;
}

}  // namespace

MessageView::MessageView(QWidget* parent) : QTextBrowser(parent) {
    setOpenLinks(false);
    setUndoRedoEnabled(false);  // an undo stack of every streamed token would only grow
    document()->setDocumentMargin(4);
}

void MessageView::showMessages(const QList<ConversationMessage>& messages) {
    shown_ = messages;
    draw();
}

void MessageView::changeEvent(QEvent* event) {
    // The document holds colors taken from the palette when it was drawn.
    if (event->type() == QEvent::PaletteChange) draw();
    QTextBrowser::changeEvent(event);
}

void MessageView::draw() {
    const bool follow = scrolledToBottom();
    clear();
    QTextCursor cursor(document());
    const QPalette& p = palette();
    bool first = true;
    for (const ConversationMessage& m : shown_) {
        const bool user = m.role == QLatin1String("user");
        if (!first) cursor.insertBlock();
        cursor.setBlockFormat(blockFormat(p, user, first ? 0 : 10));
        cursor.insertText(user ? tr("You") : assistantName_, headerFormat(p));
        cursor.insertBlock(blockFormat(p, user, 2));
        cursor.insertText(m.content, bodyFormat(p));
        if (m.stats) {
            const bool failed = m.stats->reason == QLatin1String("error");
            cursor.insertBlock(blockFormat(p, false, 2));
            QTextCharFormat note = noteFormat(p, font());
            if (failed) note.setFontWeight(QFont::Bold);
            cursor.insertText(failed ? tr("⚠ Error: %1").arg(m.stats->error) : statsLine(*m.stats), note);
        }
        first = false;
    }
    if (follow) scrollToBottom();
}

void MessageView::appendToAnswer(const QString& text) {
    if (!shown_.isEmpty()) shown_.last().content += text;
    const bool follow = scrolledToBottom();
    QTextCursor cursor(document());
    cursor.movePosition(QTextCursor::End);
    cursor.insertText(text, bodyFormat(palette()));
    if (follow) scrollToBottom();
}

QString MessageView::statsLine(const ChatStats& s) {
    // Small models answer within milliseconds; seconds would show them as 0.00.
    const QString ttft = s.timeToFirstToken < 1.0 ? tr("%1 ms").arg(s.timeToFirstToken * 1000.0, 0, 'f', 0)
                                                  : tr("%1 s").arg(s.timeToFirstToken, 0, 'f', 2);
    QString line =
        tr("TTFT %1 · %2 tok/s · %3 tokens").arg(ttft).arg(s.tokensPerSecond, 0, 'f', 1).arg(s.completionTokens);
    if (s.reason == QLatin1String("length")) line += tr(" · stopped at max tokens");
    if (s.reason == QLatin1String("cancelled")) line += tr(" · stopped");
    return line;
}

bool MessageView::scrolledToBottom() const {
    const QScrollBar* bar = verticalScrollBar();
    return bar->value() >= bar->maximum() - 4;
}

void MessageView::scrollToBottom() {
    verticalScrollBar()->setValue(verticalScrollBar()->maximum());
}

}  // namespace workbench
