// A chat-capable tiny Llama for tests that talk through chat templates (the workbench):
// tests/data/models/tiny_llama has weights only, so this writes a copy of it with a
// byte-level tokenizer that names every one of the model's 320 ids, special tokens
// for the roles, and a small chat template. The PEFT adapters in tests/data/peft that
// target tiny_llama apply to it unchanged.
#pragma once

#include <filesystem>

namespace lw::test {

// Writes the model into `folder` (created if missing) and returns `folder`.
std::filesystem::path write_tiny_chat_model(const std::filesystem::path& folder);

}  // namespace lw::test
