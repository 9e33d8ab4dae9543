// What the main-window suites share: QSettings in a scratch folder (so tests neither
// read nor change the user's), a small engine, a window with the chat-ready tiny
// model loaded, and real drag-and-drop events carrying file URLs.
#pragma once

#include "engine_bridge.h"
#include "main_window.h"
#include "model_library.h"
#include "settings_store.h"
#include "workbench/tiny_chat_model.h"

#include <QApplication>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QMimeData>
#include <QSettings>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QUrl>

#include <memory>

namespace lw::test {

class WindowTestEnv {
public:
    WindowTestEnv() {
        QApplication::setOrganizationName("lora-workbench-tests");
        QApplication::setApplicationName("lora-workbench-tests");
        QSettings::setDefaultFormat(QSettings::IniFormat);
        QSettings::setPath(QSettings::IniFormat, QSettings::UserScope, settings_.path());
        workbench::SettingsStore store;
        workbench::EngineSettings engine;
        engine.poolBytes = 16ll << 20;
        engine.threads = 1;
        store.setEngine(engine);
    }
    QString settingsFolder() const { return settings_.path(); }
    QString modelPath() const { return QString::fromStdString(model_.path().string()); }

    // Loads the tiny chat model into `window` through openPaths; returns its name.
    QString loadModel(workbench::MainWindow& window) const {
        QSignalSpy loaded(window.bridge(), &workbench::EngineBridge::baseLoaded);
        window.openPaths({modelPath()});
        if (!loaded.wait(10000)) return {};
        return loaded[0][0].value<workbench::ModelEntry>().name;
    }

private:
    QTemporaryDir settings_;
    TinyChatModel model_;
};

// Drags `paths` (as file URLs) over `target` at `pos` and drops them, as a desktop's
// file manager does. Returns whether the drag was accepted and the drop taken.
inline bool dropFiles(QWidget* target, const QPoint& pos, const QStringList& paths) {
    QMimeData mime;
    QList<QUrl> urls;
    for (const QString& p : paths) urls.append(QUrl::fromLocalFile(p));
    mime.setUrls(urls);
    QDragEnterEvent enter(pos, Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(target, &enter);
    if (!enter.isAccepted()) return false;
    QDragMoveEvent move(pos, Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(target, &move);
    QDropEvent drop(QPointF(pos), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(target, &drop);
    return drop.isAccepted();
}

}  // namespace lw::test
