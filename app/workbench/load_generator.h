// Simulated tenants sending chats through the EngineBridge, to watch the live views
// move: arrivals and choices come from a seeded LoadPlan; a timer sends every arrival
// that is due, so the rate holds even when the event loop is late. Answers are counted
// as they finish; stop() cancels the requests still running. Only this generator's
// tickets are counted; chats from the panes are left alone.
#pragma once

#include "load_generator_plan.h"

#include <QElapsedTimer>
#include <QMap>
#include <QObject>
#include <QPointer>
#include <QSet>
#include <QTimer>

#include <memory>

namespace workbench {

class EngineBridge;
struct ChatStats;

struct LoadStats {
    bool running = false;
    quint64 sent = 0;
    quint64 finished = 0;   // answered ("stop" or "length")
    quint64 errors = 0;     // finished with an error
    quint64 cancelled = 0;  // cut short by stop() (or by someone else)
    quint64 dropped = 0;    // arrivals skipped because maxInFlight requests were running
    int inFlight = 0;
    QMap<QString, quint64> sentByModel;
    QString lastError;  // the latest error answer, or why start() refused
};

class LoadGenerator : public QObject {
    Q_OBJECT
public:
    LoadGenerator(EngineBridge* bridge, QObject* parent = nullptr);
    ~LoadGenerator() override;

    // Starts afresh (counts reset); a running load is stopped first. Settings that do
    // not validate leave it stopped with the reason in stats().lastError.
    void start(const LoadSettings& settings);
    // Sends nothing more and cancels what is in flight; their answers still arrive and are counted.
    void stop();

    EngineBridge* bridge() const { return bridge_; }
    bool isRunning() const { return stats_.running; }
    const LoadStats& stats() const { return stats_; }
    const LoadSettings& settings() const { return settings_; }

signals:
    void statusChanged();

private:
    void sendDue();
    void onFinished(quint64 ticket, const workbench::ChatStats& stats);

    QPointer<EngineBridge> bridge_;  // the main window may destroy the bridge first
    LoadSettings settings_;
    std::unique_ptr<LoadPlan> plan_;
    LoadStats stats_;
    QSet<quint64> inFlight_;
    QTimer timer_;
    QElapsedTimer clock_;
    double nextArrival_ = 0.0;  // seconds on clock_
};

}  // namespace workbench
