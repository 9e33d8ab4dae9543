// Row gather on the GPU: exact copies of the named rows, whatever the row width and
// alignment, and zeros (never a read out of bounds) for an id outside the table.
#include "support/test_support.h"

#include "cuda_test_support.h"
#include "embedding.h"

using namespace lw;
using namespace lw::test;

class TestEmbeddingCuda : public QObject {
    Q_OBJECT
private slots:
    void rejectsBadInput() {
        LW_EXPECT_ERROR(cuda::gather_rows(DType::Q8_0, nullptr, 4, 32, nullptr, 1, nullptr, nullptr), "gather_rows",
                        "Q8_0");
        LW_EXPECT_ERROR(cuda::gather_rows(DType::F16, nullptr, 0, 32, nullptr, 1, nullptr, nullptr), "gather_rows",
                        "table of 0");
    }

    void copiesRowsExactly() {
        LW_REQUIRE_GPU();
        std::mt19937 rng(5);
        for (int width : {4096, 6, 13, 1}) {  // 16-, 4- and 2-byte copies
            const int rows = 50;
            const auto table = random_half(DType::BF16, static_cast<std::size_t>(rows) * width, rng);
            const std::vector<int> ids{0, 49, 7, 7, -1, 50, 1 << 30, 3};
            DeviceArray<std::uint16_t> dtable(table), dout(ids.size() * width);
            DeviceArray<int> dids(ids);
            cuda::gather_rows(DType::BF16, dtable.get(), rows, width, dids.get(), static_cast<int>(ids.size()),
                              dout.get(), nullptr);
            const auto out = dout.download();
            for (std::size_t i = 0; i < ids.size(); ++i)
                for (int j = 0; j < width; ++j) {
                    const bool valid = ids[i] >= 0 && ids[i] < rows;
                    const std::uint16_t expected =
                        valid ? table[static_cast<std::size_t>(ids[i]) * width + j] : std::uint16_t{0};
                    if (out[i * width + j] != expected)
                        QFAIL(qPrintable(
                            QString("width %1: row %2 (id %3) differs at %4").arg(width).arg(i).arg(ids[i]).arg(j)));
                }
        }
    }
};

QTEST_APPLESS_MAIN(TestEmbeddingCuda)
#include "test_embedding_cuda.moc"
