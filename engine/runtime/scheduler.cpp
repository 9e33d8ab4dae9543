#include "runtime/scheduler.h"

#include "core/error.h"

#include <algorithm>
#include <set>
#include <string_view>

namespace lw {

namespace {

// Waiting sequences whose adapters are prefetched: host RAM holds only max_cpu_loras
// adapters, so reading ahead further would push out copies that sooner requests need.
constexpr std::size_t kPrefetchAhead = 4;

}  // namespace

std::size_t SchedulerOutput::tokens() const {
    std::size_t n = 0;
    for (const ScheduledChunk& c : chunks) n += c.count;
    return n;
}

Scheduler::Scheduler(SchedulerConfig config, SchedulerMemory& memory) : config_(config), memory_(memory) {
    if (config_.max_num_seqs < 1) fail("scheduler: max_num_seqs must be at least 1, got ", config_.max_num_seqs);
    if (config_.max_num_batched_tokens < 1)
        fail("scheduler: max_num_batched_tokens must be at least 1, got ", config_.max_num_batched_tokens);
    if (config_.adapter_load_window < 1)
        fail("scheduler: adapter_load_window must be at least 1, got ", config_.adapter_load_window);
}

void Scheduler::add(Sequence& seq) {
    seq.status = SequenceStatus::Waiting;
    waiting_.push_back(&seq);
}

void Scheduler::remove(Sequence& seq) {
    std::erase(waiting_, &seq);
    std::erase(running_, &seq);
    memory_.release(seq);
}

SchedulerOutput Scheduler::schedule() {
    SchedulerOutput out;
    auto budget = static_cast<std::size_t>(config_.max_num_batched_tokens);
    schedule_running(true, out, budget);
    schedule_running(false, out, budget);
    // A step that had to preempt admits nobody: the pool is already short.
    if (out.preempted.empty()) admit_waiting(out, budget);
    for (std::size_t i = 0; i < std::min(waiting_.size(), kPrefetchAhead); ++i) memory_.prefetch_adapter(*waiting_[i]);
    return out;
}

void Scheduler::schedule_running(bool decodes, SchedulerOutput& out, std::size_t& budget) {
    const std::vector<Sequence*> oldest_first = running_;  // preemption shrinks running_
    for (Sequence* seq : oldest_first) {
        if (budget == 0) return;
        if (seq->status != SequenceStatus::Running || seq->uncomputed() == 0) continue;
        if ((seq->uncomputed() == 1) != decodes) continue;
        const std::size_t count = std::min(seq->uncomputed(), budget);
        if (!reserve_running(*seq, count, out, budget)) continue;
        out.chunks.push_back({seq, seq->computed(), count, seq->computed() + count == seq->tokens().size()});
        budget -= count;
    }
}

bool Scheduler::reserve_running(Sequence& seq, std::size_t count, SchedulerOutput& out, std::size_t& budget) {
    while (!memory_.reserve_kv(seq, seq.computed() + count)) {
        if (running_.size() == 1) {
            // Alone and still short: recomputing would only reach this point again.
            std::erase(running_, &seq);
            memory_.release(seq);
            out.failed.push_back({&seq, cat("the memory pool cannot hold the KV cache of ", seq.computed() + count,
                                            " positions of request ", seq.id())});
            return false;
        }
        Sequence& victim = *running_.back();
        preempt(victim, out, budget);
        if (&victim == &seq) return false;
    }
    return true;
}

void Scheduler::preempt(Sequence& seq, SchedulerOutput& out, std::size_t& budget) {
    const auto chunk =
        std::find_if(out.chunks.begin(), out.chunks.end(), [&](const ScheduledChunk& c) { return c.seq == &seq; });
    if (chunk != out.chunks.end()) {
        budget += chunk->count;
        out.chunks.erase(chunk);
    }
    std::erase(running_, &seq);
    memory_.release(seq);
    seq.forget_cache();
    seq.status = SequenceStatus::Waiting;
    // Preempted sequences are older than every waiting one: they go first, oldest in front.
    waiting_.push_front(&seq);
    out.preempted.push_back(&seq);
}

void Scheduler::admit_waiting(SchedulerOutput& out, std::size_t& budget) {
    std::set<std::string_view> awaited;  // adapters that sequences admitted to the window wait for
    for (auto it = waiting_.begin(); it != waiting_.end();) {
        if (budget == 0 || running_.size() >= static_cast<std::size_t>(config_.max_num_seqs)) return;
        Sequence& seq = **it;
        if (awaited.size() >= static_cast<std::size_t>(config_.adapter_load_window) &&
            !awaited.contains(seq.adapter()) && !memory_.adapter_in_memory(seq)) {
            ++it;
            continue;
        }
        std::string error;
        const AdapterAdmission adapter = memory_.acquire_adapter(seq, error);
        if (adapter == AdapterAdmission::Wait) {
            awaited.insert(seq.adapter());
            ++it;  // its adapter is on its way; those behind it need not wait for it
            continue;
        }
        if (adapter == AdapterAdmission::Failed) {
            out.failed.push_back({&seq, std::move(error)});
            it = waiting_.erase(it);
            continue;
        }
        const std::size_t count = std::min(seq.uncomputed(), budget);
        if (!memory_.reserve_kv(seq, seq.computed() + count)) {
            memory_.release(seq);
            if (!running_.empty()) return;  // FCFS: nobody overtakes it for pages
            // Nothing else holds memory, so the pool can never hold it.
            out.failed.push_back({&seq, cat("the memory pool cannot hold the KV cache of ", seq.computed() + count,
                                            " positions of request ", seq.id())});
            it = waiting_.erase(it);
            continue;
        }
        seq.status = SequenceStatus::Running;
        running_.push_back(&seq);
        it = waiting_.erase(it);
        out.chunks.push_back({&seq, seq.computed(), count, seq.computed() + count == seq.tokens().size()});
        budget -= count;
    }
}

}  // namespace lw
