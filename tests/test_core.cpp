// The engine's core: half/bfloat16 conversion, dtype sizes, memory-mapped files.
#include "support/test_support.h"

#include "core/dtype.h"
#include "core/error.h"
#include "core/half.h"
#include "core/mapped_file.h"

#include <QTemporaryDir>

#include <bit>
#include <cmath>
#include <limits>

class TestCore : public QObject {
    Q_OBJECT
private slots:
    void halfRoundTripsEveryValue() {
        // Every finite half converts to float and back unchanged.
        for (std::uint32_t h = 0; h < 0x10000; ++h) {
            const auto bits = static_cast<std::uint16_t>(h);
            const float f = lw::f16_to_f32(bits);
            if (std::isnan(f)) continue;
            QCOMPARE(lw::f32_to_f16(f), bits);
        }
    }
    void halfRoundsToNearestEven() {
        QCOMPARE(lw::f16_to_f32(0x3c00), 1.0f);
        QCOMPARE(lw::f32_to_f16(1.0f + 1.0f / 2048), std::uint16_t(0x3c00));     // tie -> even
        QCOMPARE(lw::f32_to_f16(1.0f + 3.0f / 2048), std::uint16_t(0x3c02));     // tie -> even (up)
        QCOMPARE(lw::f32_to_f16(65520.0f), std::uint16_t(0x7c00));               // rounds to inf
        QCOMPARE(lw::f32_to_f16(std::ldexp(1.0f, -24)), std::uint16_t(0x0001));  // smallest subnormal
        QCOMPARE(lw::f32_to_f16(std::ldexp(1.0f, -25)), std::uint16_t(0x0000));  // tie -> even (zero)
        QVERIFY(std::isnan(lw::f16_to_f32(lw::f32_to_f16(std::numeric_limits<float>::quiet_NaN()))));
    }
    void bfloat16() {
        QCOMPARE(lw::bf16_to_f32(0x3f80), 1.0f);
        QCOMPARE(lw::f32_to_bf16(1.0f), std::uint16_t(0x3f80));
        QCOMPARE(lw::f32_to_bf16(std::bit_cast<float>(0x3f808000u)), std::uint16_t(0x3f80));  // tie -> even
        QCOMPARE(lw::f32_to_bf16(std::bit_cast<float>(0x3f818000u)), std::uint16_t(0x3f82));
    }
    void dtypeSizes() {
        QCOMPARE(lw::dtype_bytes(lw::DType::BF16, 10), std::size_t(20));
        QCOMPARE(lw::dtype_bytes(lw::DType::Q4_1, 64), std::size_t(40));
        QCOMPARE(lw::dtype_bytes(lw::DType::Q6_K, 512), std::size_t(420));
        LW_EXPECT_ERROR(lw::dtype_bytes(lw::DType::Q8_0, 33), "Q8_0", "33");
        LW_EXPECT_ERROR(lw::dtype_bytes(lw::DType::F64, std::numeric_limits<std::int64_t>::max()), "overflow");
        QVERIFY(lw::dtype_from_safetensors("BF16") == lw::DType::BF16);
        QVERIFY(!lw::dtype_from_safetensors("Q4_1"));
        QVERIFY(!lw::dtype_from_safetensors("F8_E4M3"));
    }
    void mappedFile() {
        QTemporaryDir dir;
        const std::filesystem::path p = dir.filePath("x.bin").toStdString();
        lw::test::write_file(p, "hello");
        auto f = lw::MappedFile::open(p);
        QCOMPARE(f->size(), std::size_t(5));
        QCOMPARE(char(f->bytes()[4]), 'o');
        lw::test::write_file(dir.filePath("empty").toStdString(), "");
        QCOMPARE(lw::MappedFile::open(dir.filePath("empty").toStdString())->size(), std::size_t(0));
        LW_EXPECT_ERROR(lw::MappedFile::open(dir.filePath("missing").toStdString()), "missing", "cannot open");
        LW_EXPECT_ERROR(lw::MappedFile::open(dir.path().toStdString()), "not a regular file");
    }
};

QTEST_APPLESS_MAIN(TestCore)
#include "test_core.moc"
