// Dequantization against the reference: every tensor of types_v3.gguf converted by
// lw::dequantize must equal, bit for bit, what gguf.quants.dequantize produced
// (types_expected.gguf), plus hand-made blocks and the error paths.
#include "support/test_support.h"

#include "core/dequantize.h"
#include "core/half.h"
#include "formats/gguf.h"

#include <cmath>
#include <cstring>
#include <set>
#include <vector>

namespace {

std::vector<float> dequantized(const lw::TensorView& t) {
    std::vector<float> out(static_cast<std::size_t>(t.numel()));
    lw::dequantize(t, out);
    return out;
}

// Compares float bit patterns, so -0 vs 0 and NaN payloads count as differences.
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

const std::byte* bytes_of(const void* p) {
    return static_cast<const std::byte*>(p);
}

}  // namespace

class TestDequantize : public QObject {
    Q_OBJECT
private slots:
    void matchesGgufReferenceOnEveryType() {
        const auto file = lw::GgufFile::open(lw::test::data_path("gguf/types_v3.gguf"));
        const auto expected = lw::GgufFile::open(lw::test::data_path("gguf/types_expected.gguf"));
        QCOMPARE(file.tensors().size(), expected.tensors().size());
        std::set<lw::DType> seen;
        for (const auto& info : file.tensors()) {
            const lw::TensorView t = file.tensor(info);
            const lw::TensorView want = expected.tensor(info.name);
            QCOMPARE(want.dtype, lw::DType::F32);
            QCOMPARE(t.shape, want.shape);
            QVERIFY2(same_bits(dequantized(t), dequantized(want)), info.name.c_str());
            seen.insert(t.dtype);
        }
        const std::set<lw::DType> all{lw::DType::F32,  lw::DType::F16,  lw::DType::BF16, lw::DType::Q8_0,
                                      lw::DType::Q4_0, lw::DType::Q4_1, lw::DType::Q6_K};
        QCOMPARE(seen, all);
    }

    void rowsMatchTheWholeTensor() {
        // Row-by-row conversion (what the backend does) equals the whole-tensor one.
        const auto file = lw::GgufFile::open(lw::test::data_path("gguf/types_v3.gguf"));
        for (const char* name : {"q6_k_random", "q4_1", "bf16"}) {
            const lw::TensorView t = file.tensor(name);
            const auto whole = dequantized(t);
            const std::size_t row_bytes = t.data.size() / static_cast<std::size_t>(t.shape[0]);
            std::vector<float> row(static_cast<std::size_t>(t.row_elems()));
            for (std::int64_t r = 0; r < t.shape[0]; ++r) {
                lw::dequantize_row(t.dtype, t.data.data() + r * row_bytes, row.data(), t.row_elems());
                QVERIFY(std::memcmp(row.data(), whole.data() + r * t.row_elems(), row.size() * 4) == 0);
            }
        }
    }

    void handMadeBlocks() {
        // Q8_0: scale 0.5 (f16 0x3800), values -128, -1, 0, 127, ...
        std::vector<std::uint8_t> q8(34, 0);
        q8[0] = 0x00;
        q8[1] = 0x38;
        q8[2] = 0x80;
        q8[3] = 0xff;
        q8[5] = 0x7f;
        std::vector<float> out(32);
        lw::dequantize_row(lw::DType::Q8_0, bytes_of(q8.data()), out.data(), 32);
        QCOMPARE(out[0], -64.0f);
        QCOMPARE(out[1], -0.5f);
        QCOMPARE(out[2], 0.0f);
        QCOMPARE(out[3], 63.5f);

        // Q4_1: scale 2, minimum -1; byte 0x5a holds 10 (value 0) and 5 (value 16).
        std::vector<std::uint8_t> q41(20, 0);
        q41[1] = 0x40;  // 2.0
        q41[3] = 0xbc;  // -1.0
        q41[4] = 0x5a;
        lw::dequantize_row(lw::DType::Q4_1, bytes_of(q41.data()), out.data(), 32);
        QCOMPARE(out[0], 19.0f);
        QCOMPARE(out[16], 9.0f);
        QCOMPARE(out[1], -1.0f);

        // Q4_0: nibble 8 is zero, 0 is -8 x scale.
        std::vector<std::uint8_t> q40(18, 0x88);
        q40[0] = 0x00;
        q40[1] = 0x3c;  // 1.0
        q40[2] = 0x08;  // low nibble 8 -> 0, high nibble 0 -> -8
        lw::dequantize_row(lw::DType::Q4_0, bytes_of(q40.data()), out.data(), 32);
        QCOMPARE(out[0], 0.0f);
        QCOMPARE(out[16], -8.0f);

        const double f64[2] = {0.1, -3.0e40};
        lw::dequantize_row(lw::DType::F64, bytes_of(f64), out.data(), 2);
        QCOMPARE(out[0], 0.1f);
        QVERIFY(std::isinf(out[1]) && out[1] < 0);

        const std::uint16_t halves[2] = {lw::f32_to_f16(1.5f), lw::f32_to_bf16(-2.25f)};
        lw::dequantize_row(lw::DType::F16, bytes_of(&halves[0]), out.data(), 1);
        QCOMPARE(out[0], 1.5f);
        lw::dequantize_row(lw::DType::BF16, bytes_of(&halves[1]), out.data(), 1);
        QCOMPARE(out[0], -2.25f);
    }

    void rejectsWhatItCannotConvert() {
        std::vector<std::byte> buf(256);
        std::vector<float> out(64);
        LW_EXPECT_ERROR(lw::dequantize_row(lw::DType::I32, buf.data(), out.data(), 4), "I32", "float");
        LW_EXPECT_ERROR(lw::dequantize_row(lw::DType::Q8_0, buf.data(), out.data(), 33), "Q8_0", "33");

        lw::TensorView t{"w", lw::DType::Q4_0, {2, 32}, std::span<const std::byte>(buf.data(), 36)};
        std::vector<float> small(10);
        LW_EXPECT_ERROR(lw::dequantize(t, small), "'w'", "10", "64");
        t.data = std::span<const std::byte>(buf.data(), 35);
        LW_EXPECT_ERROR(lw::dequantize(t, out), "'w'", "36 bytes", "35");
        t.shape = {2, 16};
        LW_EXPECT_ERROR(lw::dequantize(t, out), "'w'", "16", "Q4_0");
        lw::TensorView ints{"ids", lw::DType::I64, {4}, std::span<const std::byte>(buf.data(), 32)};
        LW_EXPECT_ERROR(lw::dequantize(ints, out), "'ids'", "I64");
    }
};

QTEST_APPLESS_MAIN(TestDequantize)
#include "test_dequantize.moc"
