// The checks every runner makes before a forward pass: adapters whose rows would be read
// outside the pool, in another dtype or for another model fail naming the sequence, and
// an adapter stays checked only while its id and pages stay the same.
#include "support/test_support.h"

#include "backend/step_batch_check.h"
#include "core/error.h"
#include "memory/kv_layout.h"
#include "model/synthetic_model.h"

namespace {

constexpr std::size_t kPageBytes = 4096;
constexpr std::size_t kPages = 64;

lw::ModelConfig small_config() {
    return lw::synthetic_model_config("tiny");  // 2 layers of 64, 2 KV heads
}

// A rank-`rank` adapter of q_proj and o_proj in every layer, its rows packed from page `first_page`.
lw::PooledAdapter pooled(std::uint64_t id, int rank, lw::PageId first_page) {
    const lw::ModelConfig c = small_config();
    lw::PooledAdapter a;
    a.id = id;
    a.dtype = lw::DType::F16;
    a.lookup.assign(static_cast<std::size_t>(c.num_layers), {-1, -1, -1, -1, -1, -1, -1});
    std::size_t offset = 0;
    const std::size_t row_bytes = lw::dtype_bytes(a.dtype, c.hidden_size);
    for (int layer = 0; layer < c.num_layers; ++layer)
        for (int module : {0, 3}) {
            a.lookup[static_cast<std::size_t>(layer)][static_cast<std::size_t>(module)] =
                static_cast<int>(a.modules.size());
            a.modules.push_back(
                {layer, module, rank, 2.0f, c.hidden_size, c.hidden_size, static_cast<std::uint32_t>(a.rows.size())});
            for (int r = 0; r < 2 * rank; ++r, offset += row_bytes)
                a.rows.push_back({static_cast<lw::PageId>(first_page + offset / kPageBytes),
                                  static_cast<std::uint32_t>(offset % kPageBytes)});
        }
    for (lw::PageId p = first_page; p <= first_page + (offset - 1) / kPageBytes; ++p) a.pages.push_back(p);
    return a;
}

// One decode token per adapter (nullptr: the base), each sequence with its own KV pages.
struct Batch {
    explicit Batch(std::vector<const lw::PooledAdapter*> adapters) : kv(adapters.size()) {
        const lw::KvLayout layout = lw::make_kv_layout(small_config(), kPageBytes, lw::DType::F16);
        for (std::size_t i = 0; i < adapters.size(); ++i) {
            kv[i].pages.assign(layout.pages_for(4), static_cast<lw::PageId>(kPages - 1 - i));
            kv[i].tokens = 3;
            batch.sequences.push_back({token, 3, &kv[i], adapters[i], true});
        }
    }
    std::vector<lw::TokenId> token{7};
    std::vector<lw::KvBlockTable> kv;
    lw::StepBatch batch;
};

std::size_t check(const Batch& b, lw::CheckedAdapters& checked) {
    const lw::ModelConfig c = small_config();
    return lw::check_step_batch(b.batch, c, lw::make_kv_layout(c, kPageBytes, lw::DType::F16),
                                lw::StepBatchLimits{kPages, kPageBytes, lw::DType::F16}, checked);
}

}  // namespace

class TestStepBatchCheck : public QObject {
    Q_OBJECT

private slots:
    void goodBatchPassesAndCountsLogits() {
        const lw::PooledAdapter a = pooled(1, 4, 0), b = pooled(2, 8, 10);
        lw::CheckedAdapters checked;
        QCOMPARE(check(Batch({&a, nullptr, &b, &a}), checked), std::size_t{4});
        QCOMPARE(checked.pages_by_id.size(), std::size_t{2});
    }

    void badAdaptersFailNamingTheSequence() {
        lw::CheckedAdapters checked;
        lw::PooledAdapter outside = pooled(1, 4, 0);
        outside.rows[5].page = kPages;
        LW_EXPECT_ERROR(check(Batch({nullptr, &outside}), checked), "sequence 1", "adapter 1", "outside the pool");

        lw::PooledAdapter unaligned = pooled(2, 4, 0);
        unaligned.rows[3].offset += 1;
        LW_EXPECT_ERROR(check(Batch({&unaligned}), checked), "sequence 0", "unaligned offset");

        lw::PooledAdapter straddling = pooled(3, 4, 0);
        straddling.rows[2].offset = kPageBytes - 8;
        LW_EXPECT_ERROR(check(Batch({&straddling}), checked), "outside the pool");

        lw::PooledAdapter other_dtype = pooled(4, 4, 0);
        other_dtype.dtype = lw::DType::BF16;
        LW_EXPECT_ERROR(check(Batch({&other_dtype}), checked), "BF16", "F16");

        lw::PooledAdapter other_model = pooled(5, 4, 0);
        other_model.lookup.resize(3);
        LW_EXPECT_ERROR(check(Batch({&other_model}), checked), "another model");
        QVERIFY(checked.pages_by_id.empty());
    }

    void anAdapterMovedInThePoolIsCheckedAgain() {
        lw::CheckedAdapters checked;
        const lw::PooledAdapter placed = pooled(1, 8, 0);  // two pages
        check(Batch({&placed}), checked);
        // Evicted and placed again at pages whose second lies outside the pool.
        const lw::PooledAdapter moved = pooled(1, 8, kPages - 1);
        LW_EXPECT_ERROR(check(Batch({&moved}), checked), "outside the pool");
        // A failed batch remembers nothing: the same adapter fails again.
        LW_EXPECT_ERROR(check(Batch({&moved}), checked), "outside the pool");
    }

    void anAdapterThatStaysIsNotWalkedAgain() {
        lw::CheckedAdapters checked;
        lw::PooledAdapter a = pooled(1, 4, 0);
        const lw::PooledAdapter b = pooled(2, 4, 10);
        check(Batch({&a, &b}), checked);
        // Same id and pages: taken as checked (rows follow from them; this row is forged).
        a.rows[0].page = kPages;
        check(Batch({&a}), checked);
        QCOMPARE(checked.pages_by_id.size(), std::size_t{1});
        // b left the batch and is forgotten: back with a forged row, it is walked and refused.
        lw::PooledAdapter b_forged = b;
        b_forged.rows[0].page = kPages;
        LW_EXPECT_ERROR(check(Batch({&b_forged}), checked), "outside the pool");
    }
};

QTEST_GUILESS_MAIN(TestStepBatchCheck)
#include "test_step_batch_check.moc"
