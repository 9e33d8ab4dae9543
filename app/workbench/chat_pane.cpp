#include "chat_pane.h"

#include "engine_bridge.h"
#include "message_view.h"
#include "sampling_editor.h"

#include <QApplication>
#include <QDrag>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QHBoxLayout>
#include <QKeyEvent>
#include <QLabel>
#include <QMenu>
#include <QMimeData>
#include <QMouseEvent>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QStyle>
#include <QToolButton>
#include <QVBoxLayout>
#include <QWidgetAction>

#include <algorithm>

namespace workbench {
namespace {

QToolButton* toolButton(QWidget* parent, QStyle::StandardPixmap icon, const QString& tip) {
    auto* b = new QToolButton(parent);
    b->setIcon(parent->style()->standardIcon(icon));
    b->setToolTip(tip);
    b->setAutoRaise(true);
    return b;
}

// An answer that failed never reached the model's context; neither did its prompt as
// far as the model knows, and templates that require user/assistant turns to
// alternate would refuse the history with it.
bool failedExchange(const QList<ConversationMessage>& messages, qsizetype i) {
    const auto failed = [&](qsizetype j) {
        return j < messages.size() && messages[j].role == QLatin1String("assistant") && messages[j].stats &&
               messages[j].stats->reason == QLatin1String("error");
    };
    return failed(i) || (messages[i].role == QLatin1String("user") && failed(i + 1));
}

quint64 nextPaneNumber() {
    static quint64 next = 0;
    return ++next;
}

}  // namespace

ChatPane::ChatPane(EngineBridge* bridge, const QString& model, QWidget* parent)
    : QFrame(parent), bridge_(bridge), model_(model) {
    setObjectName(QStringLiteral("chatPane%1").arg(nextPaneNumber()));
    setFrameShape(QFrame::StyledPanel);
    setAcceptDrops(true);

    systemPrompt_ = new QPlainTextEdit(this);
    systemPrompt_->setPlaceholderText(tr("System prompt for %1").arg(model));
    systemPrompt_->setMaximumHeight(fontMetrics().lineSpacing() * 4);
    systemPrompt_->hide();

    view_ = new MessageView(this);
    view_->setAssistantName(model);
    view_->setPlaceholderText(tr("Ask %1 something, or use the broadcast bar to ask every pane").arg(model));

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->setSpacing(4);
    layout->addWidget(buildHeader());
    layout->addWidget(systemPrompt_);
    layout->addWidget(view_, 1);
    layout->addWidget(buildInput());

    if (bridge) {
        connect(bridge, &EngineBridge::chatToken, this, &ChatPane::onToken);
        connect(bridge, &EngineBridge::chatFinished, this, &ChatPane::onFinished);
    }
    updateControls();
}

ChatPane::~ChatPane() {
    if (ticket_ && bridge_) bridge_->cancel(ticket_);
}

QWidget* ChatPane::buildHeader() {
    header_ = new QWidget(this);
    header_->setCursor(Qt::OpenHandCursor);
    header_->setToolTip(tr("Drag onto another pane to swap them"));
    header_->installEventFilter(this);

    auto* title = new QLabel(QStringLiteral("<b>%1</b>").arg(model_.toHtmlEscaped()), header_);
    title->setTextFormat(Qt::RichText);
    status_ = new QLabel(header_);
    status_->setForegroundRole(QPalette::PlaceholderText);

    systemButton_ = new QToolButton(header_);
    systemButton_->setText(tr("System"));
    systemButton_->setToolTip(tr("Show the system prompt"));
    systemButton_->setCheckable(true);
    systemButton_->setAutoRaise(true);
    connect(systemButton_, &QToolButton::toggled, systemPrompt_, &QWidget::setVisible);

    samplingEditor_ = new SamplingEditor;
    auto* samplingMenu = new QMenu(header_);
    auto* samplingAction = new QWidgetAction(samplingMenu);
    samplingAction->setDefaultWidget(samplingEditor_);  // the action owns the editor
    samplingMenu->addAction(samplingAction);
    auto* samplingButton = new QToolButton(header_);
    samplingButton->setText(tr("Sampling"));
    samplingButton->setToolTip(tr("Temperature, top-k, top-p, max tokens, seed"));
    samplingButton->setAutoRaise(true);
    samplingButton->setMenu(samplingMenu);
    samplingButton->setPopupMode(QToolButton::InstantPopup);
    const auto showSampling = [this, samplingButton] {
        const SamplingSettings s = samplingEditor_->settings();
        samplingButton->setText(tr("T %1 · %2 tok").arg(s.temperature, 0, 'f', 2).arg(s.maxTokens));
    };
    connect(samplingEditor_, &SamplingEditor::changed, this, showSampling);
    showSampling();

    auto* clearButton = toolButton(header_, QStyle::SP_DialogResetButton, tr("Clear the conversation"));
    connect(clearButton, &QToolButton::clicked, this, &ChatPane::clear);
    maximizeButton_ = toolButton(header_, QStyle::SP_TitleBarMaxButton, tr("Maximize this pane"));
    maximizeButton_->setCheckable(true);
    connect(maximizeButton_, &QToolButton::toggled, this, &ChatPane::maximizeToggled);
    auto* closeButton = toolButton(header_, QStyle::SP_TitleBarCloseButton, tr("Close this pane"));
    connect(closeButton, &QToolButton::clicked, this, &ChatPane::closeRequested);

    auto* row = new QHBoxLayout(header_);
    row->setContentsMargins(4, 0, 0, 0);
    row->addWidget(title);
    row->addWidget(status_, 1);
    row->addWidget(systemButton_);
    row->addWidget(samplingButton);
    row->addWidget(clearButton);
    row->addWidget(maximizeButton_);
    row->addWidget(closeButton);
    return header_;
}

QWidget* ChatPane::buildInput() {
    auto* box = new QWidget(this);
    input_ = new QPlainTextEdit(box);
    input_->setObjectName(QStringLiteral("messageInput"));
    input_->setPlaceholderText(tr("Message (Enter sends, Shift+Enter for a new line, Esc stops)"));
    input_->setMaximumHeight(fontMetrics().lineSpacing() * 4);
    input_->installEventFilter(this);

    sendButton_ = new QPushButton(box);
    connect(sendButton_, &QPushButton::clicked, this, [this] { isBusy() ? stop() : sendFromInput(); });
    regenerateButton_ = new QPushButton(style()->standardIcon(QStyle::SP_BrowserReload), QString(), box);
    regenerateButton_->setToolTip(tr("Regenerate the last answer"));
    connect(regenerateButton_, &QPushButton::clicked, this, &ChatPane::regenerate);
    editButton_ = new QPushButton(tr("Edit"), box);
    editButton_->setToolTip(tr("Edit and resend the last message"));
    connect(editButton_, &QPushButton::clicked, this, &ChatPane::editLastPrompt);

    auto* buttons = new QVBoxLayout;
    buttons->addWidget(sendButton_);
    auto* small = new QHBoxLayout;
    small->addWidget(regenerateButton_);
    small->addWidget(editButton_);
    buttons->addLayout(small);
    auto* row = new QHBoxLayout(box);
    row->setContentsMargins(0, 0, 0, 0);
    row->addWidget(input_, 1);
    row->addLayout(buttons);
    return box;
}

QString ChatPane::systemPrompt() const {
    return systemPrompt_->toPlainText();
}

void ChatPane::setSystemPrompt(const QString& prompt) {
    systemPrompt_->setPlainText(prompt);
    if (!prompt.isEmpty()) systemButton_->setChecked(true);
}

SamplingSettings ChatPane::sampling() const {
    return samplingEditor_->settings();
}

void ChatPane::setSampling(const SamplingSettings& sampling) {
    samplingEditor_->setSettings(sampling);
}

PaneConversation ChatPane::conversation() const {
    return {model_, systemPrompt(), sampling(), messages_};
}

void ChatPane::restore(const PaneConversation& conversation) {
    if (isBusy()) return;
    setSystemPrompt(conversation.systemPrompt);
    setSampling(conversation.sampling);
    messages_ = conversation.messages;
    view_->showMessages(messages_);
    updateControls();
}

void ChatPane::setMaximized(bool maximized) {
    maximizeButton_->setChecked(maximized);
}

bool ChatPane::send(const QString& text) {
    if (isBusy() || text.trimmed().isEmpty()) return false;
    messages_.append({QStringLiteral("user"), text, {}});
    view_->appendMessage(messages_.last());
    startAnswer();
    return true;
}

void ChatPane::stop() {
    if (ticket_ && bridge_) bridge_->cancel(ticket_);
}

void ChatPane::regenerate() {
    if (isBusy()) return;
    if (!messages_.isEmpty() && messages_.last().role == QLatin1String("assistant")) messages_.removeLast();
    view_->truncate(messages_.size());
    if (messages_.isEmpty()) return;
    startAnswer();
}

void ChatPane::editLastPrompt() {
    if (isBusy()) return;
    for (qsizetype i = messages_.size() - 1; i >= 0; --i) {
        if (messages_[i].role != QLatin1String("user")) continue;
        input_->setPlainText(messages_[i].content);
        messages_.resize(i);
        view_->truncate(i);
        input_->setFocus();
        updateControls();
        return;
    }
}

void ChatPane::clear() {
    if (ticket_) {
        stop();
        ticket_ = 0;  // its finish no longer belongs to any message
        emit busyChanged(false);
    }
    messages_.clear();
    view_->truncate(0);
    updateControls();
}

ChatRequest ChatPane::requestFor() const {
    ChatRequest r;
    r.model = model_;
    r.sampling = sampling();
    if (!systemPrompt().trimmed().isEmpty()) r.messages.append({QStringLiteral("system"), systemPrompt()});
    // Everything but the empty answer being asked for.
    for (qsizetype i = 0; i + 1 < messages_.size(); ++i)
        if (!failedExchange(messages_, i)) r.messages.append({messages_[i].role, messages_[i].content});
    return r;
}

void ChatPane::startAnswer() {
    messages_.append({QStringLiteral("assistant"), QString(), {}});
    if (!bridge_) {
        ChatStats stats;
        stats.reason = QStringLiteral("error");
        stats.error = tr("the engine is not running");
        messages_.last().stats = stats;
        view_->appendMessage(messages_.last());
        emit answerFinished(stats);
        return;
    }
    // Submit before drawing, so that panes sent to together (a broadcast) reach the
    // engine together and share its steps.
    ticket_ = bridge_->chat(requestFor());
    view_->appendMessage(messages_.last());
    updateControls();
    emit busyChanged(true);
}

void ChatPane::onToken(quint64 ticket, const QString& text) {
    if (ticket != ticket_ || ticket == 0) return;
    messages_.last().content += text;
    view_->appendToAnswer(text);
}

void ChatPane::onFinished(quint64 ticket, const ChatStats& stats) {
    if (ticket != ticket_ || ticket == 0) return;
    ticket_ = 0;
    messages_.last().stats = stats;
    view_->finishAnswer(stats);
    updateControls();
    emit busyChanged(false);
    emit answerFinished(stats);
}

void ChatPane::sendFromInput() {
    if (send(input_->toPlainText())) input_->clear();
}

void ChatPane::updateControls() {
    const bool busy = isBusy();
    sendButton_->setText(busy ? tr("Stop") : tr("Send"));
    sendButton_->setIcon(style()->standardIcon(busy ? QStyle::SP_BrowserStop : QStyle::SP_ArrowForward));
    const bool hasPrompt = std::any_of(messages_.begin(), messages_.end(),
                                       [](const ConversationMessage& m) { return m.role == QLatin1String("user"); });
    regenerateButton_->setEnabled(!busy && hasPrompt);
    editButton_->setEnabled(!busy && hasPrompt);
    status_->setText(busy ? tr("answering…") : QString());
}

bool ChatPane::eventFilter(QObject* watched, QEvent* event) {
    if (watched == input_ && event->type() == QEvent::KeyPress) {
        const auto* key = static_cast<QKeyEvent*>(event);
        const bool enter = key->key() == Qt::Key_Return || key->key() == Qt::Key_Enter;
        if (enter && !(key->modifiers() & Qt::ShiftModifier)) {
            sendFromInput();
            return true;
        }
        if (key->key() == Qt::Key_Escape && isBusy()) {
            stop();
            return true;
        }
    }
    if (watched == header_) {
        if (event->type() == QEvent::MouseButtonPress) {
            dragStart_ = static_cast<QMouseEvent*>(event)->position().toPoint();
        } else if (event->type() == QEvent::MouseMove) {
            const auto* mouse = static_cast<QMouseEvent*>(event);
            if ((mouse->buttons() & Qt::LeftButton) &&
                (mouse->position().toPoint() - dragStart_).manhattanLength() >= QApplication::startDragDistance()) {
                startHeaderDrag();
                return true;
            }
        }
    }
    return QFrame::eventFilter(watched, event);
}

void ChatPane::startHeaderDrag() {
    auto* mime = new QMimeData;
    mime->setData(kDragMimeType, objectName().toUtf8());
    auto* drag = new QDrag(this);
    drag->setMimeData(mime);
    drag->setPixmap(header_->grab());
    drag->exec(Qt::MoveAction);
}

void ChatPane::dragEnterEvent(QDragEnterEvent* event) {
    if (event->mimeData()->hasFormat(kDragMimeType) &&
        QString::fromUtf8(event->mimeData()->data(kDragMimeType)) != objectName())
        event->acceptProposedAction();
}

void ChatPane::dropEvent(QDropEvent* event) {
    if (!event->mimeData()->hasFormat(kDragMimeType)) return;
    const QString source = QString::fromUtf8(event->mimeData()->data(kDragMimeType));
    if (source == objectName()) return;
    event->acceptProposedAction();
    emit paneDropped(source);
}

}  // namespace workbench
