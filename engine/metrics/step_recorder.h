// Keeps the composition of the most recent engine steps, and the throughput over them.
#pragma once

#include "metrics/metrics_snapshot.h"

#include <chrono>
#include <cstddef>
#include <deque>

namespace lw {

class StepRecorder {
public:
    explicit StepRecorder(std::size_t keep = 256) : keep_(keep) {}
    // `generated`: tokens sampled in the step. Numbers the step (StepRecord::index).
    void record(StepRecord step, std::size_t generated, std::chrono::steady_clock::time_point end);
    std::vector<StepRecord> recent() const;
    double tokens_per_second() const;

private:
    struct Entry {
        StepRecord step;
        std::size_t generated = 0;
        std::chrono::steady_clock::time_point end;
    };
    std::size_t keep_;
    std::uint64_t next_index_ = 0;
    std::deque<Entry> steps_;
};

}  // namespace lw
