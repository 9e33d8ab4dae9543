// Settings > the engine's (backend, pool size, max_loras, max_lora_rank, max_cpu_loras,
// threads) and the local server's (host, port, API key). Accepting it hands the values
// back; the main window stores them and restarts the engine when they changed.
#pragma once

#include "engine_types.h"
#include "settings_store.h"

#include <QDialog>

class QComboBox;
class QLineEdit;
class QSpinBox;

namespace workbench {

class SettingsDialog : public QDialog {
    Q_OBJECT
public:
    SettingsDialog(const EngineSettings& engine, const ServerSettings& server, QWidget* parent = nullptr);

    EngineSettings engineSettings() const;
    ServerSettings serverSettings() const;

private:
    QComboBox* backend_;
    QSpinBox* poolMiB_;
    QSpinBox* maxLoras_;
    QSpinBox* maxLoraRank_;
    QSpinBox* maxCpuLoras_;
    QSpinBox* threads_;
    QLineEdit* host_;
    QSpinBox* port_;
    QLineEdit* apiKey_;
};

}  // namespace workbench
