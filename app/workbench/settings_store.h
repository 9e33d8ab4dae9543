// Everything the workbench remembers between runs, in QSettings: the engine's
// settings, the local server's address, the palette and the window's geometry. Values
// read back are checked, so a hand-edited or stale file falls back to defaults.
#pragma once

#include "engine_types.h"

#include <QByteArray>
#include <QSettings>
#include <QString>

namespace workbench {

enum class Theme { Light, Dark };

struct ServerSettings {
    QString host = QStringLiteral("127.0.0.1");
    int port = 8000;
    QString apiKey;  // empty: no key asked
};

class SettingsStore {
public:
    // The application's QSettings (organisation and application names set by main).
    SettingsStore() = default;

    EngineSettings engine() const;
    void setEngine(const EngineSettings& s);

    ServerSettings server() const;
    void setServer(const ServerSettings& s);

    Theme theme() const;
    void setTheme(Theme theme);

    QByteArray windowGeometry() const;
    QByteArray windowState() const;
    void setWindow(const QByteArray& geometry, const QByteArray& state);

    // Where the last File > Open dialog was, to start the next one there.
    QString lastFolder() const;
    void setLastFolder(const QString& folder);

private:
    mutable QSettings settings_;
};

}  // namespace workbench
