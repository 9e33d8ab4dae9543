#include "bench_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <numeric>

namespace lw::bench {

namespace {

double quantile(const std::vector<double>& sorted, double q) {
    const double pos = q * static_cast<double>(sorted.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(pos));
    const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - static_cast<double>(lo));
}

}  // namespace

Percentiles percentiles(std::vector<double> samples) {
    Percentiles p;
    p.count = samples.size();
    if (samples.empty()) return p;
    std::sort(samples.begin(), samples.end());
    p.mean = std::accumulate(samples.begin(), samples.end(), 0.0) / static_cast<double>(samples.size());
    p.p50 = quantile(samples, 0.50);
    p.p90 = quantile(samples, 0.90);
    p.p99 = quantile(samples, 0.99);
    return p;
}

nlohmann::json to_json(const Percentiles& p) {
    return {{"count", p.count}, {"mean", p.mean}, {"p50", p.p50}, {"p90", p.p90}, {"p99", p.p99}};
}

void Table::print() const {
    std::size_t width = 0;
    for (const auto& [label, value] : rows_) width = std::max(width, label.size());
    std::cout << "\n" << title_ << "\n" << std::string(title_.size(), '-') << "\n";
    for (const auto& [label, value] : rows_)
        std::cout << "  " << label << std::string(width - label.size() + 2, ' ') << value << "\n";
    std::cout.flush();
}

std::string fixed(double v, int digits) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
}

std::string bytes_text(double bytes) {
    const char* units[] = {"B", "kB", "MB", "GB", "TB"};
    int u = 0;
    while (std::abs(bytes) >= 1000.0 && u < 4) {
        bytes /= 1000.0;
        ++u;
    }
    return fixed(bytes, u == 0 ? 0 : 2) + " " + units[u];
}

std::string percentiles_ms(const Percentiles& p) {
    if (p.count == 0) return "no samples";
    return "p50 " + fixed(p.p50 * 1e3, 2) + " / p90 " + fixed(p.p90 * 1e3, 2) + " / p99 " + fixed(p.p99 * 1e3, 2) +
           " ms";
}

}  // namespace lw::bench
