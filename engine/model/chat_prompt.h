// A chat conversation as prompt token ids, the one way every front end (lora-serve's
// /v1/chat/completions, the workbench's panes) turns messages into a prompt.
#pragma once

#include "core/token_id.h"
#include "model/model_loader.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace lw {

// Renders `messages` ([{"role": ..., "content": ...}]) with the base's chat template and
// its BOS/EOS, then tokenizes without adding special tokens (the template writes them),
// as vLLM does. Throws lw::Error naming `model` (the adapter or base asked for) when the
// base has no tokenizer or chat template, or the template fails.
std::vector<TokenId> chat_prompt(const LoadedModel& base, const std::string& model,
                                 const nlohmann::ordered_json& messages, bool add_generation_prompt = true);

}  // namespace lw
