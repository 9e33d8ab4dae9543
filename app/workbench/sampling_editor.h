// A compact form for one chat pane's sampling settings (temperature, top-k, top-p,
// max tokens, seed), shown in a popup from the pane's header.
#pragma once

#include "engine_types.h"

#include <QWidget>

class QDoubleSpinBox;
class QSpinBox;

namespace workbench {

class SamplingEditor : public QWidget {
    Q_OBJECT
public:
    explicit SamplingEditor(QWidget* parent = nullptr);

    SamplingSettings settings() const;
    // Values outside the editor's ranges are clamped to them.
    void setSettings(const SamplingSettings& settings);

signals:
    void changed();

private:
    QDoubleSpinBox* temperature_;
    QSpinBox* topK_;
    QDoubleSpinBox* topP_;
    QSpinBox* maxTokens_;
    QSpinBox* seed_;
};

}  // namespace workbench
