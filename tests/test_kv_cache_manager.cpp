// The KV cache in pool pages: how many positions a page holds, and sequences whose
// block tables grow all or nothing and give every page back when they end.
#include "support/test_support.h"

#include "core/error.h"
#include "memory/kv_cache_manager.h"
#include "memory/kv_layout.h"

#include <map>
#include <random>

namespace {

// tiny_llama's attention shape: 3 layers, 2 KV heads of 16.
lw::ModelConfig tiny_config() {
    lw::ModelConfig c;
    c.num_layers = 3;
    c.num_heads = 4;
    c.num_kv_heads = 2;
    c.head_dim = 16;
    c.hidden_size = 64;
    return c;
}

constexpr std::size_t kPageBytes = 1024;  // K+V of one position in one layer: 2 * 2 * 16 * 4 = 256 bytes

bool owned_by(const lw::PagePool& pool, const std::vector<lw::PageId>& pages, lw::SequenceId seq) {
    for (lw::PageId p : pages)
        if (!(pool.owners()[p] == lw::PageOwner{lw::PageUse::KvCache, seq})) return false;
    return true;
}

}  // namespace

class TestKvCacheManager : public QObject {
    Q_OBJECT
private slots:
    void layoutFitsWholePositionsOfOneLayerInAPage() {
        const auto layout = lw::make_kv_layout(tiny_config(), kPageBytes, lw::DType::F32);
        QCOMPARE(layout.num_layers, 3);
        QCOMPARE(layout.kv_heads, 2);
        QCOMPARE(layout.head_dim, 16);
        QCOMPARE(layout.token_bytes(), std::size_t(128));
        QCOMPARE(layout.block_tokens, 4);
        QCOMPARE(layout.v_offset(), std::size_t(512));
        QCOMPARE(layout.pages_for(0), std::size_t(0));
        QCOMPARE(layout.pages_for(1), std::size_t(3));
        QCOMPARE(layout.pages_for(4), std::size_t(3));
        QCOMPARE(layout.pages_for(5), std::size_t(6));
        // A page that is not a whole number of positions leaves the rest unused.
        QCOMPARE(lw::make_kv_layout(tiny_config(), 1000, lw::DType::F32).block_tokens, 3);
        QCOMPARE(lw::make_kv_layout(tiny_config(), kPageBytes, lw::DType::F16).block_tokens, 8);
        QCOMPARE(lw::make_kv_layout(tiny_config(), 256, lw::DType::F32).block_tokens, 1);
    }
    void layoutRejectsPagesTooSmallForOnePosition() {
        LW_EXPECT_ERROR(lw::make_kv_layout(tiny_config(), 255, lw::DType::F32), "255 bytes", "2 KV heads",
                        "head_dim 16", "256 bytes");
        auto broken = tiny_config();
        broken.num_kv_heads = 0;
        LW_EXPECT_ERROR(lw::make_kv_layout(broken, kPageBytes, lw::DType::F32), "0 KV heads");
        LW_EXPECT_ERROR(lw::KvLayout{}.pages_for(1), "block_tokens");
    }
    void growsABlockOfPagesPerLayerAtATime() {
        lw::PagePool pool(20, kPageBytes);
        lw::KvCacheManager kv(pool, lw::make_kv_layout(tiny_config(), kPageBytes, lw::DType::F32));
        QCOMPARE(kv.pages_needed(7, 5), std::size_t(6));
        QVERIFY(kv.reserve(7, 5));
        QCOMPARE(kv.capacity(7), std::size_t(8));
        QCOMPARE(kv.table(7).pages.size(), std::size_t(6));
        QCOMPARE(kv.table(7).tokens, 0);
        QVERIFY(owned_by(pool, kv.table(7).pages, 7));
        const auto first = kv.table(7).pages;
        QVERIFY(kv.reserve(7, 8));  // already fits: nothing new
        QCOMPARE(kv.table(7).pages, first);
        QVERIFY(kv.reserve(7, 9));
        QCOMPARE(kv.table(7).pages.size(), std::size_t(9));
        QVERIFY(std::equal(first.begin(), first.end(), kv.table(7).pages.begin()));  // old blocks stay in place
        QCOMPARE(kv.pages_needed(7, 9), std::size_t(0));
        QCOMPARE(kv.pages_used(), std::size_t(9));
        QCOMPARE(kv.pages_free(), std::size_t(11));
        QVERIFY(kv.reserve(8, 0));  // a new sequence with no positions yet
        QVERIFY(kv.contains(8));
        QCOMPARE(kv.capacity(8), std::size_t(0));
        pool.check_invariants();
    }
    void growthIsAllOrNothing() {
        lw::PagePool pool(10, kPageBytes);
        lw::KvCacheManager kv(pool, lw::make_kv_layout(tiny_config(), kPageBytes, lw::DType::F32));
        QVERIFY(kv.reserve(1, 8));   // 6 pages
        QVERIFY(!kv.reserve(2, 5));  // wants 6, 4 free
        QVERIFY(!kv.contains(2));
        QVERIFY(!kv.reserve(1, 13));  // wants 6 more, 4 free
        QCOMPARE(kv.capacity(1), std::size_t(8));
        QVERIFY(kv.reserve(1, 12));
        QCOMPARE(kv.pages_free(), std::size_t(1));
        pool.check_invariants();
    }
    void freeingGivesEveryPageBack() {
        lw::PagePool pool(12, kPageBytes);
        {
            lw::KvCacheManager kv(pool, lw::make_kv_layout(tiny_config(), kPageBytes, lw::DType::F32));
            QVERIFY(kv.reserve(1, 4));
            QVERIFY(kv.reserve(2, 5));
            QCOMPARE(kv.free(1), std::size_t(3));
            QVERIFY(!kv.contains(1));
            QCOMPARE(kv.free(1), std::size_t(0));
            LW_EXPECT_ERROR(kv.table(1), "sequence 1");
            QCOMPARE(pool.used_by(lw::PageUse::KvCache), std::size_t(6));
            QVERIFY(kv.reserve(3, 1));  // reuses the freed pages
            QCOMPARE(pool.free_count(), std::size_t(3));
        }  // the manager's end frees what sequences 2 and 3 still hold
        QCOMPARE(pool.free_count(), std::size_t(12));
        pool.check_invariants();
    }
    void randomChurnNeverLeaks() {
        std::mt19937 rng(11);
        lw::PagePool pool(64, kPageBytes);
        lw::KvCacheManager kv(pool, lw::make_kv_layout(tiny_config(), kPageBytes, lw::DType::F32));
        std::map<lw::SequenceId, std::size_t> tokens;  // what each live sequence was granted
        for (int step = 0; step < 2000; ++step) {
            const lw::SequenceId seq = rng() % 10;
            if (rng() % 4 == 0) {
                kv.free(seq);
                tokens.erase(seq);
            } else {
                const std::size_t want = (tokens.contains(seq) ? tokens[seq] : 0) + rng() % 9;
                const std::size_t needed = kv.pages_needed(seq, want);
                const std::size_t free_before = pool.free_count();
                const bool ok = kv.reserve(seq, want);
                QCOMPARE(ok, needed <= free_before);
                if (ok) tokens[seq] = want;
            }
            pool.check_invariants();
            std::size_t used = 0;
            for (const auto& [s, n] : tokens) {
                QVERIFY(kv.capacity(s) >= n);
                QVERIFY(owned_by(pool, kv.table(s).pages, s));
                used += kv.table(s).pages.size();
            }
            QCOMPARE(kv.pages_used(), used);
            QCOMPARE(pool.free_count(), pool.page_count() - used);
        }
        for (const auto& [s, n] : tokens) kv.free(s);
        QCOMPARE(pool.free_count(), pool.page_count());
        QCOMPARE(kv.sequence_count(), std::size_t(0));
    }
};

QTEST_GUILESS_MAIN(TestKvCacheManager)
#include "test_kv_cache_manager.moc"
