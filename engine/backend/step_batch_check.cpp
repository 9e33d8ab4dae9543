#include "backend/step_batch_check.h"

#include "core/error.h"

#include <set>

namespace lw {
namespace {

void check_adapter(const PooledAdapter& adapter, std::size_t sequence, const ModelConfig& config,
                   const StepBatchLimits& limits) {
    const std::string who = cat("sequence ", sequence, ": adapter ", adapter.id);
    if (adapter.dtype != limits.adapter_dtype)
        fail(who, " holds its rows in ", dtype_name(adapter.dtype), ", this backend reads ",
             dtype_name(limits.adapter_dtype));
    if (adapter.lookup.size() != static_cast<std::size_t>(config.num_layers))
        fail(who, " was built for another model (of ", adapter.lookup.size(), " layers, this one has ",
             config.num_layers, ")");
    const std::size_t align = dtype_bytes(adapter.dtype, 1);
    for (const auto& m : adapter.modules) {
        if (m.module < 0 || m.module >= 7 || m.layer < 0 || m.layer >= config.num_layers)
            fail(who, " has a module at layer ", m.layer, " index ", m.module, " outside this model");
        const std::string& name = linear_module_names()[static_cast<std::size_t>(m.module)];
        const LinearShape shape = linear_module_shape(config, name);
        if (m.in_features != shape.in_features || m.out_features != shape.out_features)
            fail(who, " layer ", m.layer, " ", name, " maps ", m.in_features, " -> ", m.out_features,
                 " features, this model's maps ", shape.in_features, " -> ", shape.out_features,
                 " (built for another model)");
        if (m.rank < 0 || m.first_row + 2 * static_cast<std::size_t>(m.rank) > adapter.rows.size())
            fail(who, " layer ", m.layer, " ", name, " has rows beyond its row table");
        for (int r = 0; r < 2 * m.rank; ++r) {
            const RowRef ref = adapter.rows[m.first_row + static_cast<std::size_t>(r)];
            const std::size_t bytes = dtype_bytes(adapter.dtype, r < m.rank ? m.in_features : m.out_features);
            if (ref.page >= limits.page_count || ref.offset + bytes > limits.page_bytes)
                fail(who, " layer ", m.layer, " ", name, " has a row outside the pool (page ", ref.page, ")");
            if (ref.offset % align != 0)
                fail(who, " layer ", m.layer, " ", name, " has a row at unaligned offset ", ref.offset);
        }
    }
}

}  // namespace

std::size_t check_step_batch(const StepBatch& batch, const ModelConfig& config, const KvLayout& layout,
                             const StepBatchLimits& limits, CheckedAdapters& checked) {
    std::size_t wanting = 0;
    std::set<const KvBlockTable*> tables;
    std::set<const PooledAdapter*> adapters;
    CheckedAdapters passed;
    for (std::size_t i = 0; i < batch.sequences.size(); ++i) {
        const StepSequence& s = batch.sequences[i];
        if (s.tokens.empty()) fail("sequence ", i, ": no tokens to run");
        if (!s.kv) fail("sequence ", i, ": no KV block table");
        if (!tables.insert(s.kv).second) fail("sequence ", i, ": shares its KV block table with another sequence");
        if (s.position < 0 || s.kv->tokens != s.position)
            fail("sequence ", i, ": starts at position ", s.position, " but its KV cache holds ", s.kv->tokens);
        for (std::size_t j = 0; j < s.tokens.size(); ++j)
            if (s.tokens[j] < 0 || s.tokens[j] >= config.vocab_size)
                fail("sequence ", i, ": token ", s.tokens[j], " at index ", j, " is outside the vocabulary of ",
                     config.vocab_size);
        const std::size_t end = static_cast<std::size_t>(s.position) + s.tokens.size();
        if (s.kv->pages.size() < layout.pages_for(end))
            fail("sequence ", i, ": KV block table has ", s.kv->pages.size(), " pages, ", end, " positions need ",
                 layout.pages_for(end));
        for (PageId p : s.kv->pages)
            if (p >= limits.page_count)
                fail("sequence ", i, ": KV page ", p, " is outside the pool of ", limits.page_count);
        if (s.adapter && adapters.insert(s.adapter).second) {
            auto known = checked.pages_by_id.extract(s.adapter->id);
            if (known.empty() || known.mapped() != s.adapter->pages) {
                check_adapter(*s.adapter, i, config, limits);
                passed.pages_by_id.insert_or_assign(s.adapter->id, s.adapter->pages);
            } else {
                passed.pages_by_id.insert(std::move(known));
            }
        }
        wanting += s.wants_logits;
    }
    checked = std::move(passed);
    return wanting;
}

}  // namespace lw
