// Helpers shared by the test suites: where fixtures live, scratch folders, and
// asserting that a call fails with a message that names what is wrong.
#pragma once

#include <QTest>

#include <filesystem>
#include <functional>
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

} // namespace lw::test

// Fails unless `expr` throws lw::Error whose message contains every listed fragment.
#define LW_EXPECT_ERROR(expr, ...)                                                                       \
    do {                                                                                                 \
        const std::string lw_msg_ = ::lw::test::error_of([&] { (void)(expr); });                        \
        QVERIFY2(!lw_msg_.empty(), "expected lw::Error from: " #expr);                                  \
        for (const char* lw_frag_ : {__VA_ARGS__})                                                       \
            QVERIFY2(lw_msg_.find(lw_frag_) != std::string::npos,                                         \
                     qPrintable(QString("error '%1' lacks '%2'").arg(lw_msg_.c_str(), lw_frag_)));       \
    } while (0)
