// The safetensors reader against files written by the `safetensors` package
// (tools/fixtures/make_safetensors_fixtures.py), and against broken files.
#include "support/test_support.h"

#include "core/error.h"
#include "core/half.h"
#include "core/mapped_file.h"
#include "formats/safetensors.h"

#include <nlohmann/json.hpp>

#include <cstring>
#include <memory>

namespace {

// Element i of a plain tensor as double, read the way a consumer must: unaligned.
double element(const lw::TensorView& t, std::size_t i) {
    const std::byte* p = t.data.data();
    switch (t.dtype) {
        case lw::DType::F64: {
            double v;
            std::memcpy(&v, p + 8 * i, 8);
            return v;
        }
        case lw::DType::F32: {
            float v;
            std::memcpy(&v, p + 4 * i, 4);
            return v;
        }
        case lw::DType::F16:
        case lw::DType::BF16: {
            std::uint16_t v;
            std::memcpy(&v, p + 2 * i, 2);
            return t.dtype == lw::DType::F16 ? lw::f16_to_f32(v) : lw::bf16_to_f32(v);
        }
        case lw::DType::I64: {
            std::int64_t v;
            std::memcpy(&v, p + 8 * i, 8);
            return static_cast<double>(v);
        }
        default:
            qFatal("unexpected dtype in fixture");
    }
}

void compare_with_reference(const lw::SafetensorsFile& file) {
    const auto expected =
        nlohmann::json::parse(lw::test::read_file(lw::test::data_path("safetensors/dtypes.expected.json")));
    QCOMPARE(file.tensors().size(), expected["tensors"].size());
    for (const auto& [name, want] : expected["tensors"].items()) {
        const lw::TensorView& t = file.get(name);
        QCOMPARE(t.name, name);
        QCOMPARE(std::string(lw::dtype_name(t.dtype)), want["dtype"].get<std::string>());
        QCOMPARE(t.shape, want["shape"].get<std::vector<std::int64_t>>());
        const auto values = want["values"].get<std::vector<double>>();
        QCOMPARE(t.numel(), static_cast<std::int64_t>(values.size()));
        QCOMPARE(t.data.size(), lw::dtype_bytes(t.dtype, t.numel()));
        for (std::size_t i = 0; i < values.size(); ++i) QCOMPARE(element(t, i), values[i]);
    }
    QCOMPARE(file.metadata(), (expected["metadata"].get<std::map<std::string, std::string>>()));
}

std::string corrupt(const std::string& name) {
    return lw::test::data_path("safetensors/corrupt/" + name + ".safetensors").string();
}

}  // namespace

class TestSafetensors : public QObject {
    Q_OBJECT
private slots:
    void readsEveryDtypeAsTheReferenceWroteIt() {
        const auto file = lw::SafetensorsFile::open(lw::test::data_path("safetensors/dtypes.safetensors"));
        compare_with_reference(file);
        QVERIFY(!lw::dtype_info(file.get("i64").dtype).is_float);
        QCOMPARE(file.get("i64").data.size(), std::size_t(24));
        QVERIFY(file.get("scalar").shape.empty());
        QCOMPARE(file.get("empty").data.size(), std::size_t(0));
    }

    void viewsPointIntoTheOneMapping() {
        // Each view is the file's bytes at 8 + header length + begin, in place in the map.
        const auto path = lw::test::data_path("safetensors/dtypes.safetensors");
        const auto file = lw::SafetensorsFile::open(path);
        const auto map = std::static_pointer_cast<const lw::MappedFile>(file.storage());
        const std::string bytes = lw::test::read_file(path);
        std::uint64_t header_len = 0;
        std::memcpy(&header_len, bytes.data(), 8);
        const auto header = nlohmann::json::parse(bytes.substr(8, header_len));
        for (const auto& [name, t] : file.tensors()) {
            const auto begin = header[name]["data_offsets"][0].get<std::size_t>();
            QCOMPARE(t.data.data(), map->bytes().data() + 8 + header_len + begin);
        }
    }

    void parsesBytesInMemoryTheSameWay() {
        auto bytes =
            std::make_shared<std::string>(lw::test::read_file(lw::test::data_path("safetensors/dtypes.safetensors")));
        const std::span<const std::byte> span(reinterpret_cast<const std::byte*>(bytes->data()), bytes->size());
        compare_with_reference(lw::SafetensorsFile::parse(span, bytes, "in-memory"));
    }

    void missingTensorIsNamed() {
        const auto file = lw::SafetensorsFile::open(lw::test::data_path("safetensors/dtypes.safetensors"));
        QVERIFY(!file.contains("nope"));
        LW_EXPECT_ERROR(file.get("nope"), "dtypes.safetensors", "no tensor named 'nope'");
        LW_EXPECT_ERROR(lw::SafetensorsFile::open(lw::test::data_path("safetensors/absent.safetensors")),
                        "absent.safetensors", "cannot open");
    }

    void corruptFilesAreRefusedWithClearMessages_data() {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QStringList>("fragments");
        auto row = [](const char* file, QStringList fragments) { QTest::newRow(file) << QString(file) << fragments; };
        row("too_short", {"3 bytes, too short for the 8-byte header length"});
        row("header_past_end", {"header length 1000 runs past the end of the file"});
        row("header_too_large", {"header length 209715200 exceeds the 104857600-byte limit"});
        row("bad_json", {"header is not valid JSON"});
        row("not_object", {"header must be a JSON object, found array"});
        row("offsets_past_end", {"tensor 'w'", "[0, 32] run past the end of the data (16 bytes)"});
        row("overlap", {"tensors 'a' [0, 16) and 'b' [8, 16) overlap"});
        row("size_mismatch", {"tensor 'w'", "hold 16 bytes but F32 [3] needs 12"});
        row("unknown_dtype", {"tensor 'w'", "unsupported dtype 'F8_E4M3'"});
        row("duplicate_key", {"duplicate key 'w'"});
        row("negative_shape", {"tensor 'w'", "'shape' entries must be non-negative integers, found -4"});
        row("shape_overflow", {"tensor 'w'", "overflow"});
        row("reversed_offsets", {"tensor 'w'", "[16, 0] end before they begin"});
        row("bad_metadata", {"__metadata__ entry 'n' must be a string"});
        row("missing_dtype", {"tensor 'w'", "missing string 'dtype'"});
        row("too_deep", {"nested deeper than 3"});
        row("truncated_data", {"run past the end of the data"});
    }
    void corruptFilesAreRefusedWithClearMessages() {
        QFETCH(QString, file);
        QFETCH(QStringList, fragments);
        const std::string path = corrupt(file.toStdString());
        const std::string msg = lw::test::error_of([&] { lw::SafetensorsFile::open(path); });
        QVERIFY2(!msg.empty(), "no error");
        QVERIFY2(msg.find(path) != std::string::npos, msg.c_str());
        for (const QString& f : fragments) QVERIFY2(msg.find(f.toStdString()) != std::string::npos, msg.c_str());
    }

    void everyTruncationAndByteFlipFailsCleanly() {
        // Prefixes of a valid file and single-byte corruptions either parse or throw
        // lw::Error: nothing else escapes (ASan/UBSan builds catch worse).
        const std::string bytes = lw::test::read_file(lw::test::data_path("safetensors/dtypes.safetensors"));
        auto try_parse = [](std::string data) {
            auto owned = std::make_shared<std::string>(std::move(data));
            const std::span<const std::byte> span(reinterpret_cast<const std::byte*>(owned->data()), owned->size());
            try {
                lw::SafetensorsFile::parse(span, owned, "mutant");
                return true;
            } catch (const lw::Error&) {
                return false;
            }
        };
        int refused = 0;
        for (std::size_t n = 0; n < bytes.size(); ++n) refused += try_parse(bytes.substr(0, n)) ? 0 : 1;
        QCOMPARE(refused, static_cast<int>(bytes.size()));  // no proper prefix is a valid file
        const std::size_t header_end =
            8 + static_cast<unsigned char>(bytes[0]) + 256u * static_cast<unsigned char>(bytes[1]);
        for (std::size_t i = 0; i < header_end; ++i) {
            for (const unsigned char flip : {0x01, 0x20, 0x80}) {
                std::string mutant = bytes;
                mutant[i] = static_cast<char>(mutant[i] ^ flip);
                try_parse(mutant);
            }
        }
    }
};

QTEST_APPLESS_MAIN(TestSafetensors)
#include "test_safetensors.moc"
