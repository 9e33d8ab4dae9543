// `lora-bench throughput`: a fixed batch of B requests (prompt P, G generated tokens,
// K distinct adapters or the base alone) submitted at once after a warm-up round;
// decode tokens/s and step-time percentiles from the engine's step records, bytes
// moved per decode step and how close that comes to the device's bandwidth floor.
#pragma once

#include "bench_options.h"
#include "bench_setup.h"

#include <nlohmann/json.hpp>

namespace lw::bench {

// Measures each --batch size in turn: prints a table per size and returns
// {"runs": [...]} with every number; throws lw::Error when a request fails or a round
// outlasts --timeout.
nlohmann::json run_throughput(BenchSetup& setup, const BenchOptions& o);

}  // namespace lw::bench
