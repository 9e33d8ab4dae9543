#include "conversation.h"

#include "core/error.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSaveFile>

#include <climits>
#include <cmath>

namespace workbench {
namespace {

constexpr auto kFormat = "lora-workbench-conversation";
constexpr int kVersion = 1;

QJsonObject statsToJson(const ChatStats& s) {
    return {{"reason", s.reason},
            {"error", s.error},
            {"prompt_tokens", s.promptTokens},
            {"completion_tokens", s.completionTokens},
            {"time_to_first_token_s", s.timeToFirstToken},
            {"tokens_per_second", s.tokensPerSecond}};
}

QJsonObject samplingToJson(const SamplingSettings& s) {
    return {{"temperature", s.temperature},
            {"top_k", s.topK},
            {"top_p", s.topP},
            {"max_tokens", s.maxTokens},
            {"seed", s.seed}};
}

QJsonObject paneToJson(const PaneConversation& pane) {
    QJsonArray messages;
    for (const ConversationMessage& m : pane.messages) {
        QJsonObject o{{"role", m.role}, {"content", m.content}};
        if (m.stats) o["stats"] = statsToJson(*m.stats);
        messages.append(o);
    }
    return {{"model", pane.model},
            {"system_prompt", pane.systemPrompt},
            {"sampling", samplingToJson(pane.sampling)},
            {"messages", messages}};
}

// Reads fields of one JSON object, failing with the file and the field's path.
class FieldReader {
public:
    FieldReader(const QString& file, const QJsonObject& object, QString path)
        : file_(file), object_(object), path_(std::move(path)) {}

    bool has(const char* key) const { return object_.contains(QLatin1String(key)); }
    QJsonValue required(const char* key) const {
        const QJsonValue v = object_.value(QLatin1String(key));
        if (v.isUndefined()) failAt(key, "is missing");
        return v;
    }
    QString string(const char* key) const {
        const QJsonValue v = required(key);
        if (!v.isString()) failAt(key, "expected a string");
        return v.toString();
    }
    double number(const char* key, double min, double max) const {
        const QJsonValue v = required(key);
        if (!v.isDouble()) failAt(key, "expected a number");
        const double d = v.toDouble();
        if (!(d >= min && d <= max))
            failAt(key, QStringLiteral("%1 is outside [%2, %3]").arg(d).arg(min).arg(max).toStdString());
        return d;
    }
    qint64 integer(const char* key, qint64 min, qint64 max) const {
        const double d = number(key, static_cast<double>(min), static_cast<double>(max));
        if (d != std::floor(d)) failAt(key, "expected a whole number");
        return static_cast<qint64>(d);
    }
    QJsonObject object(const char* key) const {
        const QJsonValue v = required(key);
        if (!v.isObject()) failAt(key, "expected an object");
        return v.toObject();
    }
    QJsonArray array(const char* key) const {
        const QJsonValue v = required(key);
        if (!v.isArray()) failAt(key, "expected an array");
        return v.toArray();
    }
    // A reader for the object at `key`.
    FieldReader child(const char* key) const { return {file_, object(key), field(key)}; }
    // Readers for the objects in the array at `key`.
    QList<FieldReader> children(const char* key) const {
        QList<FieldReader> out;
        const QJsonArray items = array(key);
        for (qsizetype i = 0; i < items.size(); ++i) {
            const QString path = field(QStringLiteral("%1[%2]").arg(QLatin1String(key)).arg(i));
            if (!items[i].isObject()) fail(path, "expected an object");
            out.append(FieldReader(file_, items[i].toObject(), path));
        }
        return out;
    }
    [[noreturn]] void fail(const QString& field_path, const std::string& what) const {
        lw::fail(file_.toStdString(), ": ", field_path.toStdString(), ": ", what);
    }
    QString field(const QString& key) const { return path_.isEmpty() ? key : path_ + "." + key; }

private:
    [[noreturn]] void failAt(const char* key, const std::string& what) const { fail(field(key), what); }

    QString file_;
    QJsonObject object_;
    QString path_;
};

ChatStats statsFrom(const FieldReader& r) {
    ChatStats s;
    s.reason = r.string("reason");
    if (!QStringList{"stop", "length", "cancelled", "error"}.contains(s.reason))
        r.fail(r.field("reason"),
               "expected stop, length, cancelled or error, found \"" + s.reason.toStdString() + "\"");
    s.error = r.string("error");
    s.promptTokens = static_cast<int>(r.integer("prompt_tokens", 0, INT_MAX));
    s.completionTokens = static_cast<int>(r.integer("completion_tokens", 0, INT_MAX));
    s.timeToFirstToken = r.number("time_to_first_token_s", 0, 1e9);
    s.tokensPerSecond = r.number("tokens_per_second", 0, 1e12);
    return s;
}

SamplingSettings samplingFrom(const FieldReader& r) {
    SamplingSettings s;
    s.temperature = r.number("temperature", 0, 100);
    s.topK = static_cast<int>(r.integer("top_k", 0, INT_MAX));
    s.topP = r.number("top_p", 0, 1);
    if (s.topP == 0) r.fail(r.field("top_p"), "must be above 0");
    s.maxTokens = static_cast<int>(r.integer("max_tokens", 1, INT_MAX));
    // The sampling editor takes seeds up to INT_MAX.
    s.seed = r.integer("seed", -1, INT_MAX);
    return s;
}

PaneConversation paneFrom(const FieldReader& r) {
    PaneConversation pane;
    pane.model = r.string("model");
    if (pane.model.isEmpty()) r.fail(r.field("model"), "is empty");
    pane.systemPrompt = r.string("system_prompt");
    pane.sampling = samplingFrom(r.child("sampling"));
    for (const FieldReader& m : r.children("messages")) {
        ConversationMessage message;
        message.role = m.string("role");
        if (message.role != "user" && message.role != "assistant")
            m.fail(m.field("role"), "expected user or assistant, found \"" + message.role.toStdString() + "\"");
        message.content = m.string("content");
        // An answer saved while it streamed has no stats yet.
        if (message.role == "assistant" && m.has("stats")) message.stats = statsFrom(m.child("stats"));
        pane.messages.append(message);
    }
    return pane;
}

}  // namespace

void saveConversation(const Conversation& conversation, const QString& path) {
    QJsonArray panes;
    for (const PaneConversation& pane : conversation.panes) panes.append(paneToJson(pane));
    const QJsonObject root{{"format", kFormat}, {"version", kVersion}, {"panes", panes}};
    // QSaveFile: a failed write leaves the previous file as it was.
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly))
        lw::fail(path.toStdString(), ": cannot write: ", file.errorString().toStdString());
    file.write(QJsonDocument(root).toJson(QJsonDocument::Indented));
    if (!file.commit()) lw::fail(path.toStdString(), ": cannot write: ", file.errorString().toStdString());
}

Conversation loadConversation(const QString& path) {
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        lw::fail(path.toStdString(), ": cannot read: ", file.errorString().toStdString());
    QJsonParseError parseError;
    const QJsonDocument doc = QJsonDocument::fromJson(file.readAll(), &parseError);
    if (parseError.error != QJsonParseError::NoError)
        lw::fail(path.toStdString(), ": not JSON: ", parseError.errorString().toStdString(), " at byte ",
                 parseError.offset);
    if (!doc.isObject()) lw::fail(path.toStdString(), ": expected a JSON object at the top");
    const FieldReader root(path, doc.object(), {});
    if (root.string("format") != kFormat)
        root.fail(root.field("format"),
                  std::string("expected \"") + kFormat + "\": this is not a workbench conversation");
    if (root.integer("version", 0, INT_MAX) != kVersion)
        root.fail(root.field("version"), "this workbench reads version " + std::to_string(kVersion));
    Conversation conversation;
    for (const FieldReader& pane : root.children("panes")) conversation.panes.append(paneFrom(pane));
    return conversation;
}

}  // namespace workbench
