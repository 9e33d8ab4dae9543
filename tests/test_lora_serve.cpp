// lora-serve end to end: the real executable on a free port with the tiny model, its
// adapters given every way (NAME=PATH, vLLM's JSON, an LMI archive) and a
// serving.properties whose options the command line overrides; then bad flags.
#include "support/test_support.h"

#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>

#include <httplib.h>
#include <nlohmann/json.hpp>

using nlohmann::json;

namespace {

lw::test::ProcessRun serve(const QStringList& args) {
    return lw::test::run_process(LW_SERVE_EXE, args);
}

QString data(const char* relative) {
    return lw::test::data_arg(relative);
}

}  // namespace

class TestLoraServe : public QObject {
    Q_OBJECT
private slots:
    void servesModelsAndCompletions() {
        QTemporaryDir dir;
        const QString properties = dir.filePath("serving.properties");
        lw::test::write_file(
            properties.toStdString(),
            "engine=Python\noption.max_loras=3\noption.max_lora_rank=4\noption.tensor_parallel_degree=1\n");
        QProcess p;
        p.setProcessChannelMode(QProcess::MergedChannels);
        p.start(LW_SERVE_EXE,
                {"--serving-properties", properties, "--model", data("models/tiny_llama"), "--lora-modules",
                 "qv=" + data("peft/qv_r8"),
                 QString(R"({"name": "rs", "path": "%1"})").arg(data("peft/all_r4_rslora_bin")), "--adapters-archive",
                 data("peft/adapters.tar.gz"), "--max-lora-rank", "8", "--port", "0", "--threads", "2"});
        // The port is announced once everything is loaded.
        QString out;
        int port = 0;
        const QRegularExpression serving("serving on http://127\\.0\\.0\\.1:(\\d+)");
        for (int i = 0; i < 600 && port == 0 && p.state() != QProcess::NotRunning; ++i) {
            p.waitForReadyRead(100);
            out += QString::fromUtf8(p.readAll());
            if (const auto m = serving.match(out); m.hasMatch()) port = m.captured(1).toInt();
        }
        QVERIFY2(port > 0, qPrintable(out));

        httplib::Client client("127.0.0.1", port);
        client.set_read_timeout(60, 0);
        auto models = client.Get("/v1/models");
        QVERIFY(models && models->status == 200);
        std::map<std::string, json> by_id;
        const json listed = json::parse(models->body);
        for (const auto& m : listed["data"]) by_id[m["id"].get<std::string>()] = m;
        for (const char* name : {"qv", "rs", "qv_r8", "layers_subset"}) {
            QVERIFY2(by_id.contains(name), name);
            QCOMPARE(by_id[name]["parent"].get<std::string>(), std::string("tiny_llama"));
        }
        QVERIFY(by_id["tiny_llama"]["parent"].is_null());

        const json request = {{"model", "rs"}, {"prompt", {1, 2, 3}}, {"max_tokens", 4}, {"ignore_eos", true}};
        auto completion = client.Post("/v1/completions", request.dump(), "application/json");
        QVERIFY(completion);
        QVERIFY2(completion->status == 200, completion->body.c_str());
        QCOMPARE(json::parse(completion->body)["usage"]["completion_tokens"].get<int>(), 4);

        // max_loras came from the properties file.
        auto metrics = client.Get("/metrics");
        QVERIFY(metrics && metrics->body.find("max_lora=\"3\"") != std::string::npos);

        p.terminate();
        QVERIFY(p.waitForFinished(30000));
        QCOMPARE(p.exitStatus(), QProcess::NormalExit);
        QCOMPARE(p.exitCode(), 0);
    }

    void propertiesRankApplies() {
        // option.max_lora_rank=4 without the flag rejects qv_r8 (rank 8) at startup.
        QTemporaryDir dir;
        const QString properties = dir.filePath("serving.properties");
        lw::test::write_file(properties.toStdString(), "option.max_lora_rank=4\n");
        const lw::test::ProcessRun r = serve({"--serving-properties", properties, "--model", data("models/tiny_llama"),
                                              "--lora-modules", "qv=" + data("peft/qv_r8"), "--port", "0"});
        QCOMPARE(r.exit_code, 1);
        QVERIFY2(r.out.contains("qv"), qPrintable(r.out));
    }

    void badFlags() {
        lw::test::ProcessRun r = serve({});
        QCOMPARE(r.exit_code, 2);
        QVERIFY2(r.out.contains("no --model given"), qPrintable(r.out));
        r = serve({"--model", data("models/tiny_llama"), "--port", "http"});
        QCOMPARE(r.exit_code, 2);
        QVERIFY2(r.out.contains("--port takes a whole number"), qPrintable(r.out));
        r = serve({"--model", data("models/tiny_llama"), "--lora-modules", "no-equals-sign"});
        QCOMPARE(r.exit_code, 2);
        QVERIFY2(r.out.contains("no-equals-sign"), qPrintable(r.out));
        r = serve({"--model", data("models/tiny_llama"), "--frobnicate", "1"});
        QCOMPARE(r.exit_code, 2);
        QVERIFY2(r.out.contains("--frobnicate"), qPrintable(r.out));
        r = serve({"--model", data("models/tiny_llama"), "--backend", "tpu"});
        QCOMPARE(r.exit_code, 2);
        r = serve({"--model", data("models/no_such_model"), "--port", "0"});
        QCOMPARE(r.exit_code, 1);
        QVERIFY2(r.out.contains("no_such_model"), qPrintable(r.out));
        QCOMPARE(serve({"--help"}).exit_code, 0);
        r = serve({"--version"});
        QCOMPARE(r.exit_code, 0);
        QVERIFY2(r.out.startsWith("lora-serve "), qPrintable(r.out));
    }
};

QTEST_GUILESS_MAIN(TestLoraServe)
#include "test_lora_serve.moc"
