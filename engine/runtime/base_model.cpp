#include "runtime/base_model.h"

#include <algorithm>

namespace lw {

BaseModel make_base_model(std::string name, std::shared_ptr<const LoadedModel> model, Backend& backend,
                          PagePool& pool) {
    BaseModel b;
    b.name = std::move(name);
    b.runner = backend.load_model(model->config, model->weights);
    b.kv = std::make_unique<KvCacheManager>(pool, b.runner->kv_layout());
    b.eos.assign(model->config.eos_token_ids.begin(), model->config.eos_token_ids.end());
    if (model->tokenizer)
        if (const auto eos = model->tokenizer->eos_id();
            eos && std::find(b.eos.begin(), b.eos.end(), *eos) == b.eos.end())
            b.eos.push_back(*eos);
    b.model = std::move(model);
    return b;
}

}  // namespace lw
