// The adapter cache over pool, host RAM and disk, with the real tiny PEFT adapters and
// a backend whose pool lives in host memory: registration checks, pins, LRU evictions,
// the max_loras / max_cpu_loras limits, asynchronous loads and their failures, prefetches
// into host RAM and into the pool, upload tickets, exact statistics, and a pool with
// every page free again at the end.
#include "support/test_support.h"

#include "backend/backend.h"
#include "core/error.h"
#include "memory/adapter_manager.h"
#include "memory/kv_cache_manager.h"
#include "model/model_loader.h"

#include <QTemporaryDir>

#include <cstring>
#include <filesystem>
#include <memory>

namespace {

namespace fs = std::filesystem;

constexpr std::size_t kPageBytes = 1024;

// A device whose pool bytes are a host vector; it runs no models.
class HostBackend : public lw::Backend {
public:
    HostBackend(std::size_t pages, std::size_t page_bytes)
        : pages_(pages), page_bytes_(page_bytes), bytes_(pages * page_bytes) {}
    std::string name() const override { return "test host memory"; }
    std::size_t page_count() const override { return pages_; }
    std::size_t page_bytes() const override { return page_bytes_; }
    lw::DType pool_dtype() const override { return lw::DType::F32; }
    void write_page(lw::PageId page, std::size_t offset, std::span<const std::byte> bytes) override {
        check(page, offset, bytes.size());
        std::memcpy(bytes_.data() + page * page_bytes_ + offset, bytes.data(), bytes.size());
    }
    void read_page(lw::PageId page, std::size_t offset, std::span<std::byte> out) const override {
        check(page, offset, out.size());
        std::memcpy(out.data(), bytes_.data() + page * page_bytes_ + offset, out.size());
    }
    std::unique_ptr<lw::ModelRunner> load_model(const lw::ModelConfig&, const lw::ModelWeights&) override {
        lw::fail("test host memory runs no models");
    }
    void order_uploads_before_compute(lw::UploadTicket upto) override { ordered.push_back(upto); }

    std::vector<lw::UploadTicket> ordered;  // tickets that compute was ordered after

private:
    void check(lw::PageId page, std::size_t offset, std::size_t n) const {
        if (page >= pages_ || offset + n > page_bytes_) lw::fail("test backend: page ", page, " access out of range");
    }
    std::size_t pages_, page_bytes_;
    std::vector<std::byte> bytes_;
};

const lw::ModelConfig& tiny_llama() {
    static const lw::ModelConfig config = lw::load_model(lw::test::data_path("models/tiny_llama")).config;
    return config;
}

fs::path adapter_path(const std::string& name) {
    return lw::test::data_path("peft/" + name);
}

std::size_t pages_of(const std::string& name) {
    return lw::adapter_pages_needed(lw::load_lora_adapter(adapter_path(name)), kPageBytes, lw::DType::F32);
}

// A pool, its device and the manager over them, torn down in the right order.
struct Cache {
    Cache(std::size_t pages, int max_loras, int max_cpu_loras, int max_lora_rank = 16)
        : backend(pages, kPageBytes),
          pool(pages, kPageBytes),
          manager(pool, backend, lw::AdapterManagerOptions{max_loras, max_cpu_loras, max_lora_rank, 2}) {}

    void add(const std::string& name) { manager.register_adapter(name, adapter_path(name), tiny_llama()); }
    // Lets every disk load in flight finish and applies it.
    void settle() {
        while (manager.stats().loading > 0) {
            manager.wait_for_load();
            manager.poll();
        }
    }
    lw::AdapterTier tier(const std::string& name) const {
        for (const auto& r : manager.residency())
            if (r.name == name) return r.tier;
        qFatal("no adapter %s", name.c_str());
    }
    int pins(const std::string& name) const {
        for (const auto& r : manager.residency())
            if (r.name == name) return r.pins;
        qFatal("no adapter %s", name.c_str());
    }
    lw::AcquireStatus status(const std::string& name) { return manager.acquire(name).status; }
    // acquire() until Ready, applying loads in between; the adapter stays pinned.
    const lw::PooledAdapter* pin(const std::string& name) {
        for (;;) {
            const auto r = manager.acquire(name);
            if (r.status == lw::AcquireStatus::Ready) return r.adapter;
            if (r.status != lw::AcquireStatus::Loading) return nullptr;
            settle();
        }
    }
    void use(const std::string& name) {
        QVERIFY(pin(name) != nullptr);
        manager.release(name);
    }

    HostBackend backend;
    lw::PagePool pool;
    lw::AdapterManager manager;
};

}  // namespace

class TestAdapterManager : public QObject {
    Q_OBJECT
private slots:
    void registrationRejectsUnusableAdapters() {
        Cache c(200, 2, 4);
        LW_EXPECT_ERROR(c.add("wrong_base"), "adapter 'wrong_base'", "q_proj", "expected [4, 64]");
        LW_EXPECT_ERROR(c.manager.register_adapter("missing", adapter_path("no_such_adapter"), tiny_llama()),
                        "cannot register adapter 'missing'", "no_such_adapter");
        c.add("qv_r8");
        LW_EXPECT_ERROR(c.add("qv_r8"), "'qv_r8' is already registered");
        Cache low_rank(200, 2, 4, 4);
        LW_EXPECT_ERROR(low_rank.add("qv_r8"), "qv_r8", "rank 8", "max_lora_rank 4");
        Cache tiny_pool(pages_of("qv_r8") - 1, 2, 4);
        LW_EXPECT_ERROR(tiny_pool.add("qv_r8"), "'qv_r8' needs", "pool has only");
        QCOMPARE(c.manager.stats().registered, std::size_t(1));
        QVERIFY(!c.manager.contains("wrong_base"));
        QCOMPARE(tiny_pool.manager.stats().registered, std::size_t(0));
    }
    void registersAdaptersReadElsewhere() {
        Cache c(200, 2, 4);
        auto adapter = std::make_shared<const lw::LoraAdapter>(lw::load_lora_adapter(adapter_path("layers_subset")));
        c.manager.register_loaded_adapter("support-bot", adapter, tiny_llama());
        QCOMPARE(c.tier("support-bot"), lw::AdapterTier::Host);
        const lw::PooledAdapter* pooled = c.pin("support-bot");
        QVERIFY(pooled != nullptr);
        QCOMPARE(pooled->modules.size(), std::size_t(2));  // gate and up of layer 1
        QVERIFY(pooled->find(1, 4) != nullptr);
        QVERIFY(pooled->find(0, 4) == nullptr);
        c.manager.release("support-bot");
        // Once its pool image is built, the host tier keeps the image alone, not the adapter.
        QCOMPARE(adapter.use_count(), 1L);
        QCOMPARE(c.tier("support-bot"), lw::AdapterTier::Pool);

        // Registered with its image, the adapter is not kept at all, and it still places.
        auto with_image = std::make_shared<const lw::LoraAdapter>(lw::load_lora_adapter(adapter_path("qv_r8")));
        auto image = std::make_shared<const lw::AdapterImage>(
            lw::build_adapter_image(*with_image, tiny_llama().num_layers, kPageBytes, lw::DType::F32));
        c.manager.register_loaded_adapter("imaged", with_image, tiny_llama(), image);
        QCOMPARE(with_image.use_count(), 1L);
        QCOMPARE(c.tier("imaged"), lw::AdapterTier::Host);
        QVERIFY(c.pin("imaged") != nullptr);
        c.manager.release("imaged");
        // An image for another pool is not used: the adapter is kept to build its own.
        auto other_pages = std::make_shared<const lw::AdapterImage>(
            lw::build_adapter_image(*with_image, tiny_llama().num_layers, 2 * kPageBytes, lw::DType::F32));
        c.manager.register_loaded_adapter("reimaged", with_image, tiny_llama(), other_pages);
        QCOMPARE(with_image.use_count(), 2L);
        QVERIFY(c.pin("reimaged") != nullptr);
        QCOMPARE(with_image.use_count(), 1L);
        c.manager.release("reimaged");

        auto wrong = std::make_shared<const lw::LoraAdapter>(lw::load_lora_adapter(adapter_path("wrong_base")));
        LW_EXPECT_ERROR(c.manager.register_loaded_adapter("other", wrong, tiny_llama()), "wrong_base");
        LW_EXPECT_ERROR(c.manager.register_loaded_adapter("none", nullptr, tiny_llama()), "'none'");
    }
    void rejectsInconsistentLimits() {
        HostBackend backend(8, kPageBytes);
        lw::PagePool pool(8, kPageBytes);
        LW_EXPECT_ERROR(lw::AdapterManager(pool, backend, lw::AdapterManagerOptions{4, 2, 16, 1}), "max_cpu_loras (2)",
                        "max_loras (4)");
        LW_EXPECT_ERROR(lw::AdapterManager(pool, backend, lw::AdapterManagerOptions{0, 2, 16, 1}), "max_loras");
        LW_EXPECT_ERROR(lw::AdapterManager(pool, backend, lw::AdapterManagerOptions{1, 2, 16, 0}), "thread");
    }
    void acquirePinsThePooledAdapterUntilReleased() {
        Cache c(200, 2, 4);
        c.add("qv_r8");
        QCOMPARE(c.tier("qv_r8"), lw::AdapterTier::Host);  // registration's copy stays in host RAM
        const auto first = c.manager.acquire("qv_r8");
        QCOMPARE(first.status, lw::AcquireStatus::Ready);
        const lw::PooledAdapter* pooled = first.adapter;
        QCOMPARE(pooled->pages.size(), pages_of("qv_r8"));
        QCOMPARE(pooled->modules.size(), std::size_t(6));  // q and v of 3 layers
        for (lw::PageId p : pooled->pages)
            QVERIFY(c.pool.owners()[p] == (lw::PageOwner{lw::PageUse::Adapter, pooled->id}));
        QCOMPARE(c.manager.name_of(pooled->id).value(), std::string("qv_r8"));
        QVERIFY(!c.manager.name_of(pooled->id + 100).has_value());
        QCOMPARE(c.manager.acquire("qv_r8").adapter, pooled);  // a second request shares it
        QCOMPARE(c.manager.residency().at(0).pins, 2);
        QCOMPARE(c.manager.residency().at(0).pages, pooled->pages);
        c.manager.release("qv_r8");
        c.manager.release("qv_r8");
        LW_EXPECT_ERROR(c.manager.release("qv_r8"), "qv_r8", "no request holds it");
        LW_EXPECT_ERROR(c.manager.acquire("nobody"), "'nobody' is not registered");
        const auto s = c.manager.stats();
        QCOMPARE(s.pool.hits, std::uint64_t(1));
        QCOMPARE(s.pool.misses, std::uint64_t(1));
        QCOMPARE(s.pool.loads, std::uint64_t(1));
        QCOMPARE(s.host.hits, std::uint64_t(1));
        QCOMPARE(s.host.misses, std::uint64_t(0));
        QCOMPARE(s.pool.resident, std::size_t(1));
        c.pool.check_invariants();
    }
    void uploadedRowsHoldTheAdapterWeights() {
        Cache c(200, 2, 4);
        c.add("qv_r8");
        const lw::PooledAdapter* pooled = c.pin("qv_r8");
        const auto adapter = lw::load_lora_adapter(adapter_path("qv_r8"));
        const lw::PooledModule* v1 = pooled->find(1, 2);  // layer 1 v_proj
        QVERIFY(v1 != nullptr);
        const lw::LoraModule& m = adapter.modules.at(3);
        QCOMPARE(m.module, std::string("v_proj"));
        QCOMPARE(m.layer, 1);
        const lw::RowRef row = pooled->rows.at(v1->first_row + 1);  // A's second row
        std::vector<float> got(64);
        c.backend.read_page(row.page, row.offset, std::as_writable_bytes(std::span(got)));
        std::vector<float> want(64);
        QCOMPARE(m.a.dtype, lw::DType::F32);
        std::memcpy(want.data(), m.a.data.data() + 64 * sizeof(float), 64 * sizeof(float));
        QCOMPARE(got, want);
        c.manager.release("qv_r8");
    }
    void evictsTheLeastRecentlyUsedWhenMaxLorasIsReached() {
        Cache c(400, 2, 4);
        for (const char* name : {"qv_r8", "regex_targets", "layers_subset"}) c.add(name);
        c.use("qv_r8");
        c.use("regex_targets");
        c.use("qv_r8");  // regex_targets is now the least recently used
        c.use("layers_subset");
        QCOMPARE(c.tier("qv_r8"), lw::AdapterTier::Pool);
        QCOMPARE(c.tier("regex_targets"), lw::AdapterTier::Host);
        QCOMPARE(c.tier("layers_subset"), lw::AdapterTier::Pool);
        c.use("regex_targets");  // now qv_r8 is the oldest
        QCOMPARE(c.tier("qv_r8"), lw::AdapterTier::Host);
        const auto s = c.manager.stats();
        QCOMPARE(s.pool.evictions, std::uint64_t(2));
        QCOMPARE(s.pool.resident, std::size_t(2));
        QCOMPARE(s.pool.hits, std::uint64_t(1));
        QCOMPARE(s.pool.misses, std::uint64_t(4));
        QCOMPARE(s.host.hits, std::uint64_t(4));
        QCOMPARE(s.host.evictions, std::uint64_t(0));
        QCOMPARE(c.pool.used_by(lw::PageUse::Adapter), pages_of("regex_targets") + pages_of("layers_subset"));
        c.pool.check_invariants();
    }
    void pinnedAdaptersAreNeverEvicted() {
        Cache c(400, 2, 4);
        for (const char* name : {"qv_r8", "regex_targets", "layers_subset"}) c.add(name);
        QVERIFY(c.pin("qv_r8"));
        QVERIFY(c.pin("regex_targets"));
        QCOMPARE(c.status("layers_subset"), lw::AcquireStatus::NoRoom);
        QCOMPARE(c.manager.evict_idle(1000), std::size_t(0));
        QCOMPARE(c.tier("qv_r8"), lw::AdapterTier::Pool);
        QCOMPARE(c.tier("regex_targets"), lw::AdapterTier::Pool);
        c.manager.release("regex_targets");
        QVERIFY(c.pin("layers_subset"));
        QCOMPARE(c.tier("regex_targets"), lw::AdapterTier::Host);
        QCOMPARE(c.tier("qv_r8"), lw::AdapterTier::Pool);
        QCOMPARE(c.manager.stats().no_room, std::uint64_t(1));
        c.manager.release("qv_r8");
        c.manager.release("layers_subset");
    }
    void evictsNothingWhenEvictionsCannotMakeRoom() {
        // all_r4_rslora_bin fits the pool only when both others have left it.
        const std::size_t pages = pages_of("all_r4_rslora_bin") + 2;
        QVERIFY(pages_of("layers_subset") + pages_of("qv_r8") < pages);
        QVERIFY(pages - pages_of("layers_subset") < pages_of("all_r4_rslora_bin"));
        Cache c(pages, 3, 4);
        for (const char* name : {"qv_r8", "layers_subset", "all_r4_rslora_bin"}) c.add(name);
        QVERIFY(c.pin("layers_subset"));
        c.use("qv_r8");
        QCOMPARE(c.status("all_r4_rslora_bin"), lw::AcquireStatus::NoRoom);
        QCOMPARE(c.tier("qv_r8"), lw::AdapterTier::Pool);  // evicting it alone would not do
        QCOMPARE(c.manager.stats().pool.evictions, std::uint64_t(0));
        c.manager.release("layers_subset");
        QVERIFY(c.pin("all_r4_rslora_bin"));
        QCOMPARE(c.manager.stats().pool.evictions, std::uint64_t(2));
        c.manager.release("all_r4_rslora_bin");
        c.pool.check_invariants();
    }
    void diskLoadsRunAsynchronouslyWithinMaxCpuLoras() {
        Cache c(400, 1, 2);
        for (const char* name : {"qv_r8", "regex_targets", "layers_subset", "all_r4_rslora_bin"}) c.add(name);
        // Registration kept the first two copies; the host tier is full.
        QCOMPARE(c.tier("layers_subset"), lw::AdapterTier::Disk);
        QCOMPARE(c.manager.stats().host.loads, std::uint64_t(0));  // registration's reads are not cache loads
        c.use("qv_r8");
        QCOMPARE(c.status("layers_subset"), lw::AcquireStatus::Loading);
        // The host slot came from regex_targets, the least recently used copy outside the pool.
        QCOMPARE(c.tier("regex_targets"), lw::AdapterTier::Disk);
        QCOMPARE(c.tier("qv_r8"), lw::AdapterTier::Pool);
        QCOMPARE(c.status("layers_subset"), lw::AcquireStatus::Loading);  // asking again changes nothing
        c.settle();
        QCOMPARE(c.tier("layers_subset"), lw::AdapterTier::Host);
        QVERIFY(c.pin("layers_subset"));
        auto s = c.manager.stats();
        QCOMPARE(s.host.loads, std::uint64_t(1));
        QCOMPARE(s.host.misses, std::uint64_t(1));
        QCOMPARE(s.host.evictions, std::uint64_t(1));
        QCOMPARE(s.pool.misses, std::uint64_t(2));  // qv_r8, layers_subset: each counted once
        QCOMPARE(s.pool.loads, std::uint64_t(2));
        QCOMPARE(s.host.resident, std::size_t(2));
        // With layers_subset pinned in the only pool slot, qv_r8's copy is the only one
        // that can make room in host RAM.
        QCOMPARE(c.status("all_r4_rslora_bin"), lw::AcquireStatus::Loading);
        QCOMPARE(c.tier("qv_r8"), lw::AdapterTier::Disk);
        QCOMPARE(c.status("regex_targets"), lw::AcquireStatus::NoRoom);  // both host slots taken or loading
        c.settle();
        QCOMPARE(c.status("all_r4_rslora_bin"), lw::AcquireStatus::NoRoom);  // pool slot pinned
        c.manager.release("layers_subset");
        QVERIFY(c.pin("all_r4_rslora_bin"));
        s = c.manager.stats();
        QVERIFY(s.host.resident <= 2);
        QVERIFY(s.pool.resident <= 1);
        QCOMPARE(s.pool.evictions, std::uint64_t(2));
        QCOMPARE(s.host.evictions, std::uint64_t(2));
        QCOMPARE(s.host.loads, std::uint64_t(2));
        QCOMPARE(s.no_room, std::uint64_t(2));
        c.manager.release("all_r4_rslora_bin");
        c.pool.check_invariants();
    }
    void hostCopiesLeaveLeastRecentlyUsedFirst() {
        Cache c(400, 1, 3);
        for (const char* name : {"qv_r8", "regex_targets", "layers_subset", "all_r4_rslora_bin"}) c.add(name);
        QCOMPARE(c.tier("all_r4_rslora_bin"), lw::AdapterTier::Disk);
        c.use("regex_targets");
        c.use("qv_r8");  // pooled; layers_subset's copy is now the least recently used
        QCOMPARE(c.status("all_r4_rslora_bin"), lw::AcquireStatus::Loading);
        QCOMPARE(c.tier("layers_subset"), lw::AdapterTier::Disk);
        QCOMPARE(c.tier("regex_targets"), lw::AdapterTier::Host);
        QVERIFY(c.pin("all_r4_rslora_bin"));  // takes the pool slot from qv_r8
        QCOMPARE(c.tier("qv_r8"), lw::AdapterTier::Host);
        QCOMPARE(c.status("layers_subset"), lw::AcquireStatus::Loading);
        QCOMPARE(c.tier("regex_targets"), lw::AdapterTier::Disk);  // used before qv_r8
        QCOMPARE(c.tier("qv_r8"), lw::AdapterTier::Host);
        const auto s = c.manager.stats();
        QCOMPARE(s.host.evictions, std::uint64_t(2));
        QCOMPARE(s.host.resident + s.loading, std::size_t(3));
        c.settle();
        c.manager.release("all_r4_rslora_bin");
    }
    void prefetchLoadsEarlyWithoutTouchingThePool() {
        Cache c(400, 1, 1);
        for (const char* name : {"qv_r8", "regex_targets", "layers_subset"}) c.add(name);
        c.use("qv_r8");  // in the pool and the only host slot
        QVERIFY(!c.manager.prefetch("regex_targets"));
        QCOMPARE(c.tier("qv_r8"), lw::AdapterTier::Pool);

        Cache d(400, 1, 2);
        for (const char* name : {"qv_r8", "regex_targets", "layers_subset"}) d.add(name);
        d.use("qv_r8");
        QVERIFY(d.manager.prefetch("layers_subset"));   // drops regex_targets' host copy
        QVERIFY(!d.manager.prefetch("layers_subset"));  // already on its way
        QCOMPARE(d.tier("regex_targets"), lw::AdapterTier::Disk);
        d.settle();
        QCOMPARE(d.tier("layers_subset"), lw::AdapterTier::Host);
        QCOMPARE(d.status("layers_subset"), lw::AcquireStatus::Ready);  // no wait: it was prefetched
        const auto s = d.manager.stats();
        QCOMPARE(s.host.hits, std::uint64_t(2));
        QCOMPARE(s.host.misses, std::uint64_t(0));
        QCOMPARE(s.host.loads, std::uint64_t(1));
        d.manager.release("layers_subset");
    }
    void prefetchPlacesHostCopiesInThePoolUnpinned() {
        Cache c(400, 2, 4);
        for (const char* name : {"qv_r8", "regex_targets", "layers_subset"}) c.add(name);
        QVERIFY(c.manager.prefetch("qv_r8"));
        QCOMPARE(c.tier("qv_r8"), lw::AdapterTier::Pool);
        QCOMPARE(c.pins("qv_r8"), 0);
        QCOMPARE(c.manager.pages_to_place("qv_r8"), std::size_t(0));
        QVERIFY(!c.manager.prefetch("qv_r8"));  // already there
        auto s = c.manager.stats();
        QCOMPARE(s.pool.loads, std::uint64_t(1));
        QCOMPARE(s.pool.hits + s.pool.misses, std::uint64_t(0));  // no request has looked yet
        c.manager.poll();
        // The request it was prefetched for finds it in the pool.
        const lw::PooledAdapter* qv = c.pin("qv_r8");
        QVERIFY(qv);
        QVERIFY(qv->upload > 0);
        QVERIFY(c.manager.prefetch("regex_targets"));
        const lw::PooledAdapter* regex = c.pin("regex_targets");
        QVERIFY(regex);
        QVERIFY(regex->upload > qv->upload);  // tickets increase with every upload
        s = c.manager.stats();
        QCOMPARE(s.pool.hits, std::uint64_t(2));
        QCOMPARE(s.pool.misses, std::uint64_t(0));
        QCOMPARE(s.pool.loads, std::uint64_t(2));
        QCOMPARE(s.host.hits + s.host.misses, std::uint64_t(0));
        // Both slots pinned: nothing to evict, and max_loras holds.
        QVERIFY(!c.manager.prefetch("layers_subset"));
        QCOMPARE(c.tier("layers_subset"), lw::AdapterTier::Host);
        QCOMPARE(c.manager.stats().no_room, std::uint64_t(0));  // prefetches turn no request away
        c.manager.release("qv_r8");
        c.manager.release("regex_targets");
        c.pool.check_invariants();
    }
    void prefetchEvictsIdleAdaptersButNotThoseItsRoundWants() {
        Cache c(400, 2, 4);
        for (const char* name : {"qv_r8", "regex_targets", "layers_subset", "all_r4_rslora_bin"}) c.add(name);
        const lw::UploadTicket qv_upload = c.pin("qv_r8")->upload;
        c.manager.release("qv_r8");
        QVERIFY(c.pin("regex_targets"));
        c.manager.poll();                              // a new scheduling round
        QVERIFY(c.manager.prefetch("layers_subset"));  // takes idle qv_r8's slot
        QCOMPARE(c.tier("qv_r8"), lw::AdapterTier::Host);
        // Its pages may hold KV entries next: compute waits for the upload that wrote them.
        QCOMPARE(c.backend.ordered, std::vector<lw::UploadTicket>{qv_upload});
        // regex_targets is pinned and layers_subset wanted by this round: no room.
        QVERIFY(!c.manager.prefetch("all_r4_rslora_bin"));
        QCOMPARE(c.tier("layers_subset"), lw::AdapterTier::Pool);
        QCOMPARE(c.tier("all_r4_rslora_bin"), lw::AdapterTier::Host);
        QCOMPARE(c.manager.stats().pool.resident, std::size_t(2));
        c.manager.poll();
        // Next round, layers_subset went unused: it is evicted like any idle adapter.
        QVERIFY(c.manager.prefetch("all_r4_rslora_bin"));
        QCOMPARE(c.tier("layers_subset"), lw::AdapterTier::Host);
        QCOMPARE(c.tier("regex_targets"), lw::AdapterTier::Pool);
        auto s = c.manager.stats();
        QCOMPARE(s.pool.evictions, std::uint64_t(2));
        QCOMPARE(s.pool.loads, std::uint64_t(4));
        QCOMPARE(s.pool.resident, std::size_t(2));
        // Asking for an adapter already pooled counts as a use: the LRU victim is the other.
        c.manager.release("regex_targets");
        c.manager.poll();
        QVERIFY(!c.manager.prefetch("regex_targets"));
        QVERIFY(c.pin("qv_r8"));
        QCOMPARE(c.tier("all_r4_rslora_bin"), lw::AdapterTier::Host);
        QCOMPARE(c.tier("regex_targets"), lw::AdapterTier::Pool);
        c.manager.release("qv_r8");
        // A prefetched adapter gives its pages to the KV cache like any idle one.
        c.manager.poll();
        QVERIFY(c.manager.prefetch("layers_subset"));
        QCOMPARE(c.manager.evict_idle(c.pool.page_count()), c.pool.used_by(lw::PageUse::Adapter));
        s = c.manager.stats();
        QCOMPARE(s.pool.resident, std::size_t(0));
        QCOMPARE(s.pool.evictions, std::uint64_t(6));
        QCOMPARE(c.pool.free_count(), c.pool.page_count());
        c.pool.check_invariants();
    }
    void prefetchKeepsTheHostCopiesItsRoundWants() {
        Cache c(400, 1, 2);
        for (const char* name : {"qv_r8", "regex_targets", "all_r4_rslora_bin"}) c.add(name);
        QVERIFY(c.pin("qv_r8"));  // the only pool slot, and a host slot a prefetch never frees
        c.manager.poll();
        QVERIFY(!c.manager.prefetch("regex_targets"));  // no pool slot, but wanted this round
        QVERIFY(!c.manager.prefetch("all_r4_rslora_bin"));
        QCOMPARE(c.tier("regex_targets"), lw::AdapterTier::Host);
        QCOMPARE(c.tier("all_r4_rslora_bin"), lw::AdapterTier::Disk);
        c.manager.poll();
        QVERIFY(c.manager.prefetch("all_r4_rslora_bin"));  // another round: regex_targets' copy may go
        QCOMPARE(c.tier("regex_targets"), lw::AdapterTier::Disk);
        c.settle();
        QCOMPARE(c.tier("all_r4_rslora_bin"), lw::AdapterTier::Host);
        c.manager.release("qv_r8");
    }
    void aMissIsCountedOnceWhenAPrefetchPlacesItsAdapter() {
        Cache c(400, 1, 2);
        for (const char* name : {"qv_r8", "regex_targets", "layers_subset"}) c.add(name);
        QCOMPARE(c.status("layers_subset"), lw::AcquireStatus::Loading);  // a miss on both tiers
        c.settle();
        QVERIFY(c.manager.prefetch("layers_subset"));
        QVERIFY(c.pin("layers_subset"));
        auto s = c.manager.stats();
        QCOMPARE(s.pool.misses, std::uint64_t(1));
        QCOMPARE(s.pool.hits, std::uint64_t(0));
        QCOMPARE(s.host.misses, std::uint64_t(1));
        QCOMPARE(s.pool.loads, std::uint64_t(1));
        c.manager.release("layers_subset");
        c.use("layers_subset");
        QCOMPARE(c.manager.stats().pool.hits, std::uint64_t(1));
    }
    void evictIdleReclaimsPagesForTheKvCache() {
        Cache c(400, 3, 4);
        for (const char* name : {"qv_r8", "regex_targets", "layers_subset"}) c.add(name);
        c.use("regex_targets");
        c.use("qv_r8");
        QVERIFY(c.pin("layers_subset"));
        QCOMPARE(c.manager.pages_to_place("regex_targets"), std::size_t(0));
        QCOMPARE(c.manager.evict_idle(1), pages_of("regex_targets"));
        QCOMPARE(c.manager.pages_to_place("regex_targets"), pages_of("regex_targets"));
        QCOMPARE(c.tier("regex_targets"), lw::AdapterTier::Host);
        QCOMPARE(c.tier("qv_r8"), lw::AdapterTier::Pool);
        QCOMPARE(c.manager.evict_idle(0), std::size_t(0));
        QCOMPARE(c.manager.evict_idle(1000), pages_of("qv_r8"));
        QCOMPARE(c.tier("layers_subset"), lw::AdapterTier::Pool);
        QCOMPARE(c.pool.free_count(), std::size_t(400) - pages_of("layers_subset"));
        QCOMPARE(c.manager.stats().pool.evictions, std::uint64_t(2));
        c.manager.release("layers_subset");
    }
    void sharesThePoolWithTheKvCache() {
        const std::size_t adapter_pages = pages_of("qv_r8");
        Cache c(adapter_pages + 3, 2, 2);
        lw::KvCacheManager kv(c.pool, lw::make_kv_layout(tiny_llama(), kPageBytes, lw::DType::F32));
        c.add("qv_r8");
        QCOMPARE(c.manager.pages_to_place("qv_r8"), adapter_pages);
        QVERIFY(kv.reserve(1, 8));  // 6 pages: the adapter no longer fits
        QCOMPARE(c.status("qv_r8"), lw::AcquireStatus::NoRoom);
        kv.free(1);
        QVERIFY(c.pin("qv_r8"));
        QVERIFY(!kv.reserve(2, 8));
        c.manager.release("qv_r8");
        QVERIFY(!kv.reserve(2, 8));
        c.manager.evict_idle(kv.pages_needed(2, 8) - c.pool.free_count());
        QVERIFY(kv.reserve(2, 8));
        c.pool.check_invariants();
    }
    void unregisterIsRefusedWhilePinned() {
        Cache c(200, 2, 4);
        c.add("qv_r8");
        QVERIFY(c.pin("qv_r8"));
        LW_EXPECT_ERROR(c.manager.unregister_adapter("qv_r8"), "qv_r8", "in use by 1");
        QCOMPARE(c.tier("qv_r8"), lw::AdapterTier::Pool);
        c.manager.release("qv_r8");
        c.manager.unregister_adapter("qv_r8");
        QVERIFY(!c.manager.contains("qv_r8"));
        QCOMPARE(c.pool.free_count(), std::size_t(200));
        LW_EXPECT_ERROR(c.manager.unregister_adapter("qv_r8"), "not registered");
        c.add("qv_r8");  // the name is free again
        QVERIFY(c.pin("qv_r8"));
        c.manager.release("qv_r8");
    }
    void unregisteringDuringALoadDropsItsResult() {
        Cache c(200, 1, 1);
        c.add("qv_r8");
        c.add("regex_targets");
        QCOMPARE(c.status("regex_targets"), lw::AcquireStatus::Loading);
        c.manager.unregister_adapter("regex_targets");
        c.manager.wait_for_load();
        QCOMPARE(c.manager.poll(), std::size_t(0));
        QCOMPARE(c.manager.stats().host.resident, std::size_t(0));
        QCOMPARE(c.manager.stats().host.loads, std::uint64_t(0));
        QCOMPARE(c.manager.stats().registered, std::size_t(1));
        c.use("qv_r8");
    }
    void failedLoadsFailTheirRequestsAndLeaveOthersServed() {
        QTemporaryDir scratch;
        QVERIFY(scratch.isValid());
        const fs::path gone = fs::path(scratch.path().toStdString()) / "gone";
        const fs::path corrupt = fs::path(scratch.path().toStdString()) / "corrupt";
        fs::copy(adapter_path("qv_r8"), gone);
        fs::copy(adapter_path("layers_subset"), corrupt);
        Cache c(400, 1, 1);
        c.add("regex_targets");  // takes the only host slot
        c.manager.register_adapter("gone", gone, tiny_llama());
        c.manager.register_adapter("corrupt", corrupt, tiny_llama());
        fs::remove_all(gone);
        lw::test::write_file(corrupt / "adapter_model.safetensors", "not a safetensors file");

        QCOMPARE(c.status("gone"), lw::AcquireStatus::Loading);
        c.settle();
        const auto failed = c.manager.acquire("gone");
        QCOMPARE(failed.status, lw::AcquireStatus::Failed);
        QVERIFY2(failed.error.find("'gone'") != std::string::npos, failed.error.c_str());
        QVERIFY2(failed.error.find("adapter_config.json") != std::string::npos, failed.error.c_str());
        QCOMPARE(c.manager.acquire("gone").status, lw::AcquireStatus::Failed);  // every waiting request hears it
        QVERIFY(!c.manager.prefetch("gone"));

        QCOMPARE(c.status("corrupt"), lw::AcquireStatus::Loading);
        c.settle();
        const auto bad = c.manager.acquire("corrupt");
        QCOMPARE(bad.status, lw::AcquireStatus::Failed);
        QVERIFY2(bad.error.find("'corrupt'") != std::string::npos, bad.error.c_str());
        QCOMPARE(c.manager.residency().at(0).error, bad.error);  // sorted by name: corrupt first

        QCOMPARE(c.pool.used_by(lw::PageUse::Adapter), std::size_t(0));
        c.use("regex_targets");
        const auto s = c.manager.stats();
        QCOMPARE(s.host.failed_loads, std::uint64_t(2));
        QCOMPARE(s.host.loads, std::uint64_t(1));  // regex_targets, read again after its copy made room
        QCOMPARE(s.host.resident, std::size_t(1));

        // Fixed on disk and registered again, it serves.
        c.manager.unregister_adapter("gone");
        fs::copy(adapter_path("qv_r8"), gone);
        c.manager.register_adapter("gone", gone, tiny_llama());
        c.use("gone");
        c.pool.check_invariants();
    }
    // Requests come and go over four adapters with too little room for all of them;
    // the limits hold at every step and, once idle adapters are evicted, every page
    // is free again.
    void everyPageIsFreeAfterAMixedWorkload() {
        Cache c(300, 2, 3);
        const std::vector<std::string> names{"qv_r8", "regex_targets", "layers_subset", "all_r4_rslora_bin"};
        for (const auto& n : names) c.add(n);
        std::vector<std::string> pinned;
        std::uint64_t outcomes[4] = {};
        for (int round = 0; round < 60; ++round) {
            const std::string& name = names[std::size_t(round * 7 + round / 3) % names.size()];
            if (round % 5 == 0) c.manager.prefetch(names[std::size_t(round) % names.size()]);
            const auto r = c.manager.acquire(name);
            ++outcomes[int(r.status)];
            if (r.status == lw::AcquireStatus::Ready) pinned.push_back(name);
            if (pinned.size() > 2 || r.status == lw::AcquireStatus::NoRoom) {
                for (const auto& p : pinned) c.manager.release(p);
                pinned.clear();
            }
            if (round % 2) c.settle();
            c.pool.check_invariants();
            const auto s = c.manager.stats();
            QVERIFY(s.pool.resident <= 2);
            QVERIFY(s.host.resident + s.loading <= 3);
        }
        QVERIFY(outcomes[int(lw::AcquireStatus::Ready)] > 0);
        QVERIFY(outcomes[int(lw::AcquireStatus::Loading)] > 0);
        QCOMPARE(outcomes[int(lw::AcquireStatus::Failed)], std::uint64_t(0));
        for (const auto& p : pinned) c.manager.release(p);
        c.settle();
        const std::size_t held = c.pool.used_by(lw::PageUse::Adapter);
        QCOMPARE(c.manager.evict_idle(c.pool.page_count()), held);
        QCOMPARE(c.pool.free_count(), c.pool.page_count());
        c.pool.check_invariants();
    }
    void destroyingTheManagerFreesItsPages() {
        HostBackend backend(200, kPageBytes);
        lw::PagePool pool(200, kPageBytes);
        {
            lw::AdapterManager manager(pool, backend, lw::AdapterManagerOptions{2, 2, 16, 1});
            manager.register_adapter("qv_r8", adapter_path("qv_r8"), tiny_llama());
            QCOMPARE(manager.acquire("qv_r8").status, lw::AcquireStatus::Ready);
            manager.release("qv_r8");
            QCOMPARE(pool.used_by(lw::PageUse::Adapter), pages_of("qv_r8"));
        }
        QCOMPARE(pool.free_count(), std::size_t(200));
        pool.check_invariants();
    }
};

QTEST_GUILESS_MAIN(TestAdapterManager)
#include "test_adapter_manager.moc"
