// The local OpenAI-compatible server: lora-serve's API (lw::HttpServer) over the
// workbench's own engine, served on a thread of its own while it is switched on. Each
// answered request is reported for the request log.
#pragma once

#include "settings_store.h"

#include <QObject>
#include <QString>

#include <memory>
#include <thread>

namespace lw {
class Engine;
class HttpServer;
}  // namespace lw

namespace workbench {

class LocalServer : public QObject {
    Q_OBJECT
public:
    explicit LocalServer(QObject* parent = nullptr);
    ~LocalServer() override;  // stops serving

    // Serves `engine` at the settings' address; `defaultBase` takes adapters loaded
    // without a base. Emits started (with the URL) or failed (naming the address).
    // The engine must outlive the server: stop() before the engine goes.
    void start(lw::Engine* engine, const ServerSettings& settings, const QString& defaultBase);
    // Ends every open stream and joins the serving thread; emits stopped when it ran.
    void stop();
    bool isRunning() const { return server_ != nullptr; }
    QString url() const { return url_; }

signals:
    void started(const QString& url);
    void stopped();
    void failed(const QString& error);
    void requestLogged(const QString& line);  // "12:03:04  POST /v1/chat/completions  200"

private:
    std::unique_ptr<lw::HttpServer> server_;
    std::thread thread_;
    QString url_;
};

}  // namespace workbench
