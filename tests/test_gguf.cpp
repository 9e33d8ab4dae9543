// The GGUF reader: metadata of every value type and tensor infos of files written by
// the reference `gguf` package (versions 3 and 2), and hand-built corrupt files, each
// rejected with a message that names what is wrong.
#include "support/test_support.h"

#include "formats/gguf.h"

#include <QTemporaryDir>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <numbers>

namespace {

std::span<const std::byte> as_span(const std::string& s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}

lw::GgufFile parse(const std::string& bytes) {
    return lw::GgufFile::parse(as_span(bytes), "mem.gguf");
}

// Writes GGUF fields little-endian, for hand-made (and broken) files.
struct Bytes {
    std::string s;
    Bytes& u32(std::uint32_t v) { return raw(&v, 4); }
    Bytes& u64(std::uint64_t v) { return raw(&v, 8); }
    Bytes& str(std::string_view v) {
        u64(v.size());
        s += v;
        return *this;
    }
    Bytes& raw(const void* p, std::size_t n) {
        s.append(static_cast<const char*>(p), n);
        return *this;
    }
    Bytes& pad(std::size_t alignment) {
        while (s.size() % alignment != 0) s += '\0';
        return *this;
    }
    Bytes& header(std::uint64_t n_tensors, std::uint64_t n_kv, std::uint32_t version = 3) {
        s += "GGUF";
        return u32(version).u64(n_tensors).u64(n_kv);
    }
    // Tensor info: name, dims (GGUF order), ggml type, offset.
    Bytes& tensor(std::string_view name, std::initializer_list<std::uint64_t> ne, std::uint32_t type,
                  std::uint64_t offset) {
        str(name).u32(static_cast<std::uint32_t>(ne.size()));
        for (auto n : ne) u64(n);
        return u32(type).u64(offset);
    }
};

// One F32 tensor "a" of 8 values at `offset`, followed by `data_bytes` of data.
std::string one_tensor_file(std::uint64_t offset = 0, std::size_t data_bytes = 32) {
    Bytes b;
    b.header(1, 0).tensor("a", {8}, 0, offset).pad(32);
    b.s.append(data_bytes, '\x01');
    return b.s;
}

}  // namespace

class TestGguf : public QObject {
    Q_OBJECT
private:
    void checkEveryValueType(const lw::GgufFile& f) {
        QCOMPARE(f.get("general.architecture").as_string(), std::string_view("test"));
        QCOMPARE(f.get("test.u8").type(), lw::GgufValueType::U8);
        QCOMPARE(f.get("test.u8").as_uint(), std::uint64_t(200));
        QCOMPARE(f.get("test.i8").as_int(), std::int64_t(-100));
        QCOMPARE(f.get("test.u16").as_uint(), std::uint64_t(60000));
        QCOMPARE(f.get("test.i16").as_int(), std::int64_t(-30000));
        QCOMPARE(f.get("test.u32").as_uint(), std::uint64_t(4000000000u));
        QCOMPARE(f.get("test.u32").as_int(), std::int64_t(4000000000));
        QCOMPARE(f.get("test.i32").as_int(), std::int64_t(-2000000000));
        QCOMPARE(f.get("test.f32").as_double(), 1.5);
        QCOMPARE(f.get("test.bool").as_bool(), true);
        QCOMPARE(f.get("test.string").as_string(), std::string_view("h\xc3\xa9llo \xf0\x9f\x98\x80"));
        QCOMPARE(f.get("test.u64").as_uint(), (std::uint64_t(1) << 63) + 5);
        QCOMPARE(f.get("test.i64").as_int(), -(std::int64_t(1) << 62) - 3);
        QCOMPARE(f.get("test.f64").type(), lw::GgufValueType::F64);
        QCOMPARE(f.get("test.f64").as_double(), std::numbers::pi);
        QCOMPARE(f.get("test.array_i32").as_ints(), (std::vector<std::int64_t>{1, -2, 3}));
        QCOMPARE(f.get("test.array_i32").element_type(), lw::GgufValueType::I32);
        QCOMPARE(f.get("test.array_f32").as_floats(), (std::vector<float>{0.5f, -1.25f, 3.0f}));
        const auto bools = f.get("test.array_bool").items();
        QCOMPARE(bools.size(), std::size_t(3));
        QVERIFY(bools[0].as_bool() && !bools[1].as_bool() && bools[2].as_bool());
        QCOMPARE(f.get("test.array_string").as_strings(), (std::vector<std::string>{"a", "bc", ""}));
        const auto nested = f.get("test.array_nested").items();
        QCOMPARE(f.get("test.array_nested").type_description(), std::string("array of array"));
        QCOMPARE(nested.size(), std::size_t(2));
        QCOMPARE(nested[0].as_ints(), (std::vector<std::int64_t>{1, 2}));
        QCOMPARE(nested[1].as_ints(), (std::vector<std::int64_t>{3}));
        QVERIFY(f.find("test.nothing") == nullptr);
    }

    void checkTensors(const lw::GgufFile& f) {
        QCOMPARE(f.tensors().size(), std::size_t(13));
        QCOMPARE(f.data_offset() % f.alignment(), std::uint64_t(0));
        const lw::TensorView q6 = f.tensor("q6_k_random");
        QCOMPARE(q6.dtype, lw::DType::Q6_K);
        QCOMPARE(q6.shape, (std::vector<std::int64_t>{3, 512}));
        QCOMPARE(q6.data.size(), std::size_t(3 * 2 * 210));
        const lw::GgufTensorInfo* info = f.find_tensor("f32_3d");
        QVERIFY(info != nullptr);
        QCOMPARE(info->ne, (std::vector<std::int64_t>{32, 3, 2}));
        QCOMPARE(info->type_id, std::uint32_t(0));
        QCOMPARE(f.tensor(*info).shape, (std::vector<std::int64_t>{2, 3, 32}));
        QCOMPARE(f.tensor("bf16").dtype, lw::DType::BF16);
        QCOMPARE(f.tensor("q4_1").data.size(), std::size_t(3 * 2 * 20));
        QCOMPARE(f.tensor("f16_vector").shape, (std::vector<std::int64_t>{8}));
        QVERIFY(f.find_tensor("nothing") == nullptr);
        LW_EXPECT_ERROR(f.tensor("nothing"), "'nothing'", "missing");
    }

private slots:
    void readsVersion3() {
        const auto f = lw::GgufFile::open(lw::test::data_path("gguf/types_v3.gguf"));
        QCOMPARE(f.version(), std::uint32_t(3));
        QCOMPARE(f.alignment(), std::uint64_t(32));
        checkEveryValueType(f);
        checkTensors(f);
    }

    void readsVersion2WithCustomAlignment() {
        const auto f = lw::GgufFile::open(lw::test::data_path("gguf/types_v2.gguf"));
        QCOMPARE(f.version(), std::uint32_t(2));
        QCOMPARE(f.alignment(), std::uint64_t(64));
        checkEveryValueType(f);
        checkTensors(f);
        // Same tensors, same bytes as the version 3 file.
        const auto v3 = lw::GgufFile::open(lw::test::data_path("gguf/types_v3.gguf"));
        for (const auto& info : v3.tensors()) {
            const auto a = v3.tensor(info).data;
            const auto b = f.tensor(info.name).data;
            QVERIFY(a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0);
        }
    }

    void parsesBytesInMemory() {
        const std::string bytes = lw::test::read_file(lw::test::data_path("gguf/types_v3.gguf"));
        const auto f = parse(bytes);
        QCOMPARE(f.source(), std::string("mem.gguf"));
        checkEveryValueType(f);
        QCOMPARE(static_cast<const void*>(f.tensor("f32").data.data()),
                 static_cast<const void*>(bytes.data() + f.data_offset() + f.find_tensor("f32")->offset));
    }

    void accessorsNameKeyAndTypes() {
        const auto f = lw::GgufFile::open(lw::test::data_path("gguf/types_v3.gguf"));
        LW_EXPECT_ERROR(f.get("test.u32").as_string(), "types_v3.gguf", "'test.u32'", "expected string", "found u32");
        LW_EXPECT_ERROR(f.get("test.u64").as_int(), "'test.u64'", "9223372036854775813");
        LW_EXPECT_ERROR(f.get("test.i8").as_uint(), "'test.i8'", "-100");
        LW_EXPECT_ERROR(f.get("test.string").as_double(), "'test.string'", "number", "string");
        LW_EXPECT_ERROR(f.get("test.array_string").as_floats(), "'test.array_string'", "array of string");
        LW_EXPECT_ERROR(f.get("test.array_i32").as_strings(), "'test.array_i32'", "array of i32");
        LW_EXPECT_ERROR(f.get("test.f32").size(), "'test.f32'", "array", "f32");
        LW_EXPECT_ERROR(f.get("test.missing"), "types_v3.gguf", "'test.missing'", "missing");
        const auto nested = f.get("test.array_nested").items();
        LW_EXPECT_ERROR(nested[0].as_string(), "'test.array_nested'[0]", "array of i32");
    }

    void everyTruncationFails() {
        // Cutting the file anywhere before the end of its last tensor's data must fail
        // cleanly (never crash or read past the end).
        const std::string bytes = lw::test::read_file(lw::test::data_path("gguf/types_v3.gguf"));
        const auto whole = parse(bytes);
        std::uint64_t end = 0;
        for (const auto& t : whole.tensors()) end = std::max(end, whole.data_offset() + t.offset + t.bytes);
        for (std::size_t n = 0; n < end; ++n) {
            const std::string cut = bytes.substr(0, n);
            QVERIFY2(!lw::test::error_of([&] { parse(cut); }).empty(), qPrintable(QString::number(n)));
        }
        LW_EXPECT_ERROR(parse(bytes.substr(0, 6)), "mem.gguf", "truncated", "version");
        LW_EXPECT_ERROR(parse(bytes.substr(0, end - 1)), "mem.gguf", "outside the file");
    }

    void rejectsWrongMagicAndVersions() {
        LW_EXPECT_ERROR(parse(std::string("GGML\x03\0\0\0", 8)), "mem.gguf", "not a GGUF file", "47 47 4d 4c");
        Bytes v1;
        v1.header(0, 0, 1);
        LW_EXPECT_ERROR(parse(v1.s), "version 1", "not supported");
        Bytes big;
        big.header(0, 0, 0x03000000u);
        LW_EXPECT_ERROR(parse(big.s), "big-endian");
        Bytes v4;
        v4.header(0, 0, 4);
        LW_EXPECT_ERROR(parse(v4.s), "unsupported GGUF version 4");
        Bytes ok;
        ok.header(0, 0, 2);
        QCOMPARE(parse(ok.s).tensors().size(), std::size_t(0));
    }

    void rejectsHugeCountsBeforeAllocating() {
        Bytes tensors;
        tensors.header(std::uint64_t(1) << 60, 0);
        LW_EXPECT_ERROR(parse(tensors.s), "tensor count", "1152921504606846976");
        Bytes kvs;
        kvs.header(0, std::uint64_t(1) << 60);
        LW_EXPECT_ERROR(parse(kvs.s), "metadata count", "1152921504606846976");
        Bytes array;
        array.header(0, 1).str("big").u32(9).u32(10).u64(std::uint64_t(1) << 61).u64(0);
        LW_EXPECT_ERROR(parse(array.s), "'big'", "array", "2305843009213693952");
        Bytes strings;
        strings.header(0, 1).str("strs").u32(9).u32(8).u64(std::uint64_t(1) << 40).str("x");
        LW_EXPECT_ERROR(parse(strings.s), "'strs'", "1099511627776");
        Bytes overflow;  // count x element size wraps around 2^64
        overflow.header(0, 1).str("wrap").u32(9).u32(10).u64(std::uint64_t(1) << 61).u64(7);
        LW_EXPECT_ERROR(parse(overflow.s), "'wrap'");
    }

    void rejectsStringsPastTheEnd() {
        Bytes key;
        key.header(0, 1).u64(1000).s += "short";
        LW_EXPECT_ERROR(parse(key.s), "truncated", "key of metadata entry #0", "1000");
        Bytes value;
        value.header(0, 1).str("name").u32(8).u64(50).s += "abc";
        LW_EXPECT_ERROR(parse(value.s), "truncated", "'name'", "50");
        Bytes tensor_name;
        tensor_name.header(1, 0).u64(std::uint64_t(1) << 62).s += std::string(40, 'x');
        LW_EXPECT_ERROR(parse(tensor_name.s), "truncated", "name of tensor #0");
    }

    void rejectsBadValueTypesAndNesting() {
        Bytes unknown;
        unknown.header(0, 1).str("k").u32(13).u32(0);
        LW_EXPECT_ERROR(parse(unknown.s), "'k'", "unknown value type 13");
        Bytes deep;
        deep.header(0, 1).str("deep").u32(9);
        for (int i = 0; i < 20; ++i) deep.u32(9).u64(1);
        deep.u32(0).u64(0);
        LW_EXPECT_ERROR(parse(deep.s), "'deep'", "nested");
        Bytes empty;  // the reference writer never writes empty arrays; llama.cpp reads them
        empty.header(0, 1).str("e").u32(9).u32(8).u64(0);
        QCOMPARE(parse(empty.s).get("e").as_strings(), std::vector<std::string>{});
        Bytes twice;
        twice.header(0, 2).str("k").u32(4).u32(1).str("k").u32(4).u32(2);
        LW_EXPECT_ERROR(parse(twice.s), "'k'", "twice");
    }

    void rejectsBadTensorInfos() {
        Bytes q4k;
        q4k.header(1, 0).tensor("blk.0.ffn_down.weight", {256, 2}, 12, 0);
        LW_EXPECT_ERROR(parse(q4k.s), "'blk.0.ffn_down.weight'", "Q4_K", "12", "not supported");
        Bytes unknown;
        unknown.header(1, 0).tensor("w", {4}, 99, 0);
        LW_EXPECT_ERROR(parse(unknown.s), "'w'", "unknown", "99");
        Bytes dims;
        dims.header(1, 0).tensor("w", {1, 1, 1, 1, 1}, 0, 0);
        LW_EXPECT_ERROR(parse(dims.s), "'w'", "5 dimensions");
        Bytes negative;
        negative.header(1, 0).tensor("w", {std::uint64_t(-4)}, 0, 0);
        LW_EXPECT_ERROR(parse(negative.s), "'w'", "negative");
        Bytes huge;
        huge.header(1, 0).tensor("w", {std::uint64_t(1) << 40, std::uint64_t(1) << 40}, 0, 0);
        LW_EXPECT_ERROR(parse(huge.s), "'w'", "overflow");
        Bytes blocks;
        blocks.header(1, 0).tensor("w", {33, 2}, 8, 0);
        LW_EXPECT_ERROR(parse(blocks.s), "'w'", "33", "Q8_0");
        Bytes twice;
        twice.header(2, 0).tensor("w", {8}, 0, 0).tensor("w", {8}, 0, 32).pad(32);
        twice.s.append(64, '\0');
        LW_EXPECT_ERROR(parse(twice.s), "'w'", "twice");
    }

    void rejectsBadOffsets() {
        QCOMPARE(parse(one_tensor_file()).tensor("a").data.size(), std::size_t(32));
        LW_EXPECT_ERROR(parse(one_tensor_file(16, 64)), "'a'", "offset 16", "alignment 32");
        LW_EXPECT_ERROR(parse(one_tensor_file(0, 31)), "'a'", "outside", "31 bytes");
        LW_EXPECT_ERROR(parse(one_tensor_file(std::uint64_t(-32), 32)), "'a'", "outside");
        Bytes overlap;
        overlap.header(2, 0).tensor("a", {16}, 0, 0).tensor("b", {8}, 0, 32).pad(32);
        overlap.s.append(96, '\0');
        LW_EXPECT_ERROR(parse(overlap.s), "'a'", "'b'", "overlap");
        Bytes no_data;  // tensors but the file ends before its data section
        no_data.header(1, 0).tensor("a", {8}, 0, 0);
        LW_EXPECT_ERROR(parse(no_data.s), "'a'", "outside");
    }

    void checksAlignment() {
        auto with_alignment = [](std::uint32_t type, std::uint32_t value) {
            Bytes b;
            b.header(1, 1).str("general.alignment").u32(type).u32(value).tensor("a", {8}, 0, 64).pad(64);
            b.s.append(96, '\0');
            return b.s;
        };
        const auto f = parse(with_alignment(4, 64));
        QCOMPARE(f.alignment(), std::uint64_t(64));
        QCOMPARE(f.data_offset() % 64, std::uint64_t(0));
        LW_EXPECT_ERROR(parse(with_alignment(4, 48)), "'general.alignment'", "power of two", "48");
        LW_EXPECT_ERROR(parse(with_alignment(4, 0)), "'general.alignment'", "power of two", "0");
        LW_EXPECT_ERROR(parse(with_alignment(6, 0x42800000u)), "'general.alignment'", "found f32");
    }

    void namesTypes() {
        QCOMPARE(lw::ggml_type_name(12), std::string_view("Q4_K"));
        QCOMPARE(lw::ggml_type_name(14), std::string_view("Q6_K"));
        QCOMPARE(lw::ggml_type_name(4), std::string_view());
        QCOMPARE(lw::gguf_value_type_name(lw::GgufValueType::Bool), std::string_view("bool"));
    }

    void openNamesTheFile() {
        QTemporaryDir dir;
        const std::filesystem::path p = dir.filePath("broken.gguf").toStdString();
        lw::test::write_file(p, "GGUF\x03");
        LW_EXPECT_ERROR(lw::GgufFile::open(p), "broken.gguf", "truncated");
        LW_EXPECT_ERROR(lw::GgufFile::open(dir.filePath("none.gguf").toStdString()), "none.gguf");
    }
};

QTEST_APPLESS_MAIN(TestGguf)
#include "test_gguf.moc"
