// lw::load_model: a Hugging Face folder with its tokenizer files and chat template,
// or a GGUF file with its embedded vocabulary and template.
#include "support/compressed_fixture.h"
#include "support/test_support.h"

#include "core/error.h"
#include "model/model_loader.h"

#include <QTemporaryDir>

#include <nlohmann/json.hpp>

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A writable copy of a fixture model folder, with SmolLM2's tokenizer.json if asked.
fs::path model_copy(const QTemporaryDir& dir, const std::string& model, bool with_tokenizer) {
    const fs::path to = fs::path(dir.path().toStdString()) / model;
    fs::copy(lw::test::data_path("models/" + model), to, fs::copy_options::recursive);
    if (with_tokenizer)
        lw::test::write_file(to / "tokenizer.json",
                             lw::test::read_compressed(lw::test::data_path("tokenizers/smollm2/tokenizer.json.xz")));
    return to;
}

const char* kTemplate = "{{ bos_token }}{% for m in messages %}[{{ m['role'] }}]{{ m['content'] }}{% endfor %}";
const json kMessages = json::array({{{"role", "user"}, {"content", "hi"}}});

}  // namespace

class TestModelLoader : public QObject {
    Q_OBJECT
private slots:
    void hfFolderWithTokenizerFiles() {
        QTemporaryDir dir;
        const fs::path folder = model_copy(dir, "tiny_qwen2", true);
        const json tokenizer_config = {
            {"bos_token", {{"content", "<|im_start|>"}, {"lstrip", false}, {"special", true}}},
            {"eos_token", "<|im_end|>"},
            {"chat_template", json::array({{{"name", "tool_use"}, {"template", "TOOLS"}},
                                           {{"name", "default"}, {"template", kTemplate}}})}};
        lw::test::write_file(folder / "tokenizer_config.json", tokenizer_config.dump());

        const lw::LoadedModel m = lw::load_model(folder);
        QCOMPARE(m.name, std::string("tiny_qwen2"));
        QCOMPARE(m.format, std::string("safetensors"));
        QCOMPARE(m.path, folder);
        QCOMPARE(m.config.architecture, std::string("Qwen2ForCausalLM"));
        QCOMPARE(m.weights.all().size(), lw::expected_tensor_shapes(m.config).size());
        QVERIFY(m.tokenizer.has_value());
        QCOMPARE(m.tokenizer->encode("Hello world!", false), (std::vector<lw::TokenId>{19556, 905, 17}));
        QCOMPARE(m.special.bos, std::string("<|im_start|>"));
        QCOMPARE(m.special.eos, std::string("<|im_end|>"));
        // The tokenizer takes its BOS/EOS ids from tokenizer_config.json, not from guesses.
        QCOMPARE(m.tokenizer->bos_id(), m.tokenizer->token_to_id("<|im_start|>"));
        QCOMPARE(m.tokenizer->eos_id(), m.tokenizer->token_to_id("<|im_end|>"));
        QVERIFY(m.tokenizer->bos_id().has_value() && m.tokenizer->eos_id().has_value());
        QVERIFY(m.chat_template.has_value());
        QCOMPARE(m.chat_template->text(), std::string(kTemplate));
        QCOMPARE(m.chat_template->apply(kMessages, false, m.special.bos, m.special.eos),
                 std::string("<|im_start|>[user]hi"));
    }

    void chatTemplateJinjaFileWins() {
        QTemporaryDir dir;
        const fs::path folder = model_copy(dir, "tiny_mistral", false);
        lw::test::write_file(folder / "tokenizer_config.json", json{{"chat_template", "FROM CONFIG"}}.dump());
        lw::test::write_file(folder / "chat_template.jinja", kTemplate);
        const lw::LoadedModel m = lw::load_model(folder);
        QCOMPARE(m.chat_template->text(), std::string(kTemplate));
        fs::remove(folder / "chat_template.jinja");
        QCOMPARE(lw::load_model(folder).chat_template->text(), std::string("FROM CONFIG"));
    }

    void specialTokensFallBackToTheConfigIds() {
        // No tokenizer_config.json: BOS/EOS text comes from config.json's ids (1, 2).
        QTemporaryDir dir;
        const lw::LoadedModel m = lw::load_model(model_copy(dir, "tiny_llama", true));
        QCOMPARE(m.special.bos, std::string("<|im_start|>"));
        QCOMPARE(m.special.eos, std::string("<|im_end|>"));
        QVERIFY(!m.chat_template.has_value());
    }

    void bareFolderHasNoTokenizer() {
        const lw::LoadedModel m = lw::load_model(lw::test::data_path("models/tiny_llama"));
        QCOMPARE(m.format, std::string("safetensors"));
        QVERIFY(!m.tokenizer.has_value());
        QVERIFY(!m.chat_template.has_value());
        QVERIFY(m.special.bos.empty() && m.special.eos.empty());
        QCOMPARE(m.config.num_layers, 3);
    }

    void ggufFile() {
        const fs::path path = lw::test::data_path("gguf/tiny_llama_twin.gguf");
        const lw::LoadedModel m = lw::load_model(path);
        QCOMPARE(m.format, std::string("gguf"));
        QCOMPARE(m.name, std::string("tiny_llama_twin"));
        QCOMPARE(m.path, path);
        QVERIFY(m.tokenizer.has_value());
        QCOMPARE(m.tokenizer->vocab_size(), std::size_t(320));
        QCOMPARE(m.special.bos, std::string("<s>"));
        QCOMPARE(m.special.eos, std::string("</s>"));
        QVERIFY(m.chat_template.has_value());
        QCOMPARE(m.chat_template->apply(kMessages, true, m.special.bos, m.special.eos),
                 std::string("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"));
        QCOMPARE(m.weights.all().size(), lw::expected_tensor_shapes(m.config).size());
    }

    void badInputIsNamed() {
        LW_EXPECT_ERROR(lw::load_model("/nonexistent/model"), "/nonexistent/model", "no such file or folder");
        const std::string st = lw::test::data_path("safetensors/dtypes.safetensors").string();
        LW_EXPECT_ERROR(lw::load_model(st), "dtypes.safetensors", "expected a Hugging Face model folder");

        QTemporaryDir dir;
        const fs::path folder = model_copy(dir, "tiny_mistral", false);
        lw::test::write_file(folder / "tokenizer_config.json", json{{"bos_token", 1}}.dump());
        LW_EXPECT_ERROR(lw::load_model(folder), "tokenizer_config.json", "'bos_token' must be a string");
        lw::test::write_file(folder / "tokenizer_config.json", json{{"chat_template", json::array({"x"})}}.dump());
        LW_EXPECT_ERROR(lw::load_model(folder), "tokenizer_config.json: chat_template", "entries must be");
        lw::test::write_file(folder / "tokenizer_config.json", "{");
        LW_EXPECT_ERROR(lw::load_model(folder), "tokenizer_config.json", "not valid JSON");
    }
};

QTEST_APPLESS_MAIN(TestModelLoader)
#include "test_model_loader.moc"
