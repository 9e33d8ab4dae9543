// --screenshot FILE: drives the window to a state worth showing (three chat panes
// mid-conversation, live views populated), saves a picture of it and quits. Used by
// scripts/screenshot.sh under Xvfb to make docs/screenshot.png.
#pragma once

#include <QObject>
#include <QString>
#include <QTimer>

namespace workbench {

class MainWindow;

class Screenshot : public QObject {
    Q_OBJECT
public:
    Screenshot(MainWindow* window, QString file, QObject* parent = nullptr);

private:
    enum class Stage { WaitingForModels, FirstAnswers, SecondAnswers };
    void tick();
    void save();

    MainWindow* window_;
    QString file_;
    QTimer timer_;
    Stage stage_ = Stage::WaitingForModels;
    int ticks_ = 0;       // in the current stage
    int totalTicks_ = 0;  // to give up waiting and take the picture anyway
};

}  // namespace workbench
