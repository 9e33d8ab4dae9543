#include "support/test_support.h"

#include "core/error.h"

#include <QProcess>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace lw::test {

namespace {

// The build's source tree, unless LW_SOURCE_DIR says the tests were carried elsewhere
// (the GPU machine runs binaries built here against its own copy of the tree).
std::filesystem::path source_root() {
    const char* moved = std::getenv("LW_SOURCE_DIR");
    return moved && *moved ? std::filesystem::path(moved) : std::filesystem::path(LW_SOURCE_DIR);
}

}  // namespace

std::filesystem::path data_path(const std::string& relative) {
    return source_root() / "tests" / "data" / relative;
}

std::filesystem::path source_path(const std::string& relative) {
    return source_root() / relative;
}

std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) qFatal("cannot read %s", p.c_str());
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

void write_file(const std::filesystem::path& p, const std::string& bytes) {
    std::filesystem::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary);
    out << bytes;
    if (!out) qFatal("cannot write %s", p.c_str());
}

std::string error_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const lw::Error& e) {
        std::string msg = e.what();
        return msg.empty() ? std::string("(empty message)") : msg;
    }
    return {};
}

QString data_arg(const std::string& relative) {
    return QString::fromStdString(data_path(relative).string());
}

ProcessRun run_process(const QString& program, const QStringList& args) {
    QProcess p;
    p.setProcessChannelMode(QProcess::MergedChannels);
    p.start(program, args);
    if (!p.waitForFinished(60000)) {
        p.kill();
        p.waitForFinished();
        qFatal("%s did not finish within a minute", qPrintable(program));
    }
    return {p.exitCode(), QString::fromUtf8(p.readAll())};
}

}  // namespace lw::test
