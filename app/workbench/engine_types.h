// Plain values that cross between the engine thread and the GUI in queued signals.
#pragma once

#include <QList>
#include <QMetaType>
#include <QString>
#include <QStringList>

#include <memory>

namespace lw {
struct MetricsSnapshot;
}

namespace workbench {

// The engine's settings, persisted with QSettings (see settings_store.h).
struct EngineSettings {
    QString backend = QStringLiteral("cpu");  // "cpu" or "cuda"
    qint64 poolBytes = 256ll << 20;
    int maxLoras = 4;
    int maxCpuLoras = 16;
    int maxLoraRank = 64;
    int threads = 0;  // 0: all cores

    bool operator==(const EngineSettings&) const = default;
};

// A base model or an adapter as the library tree shows it.
struct ModelEntry {
    QString name;
    QString base;  // empty for a base model
    QString path;
    QString format;       // "gguf", "safetensors", "peft"
    int rank = 0;         // adapters: the largest rank
    QStringList targets;  // adapters: target modules
    qint64 bytes = 0;     // on disk
};

struct ChatMessage {
    QString role;  // "system", "user", "assistant"
    QString content;
};

struct SamplingSettings {
    double temperature = 0.7;
    int topK = 0;
    double topP = 1.0;
    int maxTokens = 256;
    qint64 seed = -1;  // -1: random
};

struct ChatRequest {
    QString model;  // adapter name, or base name for the bare base
    QList<ChatMessage> messages;
    SamplingSettings sampling;
};

// What an answer cost, shown under it.
struct ChatStats {
    QString reason;  // "stop", "length", "cancelled", "error"
    QString error;
    int promptTokens = 0;
    int completionTokens = 0;
    double timeToFirstToken = 0.0;  // seconds
    double tokensPerSecond = 0.0;   // generated tokens after the first, per second
};

using MetricsPtr = std::shared_ptr<const lw::MetricsSnapshot>;

}  // namespace workbench

Q_DECLARE_METATYPE(workbench::ModelEntry)
Q_DECLARE_METATYPE(workbench::ChatStats)
Q_DECLARE_METATYPE(workbench::MetricsPtr)
