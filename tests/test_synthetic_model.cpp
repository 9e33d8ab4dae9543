// Synthetic models: every named shape is a valid config, weights have the shapes the
// config requires, are N(0, init_std) with norms at 1, and depend on the seed alone
// (not on the thread count); unknown shapes and dtypes are clear errors.
#include "core/half.h"
#include "model/synthetic_model.h"
#include "support/test_support.h"

#include <cmath>
#include <cstring>

namespace {

std::vector<float> as_floats(const lw::TensorView& t) {
    std::vector<float> out(static_cast<std::size_t>(t.numel()));
    for (std::size_t i = 0; i < out.size(); ++i) {
        std::uint16_t h;
        std::memcpy(&h, t.data.data() + 2 * i, 2);
        out[i] = t.dtype == lw::DType::F16 ? lw::f16_to_f32(h) : lw::bf16_to_f32(h);
    }
    return out;
}

}  // namespace

class TestSyntheticModel : public QObject {
    Q_OBJECT
private slots:
    void shapesAreTheirHuggingFaceConfigs() {
        const lw::ModelConfig llama = lw::synthetic_model_config("llama-7b");
        QCOMPARE(llama.hidden_size, 4096);
        QCOMPARE(llama.intermediate_size, 11008);
        QCOMPARE(llama.num_layers, 32);
        QCOMPARE(llama.num_kv_heads, 32);
        const lw::ModelConfig mistral = lw::synthetic_model_config("mistral-7b");
        QCOMPARE(mistral.num_kv_heads, 8);
        QCOMPARE(mistral.intermediate_size, 14336);
        QCOMPARE(mistral.sliding_window.value_or(0), 4096);
        QCOMPARE(lw::synthetic_model_config("llama-13b").num_layers, 40);
        const lw::ModelConfig smol = lw::synthetic_model_config("smollm2-135m");
        QCOMPARE(smol.hidden_size, 576);
        QVERIFY(smol.tie_word_embeddings);
        for (const std::string& shape : lw::synthetic_model_shapes()) lw::synthetic_model_config(shape);
        LW_EXPECT_ERROR(lw::synthetic_model_config("llama-70b"), "unknown model shape 'llama-70b'", "mistral-7b");
    }
    void weightsAreNormalAndSeeded() {
        const lw::ModelConfig c = lw::synthetic_model_config("tiny");
        const lw::LoadedModel a = lw::make_synthetic_model(c, "a", {lw::DType::F16, 7, 0.02f, 1});
        const lw::LoadedModel b = lw::make_synthetic_model(c, "b", {lw::DType::F16, 7, 0.02f, 3});
        const lw::LoadedModel other = lw::make_synthetic_model(c, "c", {lw::DType::F16, 8, 0.02f, 0});
        lw::validate_weights(a.weights, c, "a");
        QCOMPARE(a.weights.all().size(), lw::expected_tensor_shapes(c).size());

        const auto& q = a.weights.get("model.layers.1.self_attn.q_proj.weight");
        const auto& q_b = b.weights.get("model.layers.1.self_attn.q_proj.weight");
        const auto& q_other = other.weights.get("model.layers.1.self_attn.q_proj.weight");
        QVERIFY2(std::memcmp(q.data.data(), q_b.data.data(), q.data.size()) == 0, "same seed, other thread count");
        QVERIFY(std::memcmp(q.data.data(), q_other.data.data(), q.data.size()) != 0);
        const auto& k = a.weights.get("model.layers.1.self_attn.k_proj.weight");
        QVERIFY2(std::memcmp(q.data.data(), k.data.data(), k.data.size()) != 0, "tensors get their own streams");

        const std::vector<float> v = as_floats(a.weights.get("model.embed_tokens.weight"));
        double sum = 0.0, squares = 0.0;
        for (float x : v) {
            QVERIFY(std::isfinite(x));
            sum += x;
            squares += static_cast<double>(x) * x;
        }
        const double mean = sum / v.size(), std = std::sqrt(squares / v.size() - mean * mean);
        QVERIFY2(std::abs(mean) < 0.002 && std::abs(std - 0.02) < 0.001,
                 qPrintable(QString("mean %1 std %2").arg(mean).arg(std)));
        for (float x : as_floats(a.weights.get("model.layers.0.input_layernorm.weight"))) QCOMPARE(x, 1.0f);
    }
    void bf16AndErrors() {
        const lw::ModelConfig c = lw::synthetic_model_config("tiny");
        const lw::LoadedModel m = lw::make_synthetic_model(c, "bf", {lw::DType::BF16, 1, 0.02f, 0});
        QCOMPARE(m.weights.get("lm_head.weight").dtype, lw::DType::BF16);
        QCOMPARE(m.config.torch_dtype, std::string("bfloat16"));
        LW_EXPECT_ERROR(lw::make_synthetic_model(c, "q", {lw::DType::Q8_0, 1, 0.02f, 0}), "synthetic model q",
                        "unsupported dtype Q8_0");
        LW_EXPECT_ERROR(lw::make_synthetic_model(c, "s", {lw::DType::F16, 1, -1.0f, 0}), "init_std must be positive");
        std::vector<std::byte> odd(3);
        LW_EXPECT_ERROR(lw::fill_normal(odd, lw::DType::F16, 1, 0.02f), "3 bytes are not whole F16 values");
    }
};

QTEST_GUILESS_MAIN(TestSyntheticModel)
#include "test_synthetic_model.moc"
