// The workbench's window: the library (dock, left), the chat grid with its broadcast
// bar (centre), the live views (dock, right), the local server's request log (dock,
// bottom); File / View / Tools / Server menus; status bar with the backend, the pool's
// use and what the engine is busy with. Files dropped anywhere on it are imported.
#pragma once

#include "settings_store.h"

#include <QMainWindow>
#include <QSet>

class QLabel;
class QPlainTextEdit;
class QProgressBar;

namespace workbench {

class BroadcastBar;
class ChatGrid;
class DropImport;
class EngineBridge;
class LibraryView;
class LiveViews;
class LoadGenerator;
class LoadGeneratorDialog;
class LocalServer;
class ModelLibrary;
struct ModelEntry;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    // Starts the engine with the stored settings and restores the window's state.
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    // Imports each path (see DropImport); adapters go onto `base`, or onto the selected
    // or last loaded base when it is empty.
    void openPaths(const QStringList& paths, const QString& base = {});
    // Loads a base and these adapters (name -> path) onto it, opening a chat pane for
    // the base and each adapter as they arrive (the command line's models).
    void openWithChats(const QString& basePath, const QList<QPair<QString, QString>>& adapters);

    EngineBridge* bridge() const { return bridge_; }
    ModelLibrary* library() const { return library_; }
    LibraryView* libraryView() const { return libraryView_; }
    ChatGrid* chatGrid() const { return grid_; }
    LiveViews* liveViews() const { return views_; }
    LocalServer* localServer() const { return server_; }
    LoadGenerator* loadGenerator() const { return loadGenerator_; }

    // Switches the engine to new settings, storing them (restarts when they changed).
    void applyEngineSettings(const EngineSettings& settings);
    void setTheme(Theme theme);
    void setServerRunning(bool running);

protected:
    void showEvent(QShowEvent* event) override;
    void closeEvent(QCloseEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dragMoveEvent(QDragMoveEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    void buildMenus();
    void buildDocks();
    void buildStatusBar();
    void connectBridge();
    void startEngine(const EngineSettings& settings);
    void startServerIfWanted();
    void showError(const QString& what, const QString& error);
    void onBaseLoaded(const ModelEntry& base);
    void onAdapterLoaded(const ModelEntry& adapter);
    void showPoolUse(const workbench::MetricsPtr& snapshot);
    void openFiles(const QString& title, const QString& filter, bool folder);
    void saveConversation();
    void openConversation();
    void editSettings();
    void showLoadGenerator();

    SettingsStore store_;
    EngineBridge* bridge_;
    ModelLibrary* library_;
    LibraryView* libraryView_;
    DropImport* importer_;
    ChatGrid* grid_;
    BroadcastBar* broadcast_;
    LiveViews* views_;
    LocalServer* server_;
    LoadGenerator* loadGenerator_;
    LoadGeneratorDialog* loadDialog_ = nullptr;  // made when first shown
    QPlainTextEdit* requestLog_;
    QAction* serverAction_ = nullptr;
    QAction* darkAction_ = nullptr;
    QLabel* backendLabel_;
    QLabel* poolLabel_;
    QLabel* busyLabel_;
    QProgressBar* busyBar_;

    QString lastBase_;           // the last base loaded: where adapters go when nothing is selected
    bool serverWanted_ = false;  // on across engine restarts
    int enginesStarting_ = 0;    // bridge starts not yet answered by engineStarted/engineFailed
    bool firstRun_ = false;      // no stored window state: size the docks when first shown
    // Chat panes to open once these load (command line), and the adapters to load
    // onto the base at this path once it has loaded.
    QSet<QString> chatsOnLoad_;
    QString pendingBasePath_;
    QList<QPair<QString, QString>> pendingAdapters_;
};

}  // namespace workbench
