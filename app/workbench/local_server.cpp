#include "local_server.h"

#include "runtime/engine.h"
#include "server/http_server.h"

#include <QTime>

namespace workbench {

LocalServer::LocalServer(QObject* parent) : QObject(parent) {}

LocalServer::~LocalServer() {
    stop();
}

void LocalServer::start(lw::Engine* engine, const ServerSettings& settings, const QString& defaultBase) {
    stop();
    if (!engine) return emit failed(tr("the engine is not running"));
    lw::HttpServerConfig config;
    config.api_key = settings.apiKey.toStdString();
    config.default_base = defaultBase.toStdString();
    // Runs on the server's connection threads: format, then post to the GUI thread.
    config.on_request = [this](const std::string& method, const std::string& path, int status) {
        const QString line = QStringLiteral("%1  %2 %3  %4")
                                 .arg(QTime::currentTime().toString(Qt::ISODate), QString::fromStdString(method),
                                      QString::fromStdString(path))
                                 .arg(status);
        QMetaObject::invokeMethod(
            this, [this, line] { emit requestLogged(line); }, Qt::QueuedConnection);
    };
    try {
        auto server = std::make_unique<lw::HttpServer>(*engine, std::move(config));
        const int port = server->bind(settings.host.toStdString(), settings.port);
        server_ = std::move(server);
        url_ = QStringLiteral("http://%1:%2").arg(settings.host).arg(port);
    } catch (const std::exception& e) {
        return emit failed(QString::fromStdString(e.what()));
    }
    thread_ = std::thread([server = server_.get()] { server->run(); });
    emit started(url_);
}

void LocalServer::stop() {
    if (!server_) return;
    server_->stop();
    thread_.join();
    server_.reset();
    url_.clear();
    emit stopped();
}

}  // namespace workbench
