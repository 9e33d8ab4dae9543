#include "chat_grid.h"

#include "chat_pane.h"

#include <QLabel>
#include <QSplitter>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

namespace workbench {
namespace {

// Up to three panes side by side; beyond that a near-square grid.
int columnsFor(qsizetype panes) {
    if (panes <= 3) return static_cast<int>(std::max<qsizetype>(panes, 1));
    return static_cast<int>(std::ceil(std::sqrt(static_cast<double>(panes))));
}

}  // namespace

ChatGrid::ChatGrid(EngineBridge* bridge, QWidget* parent)
    : QWidget(parent), bridge_(bridge), rows_(new QSplitter(Qt::Vertical, this)), placeholder_(new QLabel(this)) {
    placeholder_->setText(tr("No chats open.\nOpen one from the library: double-click an adapter or a base model."));
    placeholder_->setAlignment(Qt::AlignCenter);
    placeholder_->setForegroundRole(QPalette::PlaceholderText);
    rows_->setChildrenCollapsible(false);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(placeholder_);
    layout->addWidget(rows_);
    layoutPanes();
}

ChatPane* ChatGrid::openPane(const QString& model) {
    auto* pane = new ChatPane(bridge_, model, this);
    adopt(pane);
    layoutPanes();
    emit panesChanged();
    return pane;
}

void ChatGrid::adopt(ChatPane* pane) {
    panes_.append(pane);
    connect(pane, &ChatPane::closeRequested, this, [this, pane] { closePane(pane); });
    connect(pane, &ChatPane::maximizeToggled, this, [this, pane](bool on) {
        if (on) {
            maximize(pane);
        } else if (maximized_ == pane) {
            maximize(nullptr);
        }
    });
    connect(pane, &ChatPane::paneDropped, this, [this, pane](const QString& sourceName) {
        const auto source = std::find_if(panes_.begin(), panes_.end(),
                                         [&](const ChatPane* p) { return p->objectName() == sourceName; });
        if (source != panes_.end()) swapPanes(*source, pane);
    });
}

void ChatGrid::closePane(ChatPane* pane) {
    if (!panes_.removeOne(pane)) return;
    if (maximized_ == pane) maximized_ = nullptr;
    pane->hide();
    pane->deleteLater();  // it may be closing from its own button's signal
    layoutPanes();
    emit panesChanged();
}

int ChatGrid::broadcast(const QString& prompt, const QStringList& models) {
    int sent = 0;
    for (ChatPane* pane : panes_)
        if ((models.isEmpty() || models.contains(pane->model())) && pane->send(prompt)) ++sent;
    return sent;
}

void ChatGrid::swapPanes(ChatPane* a, ChatPane* b) {
    const qsizetype i = panes_.indexOf(a), j = panes_.indexOf(b);
    if (i < 0 || j < 0 || i == j) return;
    panes_.swapItemsAt(i, j);
    layoutPanes();
    emit panesChanged();
}

void ChatGrid::maximize(ChatPane* pane) {
    if (pane && !panes_.contains(pane)) return;
    maximized_ = pane;
    for (ChatPane* p : panes_) p->setMaximized(p == pane);
    layoutPanes();
}

void ChatGrid::layoutPanes() {
    // Take the panes out of the old rows before those are deleted.
    for (ChatPane* pane : panes_) pane->setParent(this);
    while (rows_->count() > 0) delete rows_->widget(0);

    const int columns = columnsFor(panes_.size());
    QSplitter* row = nullptr;
    for (qsizetype i = 0; i < panes_.size(); ++i) {
        if (i % columns == 0) {
            row = new QSplitter(Qt::Horizontal, rows_);
            row->setChildrenCollapsible(false);
            rows_->addWidget(row);
        }
        row->addWidget(panes_[i]);
        panes_[i]->setVisible(!maximized_ || panes_[i] == maximized_);
    }
    // A row with no visible pane would keep its share of the height.
    for (int r = 0; r < rows_->count(); ++r) {
        auto* splitter = static_cast<QSplitter*>(rows_->widget(r));
        bool any = false;
        for (int c = 0; c < splitter->count(); ++c) any = any || !splitter->widget(c)->isHidden();
        splitter->setVisible(any);
    }
    placeholder_->setVisible(panes_.isEmpty());
    rows_->setVisible(!panes_.isEmpty());
}

void ChatGrid::save(const QString& path) const {
    Conversation conversation;
    for (const ChatPane* pane : panes_) conversation.panes.append(pane->conversation());
    saveConversation(conversation, path);
}

void ChatGrid::open(const QString& path) {
    const Conversation conversation = loadConversation(path);  // throws before anything changes
    for (ChatPane* pane : QList<ChatPane*>(panes_)) closePane(pane);
    for (const PaneConversation& saved : conversation.panes) {
        auto* pane = new ChatPane(bridge_, saved.model, this);
        pane->restore(saved);
        adopt(pane);
    }
    layoutPanes();
    emit panesChanged();
}

}  // namespace workbench
