#include "main_window.h"

#include "broadcast_bar.h"
#include "chat_grid.h"
#include "chat_pane.h"
#include "drop_import.h"
#include "engine_bridge.h"
#include "library_view.h"
#include "load_generator.h"
#include "load_generator_dialog.h"
#include "local_server.h"
#include "model_library.h"
#include "palette.h"
#include "settings_dialog.h"
#include "views/live_views.h"

#include "metrics/metrics_snapshot.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDockWidget>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QStatusBar>
#include <QTimer>
#include <QVBoxLayout>

#include <exception>

namespace workbench {

namespace {

constexpr int kErrorMessageMs = 15000;

// The platform's key for a standard action, or ours where the platform has none
// (Quit and Preferences have none outside KDE and GNOME).
QList<QKeySequence> standard_keys(QKeySequence::StandardKey key, const char* fallback) {
    QList<QKeySequence> keys = QKeySequence::keyBindings(key);
    if (!keys.contains(QKeySequence(fallback))) keys.append(QKeySequence(fallback));
    return keys;
}

}  // namespace

MainWindow::MainWindow(QWidget* parent)
    : QMainWindow(parent),
      bridge_(new EngineBridge(this)),
      library_(new ModelLibrary(this)),
      libraryView_(new LibraryView(library_)),
      importer_(new DropImport(bridge_, this)),
      grid_(new ChatGrid(bridge_)),
      broadcast_(new BroadcastBar(grid_)),
      views_(new LiveViews),
      server_(new LocalServer(this)),
      loadGenerator_(new LoadGenerator(bridge_, this)),
      requestLog_(new QPlainTextEdit) {
    setWindowTitle(QStringLiteral("LoRA Workbench"));
    setWindowIcon(QIcon(QStringLiteral(":/icons/lora-workbench.svg")));
    setAcceptDrops(true);
    setDockNestingEnabled(true);

    auto* centre = new QWidget;
    auto* layout = new QVBoxLayout(centre);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(grid_, 1);
    layout->addWidget(broadcast_);
    setCentralWidget(centre);

    buildDocks();
    buildMenus();
    buildStatusBar();
    connectBridge();

    if (!restoreGeometry(store_.windowGeometry())) resize(1600, 940);
    firstRun_ = !restoreState(store_.windowState());
    startEngine(store_.engine());
}

MainWindow::~MainWindow() {
    server_->stop();
}

void MainWindow::buildDocks() {
    auto dock = [this](const QString& title, const QString& name, QWidget* widget, Qt::DockWidgetArea area) {
        auto* d = new QDockWidget(title, this);
        d->setObjectName(name);  // saveState() keys docks by name
        d->setWidget(widget);
        addDockWidget(area, d);
        return d;
    };
    libraryView_->setObjectName(QStringLiteral("library"));
    dock(tr("Library"), QStringLiteral("libraryDock"), libraryView_, Qt::LeftDockWidgetArea);
    dock(tr("Live views"), QStringLiteral("liveViewsDock"), views_, Qt::RightDockWidgetArea);
    requestLog_->setReadOnly(true);
    requestLog_->setMaximumBlockCount(2000);
    requestLog_->setPlaceholderText(tr("Requests to the local server appear here (Server > Local server)."));
    QDockWidget* log = dock(tr("Request log"), QStringLiteral("requestLogDock"), requestLog_, Qt::BottomDockWidgetArea);
    log->hide();

    connect(libraryView_, &LibraryView::pathsDropped, this, &MainWindow::openPaths);
    connect(libraryView_, &LibraryView::openChatRequested, grid_, &ChatGrid::openPane);
    connect(libraryView_, &LibraryView::unloadRequested, bridge_, &EngineBridge::unloadAdapter);
    connect(importer_, &DropImport::failed, this, &MainWindow::showError);
    connect(server_, &LocalServer::requestLogged, requestLog_, &QPlainTextEdit::appendPlainText);
    connect(server_, &LocalServer::started, this, [this, log](const QString& url) {
        requestLog_->appendPlainText(tr("Serving the OpenAI-compatible API at %1").arg(url));
        log->show();
        statusBar()->showMessage(tr("Local server at %1").arg(url), kErrorMessageMs);
        serverAction_->setChecked(true);
    });
    connect(server_, &LocalServer::stopped, this, [this] {
        requestLog_->appendPlainText(tr("Server stopped"));
        serverAction_->setChecked(server_->isRunning());
    });
    connect(server_, &LocalServer::failed, this, [this](const QString& error) {
        serverWanted_ = false;
        serverAction_->setChecked(false);
        showError(tr("Local server"), error);
    });
}

void MainWindow::buildMenus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    QAction* openModel = file->addAction(QIcon::fromTheme("document-open"), tr("&Open model..."), this, [this] {
        openFiles(tr("Open a model (.gguf)"), tr("GGUF models (*.gguf)"), false);
    });
    openModel->setShortcuts(standard_keys(QKeySequence::Open, "Ctrl+O"));
    file->addAction(tr("Open model &folder..."), this,
                    [this] { openFiles(tr("Open a Hugging Face model folder"), {}, true); });
    QAction* openAdapter = file->addAction(tr("Open &adapter folder..."), this, [this] {
        openFiles(tr("Open a PEFT adapter folder (or a folder of adapters)"), {}, true);
    });
    openAdapter->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_O));
    file->addAction(tr("Open adapter &archive..."), this, [this] {
        openFiles(tr("Open adapters.tar.gz"), tr("Adapter archives (*.tar.gz *.tgz *.tar)"), false);
    });
    file->addSeparator();
    file->addAction(tr("Open &conversation..."), this, &MainWindow::openConversation);
    QAction* save = file->addAction(QIcon::fromTheme("document-save"), tr("&Save conversation..."), this,
                                    &MainWindow::saveConversation);
    save->setShortcuts(standard_keys(QKeySequence::Save, "Ctrl+S"));
    file->addSeparator();
    QAction* quit = file->addAction(QIcon::fromTheme("application-exit"), tr("&Quit"), this, &QWidget::close);
    quit->setShortcuts(standard_keys(QKeySequence::Quit, "Ctrl+Q"));

    QMenu* view = menuBar()->addMenu(tr("&View"));
    for (QDockWidget* d : findChildren<QDockWidget*>()) view->addAction(d->toggleViewAction());
    view->addSeparator();
    darkAction_ = view->addAction(tr("&Dark palette"));
    darkAction_->setCheckable(true);
    darkAction_->setChecked(store_.theme() == Theme::Dark);
    connect(darkAction_, &QAction::toggled, this, [this](bool dark) { setTheme(dark ? Theme::Dark : Theme::Light); });
    QAction* fullScreen = view->addAction(tr("&Full screen"));
    fullScreen->setCheckable(true);
    fullScreen->setShortcut(QKeySequence(Qt::Key_F11));
    connect(fullScreen, &QAction::toggled, this, [this](bool on) { on ? showFullScreen() : showNormal(); });

    QMenu* tools = menuBar()->addMenu(tr("&Tools"));
    QAction* load = tools->addAction(tr("&Load generator..."), this, &MainWindow::showLoadGenerator);
    load->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_L));
    QAction* settings =
        tools->addAction(QIcon::fromTheme("preferences-system"), tr("&Settings..."), this, &MainWindow::editSettings);
    settings->setShortcuts(standard_keys(QKeySequence::Preferences, "Ctrl+,"));
    settings->setMenuRole(QAction::PreferencesRole);

    QMenu* serverMenu = menuBar()->addMenu(tr("&Server"));
    serverAction_ = serverMenu->addAction(tr("&Local OpenAI-compatible server"));
    serverAction_->setCheckable(true);
    connect(serverAction_, &QAction::triggered, this, &MainWindow::setServerRunning);

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About LoRA Workbench"), this, [this] {
        QMessageBox::about(this, tr("About LoRA Workbench"),
                           tr("<b>LoRA Workbench %1</b><p>Many LoRA adapters on one base model, batched together; "
                              "chat with them side by side and watch the memory pool, the adapter cache and "
                              "every batch.</p>")
                               .arg(QStringLiteral(LW_VERSION)));
    });
}

void MainWindow::buildStatusBar() {
    backendLabel_ = new QLabel(tr("starting..."));
    poolLabel_ = new QLabel;
    busyLabel_ = new QLabel;
    busyBar_ = new QProgressBar;
    busyBar_->setRange(0, 0);  // the engine's loads report no fraction: an indeterminate bar
    busyBar_->setMaximumWidth(120);
    busyBar_->hide();
    statusBar()->addPermanentWidget(busyLabel_);
    statusBar()->addPermanentWidget(busyBar_);
    statusBar()->addPermanentWidget(poolLabel_);
    statusBar()->addPermanentWidget(backendLabel_);
}

void MainWindow::connectBridge() {
    connect(bridge_, &EngineBridge::engineStarted, this, [this](const QString& backend) {
        backendLabel_->setText(backend);
        --enginesStarting_;
        startServerIfWanted();
    });
    connect(bridge_, &EngineBridge::engineFailed, this, [this](const QString& error) {
        --enginesStarting_;
        backendLabel_->setText(tr("no engine"));
        showError(tr("The engine"), error);
    });
    connect(bridge_, &EngineBridge::baseLoaded, this, &MainWindow::onBaseLoaded);
    connect(bridge_, &EngineBridge::adapterLoaded, this, &MainWindow::onAdapterLoaded);
    connect(bridge_, &EngineBridge::adapterUnloaded, library_, &ModelLibrary::removeAdapter);
    connect(bridge_, &EngineBridge::loadFailed, this, &MainWindow::showError);
    connect(bridge_, &EngineBridge::metricsUpdated, views_, &LiveViews::showSnapshot);
    connect(bridge_, &EngineBridge::metricsUpdated, this, &MainWindow::showPoolUse);
    connect(bridge_, &EngineBridge::busyChanged, this, [this](bool busy, const QString& what) {
        busyBar_->setVisible(busy);
        busyLabel_->setText(busy ? what : QString());
    });
}

void MainWindow::onBaseLoaded(const ModelEntry& base) {
    library_->addBase(base);
    lastBase_ = base.name;
    statusBar()->showMessage(tr("Loaded %1").arg(base.name), kErrorMessageMs);
    if (base.path == pendingBasePath_) {
        pendingBasePath_.clear();
        chatsOnLoad_.insert(base.name);
        for (const auto& [name, path] : std::exchange(pendingAdapters_, {})) {
            chatsOnLoad_.insert(name);
            bridge_->loadAdapter(name, path, base.name);
        }
    }
    if (chatsOnLoad_.remove(base.name)) grid_->openPane(base.name);
}

void MainWindow::onAdapterLoaded(const ModelEntry& adapter) {
    library_->addAdapter(adapter);
    statusBar()->showMessage(
        tr("Loaded adapter %1 (rank %2) for %3").arg(adapter.name).arg(adapter.rank).arg(adapter.base),
        kErrorMessageMs);
    if (chatsOnLoad_.remove(adapter.name)) grid_->openPane(adapter.name);
}

void MainWindow::showPoolUse(const workbench::MetricsPtr& snapshot) {
    library_->showResidency(*snapshot);
    const std::size_t total = snapshot->pages.size();
    if (total == 0) return poolLabel_->clear();
    const double used = 100.0 * static_cast<double>(total - snapshot->pages_free) / static_cast<double>(total);
    poolLabel_->setText(tr("pool %1% used (KV %2, adapters %3 of %4 pages)")
                            .arg(used, 0, 'f', 0)
                            .arg(snapshot->pages_kv)
                            .arg(snapshot->pages_adapter)
                            .arg(total));
}

void MainWindow::showError(const QString& what, const QString& error) {
    const QString message = error.contains(what) ? error : tr("%1: %2").arg(what, error);
    statusBar()->showMessage(message, kErrorMessageMs);
    // Not modal: the window (and any test driving it) carries on while it is shown.
    auto* box = new QMessageBox(QMessageBox::Warning, tr("LoRA Workbench"), message, QMessageBox::Ok, this);
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->setObjectName(QStringLiteral("errorBox"));
    box->open();
}

void MainWindow::openPaths(const QStringList& paths, const QString& base) {
    QString target = base;
    if (target.isEmpty()) target = libraryView_->selectedBase();
    if (target.isEmpty()) target = lastBase_;
    for (const QString& path : paths) importer_->import(path, target);
}

void MainWindow::openWithChats(const QString& basePath, const QList<QPair<QString, QString>>& adapters) {
    pendingBasePath_ = basePath;
    pendingAdapters_ = adapters;
    bridge_->loadBase(basePath);
}

void MainWindow::openFiles(const QString& title, const QString& filter, bool folder) {
    const QString start = store_.lastFolder();
    QStringList paths;
    if (folder) {
        const QString dir = QFileDialog::getExistingDirectory(this, title, start);
        if (!dir.isEmpty()) paths.append(dir);
    } else {
        paths = QFileDialog::getOpenFileNames(this, title, start, filter);
    }
    if (paths.isEmpty()) return;
    store_.setLastFolder(QFileInfo(paths.first()).absolutePath());
    openPaths(paths);
}

void MainWindow::saveConversation() {
    const QString path =
        QFileDialog::getSaveFileName(this, tr("Save conversation"), store_.lastFolder(), tr("Conversations (*.json)"));
    if (path.isEmpty()) return;
    try {
        grid_->save(path);
        statusBar()->showMessage(tr("Saved %1").arg(path), kErrorMessageMs);
    } catch (const std::exception& e) {
        showError(path, QString::fromStdString(e.what()));
    }
}

void MainWindow::openConversation() {
    const QString path =
        QFileDialog::getOpenFileName(this, tr("Open conversation"), store_.lastFolder(), tr("Conversations (*.json)"));
    if (path.isEmpty()) return;
    try {
        grid_->open(path);
    } catch (const std::exception& e) {
        showError(path, QString::fromStdString(e.what()));
    }
}

void MainWindow::editSettings() {
    SettingsDialog dialog(store_.engine(), store_.server(), this);
    if (dialog.exec() != QDialog::Accepted) return;
    const ServerSettings server = dialog.serverSettings();
    const bool serverChanged = server.host != store_.server().host || server.port != store_.server().port ||
                               server.apiKey != store_.server().apiKey;
    store_.setServer(server);
    applyEngineSettings(dialog.engineSettings());
    if (serverChanged && server_->isRunning()) {
        server_->stop();
        startServerIfWanted();
    }
}

void MainWindow::showLoadGenerator() {
    if (!loadDialog_) loadDialog_ = new LoadGeneratorDialog(loadGenerator_, this);
    loadDialog_->setModels(library_->baseNames() + library_->adapterNames());
    loadDialog_->show();
    loadDialog_->raise();
}

void MainWindow::applyEngineSettings(const EngineSettings& settings) {
    store_.setEngine(settings);
    if (settings == bridge_->settings()) return;
    server_->stop();  // it serves the old engine; engineStarted starts it again on the new one
    backendLabel_->setText(tr("restarting..."));
    startEngine(settings);
}

void MainWindow::startEngine(const EngineSettings& settings) {
    ++enginesStarting_;
    bridge_->start(settings);
}

void MainWindow::startServerIfWanted() {
    // While a (re)start is queued on the engine thread, bridge_->engine() is an engine
    // about to be destroyed: the server waits for the last engineStarted.
    if (serverWanted_ && enginesStarting_ == 0) server_->start(bridge_->engine(), store_.server(), lastBase_);
}

void MainWindow::setTheme(Theme theme) {
    store_.setTheme(theme);
    applyTheme(theme);
    darkAction_->setChecked(theme == Theme::Dark);
}

void MainWindow::setServerRunning(bool running) {
    serverWanted_ = running;
    if (running)
        startServerIfWanted();
    else
        server_->stop();
}

void MainWindow::showEvent(QShowEvent* event) {
    QMainWindow::showEvent(event);
    if (!std::exchange(firstRun_, false)) return;
    // First run: roomier docks than their minimum, once the window has its size.
    QTimer::singleShot(0, this, [this] {
        resizeDocks({findChild<QDockWidget*>("libraryDock"), findChild<QDockWidget*>("liveViewsDock")},
                    {width() / 6, width() / 3}, Qt::Horizontal);
    });
}

void MainWindow::closeEvent(QCloseEvent* event) {
    store_.setWindow(saveGeometry(), saveState());
    server_->stop();
    event->accept();
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
    if (DropImport::localPaths(event->mimeData()).isEmpty()) return event->ignore();
    event->acceptProposedAction();
}

void MainWindow::dragMoveEvent(QDragMoveEvent* event) {
    if (DropImport::localPaths(event->mimeData()).isEmpty()) return event->ignore();
    event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event) {
    const QStringList paths = DropImport::localPaths(event->mimeData());
    if (paths.isEmpty()) return event->ignore();
    event->acceptProposedAction();
    openPaths(paths);
}

}  // namespace workbench
