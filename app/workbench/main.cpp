// lora-workbench [--model PATH] [--adapter NAME=PATH]... [--backend cpu|cuda]
//                [--screenshot FILE] [--version]
// Without --model it opens the default model (scripts/fetch-default-model.sh puts it in
// the XDG data folder) when present, with every demo adapter shipped beside the program.
#include "main_window.h"
#include "palette.h"
#include "screenshot.h"

#include "model/adapter_sources.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QFileInfo>
#include <QStandardPaths>

#include <cstdio>

namespace {

QString default_model_path() {
    QString data = qEnvironmentVariable("XDG_DATA_HOME");
    if (data.isEmpty()) data = QDir::homePath() + "/.local/share";
    return data + "/lora-workbench/models/SmolLM2-135M-Instruct.Q4_1.gguf";
}

// Demo adapters: resources/adapters in the source tree (a build run in place) or
// <prefix>/share/lora-workbench/adapters (installed).
QList<QPair<QString, QString>> demo_adapters() {
    const QStringList roots = {QStringLiteral(LW_SOURCE_DIR "/resources/adapters"),
                               QCoreApplication::applicationDirPath() + "/../share/lora-workbench/adapters"};
    for (const QString& root : roots) {
        if (!QFileInfo(root).isDir()) continue;
        QList<QPair<QString, QString>> found;
        try {
            for (const lw::AdapterSource& a : lw::find_adapters(root.toStdString()))
                found.append({QString::fromStdString(a.name), QString::fromStdString(a.folder.string())});
        } catch (const std::exception& e) {
            std::fprintf(stderr, "lora-workbench: %s\n", e.what());
        }
        return found;
    }
    return {};
}

}  // namespace

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("lora-workbench"));
    QApplication::setApplicationName(QStringLiteral("lora-workbench"));
    QApplication::setApplicationDisplayName(QStringLiteral("LoRA Workbench"));
    QApplication::setApplicationVersion(QStringLiteral(LW_VERSION));
    QApplication::setDesktopFileName(QStringLiteral("lora-workbench"));
    Q_INIT_RESOURCE(workbench);

    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Chat with many LoRA adapters on one base model and watch how the engine serves them."));
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption model({"m", "model"}, "Base model to open (.gguf file or Hugging Face folder).", "PATH");
    const QCommandLineOption adapter({"a", "adapter"}, "PEFT adapter to load onto the model (repeatable).",
                                     "NAME=PATH");
    const QCommandLineOption backend("backend", "Engine backend, remembered as the setting: cpu or cuda.", "NAME");
    const QCommandLineOption screenshot("screenshot", "Save a picture of the window mid-conversation and quit.",
                                        "FILE");
    parser.addOptions({model, adapter, backend, screenshot});
    parser.process(app);

    QList<QPair<QString, QString>> adapters;
    for (const QString& spec : parser.values(adapter)) {
        const qsizetype eq = spec.indexOf('=');
        if (eq <= 0 || eq == spec.size() - 1) {
            std::fprintf(stderr, "lora-workbench: --adapter '%s': expected NAME=PATH\n", qPrintable(spec));
            return 2;
        }
        adapters.append({spec.left(eq), spec.mid(eq + 1)});
    }
    if (parser.isSet(backend)) {
        const QString name = parser.value(backend);
        if (name != "cpu" && name != "cuda") {
            std::fprintf(stderr, "lora-workbench: --backend '%s': expected cpu or cuda\n", qPrintable(name));
            return 2;
        }
        workbench::SettingsStore store;
        workbench::EngineSettings settings = store.engine();
        settings.backend = name;
        store.setEngine(settings);
    }

    QString modelPath = parser.value(model);
    if (modelPath.isEmpty() && QFileInfo::exists(default_model_path())) {
        modelPath = default_model_path();
        if (adapters.isEmpty()) adapters = demo_adapters();
    }

    workbench::SettingsStore store;
    workbench::applyTheme(store.theme());
    workbench::MainWindow window;
    window.show();
    if (!modelPath.isEmpty())
        window.openWithChats(modelPath, adapters);
    else if (!adapters.isEmpty())
        std::fprintf(stderr, "lora-workbench: --adapter needs --model (or the default model)\n");
    if (parser.isSet(screenshot)) new workbench::Screenshot(&window, parser.value(screenshot), &window);
    return app.exec();
}
