// Keeps the recent samples of one latency (time to first token, inter-token latency)
// and totals over all of them.
#pragma once

#include "metrics/metrics_snapshot.h"

#include <cstddef>
#include <deque>

namespace lw {

class LatencyRecorder {
public:
    explicit LatencyRecorder(std::size_t keep = 1000) : keep_(keep) {}
    void record(double seconds);
    LatencyStats stats() const;

private:
    std::size_t keep_;
    std::deque<double> recent_;
    std::uint64_t count_ = 0;
    double sum_ = 0.0;
};

}  // namespace lw
