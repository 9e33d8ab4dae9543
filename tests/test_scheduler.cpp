// The scheduler's decisions on their own, with a pretend memory (a page counter and
// adapters whose readiness the test sets): the token budget goes to decodes first, then
// to prefill chunks; admission is first come, first served, limited by max_num_seqs and
// free pages; the most recently admitted sequence is preempted when the pool runs out
// and is prefilled again, prompt and generated tokens, when it comes back.
#include "support/test_support.h"

#include "core/error.h"
#include "runtime/scheduler.h"

#include <map>
#include <memory>

namespace {

constexpr std::size_t kBlockTokens = 4;  // positions per page

class FakeMemory : public lw::SchedulerMemory {
public:
    explicit FakeMemory(std::size_t pages) : free(pages) {}

    lw::AdapterAdmission acquire_adapter(lw::Sequence& seq, std::string& error) override {
        if (seq.adapter().empty()) return lw::AdapterAdmission::Ready;
        ++acquires[seq.adapter()];
        const lw::AdapterAdmission a = adapters.at(seq.adapter());
        if (a == lw::AdapterAdmission::Failed) error = "cannot read " + seq.adapter();
        if (a == lw::AdapterAdmission::Ready) ++pins[seq.id()];
        return a;
    }
    void prefetch_adapter(lw::Sequence& seq) override {
        if (!seq.adapter().empty()) ++prefetches[seq.adapter()];
    }
    bool adapter_in_memory(const lw::Sequence& seq) const override {
        return seq.adapter().empty() || adapters.at(seq.adapter()) == lw::AdapterAdmission::Ready;
    }
    bool reserve_kv(lw::Sequence& seq, std::size_t tokens) override {
        const std::size_t want = (tokens + kBlockTokens - 1) / kBlockTokens;
        std::size_t& held = kv[seq.id()];
        if (want <= held) return true;
        if (want - held > free) return false;
        free -= want - held;
        held = want;
        return true;
    }
    void release(lw::Sequence& seq) override {
        free += kv[seq.id()];
        kv.erase(seq.id());
        pins.erase(seq.id());
        ++releases[seq.id()];
    }

    std::size_t free;
    std::map<lw::RequestId, std::size_t> kv;  // pages held
    std::map<lw::RequestId, int> pins;
    std::map<lw::RequestId, int> releases;
    std::map<std::string, lw::AdapterAdmission> adapters;
    std::map<std::string, int> prefetches;
    std::map<std::string, int> acquires;
};

std::unique_ptr<lw::Sequence> sequence(lw::RequestId id, std::size_t prompt, const std::string& adapter = {}) {
    lw::GenerationRequest r;
    r.prompt.assign(prompt, 1);
    r.max_tokens = 100;
    r.sampling.temperature = 0.0f;
    auto seq = std::make_unique<lw::Sequence>(id, r, lw::EventCallback{}, 0, lw::StopRules{{}, 1000}, nullptr);
    seq->set_adapter(adapter);
    return seq;
}

// What the engine does after the forward pass: the chunks are in the cache, and a
// sequence whose chunk reached its end gets a token.
void run(const lw::SchedulerOutput& out) {
    const std::vector<float> logits{0.0f, 1.0f, 0.0f};
    for (const lw::ScheduledChunk& c : out.chunks) {
        c.seq->advance(c.count);
        std::optional<lw::FinishReason> finish;
        if (c.wants_logits) c.seq->sample(logits, finish);
    }
}

// "id:start+count" for each chunk, in batch order.
std::string describe(const lw::SchedulerOutput& out) {
    std::string s;
    for (const lw::ScheduledChunk& c : out.chunks)
        s += lw::cat(s.empty() ? "" : " ", c.seq->id(), ":", c.start, "+", c.count, c.wants_logits ? "*" : "");
    return s;
}

}  // namespace

class TestScheduler : public QObject {
    Q_OBJECT
private slots:
    void budgetGoesToDecodesFirstThenPrefillChunks() {
        FakeMemory memory(100);
        lw::Scheduler s({8, 8}, memory);
        auto a = sequence(1, 3), b = sequence(2, 20), c = sequence(3, 2);
        s.add(*a);
        s.add(*b);
        s.add(*c);
        auto out = s.schedule();
        QCOMPARE(describe(out), std::string("1:0+3* 2:0+5"));  // c waits: the budget is spent
        QCOMPARE(out.tokens(), std::size_t(8));
        run(out);
        out = s.schedule();
        QCOMPARE(describe(out), std::string("1:3+1* 2:5+7"));  // a's decode before b's next chunk
        run(out);
        out = s.schedule();
        QCOMPARE(describe(out), std::string("1:4+1* 2:12+7"));
        run(out);
        out = s.schedule();
        QCOMPARE(describe(out), std::string("1:5+1* 2:19+1* 3:0+2*"));  // b's last prompt token wants logits
        QCOMPARE(s.running().size(), std::size_t(3));
        QVERIFY(s.waiting().empty());
    }

    void admitsFirstComeFirstServedWithinMaxNumSeqs() {
        FakeMemory memory(100);
        lw::Scheduler s({2, 64}, memory);
        auto a = sequence(1, 4), b = sequence(2, 4), c = sequence(3, 4);
        for (auto* seq : {a.get(), b.get(), c.get()}) s.add(*seq);
        auto out = s.schedule();
        QCOMPARE(describe(out), std::string("1:0+4* 2:0+4*"));
        run(out);
        s.remove(*a);
        QCOMPARE(memory.kv.count(1), std::size_t(0));
        out = s.schedule();
        QCOMPARE(describe(out), std::string("2:4+1* 3:0+4*"));
    }

    void admissionWaitsForPagesInArrivalOrder() {
        FakeMemory memory(3);
        lw::Scheduler s({8, 64}, memory);
        auto a = sequence(1, 8), b = sequence(2, 8), c = sequence(3, 2);
        for (auto* seq : {a.get(), b.get(), c.get()}) s.add(*seq);
        // a takes 2 of 3 pages; b needs 2 and waits; c would fit but does not overtake b.
        const auto out = s.schedule();
        QCOMPARE(describe(out), std::string("1:0+8*"));
        QCOMPARE(s.waiting().size(), std::size_t(2));
        QCOMPARE(s.waiting().front(), b.get());
        QCOMPARE(memory.free, std::size_t(1));
        QVERIFY(out.failed.empty());
    }

    void preemptsTheMostRecentlyAdmittedAndRecomputesIt() {
        FakeMemory memory(3);
        lw::Scheduler s({8, 64}, memory);
        auto a = sequence(1, 4), b = sequence(2, 4), c = sequence(3, 4);
        for (auto* seq : {a.get(), b.get(), c.get()}) s.add(*seq);
        auto out = s.schedule();
        QCOMPARE(describe(out), std::string("1:0+4* 2:0+4* 3:0+4*"));
        run(out);
        // Every decode needs a second page and none is free: c (newest) goes, then b, so a runs.
        out = s.schedule();
        QCOMPARE(describe(out), std::string("1:4+1*"));
        QCOMPARE(out.preempted, (std::vector<lw::Sequence*>{c.get(), b.get()}));
        QCOMPARE(s.waiting().front(), b.get());  // the older preempted one first
        QCOMPARE(s.waiting().back(), c.get());
        QCOMPARE(b->computed(), std::size_t(0));
        QCOMPARE(memory.releases[3], 1);
        QCOMPARE(memory.kv.count(3), std::size_t(0));
        run(out);
        s.remove(*a);
        // b comes back with its prompt and its generated token to prefill (2 pages), then c.
        out = s.schedule();
        QCOMPARE(describe(out), std::string("2:0+5*"));
        QCOMPARE(s.waiting().front(), c.get());
    }

    void preemptsARunningPrefillToo() {
        // Two long prompts fed in chunks fill the pool between them: the older one wins.
        FakeMemory memory(4);
        lw::Scheduler s({8, 8}, memory);
        auto a = sequence(1, 12), b = sequence(2, 12);
        s.add(*a);
        s.add(*b);
        auto out = s.schedule();
        QCOMPARE(describe(out), std::string("1:0+8"));
        run(out);
        out = s.schedule();
        QCOMPARE(describe(out), std::string("1:8+4* 2:0+4"));
        run(out);
        out = s.schedule();  // a's decode needs a fourth page: b is pushed out
        QCOMPARE(describe(out), std::string("1:12+1*"));
        QCOMPARE(out.preempted, (std::vector<lw::Sequence*>{b.get()}));
    }

    void adaptersGateAdmission() {
        FakeMemory memory(100);
        memory.adapters = {{"loading", lw::AdapterAdmission::Wait},
                           {"broken", lw::AdapterAdmission::Failed},
                           {"ready", lw::AdapterAdmission::Ready}};
        lw::Scheduler s({8, 64}, memory);
        auto a = sequence(1, 4, "loading"), b = sequence(2, 4, "broken"), c = sequence(3, 4, "ready");
        for (auto* seq : {a.get(), b.get(), c.get()}) s.add(*seq);
        const auto out = s.schedule();
        QCOMPARE(describe(out), std::string("3:0+4*"));  // c need not wait for a's adapter
        QCOMPARE(out.failed.size(), std::size_t(1));
        QCOMPARE(out.failed[0].seq, b.get());
        QCOMPARE(out.failed[0].error, std::string("cannot read broken"));
        QCOMPARE(s.waiting().size(), std::size_t(1));
        QCOMPARE(memory.prefetches["loading"], 1);
        QCOMPARE(memory.pins[3], 1);
        run(out);
        memory.adapters["loading"] = lw::AdapterAdmission::Ready;
        QCOMPARE(describe(s.schedule()), std::string("3:4+1* 1:0+4*"));
    }

    void prefetchesAdaptersForTheFirstWaitingOnly() {
        FakeMemory memory(100);
        lw::Scheduler s({8, 64}, memory);
        std::vector<std::unique_ptr<lw::Sequence>> seqs;
        for (int i = 0; i < 6; ++i) {
            const std::string name = "a" + std::to_string(i);
            memory.adapters[name] = lw::AdapterAdmission::Wait;
            seqs.push_back(sequence(lw::RequestId(i + 1), 4, name));
            s.add(*seqs.back());
        }
        QVERIFY(s.schedule().chunks.empty());
        QCOMPARE(memory.prefetches, (std::map<std::string, int>{{"a0", 1}, {"a1", 1}, {"a2", 1}, {"a3", 1}}));
    }

    void onlyTheLoadWindowWaitsOnAdapters() {
        FakeMemory memory(100);
        lw::Scheduler s({8, 64, 2}, memory);
        std::vector<std::unique_ptr<lw::Sequence>> seqs;
        for (int i = 0; i < 4; ++i) {
            const std::string name = "cold" + std::to_string(i);
            memory.adapters[name] = lw::AdapterAdmission::Wait;
            seqs.push_back(sequence(lw::RequestId(i + 1), 4, name));
        }
        memory.adapters["warm"] = lw::AdapterAdmission::Ready;
        seqs.push_back(sequence(5, 4, "warm"));
        seqs.push_back(sequence(6, 4));
        for (auto& seq : seqs) s.add(*seq);
        // Two sequences wait on their adapters; the next cold ones start no load (their
        // reads would evict what the first two wait for), in-memory ones still run.
        QCOMPARE(describe(s.schedule()), std::string("5:0+4* 6:0+4*"));
        QCOMPARE(memory.acquires, (std::map<std::string, int>{{"cold0", 1}, {"cold1", 1}, {"warm", 1}}));
        memory.adapters["cold0"] = lw::AdapterAdmission::Ready;
        const auto out = s.schedule();
        QCOMPARE(memory.acquires["cold2"], 1);  // cold0 left the window, cold2 entered it
        QCOMPARE(memory.acquires.count("cold3"), std::size_t(0));
        QVERIFY(describe(out).find("1:0+4*") != std::string::npos);
    }

    void theLoadWindowCountsAdaptersNotSequences() {
        FakeMemory memory(100);
        lw::Scheduler s({8, 64, 2}, memory);
        std::vector<std::unique_ptr<lw::Sequence>> seqs;
        for (const char* name : {"cold0", "cold0", "cold0", "cold1", "cold2"}) {
            memory.adapters[name] = lw::AdapterAdmission::Wait;
            seqs.push_back(sequence(lw::RequestId(seqs.size() + 1), 4, name));
            s.add(*seqs.back());
        }
        QVERIFY(s.schedule().chunks.empty());
        // Three requests for one adapter take one place in the window: cold1 is asked for too.
        QCOMPARE(memory.acquires, (std::map<std::string, int>{{"cold0", 3}, {"cold1", 1}}));
    }

    void failsWhatThePoolCanNeverHold() {
        FakeMemory memory(1);
        lw::Scheduler s({8, 64}, memory);
        auto big = sequence(1, 8), small = sequence(2, 4);
        s.add(*big);
        s.add(*small);
        const auto out = s.schedule();
        QCOMPARE(out.failed.size(), std::size_t(1));
        QCOMPARE(out.failed[0].seq, big.get());
        QVERIFY(out.failed[0].error.find("cannot hold") != std::string::npos);
        QCOMPARE(describe(out), std::string("2:0+4*"));
        QVERIFY(s.waiting().empty());
    }

    void failsASequenceThatOutgrowsThePoolAlone() {
        // Preempting it would only recompute it to the same point, chunk by chunk.
        FakeMemory memory(2);
        lw::Scheduler s({8, 4}, memory);
        auto seq = sequence(1, 8);
        s.add(*seq);
        run(s.schedule());
        auto out = s.schedule();
        QCOMPARE(describe(out), std::string("1:4+4*"));
        run(out);
        out = s.schedule();  // its ninth position needs a third page
        QVERIFY(out.chunks.empty());
        QCOMPARE(out.failed.size(), std::size_t(1));
        QCOMPARE(out.failed[0].seq, seq.get());
        QVERIFY(out.failed[0].error.find("9 positions") != std::string::npos);
        QVERIFY(s.idle());
        QCOMPARE(memory.free, std::size_t(2));
    }

    void rejectsEmptyLimits() {
        FakeMemory memory(1);
        LW_EXPECT_ERROR(lw::Scheduler({0, 8}, memory), "max_num_seqs");
        LW_EXPECT_ERROR(lw::Scheduler({8, 0}, memory), "max_num_batched_tokens");
    }
};

QTEST_GUILESS_MAIN(TestScheduler)
#include "test_scheduler.moc"
