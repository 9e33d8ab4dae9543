// What the chat grid saves and reopens: per pane its model, system prompt, sampling
// settings and messages (answers with what they cost), as a JSON file.
#pragma once

#include "engine_types.h"

#include <QList>
#include <QString>

#include <optional>

namespace workbench {

// One message of a pane's history. Assistant answers carry their stats once finished.
struct ConversationMessage {
    QString role;  // "user" or "assistant"
    QString content;
    std::optional<ChatStats> stats;
};

struct PaneConversation {
    QString model;
    QString systemPrompt;
    SamplingSettings sampling;
    QList<ConversationMessage> messages;
};

struct Conversation {
    QList<PaneConversation> panes;
};

// Write or read a conversation file. Both throw lw::Error naming the file, and for a
// malformed file the field at fault ("panes[1].sampling.top_p: ...").
void saveConversation(const Conversation& conversation, const QString& path);
Conversation loadConversation(const QString& path);

}  // namespace workbench
