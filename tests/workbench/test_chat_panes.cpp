// The workbench's chat panes against the real engine, through the EngineBridge, on a
// tiny Llama with a chat template and two PEFT adapters: panes on different adapters
// stream together and each answers as its own adapter; broadcast; stop; regenerate;
// edit; errors inline; the grid's layout controls; conversations saved and reopened.
#include "broadcast_bar.h"
#include "chat_grid.h"
#include "chat_pane.h"
#include "engine_bridge.h"
#include "message_view.h"

#include "metrics/metrics_snapshot.h"
#include "runtime/engine.h"
#include "support/test_support.h"
#include "workbench/tiny_engine.h"

#include <QApplication>
#include <QLineEdit>
#include <QMimeData>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QScrollBar>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTextBlock>
#include <QToolButton>
#include <QMenu>
#include <QTest>

#include <algorithm>
#include <memory>

using namespace workbench;

namespace {

constexpr int kAnswerTimeoutMs = 30000;
// Long enough that two answers submitted together surely share engine steps.
constexpr int kAnswerTokens = 160;
const QString kFirstAdapter = QStringLiteral("qv_r8");
const QString kSecondAdapter = QStringLiteral("all_r4");

SamplingSettings greedy(int maxTokens) {
    SamplingSettings s;
    s.temperature = 0.0;
    s.maxTokens = maxTokens;
    s.seed = 7;
    return s;
}

QString lastAnswer(const ChatPane* pane) {
    return pane->messages().isEmpty() ? QString() : pane->messages().last().content;
}

}  // namespace

class TestChatPanes : public QObject {
    Q_OBJECT

    lw::test::TinyChatModel model_;
    QTemporaryDir dir_;
    std::unique_ptr<EngineBridge> bridge_;
    QString base_;

    // Waits for every pane to finish its answer.
    static bool waitIdle(const QList<ChatPane*>& panes) {
        return QTest::qWaitFor(
            [&] { return std::none_of(panes.begin(), panes.end(), [](ChatPane* p) { return p->isBusy(); }); },
            kAnswerTimeoutMs);
    }

    // The answer a lone pane gives to `prompt`, greedy.
    QString answerAlone(const QString& model, const QString& prompt) {
        ChatPane pane(bridge_.get(), model);
        pane.setSampling(greedy(kAnswerTokens));
        if (!pane.send(prompt) || !waitIdle({&pane})) return QStringLiteral("<no answer>");
        return lastAnswer(&pane);
    }

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        bridge_ = std::make_unique<EngineBridge>();
        QString error;
        base_ = lw::test::start_tiny_engine(*bridge_, model_,
                                            {{kFirstAdapter, "peft/qv_r8"}, {kSecondAdapter, "peft/all_r4_rslora_bin"}},
                                            error, 64ll << 20);
        QVERIFY2(!base_.isEmpty(), qPrintable(error));
    }

    void cleanupTestCase() { bridge_.reset(); }

    void twoAdaptersStreamTogether() {
        const QString prompt = QStringLiteral("Say hello");
        const QString aloneFirst = answerAlone(kFirstAdapter, prompt);
        const QString aloneSecond = answerAlone(kSecondAdapter, prompt);
        QVERIFY2(aloneFirst != aloneSecond, "the two adapters should answer differently");
        QVERIFY(aloneFirst != answerAlone(base_, prompt));

        ChatGrid grid(bridge_.get());
        ChatPane* first = grid.openPane(kFirstAdapter);
        ChatPane* second = grid.openPane(kSecondAdapter);
        first->setSampling(greedy(kAnswerTokens));
        second->setSampling(greedy(kAnswerTokens));
        QMap<quint64, int> tokens;
        connect(bridge_.get(), &EngineBridge::chatToken, &grid, [&](quint64 ticket) { ++tokens[ticket]; });
        QVERIFY(first->send(prompt));
        QVERIFY(second->send(prompt));
        const quint64 tickets[] = {first->ticket(), second->ticket()};
        QVERIFY(tickets[0] && tickets[1]);
        QVERIFY(waitIdle({first, second}));
        QVERIFY(tokens[tickets[0]] > 0 && tokens[tickets[1]] > 0);
        // The engine ran both answers in the same steps.
        const lw::MetricsSnapshot metrics = bridge_->engine()->metrics();
        QVERIFY2(std::any_of(metrics.steps.begin(), metrics.steps.end(),
                             [](const lw::StepRecord& step) {
                                 return step.tokens_by_model.count(kFirstAdapter.toStdString()) &&
                                        step.tokens_by_model.count(kSecondAdapter.toStdString());
                             }),
                 "no engine step served both adapters");
        // Each pane answers as its own adapter would alone (greedy, same prompt).
        QCOMPARE(lastAnswer(first), aloneFirst);
        QCOMPARE(lastAnswer(second), aloneSecond);
        for (ChatPane* pane : {first, second}) {
            const ConversationMessage& answer = pane->messages().last();
            QVERIFY(answer.stats.has_value());
            QVERIFY2(answer.stats->reason == "stop" || answer.stats->reason == "length",
                     qPrintable(answer.stats->reason));
            QVERIFY(answer.stats->completionTokens > 0);
            QVERIFY(answer.stats->promptTokens > 0);
            QVERIFY(pane->findChild<MessageView*>()->toPlainText().contains("TTFT"));
        }
    }

    void broadcastToAllAndToChosen() {
        ChatGrid grid(bridge_.get());
        BroadcastBar bar(&grid);
        for (const QString& model : {base_, kFirstAdapter, kSecondAdapter})
            grid.openPane(model)->setSampling(greedy(6));
        auto* input = bar.findChild<QLineEdit*>();
        QTest::keyClicks(input, "Hi all");
        QTest::keyClick(input, Qt::Key_Return);
        QVERIFY(input->text().isEmpty());
        for (ChatPane* pane : grid.panes()) QVERIFY2(pane->isBusy(), qPrintable(pane->model()));
        QVERIFY(waitIdle(grid.panes()));
        for (ChatPane* pane : grid.panes()) {
            QCOMPARE(pane->messages().size(), 2);
            QCOMPARE(pane->messages().first().content, QStringLiteral("Hi all"));
            QVERIFY2(pane->messages().last().stats && pane->messages().last().stats->reason != "error",
                     qPrintable(pane->model()));
        }

        // Untick the base in the Targets menu.
        auto* targetsMenu = bar.findChild<QToolButton*>()->menu();
        emit targetsMenu->aboutToShow();
        QStringList listed;
        for (QAction* action : targetsMenu->actions()) listed.append(action->text());
        QCOMPARE(listed, (QStringList{base_, kFirstAdapter, kSecondAdapter}));
        targetsMenu->actions().first()->setChecked(false);
        QCOMPARE(bar.targets(), (QStringList{kFirstAdapter, kSecondAdapter}));
        QTest::keyClicks(input, "Only adapters");
        bar.send();
        QVERIFY(waitIdle(grid.panes()));
        QCOMPARE(grid.panes()[0]->messages().size(), 2);
        QCOMPARE(grid.panes()[1]->messages().size(), 4);
        QCOMPARE(grid.panes()[2]->messages().size(), 4);
    }

    void stopMidStream() {
        ChatPane pane(bridge_.get(), kFirstAdapter);
        const SamplingSettings long_answer = greedy(200);  // greedy qv_r8 repeats itself, never ending on EOS
        pane.setSampling(long_answer);
        // Press Esc as soon as the first token shows, so the engine is surely mid-answer.
        auto* input = pane.findChild<QPlainTextEdit*>(QStringLiteral("messageInput"));
        connect(bridge_.get(), &EngineBridge::chatToken, &pane, [&](quint64 ticket) {
            if (ticket == pane.ticket()) QTest::keyClick(input, Qt::Key_Escape);
        });
        QSignalSpy finished(&pane, &ChatPane::answerFinished);
        QVERIFY(pane.send(QStringLiteral("Tell a long story")));
        QVERIFY(waitIdle({&pane}));
        QCOMPARE(finished.count(), 1);
        const ChatStats stats = finished[0][0].value<ChatStats>();
        QCOMPARE(stats.reason, QStringLiteral("cancelled"));
        QVERIFY(stats.completionTokens < long_answer.maxTokens);
        QCOMPARE(pane.messages().last().stats->reason, QStringLiteral("cancelled"));

        // Ready again: the next prompt gets a full answer.
        disconnect(bridge_.get(), &EngineBridge::chatToken, &pane, nullptr);
        pane.setSampling(greedy(4));
        QVERIFY(pane.send(QStringLiteral("Again")));
        QVERIFY(waitIdle({&pane}));
        QCOMPARE(pane.messages().size(), 4);
        QVERIFY(pane.messages().last().stats->reason != "cancelled");
    }

    void regenerateAndEdit() {
        ChatPane pane(bridge_.get(), kSecondAdapter);
        pane.setSampling(greedy(8));
        QVERIFY(pane.send(QStringLiteral("Pick a word")));
        QVERIFY(!pane.send(QStringLiteral("busy")));  // one answer at a time
        QVERIFY(waitIdle({&pane}));
        const QString first = lastAnswer(&pane);

        pane.regenerate();
        QVERIFY(pane.isBusy());
        QVERIFY(waitIdle({&pane}));
        QCOMPARE(pane.messages().size(), 2);
        QCOMPARE(lastAnswer(&pane), first);  // greedy: the same answer again

        SamplingSettings sampled = greedy(8);
        sampled.temperature = 1.5;
        sampled.seed = 99;
        pane.setSampling(sampled);
        pane.regenerate();
        QVERIFY(waitIdle({&pane}));
        QCOMPARE(pane.messages().size(), 2);
        QVERIFY(lastAnswer(&pane) != first);
        // The view shows the prompt and the new answer once, with its stats.
        const MessageView* view = pane.findChild<MessageView*>();
        QCOMPARE(view->toPlainText().count("Pick a word"), 1);
        QCOMPARE(view->toPlainText().count("TTFT"), 1);
        QVERIFY(view->toPlainText().contains(lastAnswer(&pane)));

        pane.editLastPrompt();
        QCOMPARE(pane.messages().size(), 0);
        QVERIFY(view->toPlainText().isEmpty());
        auto* input = pane.findChild<QPlainTextEdit*>(QStringLiteral("messageInput"));
        QCOMPARE(input->toPlainText(), QStringLiteral("Pick a word"));
        input->setPlainText(QStringLiteral("Pick a word, please"));
        QTest::keyClick(input, Qt::Key_Return);  // Enter sends
        QVERIFY(input->toPlainText().isEmpty());
        QVERIFY(waitIdle({&pane}));
        QCOMPARE(pane.messages().size(), 2);
        QCOMPARE(pane.messages().first().content, QStringLiteral("Pick a word, please"));

        pane.clear();
        QVERIFY(pane.messages().isEmpty());
        QVERIFY(view->toPlainText().isEmpty());
    }

    void errorsShowInline() {
        ChatPane pane(bridge_.get(), QStringLiteral("no_such_adapter"));
        QVERIFY(pane.send(QStringLiteral("Hello?")));
        QVERIFY(waitIdle({&pane}));
        const ConversationMessage& answer = pane.messages().last();
        QVERIFY(answer.stats);
        QCOMPARE(answer.stats->reason, QStringLiteral("error"));
        QVERIFY2(answer.stats->error.contains("no_such_adapter"), qPrintable(answer.stats->error));
        QVERIFY(pane.findChild<MessageView*>()->toPlainText().contains("Error: " + answer.stats->error));
        QVERIFY(pane.send(QStringLiteral("Still there?")));  // the pane keeps working
        QVERIFY(waitIdle({&pane}));
    }

    void saveAndOpenConversation() {
        const QString path = dir_.filePath("grid.json");
        {
            ChatGrid grid(bridge_.get());
            ChatPane* pane = grid.openPane(kFirstAdapter);
            pane->setSystemPrompt(QStringLiteral("Be brief."));
            pane->setSampling(greedy(5));
            grid.openPane(base_);
            QVERIFY(pane->send(QStringLiteral("Hello")));
            QVERIFY(waitIdle(grid.panes()));
            grid.save(path);
        }
        ChatGrid reopened(bridge_.get());
        reopened.openPane(kSecondAdapter);
        reopened.open(path);
        QCOMPARE(reopened.panes().size(), 2);
        ChatPane* pane = reopened.panes()[0];
        QCOMPARE(pane->model(), kFirstAdapter);
        QCOMPARE(pane->systemPrompt(), QStringLiteral("Be brief."));
        QCOMPARE(pane->sampling().maxTokens, 5);
        QCOMPARE(pane->messages().size(), 2);
        QVERIFY(pane->messages().last().stats.has_value());
        QCOMPARE(reopened.panes()[1]->model(), base_);

        // A bad file leaves the grid as it was.
        const QString bad = dir_.filePath("bad.json");
        lw::test::write_file(bad.toStdString(),
                             R"({"format": "lora-workbench-conversation", "version": 1, "panes": [{}]})");
        const std::string error = lw::test::error_of([&] { reopened.open(bad); });
        QVERIFY2(QString::fromStdString(error).contains(bad + ": panes[0].model"), error.c_str());
        QCOMPARE(reopened.panes().size(), 2);
        // A pane opened from a file keeps talking where it left off.
        pane->setSampling(greedy(3));
        QVERIFY(pane->send(QStringLiteral("And then?")));
        QVERIFY(waitIdle({pane}));
        QCOMPARE(pane->messages().size(), 4);
    }

    void gridSwapsMaximizesAndCloses() {
        ChatGrid grid(nullptr);
        grid.resize(900, 600);
        grid.show();
        ChatPane* a = grid.openPane("a");
        ChatPane* b = grid.openPane("b");
        ChatPane* c = grid.openPane("c");

        // Dropping a's header on c swaps them.
        QMimeData mime;
        mime.setData(ChatPane::kDragMimeType, a->objectName().toUtf8());
        QDragEnterEvent enter(QPoint(10, 10), Qt::MoveAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(c, &enter);
        QVERIFY(enter.isAccepted());
        QDropEvent drop(QPointF(10, 10), Qt::MoveAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(c, &drop);
        QCOMPARE(grid.panes(), (QList<ChatPane*>{c, b, a}));

        a->setMaximized(true);
        QCOMPARE(grid.maximizedPane(), a);
        QVERIFY(b->isHidden() && c->isHidden() && !a->isHidden());
        a->setMaximized(false);
        QVERIFY(!b->isHidden() && !c->isHidden());

        QSignalSpy changed(&grid, &ChatGrid::panesChanged);
        emit b->closeRequested();
        QCOMPARE(grid.panes(), (QList<ChatPane*>{c, a}));
        QCOMPARE(changed.count(), 1);
        // Without an engine a pane says so instead of waiting forever.
        QVERIFY(a->send("hi"));
        QVERIFY(!a->isBusy());
        QCOMPARE(a->messages().last().stats->reason, QStringLiteral("error"));
    }

    void messagesFollowThePalette() {
        ChatPane pane(nullptr, "a");
        pane.restore({"a", {}, greedy(4), {{"user", "question", {}}, {"assistant", "answer", {}}}});
        QPalette dark = pane.palette();
        dark.setColor(QPalette::Text, QColor(230, 230, 230));
        dark.setColor(QPalette::Base, QColor(30, 30, 30));
        dark.setColor(QPalette::AlternateBase, QColor(50, 50, 50));
        pane.setPalette(dark);
        const QTextBlock prompt = pane.findChild<MessageView*>()->document()->findBlockByNumber(1);
        QCOMPARE(prompt.text(), QStringLiteral("question"));
        QCOMPARE(prompt.blockFormat().background().color(), QColor(50, 50, 50));
        QCOMPARE(prompt.begin().fragment().charFormat().foreground().color(), QColor(230, 230, 230));
    }

    void viewFollowsUnlessScrolledUp() {
        MessageView view;
        view.resize(300, 120);
        view.show();
        QList<ConversationMessage> messages{{"user", "question", {}}, {"assistant", QString(), {}}};
        view.showMessages(messages);
        QScrollBar* bar = view.verticalScrollBar();
        for (int i = 0; i < 40; ++i) view.appendToAnswer(QStringLiteral("line %1\n").arg(i));
        QVERIFY(bar->maximum() > 0);
        QCOMPARE(bar->value(), bar->maximum());  // followed the stream
        bar->setValue(0);
        view.appendToAnswer(QStringLiteral("more\n"));
        QCOMPARE(bar->value(), 0);  // left where the reader is
    }
};

QTEST_MAIN(TestChatPanes)
#include "test_chat_panes.moc"
