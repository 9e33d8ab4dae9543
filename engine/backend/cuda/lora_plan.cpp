#include "backend/cuda/lora_plan.h"

#include "core/error.h"
#include "cuda_check.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace lw::cuda {
namespace {

const char* module_name(int module) {
    return linear_module_names()[static_cast<std::size_t>(module)].c_str();
}

std::size_t checked_product(std::initializer_list<std::size_t> factors, const char* what) {
    std::size_t product = 1;
    for (std::size_t f : factors) {
        if (f != 0 && product > std::numeric_limits<std::size_t>::max() / f)
            fail("LoRA plan: the size of ", what, " overflows");
        product *= f;
    }
    return product;
}

}  // namespace

LoraPlan::LoraPlan(const ModelConfig& config, DType dtype, const std::byte* pool_base, std::size_t page_stride,
                   std::size_t page_count, LoraPlanLimits limits)
    : config_(config),
      dtype_(dtype),
      pool_base_(pool_base),
      page_stride_(page_stride),
      page_count_(page_count),
      limits_(limits) {
    if (dtype != DType::F16 && dtype != DType::BF16)
        fail("LoRA plan: adapter rows must be F16 or BF16 on the GPU, not ", dtype_name(dtype));
    if (config.num_layers <= 0) fail("LoRA plan: the model has ", config.num_layers, " layers");
    if (limits.max_tokens <= 0 || limits.max_rank <= 0 || limits.max_adapters <= 0)
        fail("LoRA plan: limits must be positive (max_tokens ", limits.max_tokens, ", max_rank ", limits.max_rank,
             ", max_adapters ", limits.max_adapters, ")");
    if (reinterpret_cast<std::uintptr_t>(pool_base) % 16 != 0 || page_stride % 16 != 0)
        fail("LoRA plan: the pool base and page stride (", page_stride, " bytes) must be multiples of 16 bytes");

    const auto layers = static_cast<std::size_t>(config.num_layers);
    const auto rank = static_cast<std::size_t>(limits.max_rank);
    const auto adapters = static_cast<std::size_t>(limits.max_adapters);
    const auto tokens = static_cast<std::size_t>(limits.max_tokens);
    const std::size_t rows_per_slot = checked_product({layers, kLoraModules, 2, rank}, "a slot's row table");
    if (rows_per_slot > static_cast<std::size_t>(std::numeric_limits<int>::max()))
        fail("LoRA plan: ", rows_per_slot, " rows per adapter is too many");
    rows_per_slot_ = static_cast<int>(rows_per_slot);

    const std::size_t items_bytes = checked_product({tokens, sizeof(LoraWorkItem)}, "work items");
    const std::size_t modules_bytes =
        checked_product({adapters, layers, kLoraModules, sizeof(LoraModuleEntry)}, "module tables");
    const std::size_t rows_bytes = checked_product({adapters, rows_per_slot, sizeof(void*)}, "row tables");
    items_device_ = CudaBuffer::device(items_bytes, "LoRA work items");
    items_host_ = CudaBuffer::pinned(items_bytes, "LoRA work items (staging)");
    modules_device_ = CudaBuffer::device(modules_bytes, "LoRA module tables");
    modules_host_ = CudaBuffer::pinned(modules_bytes, "LoRA module tables (staging)");
    rows_device_ = CudaBuffer::device(rows_bytes, "LoRA row tables");
    rows_host_ = CudaBuffer::pinned(rows_bytes, "LoRA row tables (staging)");
    scratch_ = CudaBuffer::device(checked_product({tokens, kLoraMaxFused, rank, sizeof(float)}, "LoRA scratch"),
                                  "LoRA shrink output");
    check(cudaEventCreateWithFlags(&uploaded_, cudaEventDisableTiming), "LoRA plan: creating its upload event");
    slots_.resize(adapters);
}

LoraPlan::~LoraPlan() {
    if (uploaded_) cudaEventDestroy(uploaded_);
}

void LoraPlan::prepare(const StepBatch& batch, cudaStream_t stream) {
    // The staging buffers are rewritten below: the last step's copies must have read them.
    check(cudaEventSynchronize(uploaded_), "LoRA plan: waiting for the previous step's table upload");
    try {
        build_step(batch, stream);
    } catch (...) {
        item_count_ = 0;                     // nothing of a refused step is applied
        cudaEventRecord(uploaded_, stream);  // but the tables it began to upload are waited for
        throw;
    }
    check(cudaEventRecord(uploaded_, stream), "LoRA plan: recording the upload");
}

void LoraPlan::build_step(const StepBatch& batch, cudaStream_t stream) {
    ++step_;
    item_count_ = 0;
    token_count_ = 0;
    launch_items_ = 0;
    modules_ = 0;

    // A decode step (a token per sequence) takes items of one token: see kLoraDecodeTokensPerItem.
    const bool decode = std::all_of(batch.sequences.begin(), batch.sequences.end(),
                                    [](const StepSequence& s) { return s.tokens.size() == 1; });
    tokens_per_item_ = decode ? kLoraDecodeTokensPerItem : kLoraTokensPerItem;
    auto* items = items_host_.as<LoraWorkItem>();
    int item_count = 0;
    int token = 0;
    for (std::size_t i = 0; i < batch.sequences.size(); ++i) {
        const StepSequence& sequence = batch.sequences[i];
        const auto n = static_cast<std::int64_t>(sequence.tokens.size());
        if (token + n > limits_.max_tokens)
            fail("LoRA plan: sequence ", i, " takes the step to ", token + n, " tokens, more than max_tokens ",
                 limits_.max_tokens);
        if (sequence.adapter) {
            const int slot = slot_for(*sequence.adapter, i, stream);
            modules_ |= slots_[static_cast<std::size_t>(slot)].modules;
            for (int t = token; t < token + n; ++t) {
                LoraWorkItem* last = item_count > 0 ? &items[item_count - 1] : nullptr;
                // A sequence continues the previous one's item when it shares the adapter.
                if (last && last->slot == slot && last->first_token + last->tokens == t &&
                    last->tokens < tokens_per_item_)
                    ++last->tokens;
                else
                    items[item_count++] = LoraWorkItem{t, 1, slot, 0};
            }
        }
        token += static_cast<int>(n);
    }

    // Items number at most ceil(tokens / per item) + sequences: a bound that does not
    // depend on which sequences have adapters, so a captured launch fits any such batch.
    // The items up to it go up every step, unused ones empty, even when none is used, so
    // that a graph captured earlier finds nothing to do.
    const auto sequences = static_cast<int>(batch.sequences.size());
    launch_items_ = std::min(token, (token + tokens_per_item_ - 1) / tokens_per_item_ + sequences);
    std::fill(items + item_count, items + launch_items_, LoraWorkItem{});
    token_count_ = token;
    item_count_ = item_count;
    if (launch_items_ > 0)
        check(
            cudaMemcpyAsync(items_device_.get(), items, static_cast<std::size_t>(launch_items_) * sizeof(LoraWorkItem),
                            cudaMemcpyHostToDevice, stream),
            "LoRA plan: uploading the step's work items");
}

int LoraPlan::slot_for(const PooledAdapter& adapter, std::size_t sequence, cudaStream_t stream) {
    if (const auto it = slot_of_adapter_.find(adapter.id); it != slot_of_adapter_.end()) {
        Slot& slot = slots_[static_cast<std::size_t>(it->second)];
        if (slot.pages != adapter.pages || slot.rows != adapter.rows.size())
            upload_slot(it->second, adapter, sequence, stream);  // moved in the pool since cached
        slot.last_step = step_;
        return it->second;
    }
    // A free slot, else the least recently used one that this step does not use yet.
    int chosen = -1;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        const Slot& s = slots_[i];
        if (!s.occupied) {
            chosen = static_cast<int>(i);
            break;
        }
        if (s.last_step == step_) continue;
        if (chosen < 0 || s.last_step < slots_[static_cast<std::size_t>(chosen)].last_step)
            chosen = static_cast<int>(i);
    }
    if (chosen < 0)
        fail("LoRA plan: sequence ", sequence, " brings the step to more than max_adapters (", limits_.max_adapters,
             ") distinct adapters");
    Slot& slot = slots_[static_cast<std::size_t>(chosen)];
    if (slot.occupied) slot_of_adapter_.erase(slot.adapter_id);
    upload_slot(chosen, adapter, sequence, stream);
    slot_of_adapter_[adapter.id] = chosen;
    slot.last_step = step_;
    return chosen;
}

void LoraPlan::upload_slot(int slot_index, const PooledAdapter& adapter, std::size_t sequence, cudaStream_t stream) {
    const std::string who = cat("LoRA plan: sequence ", sequence, "'s adapter (id ", adapter.id, ")");
    if (adapter.dtype != dtype_)
        fail(who, " has rows in ", dtype_name(adapter.dtype), ", the model runs in ", dtype_name(dtype_));
    if (adapter.rows.size() > static_cast<std::size_t>(rows_per_slot_))
        fail(who, " has ", adapter.rows.size(), " rows, more than ", rows_per_slot_, " (7 modules of rank ",
             limits_.max_rank, " per layer)");

    const auto slot = static_cast<std::size_t>(slot_index);
    const auto layers = static_cast<std::size_t>(config_.num_layers);
    const auto max_rank = static_cast<std::size_t>(limits_.max_rank);
    LoraModuleEntry* modules = modules_host_.as<LoraModuleEntry>() + slot * layers * kLoraModules;
    std::fill(modules, modules + layers * kLoraModules, LoraModuleEntry{});
    // Each module's rows at their fixed place (see LoraStepTables), null past its rank.
    const void** rows = rows_host_.as<const void*>() + slot * static_cast<std::size_t>(rows_per_slot_);
    std::fill(rows, rows + rows_per_slot_, nullptr);
    std::uint32_t adapted = 0;
    for (const PooledModule& m : adapter.modules) {
        if (m.layer < 0 || m.layer >= config_.num_layers || m.module < 0 || m.module >= kLoraModules)
            fail(who, ": module ", m.module, " of layer ", m.layer, " is not in the model's ", config_.num_layers,
                 " layers of ", kLoraModules, " modules");
        const LinearShape shape = linear_module_shape(config_, module_name(m.module));
        if (m.in_features != shape.in_features || m.out_features != shape.out_features)
            fail(who, ": layer ", m.layer, " ", module_name(m.module), " is ", m.out_features, "x", m.in_features,
                 ", the model's is ", shape.out_features, "x", shape.in_features);
        if (m.rank < 1 || m.rank > limits_.max_rank)
            fail(who, ": layer ", m.layer, " ", module_name(m.module), " has rank ", m.rank, ", outside 1..",
                 limits_.max_rank, " (max_rank)");
        if (static_cast<std::size_t>(m.first_row) + 2 * static_cast<std::size_t>(m.rank) > adapter.rows.size())
            fail(who, ": layer ", m.layer, " ", module_name(m.module), " has rows beyond its row table");
        const std::size_t entry = static_cast<std::size_t>(m.layer) * kLoraModules + static_cast<std::size_t>(m.module);
        modules[entry] = LoraModuleEntry{m.rank, m.scale};
        adapted |= 1u << m.module;
        for (int r = 0; r < 2 * m.rank; ++r) {
            const std::size_t i = m.first_row + static_cast<std::size_t>(r);
            const RowRef ref = adapter.rows[i];
            if (ref.page >= page_count_ || ref.offset % 16 != 0 || ref.offset >= page_stride_)
                fail(who, ": row ", i, " at page ", ref.page, " offset ", ref.offset,
                     " is not a 16-byte aligned place in the pool's ", page_count_, " pages");
            const std::size_t half = static_cast<std::size_t>(r / m.rank), row = static_cast<std::size_t>(r % m.rank);
            rows[(entry * 2 + half) * max_rank + row] =
                pool_base_ + static_cast<std::size_t>(ref.page) * page_stride_ + ref.offset;
        }
    }

    check(cudaMemcpyAsync(modules_device_.as<LoraModuleEntry>() + slot * layers * kLoraModules, modules,
                          layers * kLoraModules * sizeof(LoraModuleEntry), cudaMemcpyHostToDevice, stream),
          "LoRA plan: uploading an adapter's module table");
    check(cudaMemcpyAsync(rows_device_.as<const void*>() + slot * static_cast<std::size_t>(rows_per_slot_), rows,
                          static_cast<std::size_t>(rows_per_slot_) * sizeof(void*), cudaMemcpyHostToDevice, stream),
          "LoRA plan: uploading an adapter's row table");

    Slot& s = slots_[slot];
    s.adapter_id = adapter.id;
    s.pages = adapter.pages;
    s.rows = adapter.rows.size();
    s.modules = adapted;
    s.occupied = true;
}

bool LoraPlan::adapts(std::span<const int> modules) const {
    return std::any_of(modules.begin(), modules.end(),
                       [&](int m) { return m >= 0 && m < kLoraModules && (modules_ >> m & 1u); });
}

LoraProjection LoraPlan::projection(int layer, std::span<const int> modules) const {
    if (modules.empty() || modules.size() > static_cast<std::size_t>(kLoraMaxFused))
        fail("LoRA plan: layer ", layer, " projection fuses ", modules.size(), " modules (1 to ", kLoraMaxFused,
             " allowed)");
    if (layer < 0 || layer >= config_.num_layers)
        fail("LoRA plan: layer ", layer, " is outside the model's ", config_.num_layers, " layers");
    LoraProjection projection;
    projection.layer = layer;
    projection.count = static_cast<int>(modules.size());
    int offset = 0;
    for (std::size_t i = 0; i < modules.size(); ++i) {
        if (modules[i] < 0 || modules[i] >= kLoraModules)
            fail("LoRA plan: layer ", layer, " module index ", modules[i], " is not 0..", kLoraModules - 1);
        const LinearShape shape = linear_module_shape(config_, module_name(modules[i]));
        if (i > 0 && shape.in_features != projection.in_features)
            fail("LoRA plan: layer ", layer, " fuses ", module_name(modules[0]), " and ", module_name(modules[i]),
                 ", which read inputs of different widths");
        projection.in_features = shape.in_features;
        projection.module[i] = modules[i];
        projection.out_features[i] = shape.out_features;
        projection.out_offset[i] = offset;
        offset += shape.out_features;
    }
    return projection;
}

LoraStepTables LoraPlan::tables() const {
    LoraStepTables tables;
    tables.items = items_device_.as<const LoraWorkItem>();
    tables.modules = modules_device_.as<const LoraModuleEntry>();
    tables.rows = rows_device_.as<const void* const>();
    tables.num_layers = config_.num_layers;
    tables.max_rank = limits_.max_rank;
    tables.tokens_per_item = tokens_per_item_;
    return tables;
}

void LoraPlan::shrink(int layer, std::span<const int> modules, const void* x, cudaStream_t stream) {
    const LoraProjection p = projection(layer, modules);
    if (!adapts(modules)) return;
    lora_shrink(tables(), p, dtype_, x, scratch_.as<float>(), token_count_, launch_items_, stream);
}

void LoraPlan::expand(int layer, std::span<const int> modules, void* y, int y_stride, cudaStream_t stream) {
    const LoraProjection p = projection(layer, modules);
    const int width = p.out_offset[p.count - 1] + p.out_features[p.count - 1];
    if (y_stride < width)
        fail("LoRA plan: layer ", layer, " output rows of ", y_stride, " values cannot hold the fused ", width);
    if (!adapts(modules)) return;
    lora_expand(tables(), p, dtype_, scratch_.as<float>(), y, y_stride, token_count_, launch_items_, stream);
}

}  // namespace lw::cuda
