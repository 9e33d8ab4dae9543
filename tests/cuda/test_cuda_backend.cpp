// CudaBackend: pages written through the upload stream read back byte for byte (also
// across a 256-byte page stride and in pieces), whole-page uploads straight from pinned
// memory land even when the caller drops the bytes at once (and pinned blocks are
// recycled, zeroed), pageable ones still go
// through the staging ring, compute ordered after an upload's ticket sees its bytes, a
// forward pass sees an adapter uploaded just before it, page ids and ranges outside the
// pool fail naming them, and a batch beyond the runner's limits is refused. Skips where
// there is no GPU.
#include "support/test_support.h"

#include "backend/cuda/cuda_backend.h"
#include "cuda_check.h"
#include "memory/page_pool.h"
#include "memory/pooled_adapter.h"
#include "model/lora_adapter.h"
#include "model/model_loader.h"

#include <algorithm>
#include <memory>
#include <numeric>
#include <random>

namespace {

std::vector<std::byte> random_bytes(std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::vector<std::byte> out(n);
    for (auto& b : out) b = std::byte(rng() & 0xff);
    return out;
}

// Host bytes from the backend's allocator holding `bytes`, shared as an upload's owner.
std::shared_ptr<const lw::HostBuffer> host_copy(lw::Backend& backend, const std::vector<std::byte>& bytes) {
    auto buffer = std::make_shared<lw::HostBuffer>(backend.allocate_host(bytes.size()));
    std::copy(bytes.begin(), bytes.end(), buffer->data());
    return buffer;
}

}  // namespace

class TestCudaBackend : public QObject {
    Q_OBJECT

private slots:
    void init() {
        if (lw::cuda::device_count() == 0) QSKIP("no CUDA device");
    }

    void describesTheDevice() {
        lw::CudaBackend backend(4, 1000);
        const std::string name = backend.name();
        QVERIFY2(name.starts_with("cuda (") && name.find("sm_") != std::string::npos, name.c_str());
        QCOMPARE(backend.page_count(), std::size_t(4));
        QCOMPARE(backend.page_bytes(), std::size_t(1000));
        QCOMPARE(backend.page_stride(), std::size_t(1024));
        QCOMPARE(backend.pool_dtype(), lw::DType::F16);
        QVERIFY(backend.measure_copy_bandwidth() > 1e9);
    }

    void pagesRoundTrip() {
        // Odd page size: pages sit 256-byte aligned, writes land exactly where asked.
        constexpr std::size_t kPages = 64, kBytes = 3000;
        lw::CudaBackend backend(kPages, kBytes);
        std::vector<std::vector<std::byte>> written;
        for (std::size_t p = 0; p < kPages; ++p) {
            written.push_back(random_bytes(kBytes, unsigned(p)));
            backend.write_page(lw::PageId(p), 0, written.back());
        }
        // A piece in the middle of one page, written after the whole page.
        const auto piece = random_bytes(100, 99);
        backend.write_page(7, 1234, piece);
        std::copy(piece.begin(), piece.end(), written[7].begin() + 1234);
        for (std::size_t p = 0; p < kPages; ++p) {
            std::vector<std::byte> back(kBytes);
            backend.read_page(lw::PageId(p), 0, back);
            QVERIFY2(back == written[p], lw::cat("page ", p).c_str());
        }
        std::vector<std::byte> tail(10);
        backend.read_page(63, kBytes - 10, tail);
        QVERIFY(std::equal(tail.begin(), tail.end(), written[63].end() - 10));
    }

    void uploadsLargerThanTheStagingRingArriveWhole() {
        // 96 pages of 1 MiB: more than the pinned ring holds, so slots are reused.
        constexpr std::size_t kPages = 96, kBytes = 1u << 20;
        lw::CudaBackend backend(kPages, kBytes);
        for (std::size_t p = 0; p < kPages; ++p)
            backend.write_page(lw::PageId(p), 0, random_bytes(kBytes, unsigned(p)));
        for (std::size_t p : {std::size_t(0), std::size_t(50), kPages - 1}) {
            std::vector<std::byte> back(kBytes);
            backend.read_page(lw::PageId(p), 0, back);
            QVERIFY2(back == random_bytes(kBytes, unsigned(p)), lw::cat("page ", p).c_str());
        }
    }

    void pinnedPagesUploadStraightFromTheCallersBytes() {
        // A stride above the page size (one 2D copy per run) and equal to it (one copy).
        for (std::size_t page_bytes : {std::size_t(3000), std::size_t(4096)}) {
            lw::CudaBackend backend(64, page_bytes);
            // Runs of consecutive pages, out of order, and single pages.
            const std::vector<lw::PageId> pages{5, 6, 7, 20, 10, 11, 63, 40, 41, 42, 43, 44, 45, 46, 47, 0};
            const auto want = random_bytes(pages.size() * page_bytes, unsigned(page_bytes));
            auto bytes = host_copy(backend, want);
            QVERIFY(bytes->pinned());
            const lw::UploadTicket ticket = backend.write_pages(pages, *bytes, bytes);
            QVERIFY(ticket > 0);
            // The caller's last reference goes at once; the backend holds the bytes until
            // the copy has read them. Memory allocated now must not be where they were.
            const std::weak_ptr<const lw::HostBuffer> watch = bytes;
            bytes.reset();
            auto scribble = host_copy(backend, std::vector<std::byte>(want.size(), std::byte{0x5a}));
            std::vector<std::byte> back(page_bytes);
            for (std::size_t i = 0; i < pages.size(); ++i) {
                backend.read_page(pages[i], 0, back);
                QVERIFY2(std::equal(back.begin(), back.end(), want.begin() + std::ptrdiff_t(i * page_bytes)),
                         lw::cat("page ", pages[i], " of ", page_bytes, " bytes").c_str());
            }
            QVERIFY(watch.expired());                                           // released once the copy had landed
            QCOMPARE(backend.upload_stats().bytes, pages.size() * page_bytes);  // timed on the upload stream
            QVERIFY(backend.upload_stats().seconds > 0.0);
            QVERIFY(backend.write_pages(pages, *scribble, scribble) > ticket);
        }
    }

    void pinnedImagesAreRecycledZeroed() {
        lw::CudaBackend backend(4, 1024);
        lw::HostBuffer first = backend.allocate_host(5000);
        QVERIFY(first.pinned());
        QCOMPARE(first.size(), std::size_t(5000));
        const std::byte* where = first.data();
        std::fill(first.data(), first.data() + first.size(), std::byte{7});
        first = lw::HostBuffer();
        const lw::HostBuffer again = backend.allocate_host(5000);
        QCOMPARE(again.data(), where);  // the freed block, not a new pinning
        QVERIFY(std::all_of(again.data(), again.data() + again.size(), [](std::byte b) { return b == std::byte{0}; }));
        QVERIFY(backend.allocate_host(5000).data() != where);
        QVERIFY(backend.allocate_host(0).empty());
    }

    void pageablePagesUploadThroughTheStagingRing() {
        constexpr std::size_t kBytes = 3000;
        lw::CudaBackend backend(16, kBytes);
        const std::vector<lw::PageId> pages{3, 4, 9};
        const auto want = random_bytes(pages.size() * kBytes, 7);
        auto bytes = std::make_shared<lw::HostBuffer>(lw::HostBuffer::ordinary(want.size()));
        std::copy(want.begin(), want.end(), bytes->data());
        QVERIFY(!bytes->pinned());
        const lw::UploadTicket first = backend.write_pages(pages, *bytes, nullptr);
        std::fill(bytes->data(), bytes->data() + bytes->size(), std::byte{0});  // staged: the copy is the ring's
        std::vector<std::byte> back(kBytes);
        for (std::size_t i = 0; i < pages.size(); ++i) {
            backend.read_page(pages[i], 0, back);
            QVERIFY2(std::equal(back.begin(), back.end(), want.begin() + std::ptrdiff_t(i * kBytes)),
                     lw::cat("page ", pages[i]).c_str());
        }
        QCOMPARE(backend.upload_stats().bytes, pages.size() * kBytes);
        QVERIFY(backend.write_pages(pages, *bytes, nullptr) > first);
        LW_EXPECT_ERROR(backend.write_pages(pages, lw::HostBuffer::ordinary(kBytes), nullptr), "not whole pages");
        LW_EXPECT_ERROR(backend.write_pages(std::vector<lw::PageId>{16}, lw::HostBuffer::ordinary(kBytes), nullptr),
                        "page 16", "pool of 16");
    }

    void computeOrderedAfterATicketSeesItsUpload() {
        // 64 pages of 1 MiB from pinned memory, then a device -> host copy of every page
        // queued on the compute stream behind the ticket: it must read what landed.
        constexpr std::size_t kPages = 64, kBytes = 1u << 20;
        lw::CudaBackend backend(kPages, kBytes);
        std::vector<lw::PageId> pages(kPages);
        std::iota(pages.begin(), pages.end(), lw::PageId(0));
        const auto want = random_bytes(kPages * kBytes, 3);
        auto bytes = host_copy(backend, want);
        lw::HostBuffer back = backend.allocate_host(kPages * kBytes);  // before: allocating may synchronize
        const lw::UploadTicket ticket = backend.write_pages(pages, *bytes, bytes);
        bytes.reset();
        backend.order_uploads_before_compute(ticket);
        lw::cuda::check(
            cudaMemcpyAsync(back.data(), backend.pool_base(), back.size(), cudaMemcpyDeviceToHost, backend.stream()),
            "reading the pool on the compute stream");
        lw::cuda::check(cudaStreamSynchronize(backend.stream()), "finishing the compute stream");
        QVERIFY(std::equal(want.begin(), want.end(), back.data()));
        backend.order_uploads_before_compute(0);       // nothing to wait for
        backend.order_uploads_before_compute(ticket);  // landed: nothing left to wait for
    }

    void badPagesAndRangesFailNamingThem() {
        lw::CudaBackend backend(4, 1024);
        std::vector<std::byte> bytes(16);
        LW_EXPECT_ERROR(backend.write_page(4, 0, bytes), "page 4", "pool of 4");
        LW_EXPECT_ERROR(backend.read_page(9, 0, bytes), "page 9", "pool of 4");
        LW_EXPECT_ERROR(backend.write_page(0, 1020, bytes), "offset 1020", "page 0");
        LW_EXPECT_ERROR(backend.read_page(1, 2048, bytes), "offset 2048");
        LW_EXPECT_ERROR(lw::CudaBackend(0, 1024), "empty");
        LW_EXPECT_ERROR(lw::CudaBackend(4, 1024, lw::CudaBackendOptions{lw::DType::F32}), "F32");
    }

    void forwardSeesTheAdapterUploadedJustBefore() {
        const lw::LoadedModel model = lw::load_model(lw::test::data_path("models/tiny_llama"));
        lw::CudaBackend backend(1024, 4096, lw::CudaBackendOptions{lw::DType::F16, 8, 64, 16, 2});
        lw::PagePool pool(backend.page_count(), backend.page_bytes());
        auto runner = backend.load_model(model.config, model.weights);
        const lw::LoraAdapter adapter = lw::load_lora_adapter(lw::test::data_path("peft/qv_r8"));
        const std::vector<lw::TokenId> prompt{1, 2, 3, 4, 5};
        const auto vocab = std::size_t(model.config.vocab_size);

        auto run = [&](const lw::PooledAdapter* pooled) {
            lw::KvBlockTable table;
            table.pages = *pool.allocate(runner->kv_layout().pages_for(prompt.size()), {lw::PageUse::KvCache, 1});
            lw::StepBatch batch;
            batch.sequences.push_back({prompt, 0, &table, pooled, true});
            std::vector<float> logits(vocab);
            runner->forward(batch, logits);
            pool.release(table.pages, {lw::PageUse::KvCache, 1});
            return logits;
        };
        auto upload = [&](std::uint64_t id) {
            const auto pages =
                *pool.allocate(lw::adapter_pages_needed(adapter, 4096, lw::DType::F16), {lw::PageUse::Adapter, id});
            return lw::upload_adapter(adapter, id, pages, model.config.num_layers, lw::DType::F16, backend);
        };
        // Uploaded and run at once: the forward must wait for the copies.
        const lw::PooledAdapter first = upload(2);
        const auto immediate = run(&first);
        std::vector<std::byte> sync(16);
        backend.read_page(first.pages[0], 0, sync);  // waits for every upload
        const auto settled = run(&first);
        QCOMPARE(immediate, settled);
        QVERIFY(run(nullptr) != settled);  // the adapter changes the logits

        // A batch past the runner's limits is refused, naming the limit.
        lw::KvBlockTable table;
        table.pages = *pool.allocate(runner->kv_layout().pages_for(100), {lw::PageUse::KvCache, 3});
        const std::vector<lw::TokenId> long_prompt(100, 1);
        lw::StepBatch batch;
        batch.sequences.push_back({long_prompt, 0, &table, nullptr, true});
        std::vector<float> logits(vocab);
        LW_EXPECT_ERROR(runner->forward(batch, logits), "max_num_batched_tokens = 64");
        QCOMPARE(table.tokens, 0);
        batch.sequences[0].tokens = std::span(long_prompt).first(3);
        batch.sequences[0].adapter = &first;
        std::vector<float> short_logits(1);
        LW_EXPECT_ERROR(runner->forward(batch, short_logits), "logits buffer");
    }
};

QTEST_GUILESS_MAIN(TestCudaBackend)
#include "test_cuda_backend.moc"
