// Several adapters at once: SageMaker LMI's adapters/<name>/ layout, as folders and
// packed as adapters.tar.gz. Hostile archives are refused naming the member, nothing
// is written outside the target and nothing half-extracted is left behind.
#include "support/test_support.h"

#include "model/adapter_sources.h"
#include "model/lora_adapter.h"

#include <QTemporaryDir>

#include <algorithm>
#include <cstring>

namespace {

namespace fs = std::filesystem;

std::vector<std::string> names(const std::vector<lw::AdapterSource>& sources) {
    std::vector<std::string> out;
    for (const auto& s : sources) out.push_back(s.name);
    return out;
}

std::vector<std::string> listing(const fs::path& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

fs::path archive(const std::string& name) {
    return lw::test::data_path("archives/" + name + ".tar.gz");
}

}  // namespace

class TestAdapterArchive : public QObject {
    Q_OBJECT
private slots:
    void findsAdaptersInFolders() {
        QCOMPARE(names(lw::find_adapters(lw::test::data_path("peft/lmi"))),
                 (std::vector<std::string>{"layers_subset", "qv_r8"}));
        QCOMPARE(names(lw::find_adapters(lw::test::data_path("peft/lmi/adapters"))),
                 (std::vector<std::string>{"layers_subset", "qv_r8"}));
        QCOMPARE(
            names(lw::find_adapters(lw::test::data_path("peft"))),
            (std::vector<std::string>{"all_r4_rslora_bin", "layers_subset", "qv_r8", "regex_targets", "wrong_base"}));
        const auto one = lw::find_adapters(lw::test::data_path("peft/qv_r8/"));
        QCOMPARE(names(one), std::vector<std::string>{"qv_r8"});
        QCOMPARE(names(lw::find_adapters(lw::test::data_path("peft/qv_r8/adapter_model.safetensors"))),
                 std::vector<std::string>{"qv_r8"});
        QCOMPARE(lw::load_lora_adapter(one[0].folder, one[0].name).modules.size(), std::size_t(6));
        QVERIFY(lw::is_adapter_archive("x/adapters.tar.gz") && lw::is_adapter_archive("a.tgz"));
        QVERIFY(!lw::is_adapter_archive("adapter_model.safetensors"));
    }
    void refusesFoldersWithoutAdapters() {
        QTemporaryDir dir;
        const fs::path root = dir.path().toStdString();
        LW_EXPECT_ERROR(lw::find_adapters(root), "no PEFT adapters");
        LW_EXPECT_ERROR(lw::find_adapters(root / "missing"), "missing", "neither an adapter folder");
        lw::test::write_file(root / "notes.txt", "x");
        LW_EXPECT_ERROR(lw::find_adapters(root / "notes.txt"), "notes.txt", "no adapter_config.json beside it");
    }
    void unpacksLmiArchive() {
        QTemporaryDir dir;
        const fs::path target = fs::path(dir.path().toStdString()) / "unpacked";
        const auto found = lw::unpack_adapters(lw::test::data_path("peft/adapters.tar.gz"), target);
        QCOMPARE(names(found), (std::vector<std::string>{"layers_subset", "qv_r8"}));
        QCOMPARE(listing(dir.path().toStdString()), std::vector<std::string>{"unpacked"});  // no staging left
        for (const auto& s : found) {
            QCOMPARE(s.folder, target / "adapters" / s.name);
            const auto unpacked = lw::load_lora_adapter(s.folder, s.name);
            const auto original = lw::load_lora_adapter(lw::test::data_path("peft/" + s.name));
            QCOMPARE(unpacked.modules.size(), original.modules.size());
            for (std::size_t i = 0; i < unpacked.modules.size(); ++i) {
                const auto& a = unpacked.modules[i].a.data;
                const auto& b = original.modules[i].a.data;
                QVERIFY(a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0);
            }
        }
        LW_EXPECT_ERROR(lw::unpack_adapters(lw::test::data_path("peft/adapters.tar.gz"), target), "unpacked",
                        "already exists");
    }
    void refusesHostileArchivesLeavingNothing() {
        struct Case {
            const char* name;
            const char* message;
        };
        const Case cases[] = {
            {"escape_dotdot", "member 'adapters/../../lw_escaped.txt' escapes the target folder"},
            {"absolute_path", "member '/tmp/lw_absolute_escape.txt' has an absolute path"},
            {"symlink", "member 'adapters/a/adapter_model.safetensors' is a symbolic link (to '/etc/passwd')"},
            {"hardlink", "member 'adapters/a/adapter_model.bin' is a hard link (to '/etc/passwd')"},
            {"device", "member 'adapters/a/tty' is a character device"},
        };
        fs::remove("/tmp/lw_absolute_escape.txt");
        for (const auto& c : cases) {
            QTemporaryDir dir;
            const fs::path root = dir.path().toStdString();
            const fs::path target = root / "out" / "unpacked";
            fs::create_directories(target.parent_path());
            LW_EXPECT_ERROR(lw::extract_adapter_archive(archive(c.name), target), c.name, c.message);
            // The good member before the bad one was extracted, then everything was removed.
            QVERIFY2(listing(root / "out").empty(), c.name);
            QVERIFY2(listing(root) == std::vector<std::string>{"out"}, c.name);
        }
        QVERIFY(!fs::exists("/tmp/lw_absolute_escape.txt"));
    }
    void countsTheBytesActuallyWritten() {
        QTemporaryDir dir;
        const fs::path target = fs::path(dir.path().toStdString()) / "unpacked";
        lw::ArchiveLimits limits;
        limits.max_total_bytes = 1 << 20;  // the bomb holds 64 MiB of zeros in 64 KiB
        LW_EXPECT_ERROR(lw::extract_adapter_archive(archive("size_bomb"), target, limits), "size_bomb.tar.gz",
                        "expands beyond the limit of 1048576 bytes", "adapters/a/adapter_model.bin");
        QVERIFY(listing(dir.path().toStdString()).empty());
        limits.max_total_bytes = 1 << 30;
        limits.max_entries = 100;
        LW_EXPECT_ERROR(lw::extract_adapter_archive(archive("many_entries"), target, limits), "many_entries.tar.gz",
                        "more than 100 entries");
        QVERIFY(listing(dir.path().toStdString()).empty());
    }
    void refusesWhatIsNotATarArchive() {
        QTemporaryDir dir;
        const fs::path root = dir.path().toStdString();
        lw::test::write_file(root / "junk.tar.gz", "this is not an archive at all, not even gzip");
        LW_EXPECT_ERROR(lw::extract_adapter_archive(root / "junk.tar.gz", root / "a"), "junk.tar.gz",
                        "cannot read as a tar archive", "Unrecognized archive format");
        const std::string whole = lw::test::read_file(lw::test::data_path("peft/adapters.tar.gz"));
        lw::test::write_file(root / "cut.tar.gz", whole.substr(0, whole.size() / 2));
        LW_EXPECT_ERROR(lw::extract_adapter_archive(root / "cut.tar.gz", root / "b"), "cut.tar.gz", "truncated");
        LW_EXPECT_ERROR(lw::extract_adapter_archive(root / "missing.tar.gz", root / "c"), "missing.tar.gz",
                        "cannot read as a tar archive");
        QCOMPARE(listing(root), (std::vector<std::string>{"cut.tar.gz", "junk.tar.gz"}));
    }
};

QTEST_APPLESS_MAIN(TestAdapterArchive)
#include "test_adapter_archive.moc"
