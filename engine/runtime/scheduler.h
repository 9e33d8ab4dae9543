// Decides, every step, which sequences run and how many of their tokens: continuous
// batching with chunked prefill under a token budget. Running sequences go first,
// decodes before prefill chunks, oldest first; then waiting sequences are admitted in
// arrival order (FCFS) while the budget, max_num_seqs and memory allow. When the pool
// cannot hold a running sequence's next tokens, the most recently admitted sequence is
// preempted: its memory is freed and it waits at the front, to be prefilled again.
// Memory is reached through SchedulerMemory, so the decisions can be tested alone.
#pragma once

#include "runtime/sequence.h"

#include <cstddef>
#include <deque>
#include <string>
#include <vector>

namespace lw {

enum class AdapterAdmission { Ready, Wait, Failed };

class SchedulerMemory {
public:
    virtual ~SchedulerMemory() = default;
    // Pins the sequence's adapter (Ready for the bare base); Wait while it loads or the
    // pool has no room for it; Failed sets `error`.
    virtual AdapterAdmission acquire_adapter(Sequence& seq, std::string& error) = 0;
    // Starts loading the adapter of one of the first waiting sequences, for a later step.
    virtual void prefetch_adapter(Sequence& seq) = 0;
    // Whether the sequence's adapter is in memory (pool or host RAM) or it has none:
    // acquiring it then starts no disk read.
    virtual bool adapter_in_memory(const Sequence& seq) const = 0;
    // KV pages for `tokens` positions of `seq`, all or nothing (freeing idle adapter
    // pages first if that helps).
    virtual bool reserve_kv(Sequence& seq, std::size_t tokens) = 0;
    // Frees the sequence's KV pages and unpins its adapter.
    virtual void release(Sequence& seq) = 0;
};

struct SchedulerConfig {
    int max_num_seqs = 64;
    int max_num_batched_tokens = 512;
    // Adapters that waiting sequences may wait on at once. Host RAM holds only so many
    // adapters (max_cpu_loras - max_loras beside the pooled ones): reading for more than
    // that would evict the copies that earlier sequences wait for, and with thousands of
    // adapters the host tier would thrash. Beyond the window, waiting sequences are
    // admitted only when their adapter is in memory or already awaited.
    int adapter_load_window = 64;
};

// Tokens [start, start + count) of a sequence run this step.
struct ScheduledChunk {
    Sequence* seq = nullptr;
    std::size_t start = 0;
    std::size_t count = 0;
    bool wants_logits = false;  // the chunk reaches the sequence's last token: sample after it
};

struct FailedAdmission {
    Sequence* seq = nullptr;
    std::string error;
};

struct SchedulerOutput {
    std::vector<ScheduledChunk> chunks;
    std::vector<Sequence*> preempted;
    std::vector<FailedAdmission> failed;  // removed from the queues; the caller finishes them
    std::size_t tokens() const;
};

class Scheduler {
public:
    Scheduler(SchedulerConfig config, SchedulerMemory& memory);

    void add(Sequence& seq);  // queues a new sequence behind those waiting
    // Takes a sequence out of the queues and frees its memory (finished, cancelled, failed).
    void remove(Sequence& seq);
    SchedulerOutput schedule();

    const std::deque<Sequence*>& waiting() const { return waiting_; }
    const std::vector<Sequence*>& running() const { return running_; }  // oldest admission first
    bool idle() const { return waiting_.empty() && running_.empty(); }

private:
    // Reserves KV for the next `count` tokens of a running sequence, preempting the most
    // recently admitted ones as needed; false when `seq` itself had to go.
    bool reserve_running(Sequence& seq, std::size_t count, SchedulerOutput& out, std::size_t& budget);
    void preempt(Sequence& seq, SchedulerOutput& out, std::size_t& budget);
    void schedule_running(bool decodes, SchedulerOutput& out, std::size_t& budget);
    void admit_waiting(SchedulerOutput& out, std::size_t& budget);

    SchedulerConfig config_;
    SchedulerMemory& memory_;
    std::deque<Sequence*> waiting_;
    std::vector<Sequence*> running_;
};

}  // namespace lw
