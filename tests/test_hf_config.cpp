// config.json -> ModelConfig, compared with what transformers reads from the same
// files (published configs and variants; tools/fixtures/make_safetensors_fixtures.py).
#include "support/test_support.h"

#include "core/error.h"
#include "formats/hf_config.h"

#include <nlohmann/json.hpp>

#include <cmath>

namespace {

nlohmann::json load(const std::string& relative) {
    return nlohmann::json::parse(lw::test::read_file(lw::test::data_path(relative)));
}

lw::RopeScaling::Type rope_type(const std::string& name) {
    if (name == "linear") return lw::RopeScaling::Type::Linear;
    if (name == "llama3") return lw::RopeScaling::Type::Llama3;
    return lw::RopeScaling::Type::None;
}

}  // namespace

class TestHfConfig : public QObject {
    Q_OBJECT
private slots:
    void readsConfigsAsTransformersDoes_data() {
        QTest::addColumn<QString>("name");
        const auto expected = load("hf_config/expected.json");
        for (const auto& [name, v] : expected.items()) QTest::newRow(name.c_str()) << QString::fromStdString(name);
    }
    void readsConfigsAsTransformersDoes() {
        QFETCH(QString, name);
        const auto want = load("hf_config/expected.json")[name.toStdString()];
        const auto c = lw::read_hf_config(lw::test::data_path("hf_config/" + name.toStdString() + ".json"));
        const std::string model_type = want["model_type"];
        const char* arch = model_type == "llama"     ? "LlamaForCausalLM"
                           : model_type == "mistral" ? "MistralForCausalLM"
                                                     : "Qwen2ForCausalLM";
        QCOMPARE(c.architecture, std::string(arch));
        QCOMPARE(c.vocab_size, want["vocab_size"].get<int>());
        QCOMPARE(c.hidden_size, want["hidden_size"].get<int>());
        QCOMPARE(c.intermediate_size, want["intermediate_size"].get<int>());
        QCOMPARE(c.num_layers, want["num_hidden_layers"].get<int>());
        QCOMPARE(c.num_heads, want["num_attention_heads"].get<int>());
        QCOMPARE(c.num_kv_heads, want["num_key_value_heads"].get<int>());
        QCOMPARE(c.head_dim, want["head_dim"].get<int>());
        QCOMPARE(c.max_position_embeddings, want["max_position_embeddings"].get<int>());
        QCOMPARE(c.rms_norm_eps, want["rms_norm_eps"].get<float>());
        const auto& rope = want["rope_parameters"];
        QCOMPARE(c.rope_theta, rope["rope_theta"].get<float>());
        QCOMPARE(c.rope_scaling.type, rope_type(rope["rope_type"]));
        if (c.rope_scaling.type != lw::RopeScaling::Type::None)
            QCOMPARE(c.rope_scaling.factor, rope["factor"].get<float>());
        if (c.rope_scaling.type == lw::RopeScaling::Type::Llama3) {
            QCOMPARE(c.rope_scaling.low_freq_factor, rope["low_freq_factor"].get<float>());
            QCOMPARE(c.rope_scaling.high_freq_factor, rope["high_freq_factor"].get<float>());
            QCOMPARE(c.rope_scaling.original_max_position_embeddings,
                     rope["original_max_position_embeddings"].get<int>());
        }
        QCOMPARE(c.tie_word_embeddings, want["tie_word_embeddings"].get<bool>());
        QCOMPARE(c.attention_bias, model_type == "qwen2");
        QCOMPARE(c.sliding_window.has_value(), !want["sliding_window"].is_null());
        if (c.sliding_window) QCOMPARE(*c.sliding_window, want["sliding_window"].get<int>());
        QCOMPARE(c.bos_token_id.has_value(), !want["bos_token_id"].is_null());
        if (c.bos_token_id) QCOMPARE(*c.bos_token_id, want["bos_token_id"].get<std::int32_t>());
        QCOMPARE(c.eos_token_ids, want["eos_token_ids"].get<std::vector<std::int32_t>>());
        QCOMPARE(c.torch_dtype, want["dtype"].get<std::string>());
    }

    void refusesWhatTheEngineCannotRun_data() {
        QTest::addColumn<QString>("name");
        const auto expected = load("hf_config/bad/expected_errors.json");
        for (const auto& [name, v] : expected.items()) QTest::newRow(name.c_str()) << QString::fromStdString(name);
    }
    void refusesWhatTheEngineCannotRun() {
        QFETCH(QString, name);
        const auto fragments = load("hf_config/bad/expected_errors.json")[name.toStdString()];
        const std::string path = lw::test::data_path("hf_config/bad/" + name.toStdString() + ".json").string();
        const std::string msg = lw::test::error_of([&] { lw::read_hf_config(path); });
        QVERIFY2(!msg.empty(), "no error");
        QVERIFY2(msg.find(path) != std::string::npos, msg.c_str());
        for (const auto& f : fragments) QVERIFY2(msg.find(f.get<std::string>()) != std::string::npos, msg.c_str());
    }

    void malformedTextAndMissingFile() {
        LW_EXPECT_ERROR(lw::parse_hf_config_text("{\"vocab_size\": ", "cfg.json"), "cfg.json", "not valid JSON");
        LW_EXPECT_ERROR(lw::parse_hf_config_text("[1]", "cfg.json"), "cfg.json", "expected a JSON object");
        LW_EXPECT_ERROR(lw::parse_hf_config_text("{}", "cfg.json"), "cfg.json", "'architectures' nor 'model_type'");
        LW_EXPECT_ERROR(lw::read_hf_config(lw::test::data_path("hf_config/absent.json")), "absent.json", "cannot open");
        const std::string huge = R"({"model_type": "llama", "vocab_size": 99999999999, "hidden_size": 8,
            "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2})";
        LW_EXPECT_ERROR(lw::parse_hf_config_text(huge, "cfg.json"), "'vocab_size' is out of range");
    }

    void generationConfigEosReplacesTheConfigs() {
        auto c = lw::read_hf_config(lw::test::data_path("hf_config/llama2_7b_chat.json"));
        lw::apply_generation_config(nlohmann::json::parse(R"({"eos_token_id": [2, 32000]})"), "gen.json", c);
        QCOMPARE(c.eos_token_ids, (std::vector<std::int32_t>{2, 32000}));
        lw::apply_generation_config(nlohmann::json::parse(R"({"eos_token_id": 7, "bos_token_id": 1})"), "gen.json", c);
        QCOMPARE(c.eos_token_ids, (std::vector<std::int32_t>{7}));
        lw::apply_generation_config(nlohmann::json::parse(R"({"do_sample": true})"), "gen.json", c);
        QCOMPARE(c.eos_token_ids, (std::vector<std::int32_t>{7}));
        LW_EXPECT_ERROR(lw::apply_generation_config(nlohmann::json::parse(R"({"eos_token_id": "x"})"), "gen.json", c),
                        "gen.json", "'eos_token_id' must be an integer");
    }
};

QTEST_APPLESS_MAIN(TestHfConfig)
#include "test_hf_config.moc"
