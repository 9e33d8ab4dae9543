// Conversation files: what the chat grid saves comes back as it was, and a bad file is
// refused with a message naming the file and the field at fault.
#include "conversation.h"

#include "support/test_support.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QTest>

#include <functional>

using namespace workbench;

namespace {

Conversation sampleConversation() {
    PaneConversation a;
    a.model = "qv_r8";
    a.systemPrompt = "You are terse. Ünïcödé ✓";
    a.sampling = {0.0, 40, 0.9, 32, 1234};
    ChatStats stats;
    stats.reason = "length";
    stats.promptTokens = 12;
    stats.completionTokens = 32;
    stats.timeToFirstToken = 0.125;
    stats.tokensPerSecond = 88.5;
    a.messages = {{"user", "hello\nthere", {}}, {"assistant", "hi", stats}};
    PaneConversation b;
    b.model = "tiny_llama";
    ChatStats failed;
    failed.reason = "error";
    failed.error = "the prompt is empty";
    b.messages = {{"user", "x", {}}, {"assistant", "", failed}, {"user", "y", {}}, {"assistant", "streaming", {}}};
    return {{a, b}};
}

void compareStats(const std::optional<ChatStats>& actual, const std::optional<ChatStats>& expected) {
    QCOMPARE(actual.has_value(), expected.has_value());
    if (!expected) return;
    QCOMPARE(actual->reason, expected->reason);
    QCOMPARE(actual->error, expected->error);
    QCOMPARE(actual->promptTokens, expected->promptTokens);
    QCOMPARE(actual->completionTokens, expected->completionTokens);
    QCOMPARE(actual->timeToFirstToken, expected->timeToFirstToken);
    QCOMPARE(actual->tokensPerSecond, expected->tokensPerSecond);
}

}  // namespace

class TestConversation : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;

    QString path(const QString& name) const { return dir_.filePath(name); }

    // Saves the sample, changes its JSON with `edit`, and returns the load error.
    QString loadErrorAfter(const std::function<void(QJsonObject&)>& edit) {
        const QString file = path("edited.json");
        saveConversation(sampleConversation(), file);
        QJsonObject root =
            QJsonDocument::fromJson(QByteArray::fromStdString(lw::test::read_file(file.toStdString()))).object();
        edit(root);
        lw::test::write_file(file.toStdString(), QJsonDocument(root).toJson().toStdString());
        return QString::fromStdString(lw::test::error_of([&] { loadConversation(file); }));
    }

private slots:
    void roundTrip() {
        const Conversation saved = sampleConversation();
        saveConversation(saved, path("chat.json"));
        const Conversation loaded = loadConversation(path("chat.json"));
        QCOMPARE(loaded.panes.size(), saved.panes.size());
        for (qsizetype p = 0; p < saved.panes.size(); ++p) {
            const PaneConversation& a = loaded.panes[p];
            const PaneConversation& e = saved.panes[p];
            QCOMPARE(a.model, e.model);
            QCOMPARE(a.systemPrompt, e.systemPrompt);
            QCOMPARE(a.sampling.temperature, e.sampling.temperature);
            QCOMPARE(a.sampling.topK, e.sampling.topK);
            QCOMPARE(a.sampling.topP, e.sampling.topP);
            QCOMPARE(a.sampling.maxTokens, e.sampling.maxTokens);
            QCOMPARE(a.sampling.seed, e.sampling.seed);
            QCOMPARE(a.messages.size(), e.messages.size());
            for (qsizetype m = 0; m < e.messages.size(); ++m) {
                QCOMPARE(a.messages[m].role, e.messages[m].role);
                QCOMPARE(a.messages[m].content, e.messages[m].content);
                compareStats(a.messages[m].stats, e.messages[m].stats);
            }
        }
    }

    void unreadableFilesNameTheFile() {
        const QString missing = path("missing.json");
        QString error = QString::fromStdString(lw::test::error_of([&] { loadConversation(missing); }));
        QVERIFY2(error.contains(missing) && error.contains("cannot read"), qPrintable(error));

        lw::test::write_file(path("broken.json").toStdString(), "{\"panes\": [");
        error = QString::fromStdString(lw::test::error_of([&] { loadConversation(path("broken.json")); }));
        QVERIFY2(error.contains(path("broken.json")) && error.contains("not JSON"), qPrintable(error));

        lw::test::write_file(path("array.json").toStdString(), "[]");
        error = QString::fromStdString(lw::test::error_of([&] { loadConversation(path("array.json")); }));
        QVERIFY2(error.contains("expected a JSON object"), qPrintable(error));

        const QString unwritable = path("no/such/folder/chat.json");
        error = QString::fromStdString(lw::test::error_of([&] { saveConversation(sampleConversation(), unwritable); }));
        QVERIFY2(error.contains(unwritable) && error.contains("cannot write"), qPrintable(error));
    }

    void malformedFieldsAreNamed_data() {
        QTest::addColumn<QString>("field");
        QTest::addColumn<QString>("what");
        QTest::newRow("format") << "format"
                                << "not a workbench conversation";
        QTest::newRow("version") << "version"
                                 << "reads version 1";
        QTest::newRow("panes type") << "panes"
                                    << "expected an array";
        QTest::newRow("pane model") << "panes[0].model"
                                    << "is missing";
        QTest::newRow("top_p range") << "panes[0].sampling.top_p"
                                     << "outside [0, 1]";
        QTest::newRow("top_k whole") << "panes[1].sampling.top_k"
                                     << "expected a whole number";
        QTest::newRow("role") << "panes[0].messages[1].role"
                              << "expected user or assistant";
        QTest::newRow("stats reason") << "panes[0].messages[1].stats.reason"
                                      << "expected stop, length";
        QTest::newRow("message type") << "panes[1].messages[0]"
                                      << "expected an object";
    }
    void malformedFieldsAreNamed() {
        QFETCH(QString, field);
        QFETCH(QString, what);
        const auto pane = [](QJsonObject& root, int i, const std::function<void(QJsonObject&)>& edit) {
            QJsonArray panes = root["panes"].toArray();
            QJsonObject p = panes[i].toObject();
            edit(p);
            panes[i] = p;
            root["panes"] = panes;
        };
        const auto message = [](QJsonObject& p, int i, const std::function<void(QJsonObject&)>& edit) {
            QJsonArray messages = p["messages"].toArray();
            QJsonObject m = messages[i].toObject();
            edit(m);
            messages[i] = m;
            p["messages"] = messages;
        };
        const QString error = loadErrorAfter([&](QJsonObject& root) {
            if (field == "format") root["format"] = "something-else";
            if (field == "version") root["version"] = 7;
            if (field == "panes") root["panes"] = "none";
            if (field == "panes[0].model") pane(root, 0, [](QJsonObject& p) { p.remove("model"); });
            if (field.contains("sampling")) {
                pane(root, field.contains("[1]") ? 1 : 0, [&](QJsonObject& p) {
                    QJsonObject s = p["sampling"].toObject();
                    if (field.endsWith("top_p")) s["top_p"] = 1.5;
                    if (field.endsWith("top_k")) s["top_k"] = 2.5;
                    p["sampling"] = s;
                });
            }
            if (field.endsWith("role"))
                pane(root, 0, [&](QJsonObject& p) { message(p, 1, [](QJsonObject& m) { m["role"] = "system"; }); });
            if (field.endsWith("reason")) {
                pane(root, 0, [&](QJsonObject& p) {
                    message(p, 1, [](QJsonObject& m) {
                        QJsonObject s = m["stats"].toObject();
                        s["reason"] = "tired";
                        m["stats"] = s;
                    });
                });
            }
            if (field == "panes[1].messages[0]") {
                pane(root, 1, [](QJsonObject& p) {
                    QJsonArray messages = p["messages"].toArray();
                    messages[0] = 42;
                    p["messages"] = messages;
                });
            }
        });
        QVERIFY2(error.contains(path("edited.json")), qPrintable(error));
        QVERIFY2(error.contains(field + ": "), qPrintable(error));
        QVERIFY2(error.contains(what), qPrintable(error));
    }
};

QTEST_GUILESS_MAIN(TestConversation)
#include "test_conversation.moc"
