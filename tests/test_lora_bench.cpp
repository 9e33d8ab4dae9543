// lora-bench end to end on the CPU with the tiny synthetic shape: a throughput round
// and a short trace write JSON whose numbers are sane (tokens counted, percentiles
// ordered, SLO attainment a fraction, adapter loads counted), cached adapter folders
// are reused, and bad arguments fail with a message naming the flag.
#include "core/temp_dir.h"
#include "support/test_support.h"

#include <nlohmann/json.hpp>

#include <fstream>

namespace {

lw::test::ProcessRun bench(const QStringList& args) {
    return lw::test::run_process(LW_BENCH_EXE, args);
}

nlohmann::json read_json(const std::filesystem::path& p) {
    std::ifstream in(p);
    return nlohmann::json::parse(in);
}

QString arg(const std::filesystem::path& p) {
    return QString::fromStdString(p.string());
}

void verify_percentiles(const nlohmann::json& p, const char* what) {
    QVERIFY2(p["count"].get<int>() > 0, what);
    const double p50 = p["p50"], p90 = p["p90"], p99 = p["p99"];
    QVERIFY2(p50 > 0.0 && p50 <= p90 && p90 <= p99, qPrintable(QString("%1: %2").arg(what, p.dump().c_str())));
}

const QStringList kTiny{"--model", "tiny", "--backend", "cpu", "--threads", "2", "--pool-mib", "64"};

}  // namespace

class TestLoraBench : public QObject {
    Q_OBJECT
private slots:
    void throughputWithMixedAdapters() {
        const lw::TempDir dir("lora-bench-test");
        const auto json = dir.path() / "throughput.json";
        const lw::test::ProcessRun r =
            bench(QStringList{"throughput"} + kTiny +
                  QStringList{"--batch", "6", "--prompt", "12", "--gen", "16", "--distinct", "3", "--ranks", "8,16",
                              "--adapter-cache", arg(dir.path() / "cache"), "--json", arg(json)});
        QVERIFY2(r.exit_code == 0, qPrintable(r.out));
        QVERIFY2(r.out.contains("decode tokens/s") && r.out.contains("bandwidth floor"), qPrintable(r.out));
        QVERIFY(r.out.contains("3 distinct PEFT folders (3 written now)"));

        const nlohmann::json j = read_json(json);
        QCOMPARE(j["mode"].get<std::string>(), std::string("throughput"));
        QVERIFY(j["command"].get<std::string>().find("--distinct 3") != std::string::npos);
        QVERIFY(j["device"].get<std::string>().starts_with("cpu"));
        QVERIFY(!j["date"].get<std::string>().empty());
        const nlohmann::json& res = j["results"]["runs"][0];
        QCOMPARE(res["generated_tokens"].get<int>(), 6 * 16);
        QVERIFY(res["decode_tokens_per_second"].get<double>() > 0.0);
        verify_percentiles(res["step_seconds"], "step_seconds");
        verify_percentiles(res["itl_seconds"], "itl_seconds");
        LW_COMPARE_JSON(res["distinct_ranks"], nlohmann::json::array({8, 16}));
        const nlohmann::json& bytes = res["bytes_per_step"];
        QVERIFY(bytes["weights"].get<double>() > 0.0 && bytes["kv"].get<double>() > 0.0 &&
                bytes["adapters"].get<double>() > 0.0);
        QCOMPARE(bytes["total"].get<double>(),
                 bytes["weights"].get<double>() + bytes["kv"].get<double>() + bytes["adapters"].get<double>());
        QVERIFY(res["copy_bandwidth_bytes_per_second"].get<double>() > 0.0);
        const double fraction = res["floor_fraction"];
        QVERIFY(fraction > 0.0 && fraction < 10.0);

        // A second run finds the adapter folders in the cache, and sweeps two batch sizes.
        const auto sweep = dir.path() / "sweep.json";
        const lw::test::ProcessRun again =
            bench(QStringList{"throughput"} + kTiny +
                  QStringList{"--batch", "3,4", "--prompt", "8", "--gen", "16", "--distinct", "3", "--ranks", "8,16",
                              "--warmup", "2", "--adapter-cache", arg(dir.path() / "cache"), "--json", arg(sweep)});
        QVERIFY2(again.exit_code == 0, qPrintable(again.out));
        QVERIFY2(again.out.contains("(0 written now)"), qPrintable(again.out));
        const nlohmann::json runs = read_json(sweep)["results"]["runs"];
        QCOMPARE(runs.size(), std::size_t{2});
        QCOMPARE(runs[0]["batch"].get<int>(), 3);
        QCOMPARE(runs[1]["generated_tokens"].get<int>(), 4 * 16);
    }
    void realModelFolder() {
        const lw::TempDir dir("lora-bench-test");
        const auto json = dir.path() / "real.json";
        const lw::test::ProcessRun r = bench({"throughput",
                                              "--model",
                                              lw::test::data_arg("models/tiny_llama"),
                                              "--backend",
                                              "cpu",
                                              "--threads",
                                              "2",
                                              "--pool-mib",
                                              "64",
                                              "--batch",
                                              "2",
                                              "--prompt",
                                              "8",
                                              "--gen",
                                              "8",
                                              "--distinct",
                                              "2",
                                              "--adapter-cache",
                                              arg(dir.path() / "cache"),
                                              "--json",
                                              arg(json)});
        QVERIFY2(r.exit_code == 0, qPrintable(r.out));
        const nlohmann::json j = read_json(json);
        QCOMPARE(j["model"]["synthetic"].get<bool>(), false);
        QCOMPARE(j["model"]["dtype"].get<std::string>(), std::string("F32"));
        QCOMPARE(j["model"]["num_layers"].get<int>(), 3);
        QCOMPARE(j["results"]["runs"][0]["generated_tokens"].get<int>(), 2 * 8);
    }
    void traceWithMoreAdaptersThanThePool() {
        const lw::TempDir dir("lora-bench-test");
        const auto json = dir.path() / "trace.json";
        const lw::test::ProcessRun r =
            bench(QStringList{"trace"} + kTiny + QStringList{"--rate",           "30",
                                                             "--duration",       "1",
                                                             "--input-len",      "8:24",
                                                             "--output-len",     "4:16",
                                                             "--adapters",       "10",
                                                             "--distinct-files", "3",
                                                             "--ranks",          "8-32",
                                                             "--max-loras",      "2",
                                                             "--max-cpu-loras",  "3",
                                                             "--popularity",     "zipf:1.1",
                                                             "--adapter-cache",  arg(dir.path() / "cache"),
                                                             "--json",           arg(json)});
        QVERIFY2(r.exit_code == 0, qPrintable(r.out));
        QVERIFY2(r.out.contains("names share folders round-robin"), qPrintable(r.out));
        QVERIFY(r.out.contains("SLO attainment"));

        const nlohmann::json res = read_json(json)["results"];
        const int sent = res["requests_sent"];
        QVERIFY(sent > 5);
        QCOMPARE(res["requests_finished"].get<int>(), sent);
        QVERIFY(res["requests_per_second"].get<double>() > 0.0);
        verify_percentiles(res["ttft_seconds"], "ttft_seconds");
        verify_percentiles(res["itl_seconds"], "itl_seconds");
        const double slo = res["slo_attainment"];
        QVERIFY(slo >= 0.0 && slo <= 1.0);
        const nlohmann::json& cache = res["adapter_cache"];
        QCOMPARE(cache["registered"].get<int>(), 10);
        // Ten adapters through a pool of two: loads and evictions must have happened.
        QVERIFY2(cache["pool"]["loads"].get<int>() > 2, qPrintable(QString::fromStdString(cache.dump())));
        QVERIFY(cache["pool"]["evictions"].get<int>() > 0);
        QVERIFY(cache["host"]["loads"].get<int>() > 0);
    }
    void traceFromAWarmPool() {
        // Every adapter fits the pool: warmed first, the trace never loads one, and the
        // cache figures are the trace's own (the warm-up's loads are not counted).
        const lw::TempDir dir("lora-bench-test");
        const auto json = dir.path() / "trace.json";
        const lw::test::ProcessRun r =
            bench(QStringList{"trace"} + kTiny +
                  QStringList{"--rate", "30", "--duration", "1", "--input-len", "8:24", "--output-len", "4:16",
                              "--adapters", "4", "--max-loras", "4", "--max-cpu-loras", "4", "--warm-pool",
                              "--adapter-cache", arg(dir.path() / "cache"), "--json", arg(json)});
        QVERIFY2(r.exit_code == 0, qPrintable(r.out));
        const nlohmann::json res = read_json(json)["results"];
        QVERIFY(res["warm_pool"].get<bool>());
        const int sent = res["requests_sent"];
        QCOMPARE(res["requests_finished"].get<int>(), sent);
        const nlohmann::json& pool = res["adapter_cache"]["pool"];
        QVERIFY2(pool["loads"].get<int>() == 0 && pool["misses"].get<int>() == 0 && pool["hits"].get<int>() > 0,
                 qPrintable(QString::fromStdString(pool.dump())));
        QCOMPARE(pool["resident"].get<int>(), 4);
    }
    void badArguments() {
        struct Case {
            QStringList args;
            const char* message;
        };
        const Case cases[] = {
            {{}, "no mode given"},
            {{"throughput", "--batch", "0"}, "--batch must be in [1, 65536], got 0"},
            {{"throughput", "--batch", "x"}, "--batch takes a whole number, got 'x'"},
            {{"throughput", "--distinct", "4", "--batch", "2"}, "--distinct (4) exceeds --batch (2)"},
            {{"trace", "--rate", "-1"}, "--rate must be positive"},
            {{"trace", "--input-len", "9:3"}, "--input-len needs A <= B"},
            {{"trace", "--popularity", "pareto"}, "--popularity takes uniform or zipf:ALPHA"},
            {{"throughput", "--ranks", "8,128"}, "rank 128, above --max-lora-rank 64"},
            {{"throughput", "--targets", "q,lm_head"}, "unknown module 'lm_head_proj'"},
            {{"throughput", "--max-loras", "8", "--max-cpu-loras", "4"}, "--max-cpu-loras (4) must be at least"},
            {{"throughput", "--frobnicate"}, "unknown argument '--frobnicate'"},
            {{"throughput", "--json"}, "--json needs a value"},
        };
        for (const Case& c : cases) {
            const lw::test::ProcessRun r = bench(c.args);
            QVERIFY2(r.exit_code == 2, qPrintable(c.args.join(' ') + ": " + r.out));
            QVERIFY2(r.out.contains(c.message), qPrintable(c.args.join(' ') + ": " + r.out));
        }
        // Arguments that parse but name nothing that exists fail at run time.
        const lw::test::ProcessRun missing =
            bench(QStringList{"throughput"} + QStringList{"--model", "/no/such/model", "--backend", "cpu"});
        QCOMPARE(missing.exit_code, 1);
        QVERIFY2(missing.out.contains("'/no/such/model' is neither a known shape"), qPrintable(missing.out));
        QCOMPARE(bench({"--version"}).exit_code, 0);
        QVERIFY(bench({"--help"}).out.contains("usage: lora-bench"));
    }
};

QTEST_GUILESS_MAIN(TestLoraBench)
#include "test_lora_bench.moc"
