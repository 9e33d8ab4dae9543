// EngineBridge: the engine on its own thread, results as signals on the GUI thread.
// A chat round trip on the tiny Llama with a real tokenizer and template, an adapter,
// cancelling, errors that name what is wrong, a restart that reloads, and destroying
// the bridge mid-answer.
#include "engine_bridge.h"
#include "metrics/metrics_snapshot.h"
#include "support/test_support.h"
#include "workbench/tiny_chat_model.h"

#include <QSignalSpy>
#include <QTest>

#include <memory>

using namespace workbench;

namespace {

EngineSettings small_settings() {
    EngineSettings s;
    s.poolBytes = 16ll << 20;
    s.threads = 1;
    return s;
}

ChatRequest hello(const QString& model, int max_tokens) {
    ChatRequest r;
    r.model = model;
    r.messages = {{QStringLiteral("system"), QStringLiteral("Be brief.")},
                  {QStringLiteral("user"), QStringLiteral("Hello there")}};
    r.sampling.temperature = 0.0;
    r.sampling.maxTokens = max_tokens;
    return r;
}

// One answer as the GUI sees it: its text, its end, and whether every signal came on
// the GUI thread.
struct Answer {
    QString text;
    int tokens = 0;
    bool finished = false;
    ChatStats stats;
    bool on_gui_thread = true;

    void follow(EngineBridge& bridge, quint64 ticket) {
        QObject::connect(&bridge, &EngineBridge::chatToken, &bridge, [this, ticket](quint64 t, const QString& text) {
            if (t != ticket) return;
            on_gui_thread &= QThread::currentThread() == qApp->thread();
            this->text += text;
            ++tokens;
        });
        QObject::connect(&bridge, &EngineBridge::chatFinished, &bridge, [this, ticket](quint64 t, const ChatStats& s) {
            if (t != ticket) return;
            on_gui_thread &= QThread::currentThread() == qApp->thread();
            finished = true;
            stats = s;
        });
    }
};

}  // namespace

class TestEngineBridge : public QObject {
    Q_OBJECT

    std::unique_ptr<lw::test::TinyChatModel> model_;
    std::unique_ptr<EngineBridge> bridge_;
    QString base_;

private slots:
    void init() {
        model_ = std::make_unique<lw::test::TinyChatModel>();
        bridge_ = std::make_unique<EngineBridge>();
        QSignalSpy started(bridge_.get(), &EngineBridge::engineStarted);
        QSignalSpy loaded(bridge_.get(), &EngineBridge::baseLoaded);
        bridge_->start(small_settings());
        bridge_->loadBase(QString::fromStdString(model_->path().string()));
        QVERIFY(loaded.wait(10000));
        QCOMPARE(started.size(), 1);
        QVERIFY(started[0][0].toString().startsWith("cpu"));
        const auto entry = loaded[0][0].value<ModelEntry>();
        base_ = entry.name;
        QCOMPARE(entry.format, QStringLiteral("safetensors"));
        QVERIFY(entry.bytes > 0);
        QVERIFY(entry.base.isEmpty());
    }

    void cleanup() {
        bridge_.reset();
        model_.reset();
    }

    void chatRoundTripOnAnAdapter() {
        QVERIFY(bridge_->engineThread() != qApp->thread());
        QVERIFY(bridge_->engine() != nullptr);
        QSignalSpy adapter(bridge_.get(), &EngineBridge::adapterLoaded);
        bridge_->loadAdapter("qv", lw::test::data_arg("peft/qv_r8"), base_);
        QVERIFY(adapter.wait(10000));
        const auto entry = adapter[0][0].value<ModelEntry>();
        QCOMPARE(entry.name, QStringLiteral("qv"));
        QCOMPARE(entry.base, base_);
        QCOMPARE(entry.rank, 8);
        QCOMPARE(entry.targets, QStringList({"q_proj", "v_proj"}));
        QCOMPARE(entry.format, QStringLiteral("peft"));

        Answer plain, adapted;
        QSignalSpy metrics(bridge_.get(), &EngineBridge::metricsUpdated);
        plain.follow(*bridge_, bridge_->chat(hello(base_, 12)));
        adapted.follow(*bridge_, bridge_->chat(hello("qv", 12)));
        QTRY_VERIFY_WITH_TIMEOUT(plain.finished && adapted.finished, 20000);
        for (const Answer* a : {&plain, &adapted}) {
            QVERIFY2(a->stats.reason == "stop" || a->stats.reason == "length", qPrintable(a->stats.error));
            QVERIFY(a->on_gui_thread);
            QVERIFY(a->stats.promptTokens > 10);
            QVERIFY(a->stats.completionTokens > 0);
            QVERIFY(a->stats.completionTokens <= 12);
            QVERIFY(a->tokens > 0);
            QVERIFY(!a->text.isEmpty());
            QVERIFY(a->stats.timeToFirstToken > 0.0);
        }
        // The adapter changes the answer (greedy on both, so only the adapter differs).
        QVERIFY(plain.text != adapted.text);

        // Snapshots keep coming; one taken after both answers counts their tokens.
        const auto generated =
            static_cast<std::uint64_t>(plain.stats.completionTokens + adapted.stats.completionTokens);
        QTRY_VERIFY_WITH_TIMEOUT(
            !metrics.isEmpty() && metrics.last()[0].value<MetricsPtr>()->generation_tokens >= generated, 2000);
        const MetricsPtr snapshot = metrics.last()[0].value<MetricsPtr>();
        QVERIFY(!snapshot->pages.empty());
    }

    void cancelStopsAnAnswer() {
        Answer answer;
        const quint64 ticket = bridge_->chat(hello(base_, 200));
        answer.follow(*bridge_, ticket);
        // At once: the tiny model writes 200 tokens in milliseconds.
        bridge_->cancel(ticket);
        bridge_->cancel(ticket + 1000);  // unknown: ignored
        QTRY_VERIFY_WITH_TIMEOUT(answer.finished, 10000);
        // A random model may say EOS first; otherwise it was cut short.
        if (answer.stats.reason != "stop") QCOMPARE(answer.stats.reason, QStringLiteral("cancelled"));
        QVERIFY(answer.stats.completionTokens < 200);
    }

    void errorsNameWhatIsWrong() {
        Answer unknown;
        unknown.follow(*bridge_, bridge_->chat(hello("no-such-model", 4)));
        QTRY_VERIFY_WITH_TIMEOUT(unknown.finished, 5000);
        QCOMPARE(unknown.stats.reason, QStringLiteral("error"));
        QVERIFY2(unknown.stats.error.contains("no-such-model"), qPrintable(unknown.stats.error));

        QSignalSpy failed(bridge_.get(), &EngineBridge::loadFailed);
        bridge_->loadBase("/nonexistent/model.gguf");
        QVERIFY(failed.wait(5000));
        QCOMPARE(failed[0][0].toString(), QStringLiteral("/nonexistent/model.gguf"));
        QVERIFY(failed[0][1].toString().contains("/nonexistent/model.gguf"));

        // The plain fixture has no tokenizer: chatting with it says so.
        QSignalSpy loaded(bridge_.get(), &EngineBridge::baseLoaded);
        bridge_->loadBase(lw::test::data_arg("models/tiny_llama"));
        QVERIFY(loaded.wait(10000));
        const QString plain = loaded[0][0].value<ModelEntry>().name;
        Answer untokenized;
        untokenized.follow(*bridge_, bridge_->chat(hello(plain, 4)));
        QTRY_VERIFY_WITH_TIMEOUT(untokenized.finished, 5000);
        QCOMPARE(untokenized.stats.reason, QStringLiteral("error"));
        QVERIFY2(untokenized.stats.error.contains("no tokenizer"), qPrintable(untokenized.stats.error));

        // An adapter for another base is refused, naming the adapter.
        bridge_->loadAdapter("wrong", lw::test::data_arg("peft/wrong_base"), base_);
        QVERIFY(failed.wait(5000));
        QCOMPARE(failed.last()[0].toString(), QStringLiteral("wrong"));
    }

    void restartReloadsModelsAndAdapters() {
        QSignalSpy adapter(bridge_.get(), &EngineBridge::adapterLoaded);
        bridge_->loadAdapter("qv", lw::test::data_arg("peft/qv_r8"), base_);
        QVERIFY(adapter.wait(10000));

        QSignalSpy started(bridge_.get(), &EngineBridge::engineStarted);
        QSignalSpy loaded(bridge_.get(), &EngineBridge::baseLoaded);
        QSignalSpy busy(bridge_.get(), &EngineBridge::busyChanged);
        EngineSettings changed = small_settings();
        changed.maxLoras = 2;
        bridge_->start(changed);
        QCOMPARE(bridge_->settings().maxLoras, 2);
        QVERIFY(adapter.wait(10000));
        QCOMPARE(started.size(), 1);
        QCOMPARE(loaded.size(), 1);
        QCOMPARE(loaded[0][0].value<ModelEntry>().name, base_);
        QVERIFY(!busy.isEmpty());
        QTRY_COMPARE(busy.last()[0].toBool(), false);

        Answer answer;
        answer.follow(*bridge_, bridge_->chat(hello("qv", 4)));
        QTRY_VERIFY_WITH_TIMEOUT(answer.finished, 10000);
        QVERIFY2(answer.stats.reason != "error", qPrintable(answer.stats.error));
    }

    void destroyingMidAnswerIsClean() {
        Answer answer;
        answer.follow(*bridge_, bridge_->chat(hello(base_, 200)));
        QTRY_VERIFY_WITH_TIMEOUT(answer.tokens > 0 || answer.finished, 10000);
        QElapsedTimer timer;
        timer.start();
        bridge_.reset();
        QVERIFY(timer.elapsed() < 5000);
        QCoreApplication::processEvents();  // nothing left queued for the dead bridge
    }
};

QTEST_MAIN(TestEngineBridge)
#include "test_engine_bridge.moc"
