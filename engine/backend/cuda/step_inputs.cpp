#include "backend/cuda/step_inputs.h"

#include "core/error.h"
#include "cuda_check.h"

#include <algorithm>

namespace lw::cuda {
namespace {

// Offsets (in ints) of each array in the shared buffer.
struct Layout {
    std::size_t ids, seq_starts, positions, table_starts, tables, logit_rows, total;
};

Layout layout_for(const StepInputLimits& l) {
    Layout o{};
    const auto t = static_cast<std::size_t>(l.max_tokens), s = static_cast<std::size_t>(l.max_seqs);
    o.ids = 0;
    o.seq_starts = o.ids + t;
    o.positions = o.seq_starts + s + 1;
    o.table_starts = o.positions + s;
    o.logit_rows = o.table_starts + s;
    o.tables = o.logit_rows + s;
    o.total = o.tables + l.max_pages;
    return o;
}

}  // namespace

StepInputs::StepInputs(StepInputLimits limits)
    : limits_(limits),
      ints_(layout_for(limits).total),
      host_(CudaBuffer::pinned(ints_ * sizeof(int), "a step's inputs (host)")),
      device_(CudaBuffer::device(ints_ * sizeof(int), "a step's inputs")) {
    const Layout o = layout_for(limits);
    const int* base = device_.as<int>();
    device_ids_ = base + o.ids;
    device_logit_rows_ = base + o.logit_rows;
    tokens_.seq_starts = base + o.seq_starts;
    tokens_.seq_positions = base + o.positions;
    tokens_.block_table_starts = base + o.table_starts;
    tokens_.block_tables = base + o.tables;
}

void StepInputs::upload(const StepBatch& batch, cudaStream_t stream) {
    const Layout o = layout_for(limits_);
    int* h = host_.as<int>();
    const auto seqs = batch.sequences.size();
    if (seqs > static_cast<std::size_t>(limits_.max_seqs))
        fail("cuda runner: a step of ", seqs, " sequences, more than max_num_seqs = ", limits_.max_seqs);
    std::size_t tokens = 0, pages = 0;
    int longest = 0, wanting = 0;
    h[o.seq_starts] = 0;
    for (std::size_t i = 0; i < seqs; ++i) {
        const StepSequence& s = batch.sequences[i];
        if (tokens + s.tokens.size() > static_cast<std::size_t>(limits_.max_tokens))
            fail("cuda runner: sequence ", i, " takes the step past max_num_batched_tokens = ", limits_.max_tokens);
        if (pages + s.kv->pages.size() > limits_.max_pages)
            fail("cuda runner: sequence ", i, " takes the step's block tables past ", limits_.max_pages, " pages");
        std::copy(s.tokens.begin(), s.tokens.end(), h + o.ids + tokens);
        std::copy(s.kv->pages.begin(), s.kv->pages.end(), h + o.tables + pages);
        h[o.positions + i] = s.position;
        h[o.table_starts + i] = static_cast<int>(pages);
        tokens += s.tokens.size();
        pages += s.kv->pages.size();
        h[o.seq_starts + i + 1] = static_cast<int>(tokens);
        if (s.wants_logits) h[o.logit_rows + static_cast<std::size_t>(wanting++)] = static_cast<int>(tokens) - 1;
        longest = std::max(longest, static_cast<int>(s.tokens.size()));
    }
    tokens_.num_seqs = static_cast<int>(seqs);
    tokens_.num_tokens = static_cast<int>(tokens);
    tokens_.max_seq_tokens = longest;
    logit_count_ = wanting;
    // One copy of everything up to the end of this step's block tables.
    check(cudaMemcpyAsync(device_.get(), host_.get(), (o.tables + pages) * sizeof(int), cudaMemcpyHostToDevice, stream),
          "uploading a step's inputs");
}

}  // namespace lw::cuda
