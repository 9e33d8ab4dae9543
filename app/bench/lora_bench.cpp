// lora-bench: measures the engine on a model and adapters it builds (synthetic shapes
// with random weights and random PEFT adapters, or real model folders), in a fixed
// batch (throughput) or under S-LoRA's Poisson trace (trace). Prints a table; --json
// writes every number with the command line, device and date. Exit codes: 0 done,
// 1 the benchmark failed, 2 bad arguments.
#include "bench_options.h"
#include "bench_setup.h"
#include "core/error.h"
#include "throughput_mode.h"
#include "trace_mode.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <ctime>
#include <fstream>
#include <iostream>

namespace {

std::string utc_now() {
    const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

void write_json(const std::filesystem::path& file, const nlohmann::json& j) {
    std::ofstream out(file);
    out << j.dump(2) << "\n";
    out.close();
    if (!out) lw::fail("cannot write ", file.string());
}

}  // namespace

int main(int argc, char** argv) {
    lw::bench::ParsedArgs parsed;
    try {
        parsed = lw::bench::parse_bench_args({argv + 1, argv + argc});
    } catch (const lw::Error& e) {
        std::cerr << "lora-bench: " << e.what() << "\n\n" << lw::bench::kBenchUsage;
        return 2;
    }
    if (parsed.help) {
        std::cout << lw::bench::kBenchUsage;
        return 0;
    }
    if (parsed.version) {
        std::cout << "lora-bench " << LW_VERSION << "\n";
        return 0;
    }
    const lw::bench::BenchOptions& o = parsed.options;
    try {
        const std::string date = utc_now();
        lw::bench::BenchSetup setup = lw::bench::make_bench_setup(o);
        std::cout << "lora-bench: " << o.model << " on " << setup.engine->backend_name() << ", "
                  << setup.adapter_names.size() << " adapters registered";
        if (!setup.adapter_names.empty())
            std::cout << " over " << setup.adapters.folders.size() << " distinct PEFT folders ("
                      << setup.adapters.written << " written now) in " << o.adapter_cache.string()
                      << (setup.adapter_names.size() > setup.adapters.folders.size()
                              ? "; names share folders round-robin, each its own adapter to the engine"
                              : "");
        std::cout << std::endl;
        const nlohmann::json results = o.mode == lw::bench::Mode::Throughput ? lw::bench::run_throughput(setup, o)
                                                                             : lw::bench::run_trace(setup, o);
        if (!o.json.empty()) {
            nlohmann::json report = lw::bench::describe_setup(setup, o);
            report["command"] = o.command_line;
            report["version"] = LW_VERSION;
            report["date"] = date;
            report["device"] = setup.engine->backend_name();
            report["mode"] = o.mode == lw::bench::Mode::Throughput ? "throughput" : "trace";
            report["results"] = results;
            write_json(o.json, report);
        }
    } catch (const lw::Error& e) {
        std::cerr << "lora-bench: " << e.what() << std::endl;
        return 1;
    }
    return 0;
}
