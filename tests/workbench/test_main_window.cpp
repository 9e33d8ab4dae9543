// The main window as a whole: settings persisted and restored (and bad stored values
// falling back), applying engine settings restarts the engine and reloads the models,
// the palette toggle, window state, the library's actions opening chat panes and
// unloading adapters, metrics reaching the library and status bar, the local server
// answering HTTP with its requests in the log, and the standard shortcuts.
#include "chat_grid.h"
#include "chat_pane.h"
#include "library_view.h"
#include "load_generator_dialog.h"
#include "local_server.h"
#include "palette.h"
#include "settings_dialog.h"
#include "support/test_support.h"
#include "workbench/window_test_env.h"

#include <QAction>
#include <QLabel>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QPlainTextEdit>
#include <QStatusBar>

using namespace workbench;

class TestMainWindow : public QObject {
    Q_OBJECT

    std::unique_ptr<lw::test::WindowTestEnv> env_;

private slots:
    void initTestCase() { env_ = std::make_unique<lw::test::WindowTestEnv>(); }

    void settingsPersistAndBadValuesFallBack() {
        EngineSettings engine;
        engine.backend = "cuda";
        engine.poolBytes = 64ll << 20;
        engine.maxLoras = 3;
        engine.maxCpuLoras = 9;
        engine.maxLoraRank = 32;
        engine.threads = 2;
        ServerSettings server{"0.0.0.0", 9123, "sesame"};
        {
            SettingsStore store;
            store.setEngine(engine);
            store.setServer(server);
            store.setTheme(Theme::Dark);
        }
        SettingsStore store;  // a new store reads what the last one wrote
        QVERIFY(store.engine() == engine);
        QCOMPARE(store.server().host, server.host);
        QCOMPARE(store.server().port, server.port);
        QCOMPARE(store.server().apiKey, server.apiKey);
        QCOMPARE(store.theme(), Theme::Dark);
        QVERIFY(QFileInfo(env_->settingsFolder()).isDir());

        QSettings raw;
        raw.setValue("engine/max_loras", -3);
        raw.setValue("engine/backend", "tpu");
        raw.setValue("server/port", "eighty");
        raw.sync();
        QCOMPARE(store.engine().maxLoras, EngineSettings().maxLoras);
        QCOMPARE(store.engine().backend, QStringLiteral("cpu"));
        QCOMPARE(store.server().port, ServerSettings().port);
        raw.setValue("engine/max_loras", 8);
        raw.setValue("engine/max_cpu_loras", 4);  // fewer than max_loras: the engine would refuse it
        raw.sync();
        QCOMPARE(store.engine().maxCpuLoras, 8);

        // The dialog shows stored values and gives them back unchanged.
        SettingsDialog dialog(engine, server);
        QVERIFY(dialog.engineSettings() == engine);
        QCOMPARE(dialog.serverSettings().port, server.port);

        store.setEngine(EngineSettings{"cpu", 16ll << 20, 4, 16, 64, 1});
        store.setServer(ServerSettings{});
        store.setTheme(Theme::Light);
    }

    void applyingSettingsRestartsAndReloads() {
        MainWindow window;
        const QString base = env_->loadModel(window);
        QVERIFY(!base.isEmpty());
        QSignalSpy adapter(window.bridge(), &EngineBridge::adapterLoaded);
        window.openPaths({lw::test::data_arg("peft/qv_r8")});
        QVERIFY(adapter.wait(10000));

        QSignalSpy started(window.bridge(), &EngineBridge::engineStarted);
        EngineSettings changed = SettingsStore().engine();
        changed.maxLoras = 2;
        window.applyEngineSettings(changed);
        QVERIFY(started.wait(10000));
        QTRY_COMPARE_WITH_TIMEOUT(adapter.size(), 2, 10000);  // reloaded on the new engine
        QCOMPARE(SettingsStore().engine().maxLoras, 2);
        QCOMPARE(window.bridge()->settings().maxLoras, 2);
        QCOMPARE(window.library()->baseNames(), QStringList{base});
        QCOMPARE(window.library()->adapterNames(), QStringList{"qv_r8"});

        // The same settings again: nothing restarts.
        window.applyEngineSettings(changed);
        QVERIFY(!started.wait(300));
    }

    void paletteAndWindowStateAreRestored() {
        {
            MainWindow window;
            window.setTheme(Theme::Dark);
            QVERIFY(QApplication::palette().color(QPalette::Window).lightness() < 100);
            window.resize(1111, 777);
            window.show();
            QVERIFY(QTest::qWaitForWindowExposed(&window));
            window.close();
        }
        QCOMPARE(SettingsStore().theme(), Theme::Dark);
        MainWindow restored;
        QCOMPARE(restored.size(), QSize(1111, 777));
        restored.setTheme(Theme::Light);
        QVERIFY(QApplication::palette().color(QPalette::Window).lightness() > 150);
    }

    void libraryActionsAndMetrics() {
        MainWindow window;
        const QString base = env_->loadModel(window);
        QSignalSpy adapter(window.bridge(), &EngineBridge::adapterLoaded);
        window.openPaths({lw::test::data_arg("peft/qv_r8")}, base);
        QVERIFY(adapter.wait(10000));

        // "Open chat pane" from the library, then a chat through it.
        emit window.libraryView()->openChatRequested("qv_r8");
        QCOMPARE(window.chatGrid()->panes().size(), 1);
        QCOMPARE(window.chatGrid()->panes()[0]->model(), QStringLiteral("qv_r8"));
        SamplingSettings shortAnswers;
        shortAnswers.maxTokens = 8;  // two exchanges stay within the tiny model's 256 positions
        window.chatGrid()->panes()[0]->setSampling(shortAnswers);
        QCOMPARE(window.chatGrid()->broadcast("Hello"), 1);
        QTRY_VERIFY_WITH_TIMEOUT(!window.chatGrid()->panes()[0]->isBusy(), 10000);
        const QModelIndex row = window.library()->indexOf("qv_r8");
        // The answer used the adapter: the metrics show it in the pool with one request.
        QTRY_COMPARE_WITH_TIMEOUT(row.siblingAtColumn(ModelLibrary::Tier).data().toString(), QStringLiteral("pool"),
                                  5000);
        // The first answer waited for the adapter to reach the pool; the second finds it there.
        const QModelIndex hits = row.siblingAtColumn(ModelLibrary::Hits);
        QCOMPARE(hits.data().toString(), QStringLiteral("0"));
        QVERIFY2(hits.data(Qt::ToolTipRole).toString().contains("1 waited"),
                 qPrintable(hits.data(Qt::ToolTipRole).toString()));
        QCOMPARE(window.chatGrid()->broadcast("Again"), 1);
        QTRY_VERIFY_WITH_TIMEOUT(!window.chatGrid()->panes()[0]->isBusy(), 10000);
        const auto& again = window.chatGrid()->panes()[0]->messages().last();
        QVERIFY2(again.stats && again.stats->reason != "error", qPrintable(again.stats ? again.stats->error : ""));
        QTRY_COMPARE_WITH_TIMEOUT(hits.data().toString(), QStringLiteral("1"), 5000);
        const QString labels = [&] {
            QStringList out;
            for (const QLabel* l : window.statusBar()->findChildren<QLabel*>()) out.append(l->text());
            return out.join(" | ");
        }();
        QVERIFY2(labels.contains("pool ") && labels.contains("cpu"), qPrintable(labels));

        // "Unload adapter" removes it from the engine and the tree.
        QSignalSpy unloaded(window.bridge(), &EngineBridge::adapterUnloaded);
        emit window.libraryView()->unloadRequested("qv_r8");
        QVERIFY(unloaded.wait(5000));
        QVERIFY(!window.library()->indexOf("qv_r8").isValid());
    }

    void localServerAnswersAndLogs() {
        SettingsStore().setServer(ServerSettings{"127.0.0.1", 0, {}});
        MainWindow window;
        const QString base = env_->loadModel(window);
        QSignalSpy started(window.localServer(), &LocalServer::started);
        window.setServerRunning(true);
        QCOMPARE(started.size(), 1);
        const QString url = started[0][0].toString();
        QVERIFY(url.startsWith("http://127.0.0.1:"));

        QNetworkAccessManager http;
        QNetworkRequest request(QUrl(url + "/v1/models"));
        request.setRawHeader("Connection", "close");  // a kept-alive connection holds up stop() for seconds
        QNetworkReply* reply = http.get(request);
        QSignalSpy done(reply, &QNetworkReply::finished);
        QVERIFY(done.wait(10000));
        QCOMPARE(reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), 200);
        QVERIFY(reply->readAll().contains(base.toUtf8()));
        reply->deleteLater();
        auto* log = window.findChild<QPlainTextEdit*>();
        QVERIFY(log);
        QTRY_VERIFY(log->toPlainText().contains("GET /v1/models  200"));

        // A restart stops and starts it again on the new engine.
        QSignalSpy stopped(window.localServer(), &LocalServer::stopped);
        EngineSettings changed = SettingsStore().engine();
        changed.maxCpuLoras = 7;
        window.applyEngineSettings(changed);
        QCOMPARE(stopped.size(), 1);
        QVERIFY(started.wait(10000));
        window.setServerRunning(false);
        QVERIFY(!window.localServer()->isRunning());

        // An address of no interface here (TEST-NET-1) cannot be bound: refused, named.
        QSignalSpy failed(window.localServer(), &LocalServer::failed);
        SettingsStore().setServer(ServerSettings{"192.0.2.1", 0, {}});
        window.setServerRunning(true);
        QCOMPARE(failed.size(), 1);
        QVERIFY2(failed[0][0].toString().contains("192.0.2.1"), qPrintable(failed[0][0].toString()));
        QVERIFY(!window.localServer()->isRunning());
        SettingsStore().setServer(ServerSettings{});
    }

    void loadGeneratorFromTheToolsMenu() {
        MainWindow window;
        const QString base = env_->loadModel(window);
        QAction* load = nullptr;
        for (QAction* a : window.findChildren<QAction*>())
            if (a->text() == "&Load generator...") load = a;
        QVERIFY(load);
        load->trigger();
        auto* dialog = window.findChild<LoadGeneratorDialog*>();
        QVERIFY(dialog && dialog->isVisible());
        QVERIFY(dialog->settings().models.contains(base));
    }

    void closingMidAnswerIsClean() {
        auto window = std::make_unique<MainWindow>();
        const QString base = env_->loadModel(*window);
        window->chatGrid()->openPane(base);
        window->chatGrid()->openPane(base);
        QCOMPARE(window->chatGrid()->broadcast("Tell me a long story"), 2);
        QVERIFY(window->chatGrid()->panes()[0]->isBusy());
        window->close();
        window.reset();  // panes, bridge (cancelling both answers) and engine go in order
        QCoreApplication::processEvents();
    }

    void standardShortcuts() {
        MainWindow window;
        QList<QKeySequence> keys;
        for (const QAction* a : window.findChildren<QAction*>()) keys.append(a->shortcuts());
        for (const QKeySequence& k : {QKeySequence("Ctrl+O"), QKeySequence("Ctrl+S"), QKeySequence("Ctrl+Q"),
                                      QKeySequence("F11"), QKeySequence("Ctrl+,")})
            QVERIFY2(keys.contains(k), qPrintable(k.toString()));
    }
};

QTEST_MAIN(TestMainWindow)
#include "test_main_window.moc"
