#include "drop_import.h"

#include "engine_bridge.h"

#include "core/temp_dir.h"
#include "model/adapter_sources.h"

#include <QDir>
#include <QFileInfo>
#include <QFutureWatcher>
#include <QMimeData>
#include <QUrl>
#include <QtConcurrent>

namespace workbench {

namespace {

// What an archive held, or why it could not be read (computed off the GUI thread).
struct Unpacked {
    std::vector<lw::AdapterSource> adapters;
    QString error;
};

QString message_of(const std::exception& e) {
    return QString::fromStdString(e.what());
}

}  // namespace

DropImport::DropImport(EngineBridge* bridge, QObject* parent) : QObject(parent), bridge_(bridge) {}

DropImport::~DropImport() {
    for (QFuture<void>& f : unpacking_) f.waitForFinished();
}

QStringList DropImport::localPaths(const QMimeData* mime) {
    QStringList paths;
    if (!mime || !mime->hasUrls()) return paths;
    for (const QUrl& url : mime->urls())
        if (url.isLocalFile()) paths.append(url.toLocalFile());
    return paths;
}

void DropImport::import(const QString& path, const QString& base) {
    const QFileInfo info(path);
    if (!info.exists()) return emit failed(path, tr("%1: no such file or folder").arg(path));
    const bool model_folder = info.isDir() && QFileInfo::exists(QDir(path).filePath("config.json")) &&
                              !QFileInfo::exists(QDir(path).filePath("adapter_config.json"));
    if ((info.isFile() && path.endsWith(".gguf", Qt::CaseInsensitive)) || model_folder) return bridge_->loadBase(path);
    if (base.isEmpty())
        return emit failed(path, tr("%1: load a base model first (a .gguf file or a Hugging Face model folder), "
                                    "then add adapters to it")
                                     .arg(path));
    if (info.isFile() && lw::is_adapter_archive(path.toStdString())) return importArchive(path, base);
    loadAdapters(path, base);
}

void DropImport::loadAdapters(const QString& path, const QString& base) {
    try {
        for (const lw::AdapterSource& a : lw::find_adapters(path.toStdString()))
            bridge_->loadAdapter(QString::fromStdString(a.name), QString::fromStdString(a.folder.string()), base);
    } catch (const std::exception& e) {
        emit failed(path, message_of(e) + tr(" (expected a model: .gguf or a folder with config.json; an adapter: "
                                             "a folder with adapter_config.json; or an adapters.tar.gz)"));
    }
}

void DropImport::importArchive(const QString& path, const QString& base) {
    std::unique_ptr<lw::TempDir> dir;
    try {
        dir = std::make_unique<lw::TempDir>("lora-workbench-archive");
    } catch (const std::exception& e) {
        return emit failed(path, message_of(e));
    }
    const std::filesystem::path target = dir->path() / "adapters";
    unpacked_.push_back(std::move(dir));
    auto* watcher = new QFutureWatcher<Unpacked>(this);
    connect(watcher, &QFutureWatcher<Unpacked>::finished, this, [this, watcher, path, base] {
        const Unpacked result = watcher->result();
        watcher->deleteLater();
        if (!result.error.isEmpty()) return emit failed(path, result.error);
        for (const lw::AdapterSource& a : result.adapters)
            bridge_->loadAdapter(QString::fromStdString(a.name), QString::fromStdString(a.folder.string()), base);
    });
    const QFuture<Unpacked> future = QtConcurrent::run([archive = path.toStdString(), target] {
        Unpacked out;
        try {
            out.adapters = lw::unpack_adapters(archive, target);
        } catch (const std::exception& e) {
            out.error = message_of(e);
        }
        return out;
    });
    unpacking_.append(QFuture<void>(future));
    watcher->setFuture(future);
}

}  // namespace workbench
