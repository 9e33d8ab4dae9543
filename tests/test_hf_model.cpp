// Hugging Face model folders saved by transformers (tests/data/models, made by
// tools/fixtures/make_torch_fixtures.py) and broken copies of them.
#include "support/test_support.h"

#include "core/error.h"
#include "core/half.h"
#include "model/hf_model.h"

#include <QTemporaryDir>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <fstream>

namespace fs = std::filesystem;

namespace {

nlohmann::json read_json(const fs::path& p) {
    return nlohmann::json::parse(lw::test::read_file(p));
}
void write_json(const fs::path& p, const nlohmann::json& j) {
    lw::test::write_file(p, j.dump(1));
}

float element(const lw::TensorView& t, std::size_t i) {
    if (t.dtype == lw::DType::F32) {
        float v;
        std::memcpy(&v, t.data.data() + 4 * i, 4);
        return v;
    }
    std::uint16_t h;
    std::memcpy(&h, t.data.data() + 2 * i, 2);
    return t.dtype == lw::DType::F16 ? lw::f16_to_f32(h) : lw::bf16_to_f32(h);
}

const char* dtype_of_torch(const std::string& torch) {
    return torch == "float32" ? "F32" : torch == "float16" ? "F16" : torch == "bfloat16" ? "BF16" : "?";
}

// How many times /proc/self/maps shows this file mapped.
int times_mapped(const fs::path& file) {
    const std::string maps = lw::test::read_file("/proc/self/maps");
    const std::string needle = fs::canonical(file).string();
    int n = 0;
    for (std::size_t at = maps.find(needle); at != std::string::npos; at = maps.find(needle, at + 1)) ++n;
    return n;
}

// A writable copy of a fixture model folder.
fs::path copy_model(const QTemporaryDir& dir, const std::string& model) {
    const fs::path to = fs::path(dir.path().toStdString()) / model;
    fs::copy(lw::test::data_path("models/" + model), to, fs::copy_options::recursive);
    return to;
}

}  // namespace

class TestHfModel : public QObject {
    Q_OBJECT
private slots:
    void loadsTransformersModels_data() {
        QTest::addColumn<QString>("model");
        QTest::newRow("llama sharded F32 llama3 rope GQA") << "tiny_llama";
        QTest::newRow("qwen2 BF16 tied with bias") << "tiny_qwen2";
        QTest::newRow("mistral F16 sliding window") << "tiny_mistral";
    }
    void loadsTransformersModels() {
        QFETCH(QString, model);
        const fs::path folder = lw::test::data_path("models/" + model.toStdString());
        const auto expected = read_json(folder / "expected.json");
        const lw::HfModel m = lw::load_hf_model(folder);
        QCOMPARE(m.name, model.toStdString());
        const auto& want = expected["config"];
        QCOMPARE(m.config.hidden_size, want["hidden_size"].get<int>());
        QCOMPARE(m.config.num_layers, want["num_hidden_layers"].get<int>());
        QCOMPARE(m.config.num_kv_heads, want["num_key_value_heads"].get<int>());
        QCOMPARE(m.config.tie_word_embeddings, want["tie_word_embeddings"].get<bool>());
        QCOMPARE(m.config.rope_theta, want["rope_parameters"]["rope_theta"].get<float>());

        // Exactly the tensors inference uses, each as transformers saved it.
        std::size_t compared = 0;
        for (const auto& [name, t] : expected["tensors"].items()) {
            if (!m.weights.contains(name)) {
                QVERIFY2(name == "lm_head.weight" && m.config.tie_word_embeddings, name.c_str());
                continue;
            }
            const lw::TensorView& v = m.weights.get(name);
            QCOMPARE(v.shape, t["shape"].get<std::vector<std::int64_t>>());
            QCOMPARE(std::string(lw::dtype_name(v.dtype)), std::string(dtype_of_torch(t["dtype"])));
            const auto first = t["first"].get<std::vector<double>>();
            for (std::size_t i = 0; i < first.size(); ++i) QCOMPARE(static_cast<double>(element(v, i)), first[i]);
            double sum = 0;
            for (std::int64_t i = 0; i < v.numel(); ++i) sum += element(v, static_cast<std::size_t>(i));
            const double want_sum = t["sum"].get<double>();
            QVERIFY2(std::abs(sum - want_sum) <= 1e-9 * (1 + std::abs(want_sum)), name.c_str());
            ++compared;
        }
        QCOMPARE(m.weights.all().size(), compared);
        QCOMPARE(m.weights.all().size(), lw::expected_tensor_shapes(m.config).size());
    }

    void mapsEachShardOnce() {
        const fs::path folder = lw::test::data_path("models/tiny_llama");
        const fs::path shard = folder / "model-00001-of-00003.safetensors";
        QCOMPARE(times_mapped(shard), 0);
        {
            const lw::HfModel m = lw::load_hf_model(folder);
            for (int i = 1; i <= 3; ++i)
                QCOMPARE(times_mapped(folder / ("model-0000" + std::to_string(i) + "-of-00003.safetensors")), 1);
            QCOMPARE(
                m.weights.total_bytes(),
                std::size_t(
                    read_json(folder / "model.safetensors.index.json")["metadata"]["total_size"].get<std::size_t>()));
        }
        QCOMPARE(times_mapped(shard), 0);  // unmapped with the weights
    }

    void ignoresTensorsInferenceDoesNotUse() {
        const lw::HfModel m = lw::load_hf_model(lw::test::data_path("safetensors/tiny_llama_extra"));
        QVERIFY(m.config.tie_word_embeddings);
        QVERIFY(!m.weights.contains("model.layers.0.self_attn.rotary_emb.inv_freq"));
        QVERIFY(!m.weights.contains("model.layers.0.self_attn.q_proj.bias"));
        QVERIFY(!m.weights.contains("step"));
        QVERIFY(!m.weights.contains("lm_head.weight"));
        QCOMPARE(m.weights.all().size(), std::size_t(11));
    }

    void singleFileWinsOverAnIndex() {
        QTemporaryDir dir;
        const fs::path folder = copy_model(dir, "tiny_qwen2");
        write_json(folder / "model.safetensors.index.json",
                   {{"weight_map", {{"model.norm.weight", "model-00001-of-00002.safetensors"}}}});
        QCOMPARE(lw::load_hf_model(folder).weights.all().size(), std::size_t(26));
    }

    void generationConfigEosWins() {
        QTemporaryDir dir;
        const fs::path folder = copy_model(dir, "tiny_mistral");
        write_json(folder / "generation_config.json", {{"eos_token_id", {2, 7}}});
        QCOMPARE(lw::load_hf_model(folder).config.eos_token_ids, (std::vector<std::int32_t>{2, 7}));
    }

    void brokenFoldersAreNamed() {
        QTemporaryDir dir;
        const fs::path folder = copy_model(dir, "tiny_llama");
        const fs::path index_path = folder / "model.safetensors.index.json";
        const auto index = read_json(index_path);
        auto with_map = [&](const std::function<void(nlohmann::json&)>& edit) {
            auto j = index;
            edit(j["weight_map"]);
            write_json(index_path, j);
        };

        with_map([](auto& m) { m["model.extra.weight"] = "model-00001-of-00003.safetensors"; });
        LW_EXPECT_ERROR(lw::load_hf_model(folder), "model.safetensors.index.json", "'model.extra.weight'",
                        "model-00001-of-00003.safetensors, which lacks it");
        with_map([](auto& m) { m["model.norm.weight"] = "../model-00003-of-00003.safetensors"; });
        LW_EXPECT_ERROR(lw::load_hf_model(folder), "'model.norm.weight'", "not a file name in the model folder");
        with_map([](auto& m) { m["model.norm.weight"] = 3; });
        LW_EXPECT_ERROR(lw::load_hf_model(folder), "'model.norm.weight' must be a file name");
        with_map([](auto& m) { m.erase("lm_head.weight"); });
        const std::string folder_name = folder.string();
        LW_EXPECT_ERROR(lw::load_hf_model(folder), folder_name.c_str(), "tensor 'lm_head.weight' is missing",
                        "[320, 64]");
        write_json(index_path, {{"metadata", {}}});
        LW_EXPECT_ERROR(lw::load_hf_model(folder), "model.safetensors.index.json", "'weight_map'");
        write_json(index_path, index);

        auto config = read_json(folder / "config.json");
        config["intermediate_size"] = 128;
        write_json(folder / "config.json", config);
        LW_EXPECT_ERROR(lw::load_hf_model(folder), "'model.layers.0.mlp.down_proj.weight' has shape [64, 160]",
                        "expected [64, 128]");
        fs::remove(folder / "config.json");
        LW_EXPECT_ERROR(lw::load_hf_model(folder), "no config.json");
        fs::copy(lw::test::data_path("models/tiny_llama/config.json"), folder / "config.json");

        fs::remove(folder / "model-00002-of-00003.safetensors");
        LW_EXPECT_ERROR(lw::load_hf_model(folder), "model-00002-of-00003.safetensors", "cannot open");
        fs::remove(index_path);
        LW_EXPECT_ERROR(lw::load_hf_model(folder), "no model.safetensors or model.safetensors.index.json");
        LW_EXPECT_ERROR(lw::load_hf_model(folder / "config.json"), "not a model folder");
    }

    void weightsValidation() {
        lw::ModelConfig c;
        c.vocab_size = 4;
        c.hidden_size = 2;
        c.intermediate_size = 3;
        c.num_layers = 1;
        c.num_heads = c.num_kv_heads = 1;
        c.head_dim = 2;
        c.attention_bias = true;
        const auto shapes = lw::expected_tensor_shapes(c);
        QCOMPARE(shapes.size(), std::size_t(15));  // embed, norm, lm_head, 2 norms, 7 linears, 3 biases
        QCOMPARE(shapes.at("model.layers.0.self_attn.k_proj.bias"), (std::vector<std::int64_t>{2}));
        QCOMPARE(shapes.at("model.layers.0.mlp.down_proj.weight"), (std::vector<std::int64_t>{2, 3}));
        QVERIFY(!shapes.count("model.layers.0.self_attn.o_proj.bias"));
        c.tie_word_embeddings = true;
        QVERIFY(!lw::expected_tensor_shapes(c).count("lm_head.weight"));

        static const std::byte zeros[64] = {};
        lw::ModelWeights w;
        for (const auto& [name, shape] : lw::expected_tensor_shapes(c)) {
            lw::TensorView t{name, lw::DType::F32, shape, {}};
            t.data = std::span(zeros, lw::dtype_bytes(t.dtype, t.numel()));
            w.add(t);
        }
        lw::validate_weights(w, c, "mem");
        LW_EXPECT_ERROR(w.add(w.get("model.norm.weight")), "'model.norm.weight' added twice");
        LW_EXPECT_ERROR(w.get("nope"), "no tensor 'nope'");

        lw::ModelWeights ints;
        for (const auto& [name, t] : w.all()) {
            auto copy = t;
            if (name == "model.norm.weight") copy.dtype = lw::DType::I32;
            ints.add(copy);
        }
        LW_EXPECT_ERROR(lw::validate_weights(ints, c, "mem"), "mem", "'model.norm.weight' has dtype I32",
                        "expected a float type");
    }
};

QTEST_APPLESS_MAIN(TestHfModel)
#include "test_hf_model.moc"
