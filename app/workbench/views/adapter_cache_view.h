// The adapter cache: hits, misses, loads and evictions of the GPU pool tier and of the
// host RAM tier, as events per second over the last second, for the last minute; and,
// in the caption, where the adapters are now (pool, host, disk only, loading).
#pragma once

#include "views/plot_view.h"

#include <array>
#include <cstdint>
#include <deque>

namespace workbench {

enum class CacheTier { Pool, Host };
enum class CacheEvent { Hits, Misses, Loads, Evictions };

class AdapterCacheView : public PlotView {
    Q_OBJECT
public:
    // Rates are counted over this window, so one load shows as a step, not a spike.
    static constexpr double kRateWindowSeconds = 1.0;

    explicit AdapterCacheView(QWidget* parent = nullptr);

    void showSnapshot(const MetricsPtr& snapshot, double seconds) override;

    // The events per second plotted for one tier and kind of event.
    const QCPGraph* series(CacheTier tier, CacheEvent event) const;

protected:
    void redraw() override;

private:
    static constexpr int kTiers = 2, kEvents = 4;
    using Counters = std::array<std::uint64_t, kTiers * kEvents>;
    struct Sample {
        double seconds = 0.0;
        Counters counters{};
    };
    static int slot(CacheTier tier, CacheEvent event) { return int(tier) * kEvents + int(event); }
    void updateCaption(const lw::MetricsSnapshot& snapshot);

    std::array<QCPAxisRect*, kTiers> rects_{};
    std::array<QCPGraph*, kTiers * kEvents> graphs_{};
    std::deque<Sample> recent_;  // the samples of the last rate window, and the one before it
    double latest_ = 0.0;
};

}  // namespace workbench
