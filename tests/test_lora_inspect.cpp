// lora-inspect end to end: the README's command on the committed tiny model, its
// adapters (folder, LMI folder, archive) and a wrong-base adapter that must be
// reported without stopping the others.
#include "support/test_support.h"

namespace {

lw::test::ProcessRun inspect(const QStringList& args) {
    return lw::test::run_process(LW_INSPECT_EXE, args);
}

QString data(const char* relative) {
    return lw::test::data_arg(relative);
}

}  // namespace

class TestLoraInspect : public QObject {
    Q_OBJECT
private slots:
    void describesModelAndAdapters() {
        const lw::test::ProcessRun r =
            inspect({data("models/tiny_llama"), "--adapter", "qv=" + data("peft/qv_r8"), "--adapters-dir",
                     data("peft/lmi"), "--adapters-archive", data("peft/adapters.tar.gz")});
        QVERIFY2(r.exit_code == 0, qPrintable(r.out));
        QVERIFY(r.out.contains("architecture   LlamaForCausalLM"));
        QVERIFY(r.out.contains("4 heads, 2 kv heads, head_dim 16"));
        QVERIFY(r.out.contains("llama3 scaling x8 from 64 positions"));
        QVERIFY(r.out.contains("rank 8, alpha 16, 6 modules on 3 layers, targets q_proj, v_proj"));
        QVERIFY(r.out.contains("found 2 adapters in " + data("peft/adapters.tar.gz")));
        QVERIFY(r.out.contains("5 of 5 adapters usable"));
    }
    void reportsABadAdapterAndChecksTheRest() {
        const lw::test::ProcessRun r =
            inspect({data("models/tiny_llama"), "--adapter", "wrong=" + data("peft/wrong_base"), "--adapter",
                     "ok=" + data("peft/all_r4_rslora_bin")});
        QCOMPARE(r.exit_code, 1);
        QVERIFY2(r.out.contains("REJECTED: adapter 'wrong'") && r.out.contains("expected [4, 64]"), qPrintable(r.out));
        QVERIFY(r.out.contains("rank 2-4, alpha 8 (rsLoRA), 21 modules"));
        QVERIFY(r.out.contains("1 of 2 adapters usable"));
    }
    void rejectsAHostileArchive() {
        const lw::test::ProcessRun r =
            inspect({data("models/tiny_llama"), "--adapters-archive", data("archives/absolute_path.tar.gz")});
        QCOMPARE(r.exit_code, 1);
        QVERIFY2(r.out.contains("has an absolute path"), qPrintable(r.out));
    }
    void failsClearlyOnAMissingModel() {
        const lw::test::ProcessRun r = inspect({data("models/no_such_model")});
        QCOMPARE(r.exit_code, 1);
        QVERIFY2(r.out.contains("no_such_model"), qPrintable(r.out));
    }
    void usageErrors() {
        QCOMPARE(inspect({}).exit_code, 2);
        QCOMPARE(inspect({data("models/tiny_llama"), "--adapter", "no-equals-sign"}).exit_code, 2);
        QCOMPARE(inspect({"--help"}).exit_code, 0);
    }
};

QTEST_GUILESS_MAIN(TestLoraInspect)
#include "test_lora_inspect.moc"
