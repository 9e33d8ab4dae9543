// Configures and drives a LoadGenerator: which models the tenants use, how many
// tenants, the arrival rate, the popularity skew, prompt and output lengths; Start,
// Stop, and the counts as they change. Closing the dialog leaves a running load
// running (Stop stops it); the model list follows what the bridge loads and unloads.
#pragma once

#include "load_generator.h"

#include <QDialog>

class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QListWidget;
class QPushButton;
class QSpinBox;

namespace workbench {

struct ModelEntry;

class LoadGeneratorDialog : public QDialog {
    Q_OBJECT
public:
    LoadGeneratorDialog(LoadGenerator* generator, QWidget* parent = nullptr);

    // The models to offer (the library's bases and adapters); checked ones stay checked,
    // and with none checked, all are.
    void setModels(const QStringList& models);
    void setSettings(const LoadSettings& settings);
    LoadSettings settings() const;

    QPushButton* startButton() const { return start_; }
    QPushButton* stopButton() const { return stop_; }
    QString statusText() const;

private:
    void addModel(const workbench::ModelEntry& entry);
    void removeModel(const QString& name);
    void showStatus();

    LoadGenerator* generator_;
    QListWidget* models_;
    QSpinBox* tenants_;
    QDoubleSpinBox* rate_;
    QComboBox* popularity_;
    QDoubleSpinBox* zipfExponent_;
    QSpinBox* minPromptWords_;
    QSpinBox* maxPromptWords_;
    QSpinBox* minOutputTokens_;
    QSpinBox* maxOutputTokens_;
    QSpinBox* maxInFlight_;
    QSpinBox* seed_;
    QPushButton* start_;
    QPushButton* stop_;
    QLabel* status_;
};

}  // namespace workbench
