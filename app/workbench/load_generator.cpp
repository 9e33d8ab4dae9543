#include "load_generator.h"

#include "engine_bridge.h"

#include <cmath>

namespace workbench {

LoadGenerator::LoadGenerator(EngineBridge* bridge, QObject* parent) : QObject(parent), bridge_(bridge) {
    timer_.setSingleShot(true);
    timer_.setTimerType(Qt::PreciseTimer);
    connect(&timer_, &QTimer::timeout, this, &LoadGenerator::sendDue);
    connect(bridge_, &EngineBridge::chatFinished, this, &LoadGenerator::onFinished);
}

LoadGenerator::~LoadGenerator() {
    stop();  // leave nothing of ours running in the engine
}

void LoadGenerator::start(const LoadSettings& settings) {
    stop();
    stats_ = {};
    inFlight_.clear();
    settings_ = settings;
    stats_.lastError = settings.validate();
    if (!stats_.lastError.isEmpty()) {
        emit statusChanged();
        return;
    }
    plan_ = std::make_unique<LoadPlan>(settings);
    stats_.running = true;
    clock_.start();
    nextArrival_ = plan_->nextGap();
    timer_.start(0);
    emit statusChanged();
}

void LoadGenerator::stop() {
    timer_.stop();
    const bool wasRunning = stats_.running;
    stats_.running = false;
    if (bridge_)
        for (const quint64 ticket : std::as_const(inFlight_)) bridge_->cancel(ticket);
    if (wasRunning) emit statusChanged();
}

void LoadGenerator::sendDue() {
    if (!stats_.running) return;
    if (!bridge_) {
        stats_.lastError = tr("the engine bridge is gone");
        stop();
        return;
    }
    const double now = clock_.nsecsElapsed() / 1e9;
    while (nextArrival_ <= now) {
        const PlannedRequest planned = plan_->nextRequest();
        nextArrival_ += plan_->nextGap();
        if (stats_.inFlight >= settings_.maxInFlight) {
            ++stats_.dropped;
            continue;
        }
        ChatRequest request;
        request.model = planned.model;
        request.messages = {{QStringLiteral("user"), planned.prompt}};
        request.sampling.maxTokens = planned.maxTokens;
        request.sampling.seed = planned.seed;
        inFlight_.insert(bridge_->chat(request));
        ++stats_.sent;
        ++stats_.sentByModel[planned.model];
        stats_.inFlight = int(inFlight_.size());
    }
    timer_.start(static_cast<int>(std::ceil((nextArrival_ - now) * 1000.0)));
    emit statusChanged();
}

void LoadGenerator::onFinished(quint64 ticket, const ChatStats& stats) {
    if (!inFlight_.remove(ticket)) return;  // not ours
    if (stats.reason == QLatin1String("error")) {
        ++stats_.errors;
        stats_.lastError = stats.error;
    } else if (stats.reason == QLatin1String("cancelled")) {
        ++stats_.cancelled;
    } else {
        ++stats_.finished;
    }
    stats_.inFlight = int(inFlight_.size());
    emit statusChanged();
}

}  // namespace workbench
