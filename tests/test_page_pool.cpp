// The unified page pool's bookkeeping: all-or-nothing allocation, releases checked
// against the owner, the page map, and the invariant under long random sequences.
#include "support/test_support.h"

#include "core/error.h"
#include "memory/page_pool.h"

#include <map>
#include <random>
#include <vector>

namespace {

lw::PageOwner kv(std::uint64_t id) {
    return {lw::PageUse::KvCache, id};
}
lw::PageOwner adapter(std::uint64_t id) {
    return {lw::PageUse::Adapter, id};
}

}  // namespace

class TestPagePool : public QObject {
    Q_OBJECT
private slots:
    void freshPoolHandsOutPagesInOrder() {
        lw::PagePool pool(4, 64);
        QCOMPARE(pool.page_count(), std::size_t(4));
        QCOMPARE(pool.page_bytes(), std::size_t(64));
        const auto pages = pool.allocate(2, kv(9));
        QVERIFY(pages.has_value());
        QCOMPARE(*pages, (std::vector<lw::PageId>{0, 1}));
        QCOMPARE(pool.free_count(), std::size_t(2));
        QCOMPARE(pool.used_by(lw::PageUse::KvCache), std::size_t(2));
        QCOMPARE(pool.used_by(lw::PageUse::Adapter), std::size_t(0));
        QCOMPARE(pool.used_by(lw::PageUse::Free), std::size_t(2));
        QVERIFY(pool.owners()[1] == kv(9));
        QVERIFY(pool.owners()[2] == lw::PageOwner{});
        pool.check_invariants();
    }
    void allocationIsAllOrNothing() {
        lw::PagePool pool(4, 64);
        QVERIFY(pool.allocate(3, adapter(1)).has_value());
        QVERIFY(!pool.allocate(2, kv(1)).has_value());
        QCOMPARE(pool.free_count(), std::size_t(1));
        QCOMPARE(pool.used_by(lw::PageUse::KvCache), std::size_t(0));
        QVERIFY(pool.allocate(0, kv(1)).has_value());
        pool.check_invariants();
    }
    void recentlyFreedPagesAreReusedFirst() {
        lw::PagePool pool(6, 64);
        QVERIFY(pool.allocate(3, kv(1)).has_value());
        pool.release(std::vector<lw::PageId>{1}, kv(1));
        QCOMPARE(*pool.allocate(1, kv(2)), (std::vector<lw::PageId>{1}));
    }
    void releaseChecksTheOwnerAndChangesNothingOnError() {
        lw::PagePool pool(4, 64);
        const auto pages = *pool.allocate(2, kv(1));
        const auto before = pool.owners();
        LW_EXPECT_ERROR(pool.release(pages, kv(2)), "kv:2", "page 0", "kv:1");
        LW_EXPECT_ERROR(pool.release(pages, adapter(1)), "adapter:1", "kv:1");
        LW_EXPECT_ERROR(pool.release(std::vector<lw::PageId>{0, 2}, kv(1)), "page 2", "free");
        LW_EXPECT_ERROR(pool.release(std::vector<lw::PageId>{1, 1}, kv(1)), "page 1 twice");
        LW_EXPECT_ERROR(pool.release(std::vector<lw::PageId>{0, 7}, kv(1)), "page 7", "4 pages");
        LW_EXPECT_ERROR(pool.release(std::vector<lw::PageId>{2}, lw::PageOwner{}), "page 2");
        QVERIFY(pool.owners() == before);
        QCOMPARE(pool.free_count(), std::size_t(2));
        pool.check_invariants();
        pool.release(pages, kv(1));
        QCOMPARE(pool.free_count(), std::size_t(4));
        pool.check_invariants();
    }
    void rejectsBadConstructionAndFreeOwners() {
        LW_EXPECT_ERROR(lw::PagePool(4, 0), "page size");
        lw::PagePool pool(2, 8);
        LW_EXPECT_ERROR(pool.allocate(1, lw::PageOwner{}), "free");
        QCOMPARE(pool.free_count(), std::size_t(2));
    }
    void describesOwners() {
        QCOMPARE(lw::describe(lw::PageOwner{}), std::string("free"));
        QCOMPARE(lw::describe(kv(12)), std::string("kv:12"));
        QCOMPARE(lw::describe(adapter(3)), std::string("adapter:3"));
    }
    // Random allocate/release sequences against a model of who holds what; the pool's
    // page map must match the model and its invariant hold after every operation.
    void randomSequencesKeepThePageMapAndInvariant() {
        for (std::uint64_t seed : {1u, 2u, 3u}) {
            std::mt19937_64 rng(seed);
            constexpr std::size_t kPages = 37;
            lw::PagePool pool(kPages, 16);
            std::map<std::pair<int, std::uint64_t>, std::vector<lw::PageId>> held;  // (use, id) -> pages
            for (int step = 0; step < 3000; ++step) {
                const auto use = rng() % 2 ? lw::PageUse::KvCache : lw::PageUse::Adapter;
                const lw::PageOwner owner{use, rng() % 6};
                auto& mine = held[{int(use), owner.id}];
                switch (rng() % 3) {
                    case 0: {
                        const std::size_t n = rng() % 9;
                        const std::size_t free_before = pool.free_count();
                        const auto got = pool.allocate(n, owner);
                        QCOMPARE(got.has_value(), n <= free_before);
                        if (got)
                            mine.insert(mine.end(), got->begin(), got->end());
                        else
                            QCOMPARE(pool.free_count(), free_before);
                        break;
                    }
                    case 1: {
                        std::shuffle(mine.begin(), mine.end(), rng);
                        const std::size_t n = mine.empty() ? 0 : rng() % (mine.size() + 1);
                        pool.release(std::span(mine).first(n), owner);
                        mine.erase(mine.begin(), mine.begin() + static_cast<std::ptrdiff_t>(n));
                        break;
                    }
                    default: {  // someone else's page, or a free one: refused, nothing changes
                        const auto page = static_cast<lw::PageId>(rng() % kPages);
                        if (std::find(mine.begin(), mine.end(), page) != mine.end()) break;
                        const auto before = pool.owners();
                        LW_EXPECT_ERROR(pool.release(std::vector<lw::PageId>{page}, owner),
                                        lw::describe(owner).c_str());
                        QVERIFY(pool.owners() == before);
                    }
                }
                pool.check_invariants();
                std::vector<lw::PageOwner> expected(kPages);
                std::size_t used = 0;
                for (const auto& [key, pages] : held) {
                    for (lw::PageId p : pages) expected[p] = {lw::PageUse(key.first), key.second};
                    used += pages.size();
                }
                QVERIFY2(pool.owners() == expected, qPrintable(QString("seed %1 step %2").arg(seed).arg(step)));
                QCOMPARE(pool.free_count(), kPages - used);
            }
            for (const auto& [key, pages] : held) pool.release(pages, {lw::PageUse(key.first), key.second});
            QCOMPARE(pool.free_count(), kPages);
            pool.check_invariants();
        }
    }
};

QTEST_GUILESS_MAIN(TestPagePool)
#include "test_page_pool.moc"
