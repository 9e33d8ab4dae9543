// What the load generator sends and when, as pure seeded functions so tests can check
// them without an engine: arrivals of a Poisson process (exponential gaps at a rate),
// each from one of N simulated tenants picked by popularity (uniform, or Zipf: tenant
// k's share is proportional to 1/(k+1)^s), tenant k using model k mod M of the chosen
// set, with a generated prompt and an output length drawn from their ranges.
#pragma once

#include <QString>
#include <QStringList>

#include <random>
#include <vector>

namespace workbench {

enum class Popularity { Uniform, Zipf };

struct LoadSettings {
    static constexpr double kMaxRequestsPerSecond = 1000.0;

    QStringList models;  // adapters (or bases for the bare base) the tenants use
    int tenants = 8;
    double requestsPerSecond = 2.0;  // all tenants together, at most kMaxRequestsPerSecond
    Popularity popularity = Popularity::Zipf;
    double zipfExponent = 1.0;
    int minPromptWords = 8, maxPromptWords = 48;
    int minOutputTokens = 16, maxOutputTokens = 64;
    int maxInFlight = 64;  // arrivals beyond it are dropped, so a slow engine is not buried
    quint64 seed = 1;

    // Empty when the settings can run, else what is wrong, naming the field.
    QString validate() const;
};

struct PlannedRequest {
    int tenant = 0;
    QString model;
    QString prompt;
    int promptWords = 0;
    int maxTokens = 0;
    qint64 seed = 0;  // the request's sampling seed, never negative (-1 would mean random)
};

class LoadPlan {
public:
    // `settings` must validate.
    explicit LoadPlan(const LoadSettings& settings);

    // Seconds from the previous arrival to the next.
    double nextGap();
    PlannedRequest nextRequest();

    // Each tenant's share of the arrivals.
    const std::vector<double>& tenantShares() const { return shares_; }

private:
    LoadSettings settings_;
    std::mt19937_64 random_;
    std::vector<double> shares_;
    std::discrete_distribution<int> pickTenant_;
    std::exponential_distribution<double> gap_;
};

}  // namespace workbench
