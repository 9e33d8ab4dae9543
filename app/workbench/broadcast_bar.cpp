#include "broadcast_bar.h"

#include "chat_grid.h"
#include "chat_pane.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QPushButton>
#include <QStyle>
#include <QToolButton>

namespace workbench {

BroadcastBar::BroadcastBar(ChatGrid* grid, QWidget* parent)
    : QWidget(parent),
      grid_(grid),
      prompt_(new QLineEdit(this)),
      targetsButton_(new QToolButton(this)),
      sendButton_(new QPushButton(style()->standardIcon(QStyle::SP_ArrowForward), tr("Send to all"), this)),
      result_(new QLabel(this)) {
    prompt_->setPlaceholderText(tr("Broadcast a prompt to the chat panes: their answers share one batch"));
    prompt_->setClearButtonEnabled(true);
    connect(prompt_, &QLineEdit::returnPressed, this, &BroadcastBar::send);
    connect(prompt_, &QLineEdit::textChanged, this, &BroadcastBar::updateState);
    connect(sendButton_, &QPushButton::clicked, this, &BroadcastBar::send);

    auto* menu = new QMenu(targetsButton_);
    connect(menu, &QMenu::aboutToShow, this, &BroadcastBar::fillTargetsMenu);
    targetsButton_->setMenu(menu);
    targetsButton_->setPopupMode(QToolButton::InstantPopup);
    targetsButton_->setToolTip(tr("Choose which panes receive the prompt"));
    result_->setForegroundRole(QPalette::PlaceholderText);

    auto* row = new QHBoxLayout(this);
    row->setContentsMargins(4, 2, 4, 2);
    row->addWidget(prompt_, 1);
    row->addWidget(targetsButton_);
    row->addWidget(sendButton_);
    row->addWidget(result_);

    connect(grid_, &ChatGrid::panesChanged, this, &BroadcastBar::updateState);
    updateState();
}

QStringList BroadcastBar::targets() const {
    QStringList out;
    for (const ChatPane* pane : grid_->panes())
        if (!unticked_.contains(pane->model()) && !out.contains(pane->model())) out.append(pane->model());
    return out;
}

void BroadcastBar::setTargeted(const QString& model, bool targeted) {
    if (targeted) {
        unticked_.remove(model);
    } else {
        unticked_.insert(model);
    }
    updateState();
}

void BroadcastBar::send() {
    const QStringList models = targets();
    const QString text = prompt_->text();
    if (models.isEmpty() || text.trimmed().isEmpty()) return;
    const int sent = grid_->broadcast(text, models);
    if (sent > 0) prompt_->clear();
    // Busy panes do not take a new prompt; say so rather than drop it silently.
    result_->setText(sent > 0 ? (sent == 1 ? tr("sent to 1 pane") : tr("sent to %1 panes").arg(sent))
                              : tr("every target pane is busy"));
}

void BroadcastBar::fillTargetsMenu() {
    QMenu* menu = targetsButton_->menu();
    menu->clear();
    QStringList models;
    for (const ChatPane* pane : grid_->panes())
        if (!models.contains(pane->model())) models.append(pane->model());
    for (const QString& model : models) {
        QAction* action = menu->addAction(model);
        action->setCheckable(true);
        action->setChecked(!unticked_.contains(model));
        connect(action, &QAction::toggled, this, [this, model](bool on) { setTargeted(model, on); });
    }
    if (models.isEmpty()) menu->addAction(tr("No panes open"))->setEnabled(false);
}

void BroadcastBar::updateState() {
    const int open = static_cast<int>(grid_->panes().size());
    const int chosen = static_cast<int>(targets().size());
    targetsButton_->setText(chosen == open ? tr("All panes") : tr("%1 of %2 panes").arg(chosen).arg(open));
    sendButton_->setEnabled(chosen > 0 && !prompt_->text().trimmed().isEmpty());
}

}  // namespace workbench
