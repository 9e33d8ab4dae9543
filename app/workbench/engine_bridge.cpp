#include "engine_bridge.h"

#include "metrics/metrics_snapshot.h"
#include "model/chat_prompt.h"
#include "model/lora_adapter.h"
#include "model/model_loader.h"
#include "runtime/engine.h"

#include <QDirIterator>
#include <QFileInfo>
#include <QTimer>

#include <atomic>
#include <chrono>
#include <exception>
#include <map>
#include <mutex>

namespace workbench {

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kMetricsIntervalMs = 100;  // ~10 Hz: as fast as a person reads the plots

lw::EngineConfig engine_config(const EngineSettings& s) {
    lw::EngineConfig c;
    c.backend = s.backend.toStdString();
    c.pool_bytes = static_cast<std::size_t>(s.poolBytes);
    c.max_loras = s.maxLoras;
    c.max_cpu_loras = s.maxCpuLoras;
    c.max_lora_rank = s.maxLoraRank;
    c.threads = s.threads;
    return c;
}

// What a model or adapter takes on disk: the file, or every file under the folder.
qint64 bytes_on_disk(const QString& path) {
    const QFileInfo info(path);
    if (!info.isDir()) return info.size();
    qint64 total = 0;
    QDirIterator it(path, QDir::Files, QDirIterator::Subdirectories);
    while (it.hasNext()) total += it.nextFileInfo().size();
    return total;
}

QString message_of(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        return QString::fromStdString(e.what());
    } catch (...) {
        return QStringLiteral("unknown error");
    }
}

// One answer's timings, touched only by the engine's step thread after submit.
struct AnswerClock {
    Clock::time_point submitted = Clock::now();
    Clock::time_point first, last;
    int tokens = 0;  // token events seen

    void on_token() {
        last = Clock::now();
        if (tokens++ == 0) first = last;
    }
    double time_to_first_token() const {
        return tokens ? std::chrono::duration<double>(first - submitted).count() : 0.0;
    }
    double tokens_per_second() const {
        const double span = std::chrono::duration<double>(last - first).count();
        return tokens > 1 && span > 0.0 ? (tokens - 1) / span : 0.0;
    }
};

}  // namespace

// Lives on the bridge's thread: owns the engine and does every slow call. Results go
// back to the bridge (GUI thread) as posted functors, which emit the signals there.
struct EngineBridge::Worker : QObject {
    EngineBridge* bridge;
    std::unique_ptr<lw::Engine> engine;
    std::atomic<lw::Engine*> engine_ptr{nullptr};  // read by EngineBridge::engine()
    QTimer* metrics_timer = nullptr;
    std::atomic<bool> snapshot_in_flight{false};  // drop snapshots the GUI has not drawn yet

    struct AdapterSource {
        QString name, path, base;
    };
    QStringList base_paths;               // in load order, to reload after a restart
    std::vector<AdapterSource> adapters;  // likewise

    std::mutex answers_mutex;  // the step thread removes finished answers
    std::map<quint64, lw::RequestId> answers;

    explicit Worker(EngineBridge* b) : bridge(b) {}

    // Runs `fn` on the GUI thread, in the bridge's context.
    template <typename Fn>
    void post(Fn fn) {
        QMetaObject::invokeMethod(bridge, std::move(fn), Qt::QueuedConnection);
    }
    void busy(bool on, const QString& what) {
        post([b = bridge, on, what] { emit b->busyChanged(on, what); });
    }

    void ensure_timer() {
        if (metrics_timer) return;
        metrics_timer = new QTimer(this);
        metrics_timer->setInterval(kMetricsIntervalMs);
        connect(metrics_timer, &QTimer::timeout, this, [this] { publish_metrics(); });
    }

    void publish_metrics() {
        if (!engine || snapshot_in_flight.exchange(true)) return;
        auto snapshot = std::make_shared<const lw::MetricsSnapshot>(engine->metrics());
        post([this, snapshot] {
            snapshot_in_flight = false;
            emit bridge->metricsUpdated(snapshot);
        });
    }

    void stop_engine() {
        if (metrics_timer) metrics_timer->stop();
        engine_ptr = nullptr;
        engine.reset();  // cancels every answer: each finishes with reason "cancelled"
    }

    void start(const EngineSettings& settings) {
        busy(true, tr("Starting the engine"));
        stop_engine();
        try {
            engine = std::make_unique<lw::Engine>(engine_config(settings));
            engine_ptr = engine.get();
            post([b = bridge, name = QString::fromStdString(engine->backend_name())] { emit b->engineStarted(name); });
        } catch (...) {
            post([b = bridge, error = message_of(std::current_exception())] { emit b->engineFailed(error); });
            busy(false, {});
            return;
        }
        ensure_timer();
        metrics_timer->start();
        busy(false, {});
        // The new engine serves what the old one did.
        const QStringList bases = std::exchange(base_paths, {});
        const std::vector<AdapterSource> old_adapters = std::exchange(adapters, {});
        for (const QString& path : bases) load_base(path);
        for (const AdapterSource& a : old_adapters) load_adapter(a.name, a.path, a.base);
    }

    void load_base(const QString& path) {
        if (!engine) return fail_load(path, tr("the engine is not running"));
        busy(true, tr("Loading %1").arg(QFileInfo(path).fileName()));
        try {
            const std::string name = engine->load_base(path.toStdString());
            ModelEntry entry;
            entry.name = QString::fromStdString(name);
            entry.path = path;
            entry.format = QString::fromStdString(engine->base_of(name)->format);
            entry.bytes = bytes_on_disk(path);
            base_paths.append(path);
            post([b = bridge, entry] { emit b->baseLoaded(entry); });
        } catch (...) {
            fail_load(path, message_of(std::current_exception()));
        }
        busy(false, {});
    }

    void load_adapter(const QString& name, const QString& path, const QString& base) {
        if (!engine) return fail_load(name, tr("the engine is not running"));
        busy(true, tr("Loading adapter %1").arg(name));
        try {
            // This read only describes the adapter (the engine keeps its own copy); it comes
            // first so that an adapter the engine serves is always in the library too.
            const lw::LoraAdapter adapter = lw::load_lora_adapter(path.toStdString(), name.toStdString());
            engine->register_adapter(name.toStdString(), path.toStdString(), base.toStdString());
            ModelEntry entry;
            entry.name = name;
            entry.base = base;
            entry.path = path;
            entry.format = QStringLiteral("peft");
            entry.rank = adapter.max_rank();
            for (const std::string& t : adapter.targets()) entry.targets.append(QString::fromStdString(t));
            entry.bytes = bytes_on_disk(path);
            adapters.push_back({name, path, base});
            post([b = bridge, entry] { emit b->adapterLoaded(entry); });
        } catch (...) {
            fail_load(name, message_of(std::current_exception()));
        }
        busy(false, {});
    }

    void unload_adapter(const QString& name) {
        if (!engine) return fail_load(name, tr("the engine is not running"));
        try {
            engine->unregister_adapter(name.toStdString());
            std::erase_if(adapters, [&](const AdapterSource& a) { return a.name == name; });
            post([b = bridge, name] { emit b->adapterUnloaded(name); });
        } catch (...) {
            fail_load(name, message_of(std::current_exception()));
        }
    }

    void fail_load(const QString& what, const QString& error) {
        post([b = bridge, what, error] { emit b->loadFailed(what, error); });
    }

    void finish_with_error(quint64 ticket, const QString& error) {
        ChatStats stats;
        stats.reason = QStringLiteral("error");
        stats.error = error;
        post([b = bridge, ticket, stats] { emit b->chatFinished(ticket, stats); });
    }

    lw::GenerationRequest generation_request(const ChatRequest& request) {
        if (!engine) throw lw::Error("the engine is not running");
        const std::string model = request.model.toStdString();
        const std::shared_ptr<const lw::LoadedModel> base = engine->base_of(model);
        nlohmann::ordered_json messages = nlohmann::ordered_json::array();
        for (const ChatMessage& m : request.messages)
            messages.push_back({{"role", m.role.toStdString()}, {"content", m.content.toStdString()}});

        lw::GenerationRequest r;
        r.model = model;
        r.prompt = lw::chat_prompt(*base, model, messages);
        const int context = base->config.max_position_embeddings;
        const int room = context - static_cast<int>(r.prompt.size());
        if (room <= 0)
            lw::fail("the conversation takes ", r.prompt.size(), " tokens; model '", model, "' holds ", context);
        r.max_tokens = std::min(request.sampling.maxTokens, room);
        const SamplingSettings& s = request.sampling;
        r.sampling.temperature = static_cast<float>(s.temperature);
        r.sampling.top_k = s.topK;
        r.sampling.top_p = static_cast<float>(s.topP);
        if (s.seed >= 0) r.sampling.seed = static_cast<std::uint64_t>(s.seed);
        return r;
    }

    void chat(quint64 ticket, const ChatRequest& request) {
        lw::GenerationRequest generation;
        try {
            generation = generation_request(request);
        } catch (...) {
            return finish_with_error(ticket, message_of(std::current_exception()));
        }
        auto clock = std::make_shared<AnswerClock>();
        // Runs on the engine's step thread: copy what the GUI needs and post it.
        auto on_event = [this, ticket, clock](const lw::GenerationEvent& e) {
            if (e.kind == lw::GenerationEvent::Kind::Token) {
                clock->on_token();
                if (!e.text.empty())
                    post([b = bridge, ticket, text = QString::fromStdString(e.text)] {
                        emit b->chatToken(ticket, text);
                    });
                return;
            }
            {
                const std::lock_guard lock(answers_mutex);
                answers.erase(ticket);
            }
            ChatStats stats;
            stats.reason = QString::fromLatin1(lw::finish_reason_name(e.reason));
            stats.error = QString::fromStdString(e.error);
            stats.promptTokens = e.prompt_tokens;
            stats.completionTokens = e.completion_tokens;
            stats.timeToFirstToken = clock->time_to_first_token();
            stats.tokensPerSecond = clock->tokens_per_second();
            post([b = bridge, ticket, tail = QString::fromStdString(e.text_tail), stats] {
                if (!tail.isEmpty()) emit b->chatToken(ticket, tail);
                emit b->chatFinished(ticket, stats);
            });
        };
        // Held across submit so a Finished event that comes at once finds its entry.
        const std::lock_guard lock(answers_mutex);
        try {
            answers[ticket] = engine->submit(std::move(generation), on_event);
        } catch (...) {
            answers.erase(ticket);
            finish_with_error(ticket, message_of(std::current_exception()));
        }
    }

    void cancel(quint64 ticket) {
        lw::RequestId id = 0;
        {
            const std::lock_guard lock(answers_mutex);
            const auto it = answers.find(ticket);
            if (it == answers.end()) return;
            id = it->second;
        }
        if (engine) engine->cancel(id);
    }
};

EngineBridge::EngineBridge(QObject* parent) : QObject(parent), worker_(new Worker(this)) {
    qRegisterMetaType<ModelEntry>();
    qRegisterMetaType<ChatStats>();
    qRegisterMetaType<MetricsPtr>();
    thread_.setObjectName(QStringLiteral("engine bridge"));
    worker_->moveToThread(&thread_);
    connect(&thread_, &QThread::finished, worker_, &QObject::deleteLater);
    thread_.start();
}

EngineBridge::~EngineBridge() {
    // Queued behind any load in progress; the engine's destructor cancels every answer.
    QMetaObject::invokeMethod(worker_, [w = worker_] {
        w->stop_engine();
        QThread::currentThread()->quit();
    });
    thread_.wait();
}

void EngineBridge::start(const EngineSettings& settings) {
    settings_ = settings;
    QMetaObject::invokeMethod(worker_, [w = worker_, settings] { w->start(settings); });
}

void EngineBridge::loadBase(const QString& path) {
    QMetaObject::invokeMethod(worker_, [w = worker_, path] { w->load_base(path); });
}

void EngineBridge::loadAdapter(const QString& name, const QString& path, const QString& base) {
    QMetaObject::invokeMethod(worker_, [w = worker_, name, path, base] { w->load_adapter(name, path, base); });
}

void EngineBridge::unloadAdapter(const QString& name) {
    QMetaObject::invokeMethod(worker_, [w = worker_, name] { w->unload_adapter(name); });
}

quint64 EngineBridge::chat(const ChatRequest& request) {
    static std::atomic<quint64> next_ticket{1};
    const quint64 ticket = next_ticket++;
    QMetaObject::invokeMethod(worker_, [w = worker_, ticket, request] { w->chat(ticket, request); });
    return ticket;
}

void EngineBridge::cancel(quint64 ticket) {
    QMetaObject::invokeMethod(worker_, [w = worker_, ticket] { w->cancel(ticket); });
}

lw::Engine* EngineBridge::engine() const {
    return worker_->engine_ptr;
}

}  // namespace workbench
