// Stop strings over text that arrives in pieces: nothing that could begin a stop string
// is shown until the next piece settles it, a stop string split across pieces is found,
// the text ends right before the earliest match, and what was held back comes out at the end.
#include "support/test_support.h"

#include "core/error.h"
#include "runtime/stop_checker.h"

namespace {

// Feeds `pieces` and returns what was shown, "|" between pushes, "#" at a stop.
std::string stream(lw::StopChecker& c, const std::vector<std::string>& pieces) {
    std::string shown;
    for (const std::string& p : pieces) {
        const auto r = c.push(p);
        shown += r.text + (r.stopped ? "#" : "|");
        if (r.stopped) break;
    }
    return shown;
}

}  // namespace

class TestStopChecker : public QObject {
    Q_OBJECT
private slots:
    void holdsBackWhatMightBeginAStopString() {
        lw::StopChecker c({"END"});
        QCOMPARE(stream(c, {"hello E", "N", "d and", " more"}), std::string("hello ||ENd and| more|"));
        QCOMPARE(c.flush(), std::string());
    }
    void findsAStopStringSplitAcrossPieces() {
        lw::StopChecker c({"END"});
        QCOMPARE(stream(c, {"the E", "N", "D was here"}), std::string("the ||#"));
    }
    void endsBeforeTheEarliestOfSeveralStops() {
        lw::StopChecker c({"world", "lo w"});
        QCOMPARE(stream(c, {"hello world"}), std::string("hel#"));
        lw::StopChecker d({"\n\n", "."});
        QCOMPARE(stream(d, {"one\n", "two. three"}), std::string("one|\ntwo#"));
    }
    void aStopStringOverlappingItselfIsFound() {
        lw::StopChecker c({"aab"});
        QCOMPARE(stream(c, {"xa", "a", "a", "b"}), std::string("x||a|#"));
    }
    void givesOutHeldTextAtTheEnd() {
        lw::StopChecker c({"<|end|>"});
        QCOMPARE(stream(c, {"result: 42 <|e"}), std::string("result: 42 |"));
        QCOMPARE(c.flush(), std::string("<|e"));
        QCOMPARE(c.flush(), std::string());
    }
    void withoutStopStringsEverythingPasses() {
        lw::StopChecker c({});
        QCOMPARE(stream(c, {"a", "b"}), std::string("a|b|"));
    }
    void rejectsEmptyStopStrings() { LW_EXPECT_ERROR(lw::StopChecker({"ok", ""}), "stop strings must not be empty"); }
};

QTEST_GUILESS_MAIN(TestStopChecker)
#include "test_stop_checker.moc"
