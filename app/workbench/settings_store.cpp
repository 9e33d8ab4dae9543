#include "settings_store.h"

#include <QDir>

#include <algorithm>

namespace workbench {

namespace {

// An integer setting within [low, high], else `fallback`.
qint64 bounded(const QSettings& s, const QString& key, qint64 fallback, qint64 low, qint64 high) {
    bool ok = false;
    const qint64 v = s.value(key, fallback).toLongLong(&ok);
    return ok && v >= low && v <= high ? v : fallback;
}

}  // namespace

EngineSettings SettingsStore::engine() const {
    const EngineSettings d;
    EngineSettings s;
    const QString backend = settings_.value("engine/backend", d.backend).toString();
    s.backend = backend == "cuda" ? backend : d.backend;
    s.poolBytes = bounded(settings_, "engine/pool_bytes", d.poolBytes, 1ll << 20, 1ll << 40);
    s.maxLoras = static_cast<int>(bounded(settings_, "engine/max_loras", d.maxLoras, 1, 1024));
    // Host RAM also holds the pooled adapters' copies: the engine refuses fewer than max_loras.
    s.maxCpuLoras =
        std::max(s.maxLoras, static_cast<int>(bounded(settings_, "engine/max_cpu_loras", d.maxCpuLoras, 1, 65536)));
    s.maxLoraRank = static_cast<int>(bounded(settings_, "engine/max_lora_rank", d.maxLoraRank, 1, 1024));
    s.threads = static_cast<int>(bounded(settings_, "engine/threads", d.threads, 0, 1024));
    return s;
}

void SettingsStore::setEngine(const EngineSettings& s) {
    settings_.setValue("engine/backend", s.backend);
    settings_.setValue("engine/pool_bytes", s.poolBytes);
    settings_.setValue("engine/max_loras", s.maxLoras);
    settings_.setValue("engine/max_cpu_loras", s.maxCpuLoras);
    settings_.setValue("engine/max_lora_rank", s.maxLoraRank);
    settings_.setValue("engine/threads", s.threads);
}

ServerSettings SettingsStore::server() const {
    const ServerSettings d;
    ServerSettings s;
    s.host = settings_.value("server/host", d.host).toString();
    if (s.host.isEmpty()) s.host = d.host;
    s.port = static_cast<int>(bounded(settings_, "server/port", d.port, 0, 65535));
    s.apiKey = settings_.value("server/api_key").toString();
    return s;
}

void SettingsStore::setServer(const ServerSettings& s) {
    settings_.setValue("server/host", s.host);
    settings_.setValue("server/port", s.port);
    settings_.setValue("server/api_key", s.apiKey);
}

Theme SettingsStore::theme() const {
    return settings_.value("ui/theme").toString() == "dark" ? Theme::Dark : Theme::Light;
}

void SettingsStore::setTheme(Theme theme) {
    settings_.setValue("ui/theme", theme == Theme::Dark ? "dark" : "light");
}

QByteArray SettingsStore::windowGeometry() const {
    return settings_.value("window/geometry").toByteArray();
}
QByteArray SettingsStore::windowState() const {
    return settings_.value("window/state").toByteArray();
}

void SettingsStore::setWindow(const QByteArray& geometry, const QByteArray& state) {
    settings_.setValue("window/geometry", geometry);
    settings_.setValue("window/state", state);
}

QString SettingsStore::lastFolder() const {
    return settings_.value("ui/last_folder", QDir::homePath()).toString();
}
void SettingsStore::setLastFolder(const QString& folder) {
    settings_.setValue("ui/last_folder", folder);
}

}  // namespace workbench
