#include "metrics/step_recorder.h"

namespace lw {

void StepRecorder::record(StepRecord step, std::size_t generated, std::chrono::steady_clock::time_point end) {
    step.index = next_index_++;
    steps_.push_back({std::move(step), generated, end});
    if (steps_.size() > keep_) steps_.pop_front();
}

std::vector<StepRecord> StepRecorder::recent() const {
    std::vector<StepRecord> out;
    out.reserve(steps_.size());
    for (const Entry& e : steps_) out.push_back(e.step);
    return out;
}

double StepRecorder::tokens_per_second() const {
    if (steps_.empty()) return 0.0;
    // From the start of the oldest recorded step to the end of the newest.
    const auto start = steps_.front().end - std::chrono::duration<double>(steps_.front().step.seconds);
    const double span = std::chrono::duration<double>(steps_.back().end - start).count();
    std::size_t generated = 0;
    for (const Entry& e : steps_) generated += e.generated;
    return span > 0.0 ? static_cast<double>(generated) / span : 0.0;
}

}  // namespace lw
