#include "settings_dialog.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QLineEdit>
#include <QSpinBox>
#include <QThread>
#include <QVBoxLayout>

namespace workbench {

namespace {

QSpinBox* spin_box(int low, int high, int value, const QString& suffix = {}) {
    auto* box = new QSpinBox;
    box->setRange(low, high);
    box->setValue(value);
    box->setSuffix(suffix);
    return box;
}

}  // namespace

SettingsDialog::SettingsDialog(const EngineSettings& engine, const ServerSettings& server, QWidget* parent)
    : QDialog(parent) {
    setWindowTitle(tr("Settings"));
    backend_ = new QComboBox;
    backend_->addItem(tr("CPU"), QStringLiteral("cpu"));
    backend_->addItem(tr("CUDA (falls back to CPU without a GPU)"), QStringLiteral("cuda"));
    backend_->setCurrentIndex(backend_->findData(engine.backend));
    poolMiB_ = spin_box(16, 1 << 20, static_cast<int>(engine.poolBytes >> 20), tr(" MiB"));
    maxLoras_ = spin_box(1, 1024, engine.maxLoras);
    maxLoraRank_ = spin_box(1, 1024, engine.maxLoraRank);
    maxCpuLoras_ = spin_box(engine.maxLoras, 65536, engine.maxCpuLoras);
    // Host RAM also holds the pooled adapters' copies: never fewer than max_loras.
    connect(maxLoras_, &QSpinBox::valueChanged, maxCpuLoras_, &QSpinBox::setMinimum);
    threads_ = spin_box(0, 1024, engine.threads);
    threads_->setSpecialValueText(tr("all cores (%1)").arg(QThread::idealThreadCount()));

    auto* engineBox = new QGroupBox(tr("Engine (applying restarts it and reloads every model)"));
    auto* engineForm = new QFormLayout(engineBox);
    engineForm->addRow(tr("&Backend:"), backend_);
    engineForm->addRow(tr("Memory &pool:"), poolMiB_);
    engineForm->addRow(tr("max_&loras (adapters in the pool):"), maxLoras_);
    engineForm->addRow(tr("max_lora_&rank:"), maxLoraRank_);
    engineForm->addRow(tr("max_&cpu_loras (adapters in host RAM):"), maxCpuLoras_);
    engineForm->addRow(tr("CPU &threads:"), threads_);

    host_ = new QLineEdit(server.host);
    port_ = spin_box(0, 65535, server.port);
    port_->setSpecialValueText(tr("any free port"));
    apiKey_ = new QLineEdit(server.apiKey);
    apiKey_->setEchoMode(QLineEdit::PasswordEchoOnEdit);
    apiKey_->setPlaceholderText(tr("none"));
    auto* serverBox = new QGroupBox(tr("Local OpenAI-compatible server"));
    auto* serverForm = new QFormLayout(serverBox);
    serverForm->addRow(tr("&Host:"), host_);
    serverForm->addRow(tr("P&ort:"), port_);
    serverForm->addRow(tr("API &key:"), apiKey_);

    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(engineBox);
    layout->addWidget(serverBox);
    layout->addWidget(buttons);
}

EngineSettings SettingsDialog::engineSettings() const {
    EngineSettings s;
    s.backend = backend_->currentData().toString();
    s.poolBytes = static_cast<qint64>(poolMiB_->value()) << 20;
    s.maxLoras = maxLoras_->value();
    s.maxLoraRank = maxLoraRank_->value();
    s.maxCpuLoras = maxCpuLoras_->value();
    s.threads = threads_->value();
    return s;
}

ServerSettings SettingsDialog::serverSettings() const {
    ServerSettings s;
    s.host = host_->text().trimmed().isEmpty() ? ServerSettings().host : host_->text().trimmed();
    s.port = port_->value();
    s.apiKey = apiKey_->text();
    return s;
}

}  // namespace workbench
