// Times the host tier's work for one adapter as the adapter manager's loader threads do
// it (load_adapter_job: read a PEFT folder from disk, check it against the base, build its
// pool image), on one thread, for random fp16 adapters of a synthetic shape written once
// into a cache folder. Under S-LoRA's S2 trace these loads set the pace of the disk tier.
// Prints one JSON object per rank: milliseconds per load (median and best of --runs) and
// the adapter's weights in MB/s.
//
//   adapter-load-bench --model llama-7b --ranks 8-64 --targets q,k,v,o --dtype f16 --runs 5
#include "bench_options.h"
#include "core/error.h"
#include "memory/adapter_loader.h"
#include "model/synthetic_model.h"
#include "synthetic_adapters.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <string>
#include <vector>

namespace {

struct Options {
    std::string model = "llama-7b";
    std::vector<int> ranks{16};
    std::vector<std::string> targets{"q_proj", "k_proj", "v_proj", "o_proj"};
    int runs = 5;
    lw::DType pool_dtype = lw::DType::F16;
    std::size_t page_bytes = 256 * 1024;
    std::filesystem::path cache = std::filesystem::temp_directory_path() / "lw-adapter-load-bench";
};

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string flag = argv[i];
        if (i + 1 >= argc) lw::fail("flag ", flag, " needs a value");
        const std::string value = argv[++i];
        if (flag == "--model") {
            o.model = value;
        } else if (flag == "--ranks") {
            o.ranks = lw::bench::parse_ranks(value);
        } else if (flag == "--targets") {
            o.targets = lw::bench::parse_targets(value);
        } else if (flag == "--runs") {
            o.runs = lw::bench::parse_count(flag, value, 1, 1000);
        } else if (flag == "--dtype") {
            o.pool_dtype = lw::bench::parse_dtype(value);
        } else if (flag == "--page-kib") {
            o.page_bytes = static_cast<std::size_t>(lw::bench::parse_count(flag, value, 1, 1 << 20)) * 1024;
        } else if (flag == "--cache") {
            o.cache = value;
        } else {
            lw::fail("unknown flag ", flag);
        }
    }
    return o;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const Options o = parse(argc, argv);
        const auto base = std::make_shared<const lw::ModelConfig>(lw::synthetic_model_config(o.model));
        for (const int rank : o.ranks) {
            const lw::bench::AdapterSet set =
                lw::bench::make_synthetic_adapters(*base, 1, {rank}, o.targets, 1, 1, o.cache);
            const lw::AdapterLoadJob job{1, "bench", set.folders[0], base, rank, o.page_bytes, o.pool_dtype};
            std::vector<double> ms;
            for (int run = 0; run < o.runs; ++run) {
                const auto start = std::chrono::steady_clock::now();
                const lw::AdapterLoadResult result = lw::load_adapter_job(job);
                ms.push_back(
                    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
                if (!result.error.empty()) lw::fail(result.error);
            }
            std::sort(ms.begin(), ms.end());
            const double median = ms[ms.size() / 2];
            const double mb = static_cast<double>(lw::bench::adapter_bytes(*base, rank, o.targets, 2)) / 1e6;
            std::cout << nlohmann::json{{"model", o.model},      {"rank", rank},
                                        {"adapter_mb", mb},      {"pool_dtype", lw::dtype_name(o.pool_dtype)},
                                        {"runs", o.runs},        {"median_ms", median},
                                        {"best_ms", ms.front()}, {"mb_per_s", mb / (median / 1e3)}}
                             .dump()
                      << std::endl;
        }
    } catch (const std::exception& e) {
        std::cerr << "adapter-load-bench: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
