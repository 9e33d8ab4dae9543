#include "metrics/latency_recorder.h"

#include <algorithm>
#include <cmath>

namespace lw {

namespace {

// Nearest-rank percentile of sorted samples.
double percentile(const std::vector<double>& sorted, double p) {
    if (sorted.empty()) return 0.0;
    const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
    return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

}  // namespace

void LatencyRecorder::record(double seconds) {
    recent_.push_back(seconds);
    if (recent_.size() > keep_) recent_.pop_front();
    ++count_;
    sum_ += seconds;
}

LatencyStats LatencyRecorder::stats() const {
    LatencyStats s;
    s.recent.assign(recent_.begin(), recent_.end());
    s.count = count_;
    s.sum = sum_;
    std::vector<double> sorted = s.recent;
    std::sort(sorted.begin(), sorted.end());
    s.p50 = percentile(sorted, 0.50);
    s.p90 = percentile(sorted, 0.90);
    s.p99 = percentile(sorted, 0.99);
    return s;
}

}  // namespace lw
