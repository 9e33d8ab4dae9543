// Dropping files on the workbench: adapter folders, one of an adapter's files, LMI's
// adapters/ layout and adapters.tar.gz archives end up in the library tree under the
// base they were dropped on; a .gguf becomes a base; bad drops say what is wrong,
// naming the file, and leave the window working.
#include "library_view.h"
#include "support/test_support.h"
#include "workbench/window_test_env.h"

#include <QFile>
#include <QMessageBox>
#include <QStatusBar>

using namespace workbench;

class TestLibraryDrop : public QObject {
    Q_OBJECT

    std::unique_ptr<lw::test::WindowTestEnv> env_;
    std::unique_ptr<MainWindow> window_;
    QString base_;

    QWidget* libraryViewport() const { return window_->libraryView()->viewport(); }
    // The middle of the base model's row in the library.
    QPoint baseRowCentre() const {
        return window_->libraryView()->visualRect(window_->library()->indexOf(base_)).center();
    }
    // The adapter's row under the base, waited for.
    bool waitForAdapter(const QString& name) const {
        const ModelLibrary* library = window_->library();
        return QTest::qWaitFor([&] { return library->indexOf(name).isValid(); }, 10000) &&
               library->indexOf(name).parent() == library->indexOf(base_);
    }
    QString statusMessage() const { return window_->statusBar()->currentMessage(); }

private slots:
    void initTestCase() { env_ = std::make_unique<lw::test::WindowTestEnv>(); }

    void init() {
        window_ = std::make_unique<MainWindow>();
        window_->show();
        QVERIFY(QTest::qWaitForWindowExposed(window_.get()));
        // The model itself arrives by a drop on the library.
        QSignalSpy loaded(window_->bridge(), &EngineBridge::baseLoaded);
        QVERIFY(lw::test::dropFiles(libraryViewport(), QPoint(10, 10), {env_->modelPath()}));
        QVERIFY(loaded.wait(10000));
        base_ = loaded[0][0].value<ModelEntry>().name;
        QVERIFY(window_->library()->indexOf(base_).isValid());
    }

    void cleanup() { window_.reset(); }

    void adapterFolderDroppedOnItsBase() {
        QVERIFY(lw::test::dropFiles(libraryViewport(), baseRowCentre(), {lw::test::data_arg("peft/qv_r8")}));
        QVERIFY(waitForAdapter("qv_r8"));
        const QModelIndex row = window_->library()->indexOf("qv_r8");
        const auto column = [&](int c) { return row.siblingAtColumn(c).data().toString(); };
        QCOMPARE(column(ModelLibrary::Rank), QStringLiteral("8"));
        QCOMPARE(column(ModelLibrary::Targets), QStringLiteral("q_proj, v_proj"));
        QVERIFY(!column(ModelLibrary::Size).isEmpty());
        // The metrics fill in its tier (registered adapters start on disk or in host RAM).
        QTRY_VERIFY_WITH_TIMEOUT(!column(ModelLibrary::Tier).isEmpty(), 5000);
        QCOMPARE(column(ModelLibrary::Hits), QStringLiteral("0"));
    }

    void adapterFileDroppedOnTheWindow() {
        QVERIFY(lw::test::dropFiles(window_.get(), QPoint(400, 300),
                                    {lw::test::data_arg("peft/layers_subset/adapter_model.safetensors")}));
        QVERIFY(waitForAdapter("layers_subset"));
    }

    void archiveDroppedOnTheLibrary() {
        QVERIFY(lw::test::dropFiles(libraryViewport(), baseRowCentre(), {lw::test::data_arg("peft/adapters.tar.gz")}));
        QVERIFY(waitForAdapter("layers_subset"));
        QVERIFY(waitForAdapter("qv_r8"));
        // Unpacked into a scratch folder, not beside the archive.
        QVERIFY(!window_->library()->indexOf("qv_r8").data(ModelLibrary::PathRole).toString().contains("tests/data"));
    }

    void lmiFolderDropped() {
        QVERIFY(lw::test::dropFiles(libraryViewport(), baseRowCentre(), {lw::test::data_arg("peft/lmi")}));
        QVERIFY(waitForAdapter("layers_subset"));
        QVERIFY(waitForAdapter("qv_r8"));
    }

    void ggufDroppedBecomesABase() {
        QSignalSpy loaded(window_->bridge(), &EngineBridge::baseLoaded);
        QVERIFY(
            lw::test::dropFiles(window_.get(), QPoint(400, 300), {lw::test::data_arg("gguf/tiny_llama_twin.gguf")}));
        QVERIFY(loaded.wait(10000));
        QCOMPARE(window_->library()->baseNames().size(), 2);
        QCOMPARE(loaded[0][0].value<ModelEntry>().format, QStringLiteral("gguf"));
    }

    void badDropsNameTheFile() {
        QTemporaryDir dir;
        const QString notes = dir.filePath("notes.txt");
        QFile file(notes);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write("not an adapter");
        file.close();
        QVERIFY(lw::test::dropFiles(libraryViewport(), baseRowCentre(), {notes}));
        QVERIFY2(statusMessage().contains(notes), qPrintable(statusMessage()));
        QVERIFY(statusMessage().contains("adapter_config.json"));
        QTRY_VERIFY(window_->findChild<QMessageBox*>("errorBox") != nullptr);

        const QString gone = dir.filePath("gone");
        QVERIFY(lw::test::dropFiles(window_.get(), QPoint(400, 300), {gone}));
        QVERIFY2(statusMessage().contains(gone), qPrintable(statusMessage()));
        QVERIFY(statusMessage().contains("no such file"));

        // A corrupt archive is refused after unpacking fails off the GUI thread.
        const QString broken = dir.filePath("adapters.tar.gz");
        QVERIFY(QFile::copy(lw::test::data_arg("peft/hostile/not_zip.bin"), broken));
        QVERIFY(lw::test::dropFiles(window_.get(), QPoint(400, 300), {broken}));
        QTRY_VERIFY2(statusMessage().contains(broken), qPrintable(statusMessage()));

        // An adapter made for another base: the engine refuses it, naming it.
        QVERIFY(lw::test::dropFiles(libraryViewport(), baseRowCentre(), {lw::test::data_arg("peft/wrong_base")}));
        QTRY_VERIFY_WITH_TIMEOUT(statusMessage().contains("wrong_base"), 10000);
        QVERIFY(!window_->library()->indexOf("wrong_base").isValid());

        // Text or web links are not files: the drag is not even accepted.
        QMimeData text;
        text.setText("hello");
        QDragEnterEvent enter(QPoint(10, 10), Qt::CopyAction, &text, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(libraryViewport(), &enter);
        QVERIFY(!enter.isAccepted());

        // The window still works: a good drop after the bad ones.
        QVERIFY(lw::test::dropFiles(libraryViewport(), baseRowCentre(), {lw::test::data_arg("peft/qv_r8")}));
        QVERIFY(waitForAdapter("qv_r8"));
    }

    void adaptersNeedABaseFirst() {
        MainWindow empty;
        QVERIFY(lw::test::dropFiles(&empty, QPoint(10, 10), {lw::test::data_arg("peft/qv_r8")}));
        QVERIFY(empty.statusBar()->currentMessage().contains("load a base model first"));
        QVERIFY(empty.statusBar()->currentMessage().contains("qv_r8"));
    }
};

QTEST_MAIN(TestLibraryDrop)
#include "test_library_drop.moc"
