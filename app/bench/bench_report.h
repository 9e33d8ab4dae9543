// Turning measurements into what lora-bench prints: percentiles, and a two-column
// table of labelled, unit-carrying values.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

namespace lw::bench {

struct Percentiles {
    std::size_t count = 0;
    double mean = 0.0, p50 = 0.0, p90 = 0.0, p99 = 0.0;  // 0 without samples
};

// Linear interpolation between closest ranks (numpy's default).
Percentiles percentiles(std::vector<double> samples);
nlohmann::json to_json(const Percentiles& p);

class Table {
public:
    explicit Table(std::string title) : title_(std::move(title)) {}
    void row(std::string label, std::string value) { rows_.emplace_back(std::move(label), std::move(value)); }
    void print() const;  // to stdout

private:
    std::string title_;
    std::vector<std::pair<std::string, std::string>> rows_;
};

// "12.3" with `digits` after the point.
std::string fixed(double v, int digits = 1);
// "1.23 GB", "456.7 MB" (decimal units, as bandwidths are quoted)
std::string bytes_text(double bytes);
// "p50 1.2 / p90 3.4 / p99 5.6 ms"
std::string percentiles_ms(const Percentiles& p);

}  // namespace lw::bench
