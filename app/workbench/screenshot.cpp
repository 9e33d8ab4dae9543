#include "screenshot.h"

#include "chat_grid.h"
#include "chat_pane.h"
#include "main_window.h"
#include "model_library.h"

#include <QApplication>
#include <QPixmap>
#include <QSize>
#include <QStringList>

#include <cstdio>

namespace workbench {

namespace {

constexpr int kTickMs = 250;
constexpr int kPanes = 3;
constexpr QSize kSize(1920, 1080);
constexpr int kGiveUpTicks = 240;  // a minute: take whatever is on screen

constexpr int kShownChars = 80;  // of each second answer: clearly mid-stream

bool any_busy(const QList<ChatPane*>& panes) {
    for (const ChatPane* p : panes)
        if (p->isBusy()) return true;
    return false;
}

// Every pane is done or has written enough of its answer to show.
bool answers_showing(const QList<ChatPane*>& panes) {
    for (const ChatPane* p : panes)
        if (p->isBusy() && (p->messages().isEmpty() || p->messages().last().content.size() < kShownChars)) return false;
    return true;
}

}  // namespace

Screenshot::Screenshot(MainWindow* window, QString file, QObject* parent)
    : QObject(parent), window_(window), file_(std::move(file)) {
    window_->resize(kSize);  // the whole Xvfb screen: room for three panes and both docks
    timer_.setInterval(kTickMs);
    connect(&timer_, &QTimer::timeout, this, &Screenshot::tick);
    timer_.start();
}

void Screenshot::tick() {
    ChatGrid* grid = window_->chatGrid();
    ++ticks_;
    if (++totalTicks_ > kGiveUpTicks) return save();
    switch (stage_) {
        case Stage::WaitingForModels: {
            // Wait for the command line's models (their panes open as they load), then keep
            // three panes: the base's first, filled up with more base panes if need be.
            const QStringList bases = window_->library()->baseNames();
            if (bases.isEmpty() || grid->panes().isEmpty() || ticks_ < 8) return;
            while (grid->panes().size() > kPanes) grid->closePane(grid->panes().last());
            while (grid->panes().size() < kPanes) grid->openPane(bases.first());
            grid->broadcast(QStringLiteral("What is a LoRA adapter, in two sentences?"));
            stage_ = Stage::FirstAnswers;
            ticks_ = 0;
            return;
        }
        case Stage::FirstAnswers:
            if (any_busy(grid->panes())) return;
            grid->broadcast(QStringLiteral("Why serve many adapters on one base model?"));
            stage_ = Stage::SecondAnswers;
            ticks_ = 0;
            return;
        case Stage::SecondAnswers:
            if (answers_showing(grid->panes())) save();
            return;
    }
}

void Screenshot::save() {
    timer_.stop();
    const bool saved = window_->grab().save(file_);
    std::fprintf(saved ? stdout : stderr, "%s %s\n", saved ? "saved" : "could not save", qPrintable(file_));
    QApplication::exit(saved ? 0 : 1);
}

}  // namespace workbench
