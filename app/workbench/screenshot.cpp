#include "screenshot.h"

#include "chat_grid.h"
#include "chat_pane.h"
#include "main_window.h"
#include "model_library.h"

#include <QApplication>
#include <QPixmap>
#include <QStringList>

#include <cstdio>

namespace workbench {

namespace {

constexpr int kTickMs = 250;
constexpr int kPanes = 3;
constexpr int kGiveUpTicks = 240;    // a minute: take whatever is on screen
constexpr int kMidAnswerTicks = 16;  // into the second answers: text streaming, plots moving

const QStringList kSystemPrompts = {QStringLiteral("You are a concise assistant."),
                                    QStringLiteral("You explain things to a ten-year-old."),
                                    QStringLiteral("You answer as a seasoned GPU engineer.")};

bool any_busy(const QList<ChatPane*>& panes) {
    for (const ChatPane* p : panes)
        if (p->isBusy()) return true;
    return false;
}

}  // namespace

Screenshot::Screenshot(MainWindow* window, QString file, QObject* parent)
    : QObject(parent), window_(window), file_(std::move(file)) {
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
            // Wait for the command line's models (their panes open as they load), then fill
            // the grid up to three panes with the base.
            const QStringList bases = window_->library()->baseNames();
            if (bases.isEmpty() || grid->panes().isEmpty() || ticks_ < 4) return;
            while (grid->panes().size() < kPanes) grid->openPane(bases.first());
            for (int i = 0; i < grid->panes().size(); ++i)
                grid->panes()[i]->setSystemPrompt(kSystemPrompts[i % kSystemPrompts.size()]);
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
            if (ticks_ >= kMidAnswerTicks) save();
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
