// adapter_config.json: the fields PEFT writes, PEFT's rules for which modules an adapter
// targets (suffix lists, full-match regexes, layers_to_transform, exclude_modules) and
// for rank_pattern / alpha_pattern, and clear errors for what plain LoRA cannot run.
#include "support/test_support.h"

#include "formats/peft_config.h"

#include <cmath>

namespace {

lw::PeftConfig parse(const std::string& fields) {
    return lw::parse_peft_config(R"({"peft_type": "LORA", "bias": "none", )" + fields + "}", "cfg.json");
}

std::string attn(int layer, const char* m) {
    return "model.layers." + std::to_string(layer) + ".self_attn." + m;
}
std::string mlp(int layer, const char* m) {
    return "model.layers." + std::to_string(layer) + ".mlp." + m;
}

}  // namespace

class TestPeftConfig : public QObject {
    Q_OBJECT
private slots:
    void readsConfigsSavedByPeft() {
        const auto qv = lw::read_peft_config(lw::test::data_path("peft/qv_r8/adapter_config.json"));
        QCOMPARE(qv.r, 8);
        QCOMPARE(qv.lora_alpha, 16.0);
        QVERIFY(!qv.use_rslora);
        QCOMPARE(qv.target_modules, (std::vector<std::string>{"q_proj", "v_proj"}));
        QVERIFY(!qv.target_modules_regex && !qv.layers_to_transform);
        QVERIFY(qv.source.ends_with("qv_r8/adapter_config.json"));

        const auto all = lw::read_peft_config(lw::test::data_path("peft/all_r4_rslora_bin/adapter_config.json"));
        QVERIFY(all.use_rslora);
        QCOMPARE(all.target_modules.size(), std::size_t(7));
        QCOMPARE(all.rank_pattern, (std::vector<std::pair<std::string, int>>{{"down_proj", 2}}));
        QCOMPARE(all.alpha_pattern, (std::vector<std::pair<std::string, double>>{{"o_proj", 3.0}}));

        const auto regex = lw::read_peft_config(lw::test::data_path("peft/regex_targets/adapter_config.json"));
        QVERIFY(regex.target_modules.empty());
        QCOMPARE(*regex.target_modules_regex, std::string(".*\\.layers\\.[01]\\.self_attn\\.(k_proj|o_proj)"));

        const auto subset = lw::read_peft_config(lw::test::data_path("peft/layers_subset/adapter_config.json"));
        QCOMPARE(*subset.layers_to_transform, std::vector<int>{1});
        QCOMPARE(subset.layers_pattern, std::vector<std::string>{"layers"});
    }
    void listTargetsMatchModuleNameSuffixes() {
        const auto c = parse(R"("target_modules": ["q_proj", "mlp.down_proj"])");
        QVERIFY(lw::peft_targets_module(c, attn(0, "q_proj")));
        QVERIFY(lw::peft_targets_module(c, mlp(7, "down_proj")));
        QVERIFY(!lw::peft_targets_module(c, attn(0, "k_proj")));
        QVERIFY(!lw::peft_targets_module(c, "model.layers.0.self_attn.xq_proj"));  // suffix at a dot only
        QVERIFY(lw::peft_targets_module(parse(R"("target_modules": "all-linear")"), mlp(1, "gate_proj")));
    }
    void regexTargetsMustMatchTheWholeName() {
        const auto c = lw::read_peft_config(lw::test::data_path("peft/regex_targets/adapter_config.json"));
        QVERIFY(lw::peft_targets_module(c, attn(0, "k_proj")));
        QVERIFY(lw::peft_targets_module(c, attn(1, "o_proj")));
        QVERIFY(!lw::peft_targets_module(c, attn(2, "k_proj")));
        QVERIFY(!lw::peft_targets_module(c, attn(0, "q_proj")));
        QVERIFY(!lw::peft_targets_module(parse(R"("target_modules": "q_proj")"), attn(0, "q_proj")));
        QVERIFY(!lw::peft_targets_module(parse(R"("target_modules": "model.layers.1")"), attn(1, "q_proj")));
    }
    void layersToTransformLimitsListTargets() {
        const auto subset = lw::read_peft_config(lw::test::data_path("peft/layers_subset/adapter_config.json"));
        QVERIFY(lw::peft_targets_module(subset, mlp(1, "gate_proj")));
        QVERIFY(!lw::peft_targets_module(subset, mlp(0, "gate_proj")));
        QVERIFY(!lw::peft_targets_module(subset, mlp(2, "up_proj")));
        // An int, and no layers_pattern: the first number segment is the layer.
        const auto one = parse(R"("target_modules": ["q_proj"], "layers_to_transform": 2)");
        QVERIFY(lw::peft_targets_module(one, attn(2, "q_proj")));
        QVERIFY(!lw::peft_targets_module(one, attn(12, "q_proj")));
        // A layers_pattern that the name lacks finds no layer, so nothing is targeted.
        const auto other = parse(R"("target_modules": ["q_proj"], "layers_to_transform": [0], "layers_pattern": "h")");
        QVERIFY(!lw::peft_targets_module(other, attn(0, "q_proj")));
        // PEFT ignores layers_to_transform for a regex target.
        const auto regex = parse(R"("target_modules": ".*q_proj", "layers_to_transform": [0])");
        QVERIFY(lw::peft_targets_module(regex, attn(2, "q_proj")));
    }
    void excludeModules() {
        const auto list = parse(R"("target_modules": ["q_proj"], "exclude_modules": ["layers.1.self_attn.q_proj"])");
        QVERIFY(lw::peft_targets_module(list, attn(0, "q_proj")));
        QVERIFY(!lw::peft_targets_module(list, attn(1, "q_proj")));
        const auto regex = parse(R"("target_modules": ["q_proj"], "exclude_modules": ".*\\.[02]\\..*")");
        QVERIFY(!lw::peft_targets_module(regex, attn(0, "q_proj")));
        QVERIFY(lw::peft_targets_module(regex, attn(1, "q_proj")));
    }
    void rankAndAlphaPatternsFirstMatchInFileOrder() {
        // Keys match the end of the name at a dot; the first key in file order wins, so
        // the second one here never applies (sorted order would pick it for layer 1).
        const auto c = parse(R"("r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "down_proj"],
            "rank_pattern": {"self_attn\\.q_proj": 3, "layers\\.1\\.self_attn\\.q_proj": 2, "1\\.mlp\\.down_proj": 2},
            "alpha_pattern": {"model.layers.0.mlp.down_proj": 1.5})");
        QCOMPARE(lw::peft_rank(c, attn(1, "q_proj")), 3);
        QCOMPARE(lw::peft_rank(c, mlp(1, "down_proj")), 2);
        QCOMPARE(lw::peft_rank(c, mlp(11, "down_proj")), 4);  // "11.mlp" is not "1.mlp" at a dot
        QCOMPARE(lw::peft_rank(c, mlp(0, "down_proj")), 4);
        QCOMPARE(lw::peft_alpha(c, mlp(0, "down_proj")), 1.5);
        QCOMPARE(lw::peft_alpha(c, mlp(1, "down_proj")), 8.0);
        QCOMPARE(lw::peft_scale(c, mlp(0, "down_proj")), 1.5 / 4);
        QCOMPARE(lw::peft_scale(c, attn(0, "q_proj")), 8.0 / 3);
    }
    void rsLoraScalesBySquareRoot() {
        const auto all = lw::read_peft_config(lw::test::data_path("peft/all_r4_rslora_bin/adapter_config.json"));
        QCOMPARE(lw::peft_scale(all, attn(0, "q_proj")), 8.0 / 2.0);
        QCOMPARE(lw::peft_scale(all, mlp(2, "down_proj")), 8.0 / std::sqrt(2.0));
        QCOMPARE(lw::peft_scale(all, attn(1, "o_proj")), 3.0 / 2.0);
    }
    void acceptsFanInFanOutAsPeftDoes() {
        // PEFT resets fan_in_fan_out to false for nn.Linear with a warning; the weights are the same.
        QCOMPARE(parse(R"("target_modules": ["q_proj"], "fan_in_fan_out": true)").target_modules.size(),
                 std::size_t(1));
    }
    void refusesWhatPlainLoraCannotRun() {
        LW_EXPECT_ERROR(parse(R"("target_modules": ["q_proj"], "modules_to_save": ["lm_head"])"), "cfg.json",
                        "modules_to_save", "lm_head");
        LW_EXPECT_ERROR(lw::parse_peft_config(R"({"bias": "all", "target_modules": ["q_proj"]})", "cfg.json"),
                        "cfg.json", "'bias'", "\"all\"");
        LW_EXPECT_ERROR(parse(R"("target_modules": ["q_proj"], "use_dora": true)"), "use_dora", "DoRA");
        LW_EXPECT_ERROR(parse(R"("target_modules": ["q_proj"], "lora_bias": true)"), "lora_bias");
        LW_EXPECT_ERROR(lw::parse_peft_config(R"({"peft_type": "IA3", "target_modules": ["q_proj"]})", "cfg.json"),
                        "peft_type", "IA3", "only LORA");
        LW_EXPECT_ERROR(parse(R"("target_modules": ["q_proj", "embed_tokens"])"), "cfg.json", "target_modules",
                        "embed_tokens", "not one of the linear modules");
        LW_EXPECT_ERROR(parse(R"("target_modules": ["lm_head"])"), "target_modules", "lm_head");
        LW_EXPECT_ERROR(parse("\"target_modules\": \".*(proj|head)\""), "target_modules", "matches lm_head");
        LW_EXPECT_ERROR(parse(R"("target_modules": ".*embed_tokens|.*q_proj")"), "matches model.embed_tokens");
        LW_EXPECT_ERROR(parse("\"target_modules\": \"q_proj(\""), "target_modules", "invalid regex 'q_proj('");
    }
    void refusesMalformedFields() {
        LW_EXPECT_ERROR(parse(R"("r": 8)"), "cfg.json", "target_modules", "missing");
        LW_EXPECT_ERROR(parse(R"("target_modules": [])"), "target_modules", "empty");
        LW_EXPECT_ERROR(parse(R"("target_modules": [3])"), "target_modules", "must list strings");
        LW_EXPECT_ERROR(parse(R"("target_modules": ["q_proj"], "r": 0)"), "'r'", "found 0");
        LW_EXPECT_ERROR(parse(R"("target_modules": ["q_proj"], "r": "8")"), "'r'", "must be an integer");
        LW_EXPECT_ERROR(parse(R"("target_modules": ["q_proj"], "lora_alpha": "x")"), "lora_alpha", "number");
        LW_EXPECT_ERROR(parse(R"("target_modules": ["q_proj"], "use_rslora": 1)"), "use_rslora", "true or false");
        LW_EXPECT_ERROR(parse(R"("target_modules": ["q_proj"], "rank_pattern": {"q_proj": 0})"), "rank_pattern",
                        "ranks >= 1");
        LW_EXPECT_ERROR(parse(R"("target_modules": ["q_proj"], "rank_pattern": {"*q": 2})"), "rank_pattern",
                        "invalid regex");
        LW_EXPECT_ERROR(parse(R"("target_modules": ["q_proj"], "rank_pattern": [1])"), "rank_pattern", "object");
        LW_EXPECT_ERROR(parse(R"("target_modules": ["q_proj"], "layers_to_transform": [-1])"), "layers_to_transform");
        LW_EXPECT_ERROR(parse(R"("target_modules": ["q_proj"], "layers_to_transform": "0")"), "layers_to_transform");
        LW_EXPECT_ERROR(lw::parse_peft_config("{\"r\": 8,", "cfg.json"), "cfg.json", "invalid JSON");
        LW_EXPECT_ERROR(lw::parse_peft_config("[1]", "cfg.json"), "cfg.json", "expected a JSON object");
        LW_EXPECT_ERROR(lw::read_peft_config(lw::test::data_path("peft/missing/adapter_config.json")),
                        "adapter_config.json", "cannot open");
    }
    void pathologicalRegexFailsInsteadOfHanging() {
        const auto c = parse(R"("target_modules": "(a|aa)*(a|aa)*(a|aa)*(a|aa)*(a|aa)*(a|aa)*(a|aa)*b")");
        LW_EXPECT_ERROR(lw::peft_targets_module(c, std::string(40, 'a') + "bc"), "cfg.json", "match limit exceeded");
    }
};

QTEST_APPLESS_MAIN(TestPeftConfig)
#include "test_peft_config.moc"
