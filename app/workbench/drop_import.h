// Turns paths the user drops or opens into loads: a .gguf file or a Hugging Face
// folder (config.json) becomes a base model; an adapter folder, one of its files
// (adapter_model.safetensors, adapter_config.json), a folder of adapter folders or
// SageMaker LMI's adapters/<name>/ becomes adapters; an adapters.tar.gz is unpacked off
// the GUI thread into a scratch folder kept while the workbench runs (the engine reads
// adapters again from disk when it pages them back in) and its adapters loaded.
#pragma once

#include <QFuture>
#include <QList>
#include <QObject>
#include <QStringList>

#include <memory>
#include <vector>

class QMimeData;

namespace lw {
class TempDir;
}

namespace workbench {

class EngineBridge;

class DropImport : public QObject {
    Q_OBJECT
public:
    DropImport(EngineBridge* bridge, QObject* parent = nullptr);
    ~DropImport() override;

    // Starts loading what `path` holds; adapters are loaded for `base` (a loaded base
    // model's name). What cannot be loaded is reported through failed(), naming the path.
    void import(const QString& path, const QString& base);

    // The local files a drag carries (empty when it carries none).
    static QStringList localPaths(const QMimeData* mime);

signals:
    void failed(const QString& path, const QString& error);

private:
    void importArchive(const QString& path, const QString& base);
    void loadAdapters(const QString& path, const QString& base);

    EngineBridge* bridge_;
    std::vector<std::unique_ptr<lw::TempDir>> unpacked_;
    QList<QFuture<void>> unpacking_;  // waited for before the folders go
};

}  // namespace workbench
