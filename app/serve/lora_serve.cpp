// lora-serve: base models and their LoRA adapters behind vLLM's OpenAI-compatible HTTP
// API. Everything given at startup must load, or it exits saying what failed; once
// serving, SIGINT or SIGTERM stops it cleanly (open streams end, requests are cancelled).
#include "core/error.h"
#include "core/temp_dir.h"
#include "model/adapter_sources.h"
#include "runtime/engine.h"
#include "server/http_server.h"
#include "server/serve_options.h"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>

#include <unistd.h>

namespace {

namespace fs = std::filesystem;

// Loads every base and adapter the options name; returns the first base's name.
std::string load_everything(lw::Engine& engine, const lw::ServeOptions& o, const lw::TempDir& unpacked) {
    std::string first_base;
    for (const auto& path : o.models) {
        const std::string name = engine.load_base(path);
        std::cout << "lora-serve: model " << name << " from " << path.string() << std::endl;
        if (first_base.empty()) first_base = name;
    }
    auto add = [&](const std::string& name, const fs::path& path, const std::string& base) {
        engine.register_adapter(name, path, base.empty() ? first_base : base);
        std::cout << "lora-serve: adapter " << name << " from " << path.string() << std::endl;
    };
    for (const auto& m : o.lora_modules) add(m.name, m.path, m.base);
    for (const auto& dir : o.adapter_dirs)
        for (const auto& a : lw::find_adapters(dir)) add(a.name, a.folder, {});
    for (std::size_t i = 0; i < o.adapter_archives.size(); ++i)
        for (const auto& a : lw::unpack_adapters(o.adapter_archives[i], unpacked.path() / std::to_string(i)))
            add(a.name, a.folder, {});
    return first_base;
}

// SIGINT and SIGTERM write to a pipe (all a handler may safely do) that a thread reads
// to stop the server; some threads (OpenBLAS's) start before main, so masking signals
// could not route them to one thread.
int stop_pipe[2] = {-1, -1};

void on_stop_signal(int) {
    const char byte = 1;
    [[maybe_unused]] const auto ignored = write(stop_pipe[1], &byte, 1);
}

}  // namespace

int main(int argc, char** argv) {
    lw::ServeOptions options;
    try {
        options = lw::parse_serve_args({argv + 1, argv + argc});
    } catch (const lw::Error& e) {
        std::cerr << "lora-serve: " << e.what() << "\n\n" << lw::kServeUsage;
        return 2;
    }
    if (options.help) {
        std::cout << lw::kServeUsage;
        return 0;
    }
    if (options.version) {
        std::cout << "lora-serve " << LW_VERSION << "\n";
        return 0;
    }

    if (pipe(stop_pipe) != 0) {
        std::cerr << "lora-serve: cannot create a pipe for signals\n";
        return 1;
    }
    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);

    try {
        const lw::TempDir unpacked("lora-serve");
        lw::Engine engine(options.engine);
        const std::string base = load_everything(engine, options, unpacked);
        lw::HttpServer server(engine, {options.api_key, base, options.engine.max_loras, options.http_threads});
        const int port = server.bind(options.host, options.port);
        std::thread stopper([&] {
            char byte = 0;
            while (read(stop_pipe[0], &byte, 1) < 0 && errno == EINTR) {
            }
            std::cout << "lora-serve: stopping" << std::endl;
            server.stop();
        });
        std::cout << "lora-serve: serving on http://" << options.host << ":" << port << " (backend "
                  << engine.backend_name() << ")" << std::endl;
        server.run();
        // run() also returns when listening fails; wake the stopper so it can be joined.
        on_stop_signal(0);
        stopper.join();
    } catch (const lw::Error& e) {
        std::cerr << "lora-serve: " << e.what() << std::endl;
        return 1;
    }
    return 0;
}
