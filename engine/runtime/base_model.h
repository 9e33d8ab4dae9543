// A base model served by the engine: what was loaded from disk, its runner on the
// device, and the KV cache of its sequences in the shared pool.
#pragma once

#include "backend/backend.h"
#include "core/token_id.h"
#include "memory/kv_cache_manager.h"
#include "model/model_loader.h"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace lw {

struct BaseModel {
    std::string name;
    std::shared_ptr<const LoadedModel> model;
    std::unique_ptr<ModelRunner> runner;  // views into model->weights
    std::unique_ptr<KvCacheManager> kv;
    std::vector<TokenId> eos;  // from config.json / GGUF and the tokenizer

    // Positions a request may reach: the model's context.
    std::size_t context() const { return static_cast<std::size_t>(model->config.max_position_embeddings); }
};

// Puts a loaded model on `backend`, its KV cache in `pool`.
BaseModel make_base_model(std::string name, std::shared_ptr<const LoadedModel> model, Backend& backend, PagePool& pool);

}  // namespace lw
