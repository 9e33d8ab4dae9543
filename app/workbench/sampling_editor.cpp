#include "sampling_editor.h"

#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QPushButton>
#include <QSignalBlocker>
#include <QSpinBox>

#include <algorithm>
#include <climits>

namespace workbench {

SamplingEditor::SamplingEditor(QWidget* parent)
    : QWidget(parent),
      temperature_(new QDoubleSpinBox(this)),
      topK_(new QSpinBox(this)),
      topP_(new QDoubleSpinBox(this)),
      maxTokens_(new QSpinBox(this)),
      seed_(new QSpinBox(this)) {
    temperature_->setRange(0.0, 5.0);
    temperature_->setSingleStep(0.05);
    temperature_->setSpecialValueText(tr("0 (greedy)"));
    temperature_->setToolTip(tr("0 always picks the most likely token"));
    topK_->setRange(0, 1 << 20);
    topK_->setSpecialValueText(tr("off"));
    topP_->setRange(0.01, 1.0);
    topP_->setSingleStep(0.05);
    maxTokens_->setRange(1, 1 << 20);
    seed_->setRange(-1, INT_MAX);
    seed_->setSpecialValueText(tr("random"));
    seed_->setToolTip(tr("The same seed gives the same answer at the same settings"));

    auto* reset = new QPushButton(tr("Defaults"), this);
    connect(reset, &QPushButton::clicked, this, [this] { setSettings({}); });

    auto* form = new QFormLayout(this);
    form->setContentsMargins(8, 8, 8, 8);
    form->addRow(tr("Temperature"), temperature_);
    form->addRow(tr("Top-k"), topK_);
    form->addRow(tr("Top-p"), topP_);
    form->addRow(tr("Max tokens"), maxTokens_);
    form->addRow(tr("Seed"), seed_);
    form->addRow(reset);

    for (QDoubleSpinBox* box : {temperature_, topP_})
        connect(box, &QDoubleSpinBox::valueChanged, this, &SamplingEditor::changed);
    for (QSpinBox* box : {topK_, maxTokens_, seed_})
        connect(box, &QSpinBox::valueChanged, this, &SamplingEditor::changed);
    setSettings({});
}

SamplingSettings SamplingEditor::settings() const {
    SamplingSettings s;
    s.temperature = temperature_->value();
    s.topK = topK_->value();
    s.topP = topP_->value();
    s.maxTokens = maxTokens_->value();
    s.seed = seed_->value();
    return s;
}

void SamplingEditor::setSettings(const SamplingSettings& s) {
    {
        // One changed() for the whole update, not one per field.
        const QSignalBlocker blocks[] = {QSignalBlocker(temperature_), QSignalBlocker(topK_), QSignalBlocker(topP_),
                                         QSignalBlocker(maxTokens_), QSignalBlocker(seed_)};
        temperature_->setValue(s.temperature);
        topK_->setValue(s.topK);
        topP_->setValue(s.topP);
        maxTokens_->setValue(s.maxTokens);
        seed_->setValue(static_cast<int>(std::clamp<qint64>(s.seed, -1, INT_MAX)));
    }
    emit changed();
}

}  // namespace workbench
