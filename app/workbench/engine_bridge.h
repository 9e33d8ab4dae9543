// The workbench's only door to the engine. An lw::Engine lives on a worker thread
// owned by this object; every public method returns at once (loading a model or an
// adapter, starting a chat) and results come back as signals queued to the GUI
// thread, so the GUI never waits on the engine. Metric snapshots are emitted at a
// steady rate while an engine runs. Destroying the bridge cancels everything and
// joins the worker.
#pragma once

#include "engine_types.h"

#include <QObject>
#include <QString>
#include <QThread>

#include <memory>

namespace lw {
class Engine;
}

namespace workbench {

class EngineBridge : public QObject {
    Q_OBJECT
public:
    explicit EngineBridge(QObject* parent = nullptr);
    ~EngineBridge() override;

    // (Re)starts the engine with these settings; models and adapters loaded before are
    // loaded again on the new one. Emits engineStarted or engineFailed.
    void start(const EngineSettings& settings);
    const EngineSettings& settings() const { return settings_; }

    // Loads a base model (HF folder or .gguf): emits baseLoaded or loadFailed.
    void loadBase(const QString& path);
    // Registers a PEFT adapter folder for a loaded base: adapterLoaded or loadFailed.
    void loadAdapter(const QString& name, const QString& path, const QString& base);
    // adapterUnloaded or loadFailed (for example while requests still use it).
    void unloadAdapter(const QString& name);

    // Renders the conversation with the base's chat template, tokenizes and submits it.
    // Returns a ticket that names the answer in the signals below (never 0). Errors
    // (unknown model, no chat template, bad parameters) arrive as chatFinished with
    // reason "error" and the message.
    quint64 chat(const ChatRequest& request);
    // Stops an answer; it finishes with reason "cancelled". Unknown tickets are ignored.
    void cancel(quint64 ticket);

    // The engine thread (for tests that check where work runs).
    const QThread* engineThread() const { return &thread_; }
    // The engine itself, for the local OpenAI-compatible server; null until started.
    // Only lw::Engine's own thread-safe methods may be called on it.
    lw::Engine* engine() const;

signals:
    void engineStarted(const QString& backendName);
    void engineFailed(const QString& error);
    void baseLoaded(const workbench::ModelEntry& base);
    void adapterLoaded(const workbench::ModelEntry& adapter);
    void adapterUnloaded(const QString& name);
    void loadFailed(const QString& what, const QString& error);  // what: the path or name at fault
    void chatToken(quint64 ticket, const QString& text);
    void chatFinished(quint64 ticket, const workbench::ChatStats& stats);
    void metricsUpdated(const workbench::MetricsPtr& snapshot);
    // The engine thread starts or ends a long task (starting, loading a model or an
    // adapter); `what` says which, for the status bar. Tasks queue, so busy may stay true.
    void busyChanged(bool busy, const QString& what);

private:
    struct Worker;
    QThread thread_;
    EngineSettings settings_;
    Worker* worker_ = nullptr;  // lives on thread_
};

}  // namespace workbench
