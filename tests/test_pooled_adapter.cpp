// Adapter rows in pool pages: how many pages an adapter takes, that every A row and
// B^T row reads back as the adapter's weights (in F32, F16 and BF16), that no row
// straddles a page or overlaps another, that images take their bytes from the backend's
// allocator and uploads get increasing tickets, and that bad uploads fail naming the adapter.
#include "support/test_support.h"

#include "backend/cpu/cpu_backend.h"
#include "core/dequantize.h"
#include "core/error.h"
#include "core/half.h"
#include "memory/pooled_adapter.h"
#include "model/lora_adapter.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <numeric>
#include <set>

namespace {

std::vector<lw::PageId> first_pages(std::size_t n) {
    std::vector<lw::PageId> pages(n);
    std::iota(pages.begin(), pages.end(), lw::PageId{0});
    return pages;
}

// Reads `n` values of a row back from the backend as float.
std::vector<float> read_row(const lw::Backend& backend, lw::RowRef ref, lw::DType dtype, int n) {
    std::vector<std::byte> bytes(lw::dtype_bytes(dtype, n));
    backend.read_page(ref.page, ref.offset, bytes);
    std::vector<float> values(static_cast<std::size_t>(n));
    lw::dequantize_row(dtype, bytes.data(), values.data(), n);
    return values;
}

float rounded(float v, lw::DType dtype) {
    if (dtype == lw::DType::F16) return lw::f16_to_f32(lw::f32_to_f16(v));
    if (dtype == lw::DType::BF16) return lw::bf16_to_f32(lw::f32_to_bf16(v));
    return v;
}

std::vector<float> to_float(const lw::TensorView& t) {
    std::vector<float> out(static_cast<std::size_t>(t.numel()));
    lw::dequantize(t, out);
    return out;
}

}  // namespace

class TestPooledAdapter : public QObject {
    Q_OBJECT
private slots:
    void pagesNeededCountsWholeRowsPerPage() {
        const auto adapter = lw::load_lora_adapter(lw::test::data_path("peft/qv_r8"));
        // Pages of 256 bytes hold one F32 row of 64 values or two of 32. Per layer: q has
        // 8 A rows and 8 B^T rows of 64 (16 pages), v 8 A rows of 64 (8 pages) and 8 B^T
        // rows of 32 (4 pages): 28 pages, 84 for three layers.
        QCOMPARE(lw::adapter_pages_needed(adapter, 256, lw::DType::F32), std::size_t{84});
        // In F16 a page holds two rows of 64 or four of 32: half as many.
        QCOMPARE(lw::adapter_pages_needed(adapter, 256, lw::DType::F16), std::size_t{42});
        // One large page holds everything: 3 * (16 * 256 + 8 * 256 + 8 * 128) bytes.
        QCOMPARE(lw::adapter_pages_needed(adapter, 3 * 7168, lw::DType::F32), std::size_t{1});
        LW_EXPECT_ERROR(lw::adapter_pages_needed(adapter, 128, lw::DType::F32), "adapter 'qv_r8'", "q_proj",
                        "more than a page");
        LW_EXPECT_ERROR(lw::adapter_pages_needed(adapter, 4096, lw::DType::I8), "adapter 'qv_r8'", "I8");
    }

    void unalignedTensorsGiveTheSameImage() {
        // Stored tensors may start anywhere in a file: the same weights at odd addresses
        // give the same image, whether they are copied as they are or converted.
        const auto a = lw::load_lora_adapter(lw::test::data_path("peft/regex_targets"));
        lw::LoraAdapter shifted = a;
        auto storage = std::make_shared<std::vector<std::byte>>(a.weight_bytes() + 2 * a.modules.size() + 1);
        std::size_t at = 1;
        for (lw::LoraModule& m : shifted.modules)
            for (lw::TensorView* t : {&m.a, &m.b}) {
                std::memcpy(storage->data() + at, t->data.data(), t->data.size());
                t->data = std::span<const std::byte>(storage->data() + at, t->data.size());
                QVERIFY(reinterpret_cast<std::uintptr_t>(t->data.data()) % 2 == 1);
                at += t->data.size();
                if (at % 2 == 0) ++at;
            }
        shifted.storage.push_back(storage);
        for (lw::DType dtype : {lw::DType::F16, lw::DType::F32}) {
            const auto aligned = lw::build_adapter_image(a, 3, 4096, dtype);
            const auto odd = lw::build_adapter_image(shifted, 3, 4096, dtype);
            QVERIFY(std::ranges::equal(odd.bytes.bytes(), aligned.bytes.bytes()));
        }
    }

    void rowsReadBackAsTheAdapterWeights_data() {
        QTest::addColumn<QString>("adapter");
        QTest::addColumn<int>("dtype");
        QTest::addColumn<int>("page_bytes");
        for (const char* name : {"qv_r8", "all_r4_rslora_bin", "regex_targets", "layers_subset"}) {
            QTest::addRow("%s f32", name) << name << int(lw::DType::F32) << 1000;
            QTest::addRow("%s f16", name) << name << int(lw::DType::F16) << 400;
            QTest::addRow("%s bf16", name) << name << int(lw::DType::BF16) << 4096;
        }
    }
    void rowsReadBackAsTheAdapterWeights() {
        QFETCH(QString, adapter);
        QFETCH(int, dtype);
        QFETCH(int, page_bytes);
        const auto a = lw::load_lora_adapter(lw::test::data_path("peft/" + adapter.toStdString()));
        const auto type = static_cast<lw::DType>(dtype);
        const std::size_t needed = lw::adapter_pages_needed(a, std::size_t(page_bytes), type);
        lw::CpuBackend backend(needed + 3, std::size_t(page_bytes));
        // Pages out of order, as a pool hands them out.
        auto pages = first_pages(needed + 3);
        std::reverse(pages.begin(), pages.end());
        pages.resize(needed);
        const auto pooled = lw::upload_adapter(a, 42, pages, 3, type, backend);

        QCOMPARE(pooled.id, std::uint64_t{42});
        QCOMPARE(pooled.dtype, type);
        QVERIFY(pooled.pages == pages);
        QCOMPARE(pooled.modules.size(), a.modules.size());
        QCOMPARE(int(pooled.lookup.size()), 3);
        std::size_t rows = 0;
        for (const auto& m : a.modules) {
            const int module =
                int(std::find(lw::linear_module_names().begin(), lw::linear_module_names().end(), m.module) -
                    lw::linear_module_names().begin());
            const lw::PooledModule* pm = pooled.find(m.layer, module);
            QVERIFY(pm);
            QCOMPARE(pm->rank, m.rank);
            QCOMPARE(pm->scale, m.scale);
            QCOMPARE(pm->in_features, int(m.a.shape[1]));
            QCOMPARE(pm->out_features, int(m.b.shape[0]));
            const auto wa = to_float(m.a), wb = to_float(m.b);
            for (int r = 0; r < m.rank; ++r) {
                const auto row = read_row(backend, pooled.rows[pm->first_row + r], type, pm->in_features);
                for (int i = 0; i < pm->in_features; ++i)
                    QCOMPARE(row[i], rounded(wa[std::size_t(r * pm->in_features + i)], type));
                const auto bt = read_row(backend, pooled.rows[pm->first_row + m.rank + r], type, pm->out_features);
                for (int o = 0; o < pm->out_features; ++o)
                    QCOMPARE(bt[o], rounded(wb[std::size_t(o * m.rank + r)], type));
            }
            rows += 2 * std::size_t(m.rank);
        }
        QCOMPARE(pooled.rows.size(), rows);
        // Modules the adapter leaves alone, and places outside the model, find nothing.
        int adapted = 0;
        for (int layer = 0; layer < 3; ++layer)
            for (int module = 0; module < 7; ++module) adapted += pooled.find(layer, module) != nullptr;
        QCOMPARE(adapted, int(a.modules.size()));
        QVERIFY(!pooled.find(3, 0));
        QVERIFY(!pooled.find(-1, 0));
        QVERIFY(!pooled.find(0, 7));
    }

    void rowsNeverStraddleOrOverlap() {
        const auto a = lw::load_lora_adapter(lw::test::data_path("peft/all_r4_rslora_bin"));
        const std::size_t page_bytes = 700;  // not a multiple of any row: forces page breaks
        const std::size_t needed = lw::adapter_pages_needed(a, page_bytes, lw::DType::F32);
        lw::CpuBackend backend(needed, page_bytes);
        const auto pooled = lw::upload_adapter(a, 1, first_pages(needed), 3, lw::DType::F32, backend);
        std::set<std::pair<lw::PageId, std::uint32_t>> starts;
        std::map<lw::PageId, std::vector<std::pair<std::size_t, std::size_t>>> spans;
        for (const auto& m : pooled.modules) {
            for (int r = 0; r < 2 * m.rank; ++r) {
                const lw::RowRef ref = pooled.rows[m.first_row + r];
                const std::size_t bytes = 4 * std::size_t(r < m.rank ? m.in_features : m.out_features);
                QVERIFY(ref.offset + bytes <= page_bytes);
                QCOMPARE(ref.offset % 16, 0u);
                spans[ref.page].push_back({ref.offset, ref.offset + bytes});
            }
        }
        QCOMPARE(spans.size(), needed);
        for (auto& [page, list] : spans) {
            std::sort(list.begin(), list.end());
            for (std::size_t i = 1; i < list.size(); ++i) QVERIFY(list[i - 1].second <= list[i].first);
        }
    }

    void anImageUploadsToAnyPagesAsTheDirectUpload() {
        const auto a = lw::load_lora_adapter(lw::test::data_path("peft/all_r4_rslora_bin"));
        const std::size_t page_bytes = 700;
        const auto image =
            std::make_shared<const lw::AdapterImage>(lw::build_adapter_image(a, 3, page_bytes, lw::DType::F16));
        const std::size_t needed = lw::adapter_pages_needed(a, page_bytes, lw::DType::F16);
        QCOMPARE(image->page_count(), needed);
        QVERIFY(!image->bytes.pinned());
        // The same rows, whether built here or by upload_adapter, on scattered pages.
        std::vector<lw::PageId> pages;
        for (std::size_t i = 0; i < needed; ++i) pages.push_back(lw::PageId(2 * needed - 1 - 2 * i));
        lw::CpuBackend direct(2 * needed, page_bytes), staged(2 * needed, page_bytes);
        const auto want = lw::upload_adapter(a, 7, pages, 3, lw::DType::F16, direct);
        const auto got = lw::upload_adapter_image(image, 7, pages, staged);
        QCOMPARE(got.rows.size(), want.rows.size());
        for (std::size_t i = 0; i < want.rows.size(); ++i) {
            QCOMPARE(got.rows[i].page, want.rows[i].page);
            QCOMPARE(got.rows[i].offset, want.rows[i].offset);
        }
        QCOMPARE(got.pages, want.pages);
        QCOMPARE(got.id, std::uint64_t(7));
        std::vector<std::byte> x(page_bytes), y(page_bytes);
        for (lw::PageId p : pages) {
            direct.read_page(p, 0, x);
            staged.read_page(p, 0, y);
            QVERIFY(x == y);
        }
        const std::string count = std::to_string(needed);
        LW_EXPECT_ERROR(lw::upload_adapter_image(image, 7, std::span(pages).first(needed - 1), staged), "needs",
                        count.c_str());
        lw::CpuBackend other(needed, 4096);
        LW_EXPECT_ERROR(lw::upload_adapter_image(image, 7, first_pages(needed), other), "700", "4096");
    }

    void imagesTakeTheirBytesFromTheAllocator() {
        // An allocator of "pinned" memory that counts what it frees: the image holds its
        // bytes until its last reference goes, after a CPU upload that copied them at once.
        static int freed = 0;
        freed = 0;
        const lw::HostAllocator pinned = [](std::size_t n) {
            return lw::HostBuffer(
                static_cast<std::byte*>(std::calloc(n, 1)), n,
                [](std::byte* p) {
                    ++freed;
                    std::free(p);
                },
                true);
        };
        const auto a = lw::load_lora_adapter(lw::test::data_path("peft/qv_r8"));
        const std::size_t needed = lw::adapter_pages_needed(a, 4096, lw::DType::F32);
        auto image =
            std::make_shared<const lw::AdapterImage>(lw::build_adapter_image(a, 3, 4096, lw::DType::F32, pinned));
        QVERIFY(image->bytes.pinned());
        const auto plain = lw::build_adapter_image(a, 3, 4096, lw::DType::F32);
        QVERIFY(std::ranges::equal(image->bytes.bytes(), plain.bytes.bytes()));

        lw::CpuBackend backend(2 * needed, 4096);
        const auto first = lw::upload_adapter_image(image, 1, first_pages(needed), backend);
        std::vector<lw::PageId> later(needed);
        std::iota(later.begin(), later.end(), lw::PageId(needed));
        const auto second = lw::upload_adapter_image(std::move(image), 2, later, backend);
        QCOMPARE(freed, 1);
        QVERIFY(first.upload > 0);
        QVERIFY(second.upload > first.upload);                      // tickets increase with every upload
        QCOMPARE(backend.upload_stats().bytes, 2 * needed * 4096);  // both uploads' copies, timed
        QVERIFY(backend.upload_stats().seconds > 0.0);
        std::vector<std::byte> page(4096);
        for (std::size_t i = 0; i < needed; ++i) {
            backend.read_page(later[i], 0, page);
            QVERIFY(std::ranges::equal(page, plain.bytes.bytes().subspan(i * 4096, 4096)));
        }

        lw::StepBatch batch;
        QCOMPARE(lw::newest_upload(batch), lw::UploadTicket(0));
        batch.sequences.push_back({{}, 0, nullptr, &second, false});
        batch.sequences.push_back({{}, 0, nullptr, nullptr, false});
        batch.sequences.push_back({{}, 0, nullptr, &first, false});
        QCOMPARE(lw::newest_upload(batch), second.upload);
        LW_EXPECT_ERROR(backend.write_pages(first_pages(2), lw::HostBuffer::ordinary(4095), nullptr), "4095 bytes",
                        "not whole pages");
    }

    void badUploadsNameTheAdapter() {
        const auto a = lw::load_lora_adapter(lw::test::data_path("peft/qv_r8"));
        const std::size_t needed = lw::adapter_pages_needed(a, 4096, lw::DType::F32);
        lw::CpuBackend backend(needed + 1, 4096);
        LW_EXPECT_ERROR(lw::upload_adapter(a, 1, first_pages(needed + 1), 3, lw::DType::F32, backend),
                        "adapter 'qv_r8'", "needs");
        LW_EXPECT_ERROR(lw::upload_adapter(a, 1, first_pages(needed), 2, lw::DType::F32, backend), "adapter 'qv_r8'",
                        "layer 2", "beyond");
        std::vector<lw::PageId> outside(needed, lw::PageId(needed + 1));
        LW_EXPECT_ERROR(lw::upload_adapter(a, 1, outside, 3, lw::DType::F32, backend), "adapter 'qv_r8'", "page");
    }
};

QTEST_GUILESS_MAIN(TestPooledAdapter)
#include "test_pooled_adapter.moc"
