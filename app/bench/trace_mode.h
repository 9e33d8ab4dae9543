// `lora-bench trace`, S-LoRA's workload: requests arrive as a Poisson process at
// --rate for --duration seconds, with prompt and output lengths uniform in their
// ranges and adapters picked uniformly or by Zipf popularity; reports request
// throughput, TTFT and inter-token latency percentiles, SLO attainment and the
// adapter cache's loads per tier.
#pragma once

#include "bench_options.h"
#include "bench_setup.h"

#include <nlohmann/json.hpp>

namespace lw::bench {

// Prints the table and returns every number; throws lw::Error when a request is refused.
nlohmann::json run_trace(BenchSetup& setup, const BenchOptions& o);

}  // namespace lw::bench
