// A started EngineBridge on the tiny chat model with some PEFT fixtures as adapters, for
// the GUI suites that need a real engine behind their widgets.
#pragma once

#include "engine_bridge.h"
#include "support/test_support.h"
#include "workbench/tiny_chat_model.h"

#include <QList>
#include <QPair>
#include <QSignalSpy>
#include <QTest>

namespace lw::test {

// Starts `bridge` (1 thread, a pool of `pool_bytes`), loads `model` and each adapter
// (name, fixture folder under tests/data) and waits for all of them. Returns the base's
// name; on failure an empty name, with `error` saying what failed.
inline QString start_tiny_engine(workbench::EngineBridge& bridge, const TinyChatModel& model,
                                 const QList<QPair<QString, QString>>& adapters, QString& error,
                                 qint64 pool_bytes = 16ll << 20) {
    using workbench::EngineBridge;
    constexpr int kTimeoutMs = 30000;
    QSignalSpy started(&bridge, &EngineBridge::engineStarted);
    QSignalSpy failed(&bridge, &EngineBridge::engineFailed);
    QSignalSpy bases(&bridge, &EngineBridge::baseLoaded);
    QSignalSpy loaded(&bridge, &EngineBridge::adapterLoaded);
    QSignalSpy load_failed(&bridge, &EngineBridge::loadFailed);
    workbench::EngineSettings settings;
    settings.poolBytes = pool_bytes;
    settings.threads = 1;
    bridge.start(settings);
    bridge.loadBase(QString::fromStdString(model.path().string()));
    if (!QTest::qWaitFor([&] { return bases.count() + failed.count() + load_failed.count() > 0; }, kTimeoutMs) ||
        bases.isEmpty()) {
        error = !failed.isEmpty()        ? failed[0][0].toString()
                : !load_failed.isEmpty() ? load_failed[0][1].toString()
                                         : QStringLiteral("the tiny model did not load in time");
        return {};
    }
    const QString base = bases[0][0].value<workbench::ModelEntry>().name;
    for (const auto& [name, fixture] : adapters) bridge.loadAdapter(name, data_arg(fixture.toStdString()), base);
    if (!QTest::qWaitFor([&] { return loaded.count() + load_failed.count() == adapters.size(); }, kTimeoutMs) ||
        !load_failed.isEmpty()) {
        error =
            load_failed.isEmpty() ? QStringLiteral("the adapters did not load in time") : load_failed[0][1].toString();
        return {};
    }
    return base;
}

}  // namespace lw::test
