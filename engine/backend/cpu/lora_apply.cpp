#include "backend/cpu/lora_apply.h"

#include <cblas.h>

#include <vector>

namespace lw {

std::vector<LoraSegment> lora_segments(const StepBatch& batch) {
    std::vector<LoraSegment> segments;
    int token = 0;
    const PooledAdapter* previous = nullptr;
    for (const auto& s : batch.sequences) {
        const int n = static_cast<int>(s.tokens.size());
        if (s.adapter && s.adapter == previous)
            segments.back().tokens += n;
        else if (s.adapter)
            segments.push_back({token, n, s.adapter});
        previous = s.adapter;
        token += n;
    }
    return segments;
}

namespace {

// One segment's module, resolved to row pointers once for all its tokens.
struct SegmentModule {
    const LoraSegment* segment = nullptr;
    const PooledModule* module = nullptr;
    std::vector<const float*> a_rows;   // rank rows of `in` values
    std::vector<const float*> bt_rows;  // rank rows of `out` values
};

SegmentModule resolve(const LoraSegment& segment, const PooledModule& m, const CpuBackend& backend) {
    SegmentModule sm{&segment, &m, {}, {}};
    const PooledAdapter& adapter = *segment.adapter;
    auto row = [&](std::size_t i) {
        const RowRef ref = adapter.rows[i];
        return reinterpret_cast<const float*>(backend.page_data(ref.page) + ref.offset);
    };
    for (int r = 0; r < m.rank; ++r) {
        sm.a_rows.push_back(row(m.first_row + static_cast<std::size_t>(r)));
        sm.bt_rows.push_back(row(m.first_row + static_cast<std::size_t>(m.rank + r)));
    }
    return sm;
}

}  // namespace

void apply_lora(std::span<const LoraSegment> segments, int layer, int module, const float* x, int in, float* y, int out,
                const CpuBackend& backend, ThreadPool& threads) {
    std::vector<SegmentModule> work;
    for (const auto& s : segments)
        if (const PooledModule* m = s.adapter->find(layer, module)) work.push_back(resolve(s, *m, backend));
    if (work.empty()) return;

    // Work items are (segment, token) pairs: each writes only its own row of y.
    std::vector<std::pair<const SegmentModule*, int>> items;
    for (const auto& w : work)
        for (int t = 0; t < w.segment->tokens; ++t) items.emplace_back(&w, w.segment->first_token + t);

    threads.parallel_for(items.size(), [&](std::size_t i) {
        const auto& [w, token] = items[i];
        const float* xt = x + static_cast<std::size_t>(token) * static_cast<std::size_t>(in);
        float* yt = y + static_cast<std::size_t>(token) * static_cast<std::size_t>(out);
        for (int r = 0; r < w->module->rank; ++r) {
            const float shrunk = cblas_sdot(in, xt, 1, w->a_rows[static_cast<std::size_t>(r)], 1);  // (x A^T)_r
            cblas_saxpy(out, w->module->scale * shrunk, w->bt_rows[static_cast<std::size_t>(r)], 1, yt, 1);
        }
    });
}

}  // namespace lw
