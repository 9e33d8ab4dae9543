// Helpers shared by the test suites: where fixtures live, scratch folders, and
// asserting that a call fails with a message that names what is wrong.
#pragma once

#include <QString>
#include <QStringList>
#include <QTest>

#include <filesystem>
#include <functional>

#include <nlohmann/json.hpp>
#include <string>

namespace lw::test {

// tests/data/<relative>
std::filesystem::path data_path(const std::string& relative);
// The repository root (for scripts and resources).
std::filesystem::path source_path(const std::string& relative);

// Reads a whole file as bytes; fails the test if it cannot.
std::string read_file(const std::filesystem::path& p);
void write_file(const std::filesystem::path& p, const std::string& bytes);

// Runs `fn`, expects an lw::Error, and returns its message (empty if none was thrown).
std::string error_of(const std::function<void()>& fn);

// tests/data/<relative> as a QString, for command lines.
QString data_arg(const std::string& relative);

// Runs a program to its end (at most a minute) and returns its exit code and its
// stdout and stderr together.
struct ProcessRun {
    int exit_code = -1;
    QString out;
};
ProcessRun run_process(const QString& program, const QStringList& args);

}  // namespace lw::test

// QCOMPARE cannot take JSON values; this shows both on failure.
#define LW_COMPARE_JSON(actual, expected)                                                               \
    do {                                                                                                \
        const nlohmann::json lw_actual_ = (actual), lw_expected_ = (expected);                          \
        QVERIFY2(lw_actual_ == lw_expected_,                                                            \
                 qPrintable(QString::fromStdString(lw_actual_.dump() + " != " + lw_expected_.dump()))); \
    } while (0)

// Fails unless `expr` throws lw::Error whose message contains every listed fragment.
#define LW_EXPECT_ERROR(expr, ...)                                                                 \
    do {                                                                                           \
        const std::string lw_msg_ = ::lw::test::error_of([&] { (void)(expr); });                   \
        QVERIFY2(!lw_msg_.empty(), "expected lw::Error from: " #expr);                             \
        for (const char* lw_frag_ : {__VA_ARGS__})                                                 \
            QVERIFY2(lw_msg_.find(lw_frag_) != std::string::npos,                                  \
                     qPrintable(QString("error '%1' lacks '%2'").arg(lw_msg_.c_str(), lw_frag_))); \
    } while (0)
