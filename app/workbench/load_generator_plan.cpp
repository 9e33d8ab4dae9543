#include "load_generator_plan.h"

#include <array>
#include <cmath>

namespace workbench {

namespace {

// Words for prompts: plain ones, so that any tokenizer makes a few tokens of each.
constexpr std::array<const char*, 32> kWords = {
    "summarize", "the",   "report", "about",   "our", "quarterly", "sales",  "please", "translate", "this",     "short",
    "note",      "into",  "french", "explain", "how", "a",         "page",   "pool",   "serves",    "adapters", "and",
    "caches",    "write", "polite", "reply",   "to",  "customer",  "asking", "for",    "refund",    "today"};

}  // namespace

QString LoadSettings::validate() const {
    if (models.isEmpty()) return QStringLiteral("models: choose at least one adapter or base");
    if (tenants < 1) return QStringLiteral("tenants: %1 is not a positive count").arg(tenants);
    if (!(requestsPerSecond > 0.0 && requestsPerSecond <= kMaxRequestsPerSecond))
        return QStringLiteral("requests per second: %1 is not a rate above 0 and at most %2")
            .arg(requestsPerSecond)
            .arg(kMaxRequestsPerSecond);
    if (popularity == Popularity::Zipf && !(zipfExponent >= 0.0 && std::isfinite(zipfExponent)))
        return QStringLiteral("Zipf exponent: %1 is not a finite number >= 0").arg(zipfExponent);
    if (minPromptWords < 1 || maxPromptWords < minPromptWords)
        return QStringLiteral("prompt words: %1 to %2 is not a range of positive lengths")
            .arg(minPromptWords)
            .arg(maxPromptWords);
    if (minOutputTokens < 1 || maxOutputTokens < minOutputTokens)
        return QStringLiteral("output tokens: %1 to %2 is not a range of positive lengths")
            .arg(minOutputTokens)
            .arg(maxOutputTokens);
    if (maxInFlight < 1) return QStringLiteral("max in flight: %1 is not a positive count").arg(maxInFlight);
    return {};
}

LoadPlan::LoadPlan(const LoadSettings& settings)
    : settings_(settings), random_(settings.seed), gap_(settings.requestsPerSecond) {
    double total = 0.0;
    for (int k = 0; k < settings.tenants; ++k) {
        const double weight =
            settings.popularity == Popularity::Zipf ? 1.0 / std::pow(double(k + 1), settings.zipfExponent) : 1.0;
        shares_.push_back(weight);
        total += weight;
    }
    for (double& share : shares_) share /= total;
    pickTenant_ = std::discrete_distribution<int>(shares_.begin(), shares_.end());
}

double LoadPlan::nextGap() {
    return gap_(random_);
}

PlannedRequest LoadPlan::nextRequest() {
    PlannedRequest r;
    r.tenant = pickTenant_(random_);
    r.model = settings_.models[r.tenant % settings_.models.size()];
    r.promptWords = std::uniform_int_distribution<int>(settings_.minPromptWords, settings_.maxPromptWords)(random_);
    r.maxTokens = std::uniform_int_distribution<int>(settings_.minOutputTokens, settings_.maxOutputTokens)(random_);
    r.seed = static_cast<qint64>(random_() >> 1);
    QStringList words;
    std::uniform_int_distribution<std::size_t> word(0, kWords.size() - 1);
    for (int w = 0; w < r.promptWords; ++w) words << QString::fromLatin1(kWords[word(random_)]);
    r.prompt = words.join(QLatin1Char(' '));
    return r;
}

}  // namespace workbench
