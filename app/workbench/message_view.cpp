#include "message_view.h"

#include <QScrollBar>
#include <QTextBlock>
#include <QTextCursor>

#include <algorithm>

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
    const bool follow = scrolledToBottom();
    clear();
    shown_.clear();
    starts_.clear();
    QTextCursor cursor(document());
    for (const ConversationMessage& m : messages) draw(cursor, m);
    if (follow) scrollToBottom();
}

void MessageView::appendMessage(const ConversationMessage& message) {
    const bool follow = scrolledToBottom();
    QTextCursor cursor = endCursor();
    draw(cursor, message);
    if (follow) scrollToBottom();
}

void MessageView::appendToAnswer(const QString& text) {
    if (shown_.isEmpty()) return;
    shown_.last().content += text;
    const bool follow = scrolledToBottom();
    endCursor().insertText(text, bodyFormat(palette()));
    if (follow) scrollToBottom();
}

void MessageView::finishAnswer(const ChatStats& stats) {
    if (shown_.isEmpty()) return;
    shown_.last().stats = stats;
    const bool follow = scrolledToBottom();
    QTextCursor cursor = endCursor();
    drawStats(cursor, stats);
    if (follow) scrollToBottom();
}

void MessageView::truncate(qsizetype count) {
    if (count >= shown_.size()) return;
    QTextCursor cursor(document());
    cursor.setPosition(starts_[count]);
    cursor.movePosition(QTextCursor::End, QTextCursor::KeepAnchor);
    cursor.removeSelectedText();
    shown_.resize(count);
    starts_.resize(count);
}

void MessageView::draw(QTextCursor& cursor, const ConversationMessage& m) {
    const QPalette& p = palette();
    const bool user = m.role == QLatin1String("user");
    const bool first = shown_.isEmpty();
    starts_.append(cursor.position());
    shown_.append(m);
    if (!first) cursor.insertBlock();
    cursor.setBlockFormat(blockFormat(p, user, first ? 0 : 10));
    cursor.insertText(user ? tr("You") : assistantName_, headerFormat(p));
    cursor.insertBlock(blockFormat(p, user, 2));
    cursor.insertText(m.content, bodyFormat(p));
    if (m.stats) drawStats(cursor, *m.stats);
}

void MessageView::drawStats(QTextCursor& cursor, const ChatStats& stats) {
    const bool failed = stats.reason == QLatin1String("error");
    cursor.insertBlock(blockFormat(palette(), false, 2));
    QTextCharFormat note = noteFormat(palette(), font());
    if (failed) note.setFontWeight(QFont::Bold);
    cursor.insertText(failed ? tr("⚠ Error: %1").arg(stats.error) : statsLine(stats), note);
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

void MessageView::changeEvent(QEvent* event) {
    // The document holds colors taken from the palette when it was drawn.
    if (event->type() == QEvent::PaletteChange) showMessages(QList<ConversationMessage>(shown_));
    QTextBrowser::changeEvent(event);
}

QTextCursor MessageView::endCursor() {
    QTextCursor cursor(document());
    cursor.movePosition(QTextCursor::End);
    return cursor;
}

bool MessageView::scrolledToBottom() const {
    const QScrollBar* bar = verticalScrollBar();
    return bar->value() >= bar->maximum() - 4;
}

void MessageView::scrollToBottom() {
    verticalScrollBar()->setValue(verticalScrollBar()->maximum());
}

}  // namespace workbench
