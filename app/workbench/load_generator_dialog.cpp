#include "load_generator_dialog.h"

#include "engine_bridge.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

#include <limits>

namespace workbench {

namespace {

QSpinBox* spinBox(int low, int high, const QString& suffix = {}) {
    auto* box = new QSpinBox;
    box->setRange(low, high);
    box->setSuffix(suffix);
    return box;
}

// "min to max" on one form row.
QWidget* rangeRow(QSpinBox* low, QSpinBox* high) {
    auto* row = new QWidget;
    auto* layout = new QHBoxLayout(row);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(low);
    layout->addWidget(new QLabel(QObject::tr("to")));
    layout->addWidget(high);
    return row;
}

}  // namespace

LoadGeneratorDialog::LoadGeneratorDialog(LoadGenerator* generator, QWidget* parent)
    : QDialog(parent),
      generator_(generator),
      models_(new QListWidget),
      tenants_(spinBox(1, 100000)),
      rate_(new QDoubleSpinBox),
      popularity_(new QComboBox),
      zipfExponent_(new QDoubleSpinBox),
      minPromptWords_(spinBox(1, 4096, tr(" words"))),
      maxPromptWords_(spinBox(1, 4096, tr(" words"))),
      minOutputTokens_(spinBox(1, 4096, tr(" tokens"))),
      maxOutputTokens_(spinBox(1, 4096, tr(" tokens"))),
      maxInFlight_(spinBox(1, 100000)),
      seed_(spinBox(0, std::numeric_limits<int>::max())),
      start_(new QPushButton(tr("&Start"))),
      stop_(new QPushButton(tr("S&top"))),
      status_(new QLabel) {
    setWindowTitle(tr("Load generator"));
    models_->setToolTip(tr("Tenant k uses the k-th checked model (cycling), so more tenants than models share them."));
    rate_->setRange(0.01, LoadSettings::kMaxRequestsPerSecond);
    rate_->setDecimals(2);
    rate_->setSuffix(tr(" requests/s"));
    rate_->setToolTip(tr("Poisson arrivals: all tenants together, exponential gaps between requests."));
    popularity_->addItem(tr("Uniform"), int(Popularity::Uniform));
    popularity_->addItem(tr("Zipf"), int(Popularity::Zipf));
    popularity_->setToolTip(tr("Zipf: tenant k sends a share proportional to 1/(k+1)^s."));
    zipfExponent_->setRange(0.0, 5.0);
    zipfExponent_->setSingleStep(0.1);
    maxInFlight_->setToolTip(tr("Arrivals while this many requests run are dropped (and counted)."));
    connect(popularity_, &QComboBox::currentIndexChanged, this,
            [this] { zipfExponent_->setEnabled(popularity_->currentData().toInt() == int(Popularity::Zipf)); });

    auto* allModels = new QPushButton(tr("All"));
    auto* noModels = new QPushButton(tr("None"));
    allModels->setAutoDefault(false);  // Enter starts the load, not a list button
    noModels->setAutoDefault(false);
    start_->setDefault(true);
    const auto checkAll = [this](Qt::CheckState state) {
        for (int i = 0; i < models_->count(); ++i) models_->item(i)->setCheckState(state);
    };
    connect(allModels, &QPushButton::clicked, this, [checkAll] { checkAll(Qt::Checked); });
    connect(noModels, &QPushButton::clicked, this, [checkAll] { checkAll(Qt::Unchecked); });
    auto* modelButtons = new QHBoxLayout;
    modelButtons->addWidget(allModels);
    modelButtons->addWidget(noModels);
    modelButtons->addStretch();

    auto* form = new QFormLayout;
    form->addRow(tr("Tenants"), tenants_);
    form->addRow(tr("Arrival rate"), rate_);
    form->addRow(tr("Popularity"), popularity_);
    form->addRow(tr("Zipf exponent"), zipfExponent_);
    form->addRow(tr("Prompt length"), rangeRow(minPromptWords_, maxPromptWords_));
    form->addRow(tr("Output length"), rangeRow(minOutputTokens_, maxOutputTokens_));
    form->addRow(tr("Max in flight"), maxInFlight_);
    form->addRow(tr("Seed"), seed_);

    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close);
    buttons->addButton(start_, QDialogButtonBox::ActionRole);
    buttons->addButton(stop_, QDialogButtonBox::ActionRole);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(start_, &QPushButton::clicked, this, [this] { generator_->start(settings()); });
    connect(stop_, &QPushButton::clicked, generator_, &LoadGenerator::stop);

    status_->setWordWrap(true);
    status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(new QLabel(tr("Models the tenants use:")));
    layout->addWidget(models_, 1);
    layout->addLayout(modelButtons);
    layout->addLayout(form);
    layout->addWidget(status_);
    layout->addWidget(buttons);

    if (EngineBridge* bridge = generator_->bridge()) {
        connect(bridge, &EngineBridge::baseLoaded, this, &LoadGeneratorDialog::addModel);
        connect(bridge, &EngineBridge::adapterLoaded, this, &LoadGeneratorDialog::addModel);
        connect(bridge, &EngineBridge::adapterUnloaded, this, &LoadGeneratorDialog::removeModel);
    }
    connect(generator_, &LoadGenerator::statusChanged, this, &LoadGeneratorDialog::showStatus);
    setSettings(generator_->settings());
    showStatus();
}

void LoadGeneratorDialog::setModels(const QStringList& models) {
    const QStringList checked = settings().models;
    models_->clear();
    for (const QString& name : models) {
        auto* item = new QListWidgetItem(name, models_);
        item->setCheckState(checked.isEmpty() || checked.contains(name) ? Qt::Checked : Qt::Unchecked);
    }
}

void LoadGeneratorDialog::addModel(const ModelEntry& entry) {
    if (!models_->findItems(entry.name, Qt::MatchExactly).isEmpty()) return;
    auto* item = new QListWidgetItem(entry.name, models_);
    item->setCheckState(Qt::Checked);  // just loaded: most likely wanted
}

void LoadGeneratorDialog::removeModel(const QString& name) {
    qDeleteAll(models_->findItems(name, Qt::MatchExactly));
}

void LoadGeneratorDialog::setSettings(const LoadSettings& s) {
    for (const QString& name : s.models) {
        if (models_->findItems(name, Qt::MatchExactly).isEmpty()) new QListWidgetItem(name, models_);
    }
    for (int i = 0; i < models_->count(); ++i)
        models_->item(i)->setCheckState(s.models.contains(models_->item(i)->text()) ? Qt::Checked : Qt::Unchecked);
    tenants_->setValue(s.tenants);
    rate_->setValue(s.requestsPerSecond);
    popularity_->setCurrentIndex(popularity_->findData(int(s.popularity)));
    zipfExponent_->setValue(s.zipfExponent);
    minPromptWords_->setValue(s.minPromptWords);
    maxPromptWords_->setValue(s.maxPromptWords);
    minOutputTokens_->setValue(s.minOutputTokens);
    maxOutputTokens_->setValue(s.maxOutputTokens);
    maxInFlight_->setValue(s.maxInFlight);
    seed_->setValue(static_cast<int>(qMin<quint64>(s.seed, quint64(seed_->maximum()))));
}

LoadSettings LoadGeneratorDialog::settings() const {
    LoadSettings s;
    for (int i = 0; i < models_->count(); ++i)
        if (models_->item(i)->checkState() == Qt::Checked) s.models << models_->item(i)->text();
    s.tenants = tenants_->value();
    s.requestsPerSecond = rate_->value();
    s.popularity = Popularity(popularity_->currentData().toInt());
    s.zipfExponent = zipfExponent_->value();
    s.minPromptWords = minPromptWords_->value();
    s.maxPromptWords = maxPromptWords_->value();
    s.minOutputTokens = minOutputTokens_->value();
    s.maxOutputTokens = maxOutputTokens_->value();
    s.maxInFlight = maxInFlight_->value();
    s.seed = static_cast<quint64>(seed_->value());
    return s;
}

QString LoadGeneratorDialog::statusText() const {
    return status_->text();
}

void LoadGeneratorDialog::showStatus() {
    const LoadStats& s = generator_->stats();
    QString text = tr("%1: %2 sent, %3 answered, %4 errors, %5 cancelled, %6 dropped, %7 in flight")
                       .arg(s.running ? tr("Running") : tr("Stopped"))
                       .arg(s.sent)
                       .arg(s.finished)
                       .arg(s.errors)
                       .arg(s.cancelled)
                       .arg(s.dropped)
                       .arg(s.inFlight);
    QStringList byModel;
    for (auto it = s.sentByModel.cbegin(); it != s.sentByModel.cend(); ++it)
        byModel << QStringLiteral("%1 %2").arg(it.key()).arg(it.value());
    if (!byModel.isEmpty()) text += QLatin1Char('\n') + tr("Sent to: %1").arg(byModel.join(QStringLiteral(", ")));
    if (!s.lastError.isEmpty()) text += QLatin1Char('\n') + tr("Last error: %1").arg(s.lastError);
    status_->setText(text);
    start_->setEnabled(!s.running);
    stop_->setEnabled(s.running);
}

}  // namespace workbench
