// Tokenizers against Hugging Face `tokenizers`: every expectation the fixture script
// recorded (tests/data/tokenizers/<model>/expected.json), from tokenizer.json and from
// the GGUF vocabulary of the same model; streaming decode; bad input.
#include "support/compressed_fixture.h"
#include "support/test_support.h"

#include "core/error.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <ctime>
#include <map>
#include <memory>
#include <thread>

namespace {

using nlohmann::json;

const char* const kJsonModels[] = {
    "llama2",         "llama3",          "qwen2", "gpt2", "smollm2", "mistral_v3", "features_metaspace",
    "features_split", "features_prepend"};
const char* const kGgufModels[] = {"llama2", "llama3", "qwen2", "gpt2", "smollm2"};

std::string fixture(const std::string& model, const std::string& file) {
    return lw::test::data_path("tokenizers/" + model + "/" + file).string();
}

const lw::Tokenizer& json_tokenizer(const std::string& model) {
    static std::map<std::string, std::unique_ptr<lw::Tokenizer>> cache;
    auto& slot = cache[model];
    if (!slot) {
        const std::string path = fixture(model, "tokenizer.json.xz");
        slot = std::make_unique<lw::Tokenizer>(lw::Tokenizer::from_json_text(lw::test::read_compressed(path), path));
    }
    return *slot;
}

lw::GgufVocab gguf_vocab(const std::string& model) {
    const json j = json::parse(lw::test::read_compressed(fixture(model, "gguf_vocab.json.xz")));
    lw::GgufVocab v;
    v.model = j["model"];
    v.pre = j["pre"];
    v.tokens = j["tokens"].get<std::vector<std::string>>();
    v.scores = j["scores"].get<std::vector<float>>();
    v.token_types = j["token_types"].get<std::vector<std::int32_t>>();
    v.merges = j["merges"].get<std::vector<std::string>>();
    auto id = [&](const char* key, std::optional<std::int32_t>& out) {
        if (j.contains(key)) out = j[key].get<std::int32_t>();
    };
    auto flag = [&](const char* key, std::optional<bool>& out) {
        if (j.contains(key)) out = j[key].get<bool>();
    };
    id("bos_id", v.bos_id);
    id("eos_id", v.eos_id);
    id("unk_id", v.unk_id);
    id("pad_id", v.pad_id);
    id("eot_id", v.eot_id);
    flag("add_bos", v.add_bos);
    flag("add_eos", v.add_eos);
    flag("add_space_prefix", v.add_space_prefix);
    return v;
}

const lw::Tokenizer& gguf_tokenizer(const std::string& model) {
    static std::map<std::string, std::unique_ptr<lw::Tokenizer>> cache;
    auto& slot = cache[model];
    if (!slot)
        slot = std::make_unique<lw::Tokenizer>(lw::Tokenizer::from_gguf_vocab(gguf_vocab(model), model + ".gguf"));
    return *slot;
}

json expectations(const std::string& model) {
    return json::parse(lw::test::read_file(fixture(model, "expected.json")))["cases"];
}

std::string ids_string(const std::vector<lw::TokenId>& ids) {
    std::string s;
    for (auto id : ids) s += std::to_string(id) + " ";
    return s;
}

std::string streamed(const lw::Tokenizer& tok, const std::vector<lw::TokenId>& ids, bool skip, bool* partial_char) {
    lw::StreamingDecoder dec(tok, skip);
    std::string out;
    for (auto id : ids) {
        const std::string piece = dec.push(id);
        if (lw::utf8::first_invalid(piece) || lw::utf8::complete_prefix(piece) != piece.size()) *partial_char = true;
        out += piece;
    }
    return out + dec.finish();
}

// Checks every recorded case; returns a description of the first few mismatches.
std::string check_all(const lw::Tokenizer& tok, const json& cases, int& checked) {
    std::string errors;
    int shown = 0;
    auto report = [&](const std::string& what) {
        if (shown++ < 5) errors += what + "\n";
    };
    for (const json& c : cases) {
        const std::string text = c["text"];
        const auto ids = c["ids"].get<std::vector<lw::TokenId>>();
        const auto with_special = c["ids_with_special"].get<std::vector<lw::TokenId>>();
        const auto got = tok.encode(text, false);
        if (got != ids) report("encode " + json(text).dump() + ": want " + ids_string(ids) + "got " + ids_string(got));
        const auto got_special = tok.encode(text, true);
        if (got_special != with_special)
            report("encode+special " + json(text).dump() + ": want " + ids_string(with_special) + "got " +
                   ids_string(got_special));
        for (bool skip : {false, true}) {
            const std::string want = c[skip ? "decoded_skip_special" : "decoded"];
            const std::string decoded = tok.decode(with_special, skip);
            if (decoded != want) report("decode " + json(text).dump() + ": got " + json(decoded).dump());
            bool partial = false;
            const std::string stream = streamed(tok, with_special, skip, &partial);
            if (stream != want) report("stream " + json(text).dump() + ": got " + json(stream).dump());
            if (partial) report("stream " + json(text).dump() + " returned half a character");
        }
        ++checked;
    }
    return errors;
}

std::string tokenizer_json(const std::string& model) {
    return lw::test::read_compressed(fixture(model, "tokenizer.json.xz"));
}

}  // namespace

class TestTokenizer : public QObject {
    Q_OBJECT
private slots:
    void tokenizerJsonMatchesHuggingFace_data() {
        QTest::addColumn<QString>("model");
        for (const char* m : kJsonModels) QTest::newRow(m) << QString(m);
    }
    void tokenizerJsonMatchesHuggingFace() {
        QFETCH(QString, model);
        const json cases = expectations(model.toStdString());
        int checked = 0;
        const std::string errors = check_all(json_tokenizer(model.toStdString()), cases, checked);
        QVERIFY2(errors.empty(), errors.c_str());
        QCOMPARE(checked, int(cases.size()));
        QVERIFY(checked >= 80);
    }

    void ggufVocabMatchesHuggingFace_data() {
        QTest::addColumn<QString>("model");
        for (const char* m : kGgufModels) QTest::newRow(m) << QString(m);
    }
    void ggufVocabMatchesHuggingFace() {
        QFETCH(QString, model);
        const json cases = expectations(model.toStdString());
        int checked = 0;
        const std::string errors = check_all(gguf_tokenizer(model.toStdString()), cases, checked);
        QVERIFY2(errors.empty(), errors.c_str());
        QCOMPARE(checked, int(cases.size()));
    }

    void describesItself() {
        QCOMPARE(json_tokenizer("smollm2").describe(), std::string("byte-level BPE, 49152 tokens"));
        QCOMPARE(json_tokenizer("llama2").describe(), std::string("sentencepiece BPE (byte fallback), 32000 tokens"));
        QCOMPARE(gguf_tokenizer("llama3").describe(), std::string("byte-level BPE, 128256 tokens"));
        const auto& llama3 = json_tokenizer("llama3");
        QCOMPARE(llama3.bos_id(), std::optional<lw::TokenId>(128000));
        QCOMPARE(llama3.eos_id(), std::optional<lw::TokenId>(128001));
        QCOMPARE(llama3.token_to_id("<|eot_id|>"), std::optional<lw::TokenId>(128009));
        QVERIFY(llama3.is_special(128009));
        QVERIFY(!llama3.is_special(9906));
        QCOMPARE(llama3.id_to_token(9906), std::string("Hello"));
        QCOMPARE(gguf_tokenizer("llama2").bos_id(), std::optional<lw::TokenId>(1));
        QCOMPARE(gguf_tokenizer("llama2").eos_id(), std::optional<lw::TokenId>(2));
        QVERIFY(gguf_tokenizer("llama2").is_byte_token(3 + 0x41));  // <0x41>
    }

    void bosAndEosCanBeSet() {
        // tokenizer.json does not say which tokens are BOS/EOS; tokenizer_config.json does.
        auto tok = lw::Tokenizer::from_json_text(tokenizer_json("smollm2"), "smollm2.json");
        QCOMPARE(tok.eos_id(), std::optional<lw::TokenId>(0));  // <|endoftext|> by its usual name
        QVERIFY(!tok.bos_id());
        tok.set_bos_eos(1, 2);
        QCOMPARE(tok.bos_id(), std::optional<lw::TokenId>(1));
        QCOMPARE(tok.eos_id(), std::optional<lw::TokenId>(2));
        LW_EXPECT_ERROR(tok.set_bos_eos(99999999, std::nullopt), "smollm2.json", "99999999", "not a token");
    }

    void streamingNeverSplitsCharacters() {
        // Llama-2 spells these in <0xNN> byte tokens; the stream must hold them until whole.
        const auto& tok = json_tokenizer("llama2");
        const std::string text = "🦙 and 👨‍👩‍👧‍👦 and 𝄞 done";
        const auto ids = tok.encode(text, true);
        int byte_tokens = 0;
        for (auto id : ids) byte_tokens += tok.is_byte_token(id);
        QVERIFY(byte_tokens >= 4);
        bool partial = false;
        QCOMPARE(streamed(tok, ids, false, &partial), tok.decode(ids));
        QCOMPARE(streamed(tok, ids, true, &partial), text);
        QVERIFY(!partial);
        // Byte-level: a multi-byte character split across tokens.
        const auto& bl = json_tokenizer("llama3");
        const auto ids3 = bl.encode("日本語 🦙🦙🦙", false);
        QCOMPARE(streamed(bl, ids3, false, &partial), std::string("日本語 🦙🦙🦙"));
        QVERIFY(!partial);
    }

    void streamingMatchesDecodeOnRandomIds() {
        // Random ids make broken byte sequences, lone byte tokens and special tokens in
        // every order; the pushes must still add up to decode() and never split a character.
        std::srand(7);
        for (const char* model : {"llama2", "llama3", "gpt2", "features_metaspace"}) {
            const auto& tok = json_tokenizer(model);
            for (int round = 0; round < 40; ++round) {
                std::vector<lw::TokenId> ids;
                for (int i = 0; i < 200; ++i)
                    ids.push_back(std::rand() % 3 == 0 ? std::rand() % int(tok.vocab_size()) : std::rand() % 300);
                for (bool skip : {false, true}) {
                    bool partial = false;
                    const std::string got = streamed(tok, ids, skip, &partial), want = tok.decode(ids, skip);
                    QVERIFY2(
                        got == want,
                        qPrintable(QString("%1 round %2 skip %3: ids %4\ngot  %5\nwant %6")
                                       .arg(model)
                                       .arg(round)
                                       .arg(skip)
                                       .arg(ids_string(ids).c_str(),
                                            json(got).dump(-1, ' ', false, json::error_handler_t::replace).c_str(),
                                            json(want).dump(-1, ' ', false, json::error_handler_t::replace).c_str())));
                    QVERIFY(!partial);
                }
            }
        }
    }

    void longInputsStayFast() {
        // One 200 000-character piece: quadratic merging would take minutes. CPU time, so
        // that a busy machine does not fail the test.
        const auto& tok = json_tokenizer("llama3");
        const std::string word(200000, 'a');
        const std::clock_t start = std::clock();
        const auto ids = tok.encode(word, false);
        const double seconds = double(std::clock() - start) / CLOCKS_PER_SEC;
        QCOMPARE(tok.decode(ids), word);
        QVERIFY2(seconds < 2.0, qPrintable(QString("took %1 s").arg(seconds)));
        const std::string spaces(100000, ' ');
        QCOMPARE(tok.decode(tok.encode(spaces + "x" + spaces, false)), spaces + "x" + spaces);
    }

    void encodesFromManyThreads() {
        // One tokenizer serves every request thread; its piece cache is shared.
        const auto& tok = json_tokenizer("qwen2");
        const json cases = expectations("qwen2");
        std::vector<std::thread> threads;
        std::vector<int> failures(4, 0);
        for (int t = 0; t < 4; ++t)
            threads.emplace_back([&, t] {
                for (int round = 0; round < 5; ++round)
                    for (const json& c : cases)
                        if (tok.encode(c["text"].get<std::string>(), false) != c["ids"].get<std::vector<lw::TokenId>>())
                            ++failures[t];
            });
        for (auto& th : threads) th.join();
        QCOMPARE(failures, std::vector<int>(4, 0));
    }

    void invalidUtf8IsAnError() {
        const auto& tok = json_tokenizer("qwen2");
        LW_EXPECT_ERROR(tok.encode("ok \xC3\x28 bad"), "not valid UTF-8", "byte 3");
        LW_EXPECT_ERROR(tok.encode("\xED\xA0\x80"), "not valid UTF-8", "byte 0");  // surrogate
        LW_EXPECT_ERROR(tok.encode("abc\xF0\x9F"), "not valid UTF-8", "byte 3");   // truncated
        LW_EXPECT_ERROR(gguf_tokenizer("llama2").encode("\xFF"), "llama2.gguf", "not valid UTF-8");
    }

    void decodeRejectsUnknownIds() {
        const auto& tok = json_tokenizer("gpt2");
        const std::vector<lw::TokenId> bad{50257};
        LW_EXPECT_ERROR(tok.decode(bad), "token id 50257", "0..50256");
        const std::vector<lw::TokenId> negative{-1};
        LW_EXPECT_ERROR(tok.decode(negative), "token id -1");
        LW_EXPECT_ERROR(tok.id_to_token(1 << 30), "no token has id");
    }

    void unsupportedModelsAreNamed() {
        json j = json::parse(tokenizer_json("gpt2"));
        for (const char* type : {"WordPiece", "Unigram", "WordLevel"}) {
            json k = j;
            k["model"]["type"] = type;
            LW_EXPECT_ERROR(lw::Tokenizer::from_json_text(k.dump(), "gpt2/tokenizer.json"), "gpt2/tokenizer.json",
                            "model.type", type);
        }
        json n = j;
        n["normalizer"] = {{"type", "Lowercase"}};
        LW_EXPECT_ERROR(lw::Tokenizer::from_json_text(n.dump(), "t.json"), "t.json", "normalizer.type", "Lowercase");
        json p = j;
        p["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", {{{"type", "Whitespace"}}}}};
        LW_EXPECT_ERROR(lw::Tokenizer::from_json_text(p.dump(), "t.json"), "pre_tokenizer.pretokenizers[0].type",
                        "Whitespace");
        json d = j;
        d["decoder"] = {{"type", "WordPiece"}};
        LW_EXPECT_ERROR(lw::Tokenizer::from_json_text(d.dump(), "t.json"), "decoder.type", "WordPiece");
        json pp = j;
        pp["post_processor"] = {{"type", "RobertaProcessing"}};
        LW_EXPECT_ERROR(lw::Tokenizer::from_json_text(pp.dump(), "t.json"), "post_processor.type", "RobertaProcessing");
        json dr = j;
        dr["model"]["dropout"] = 0.1;
        LW_EXPECT_ERROR(lw::Tokenizer::from_json_text(dr.dump(), "t.json"), "model.dropout");
    }

    void malformedJsonIsNamed() {
        json j = json::parse(tokenizer_json("gpt2"));
        LW_EXPECT_ERROR(lw::Tokenizer::from_json_text("{\"model\": ", "t.json"), "t.json", "not valid JSON");
        LW_EXPECT_ERROR(lw::Tokenizer::from_json_text(std::string(100000, '['), "t.json"), "t.json", "nests deeper");
        LW_EXPECT_ERROR(lw::Tokenizer::from_json_text("[]", "t.json"), "expected an object");
        json m = j;
        m["model"]["merges"][0] = "Ġ zzzz";
        LW_EXPECT_ERROR(lw::Tokenizer::from_json_text(m.dump(), "t.json"), "model.merges[0]", "zzzz",
                        "not in model.vocab");
        json v = j;
        v["model"]["vocab"]["hello"] = 1 << 30;
        LW_EXPECT_ERROR(lw::Tokenizer::from_json_text(v.dump(), "t.json"), "\"hello\"", "1073741824");
        json neg = j;
        neg["model"]["vocab"]["hello"] = -5;
        LW_EXPECT_ERROR(lw::Tokenizer::from_json_text(neg.dump(), "t.json"), "model.vocab[\"hello\"]", "-5");
        json a = j;
        a["added_tokens"][0]["content"] = 7;
        LW_EXPECT_ERROR(lw::Tokenizer::from_json_text(a.dump(), "t.json"), "added_tokens[0].content",
                        "expected a string");
        json r = j;
        r["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
        LW_EXPECT_ERROR(lw::Tokenizer::from_json_text(r.dump(), "t.json"), "pre_tokenizer.pattern", "(unclosed");
        json u = j;
        u["model"]["unk_token"] = "<nope>";
        LW_EXPECT_ERROR(lw::Tokenizer::from_json_text(u.dump(), "t.json"), "model.unk_token", "<nope>");
        LW_EXPECT_ERROR(lw::Tokenizer::from_json_file("/nonexistent/tokenizer.json"), "/nonexistent/tokenizer.json");
    }

    void badGgufVocabIsNamed() {
        lw::GgufVocab v = gguf_vocab("gpt2");
        lw::GgufVocab bert = v;
        bert.model = "bert";
        LW_EXPECT_ERROR(lw::Tokenizer::from_gguf_vocab(bert, "m.gguf"), "m.gguf", "tokenizer.ggml.model", "bert");
        lw::GgufVocab pre = v;
        pre.pre = "mystery";
        LW_EXPECT_ERROR(lw::Tokenizer::from_gguf_vocab(pre, "m.gguf"), "tokenizer.ggml.pre", "mystery");
        lw::GgufVocab bos = v;
        bos.bos_id = 999999;
        LW_EXPECT_ERROR(lw::Tokenizer::from_gguf_vocab(bos, "m.gguf"), "tokenizer.ggml.bos_token_id", "999999");
        lw::GgufVocab types = v;
        types.token_types.pop_back();
        LW_EXPECT_ERROR(lw::Tokenizer::from_gguf_vocab(types, "m.gguf"), "tokenizer.ggml.token_type", "50256");
        lw::GgufVocab merges = v;
        merges.merges[3] = "nospace";
        LW_EXPECT_ERROR(lw::Tokenizer::from_gguf_vocab(merges, "m.gguf"), "tokenizer.ggml.merges[3]", "nospace");
        lw::GgufVocab empty;
        empty.model = "gpt2";
        LW_EXPECT_ERROR(lw::Tokenizer::from_gguf_vocab(empty, "m.gguf"), "tokenizer.ggml.tokens");
        lw::GgufVocab spm = gguf_vocab("llama2");
        spm.scores.resize(10);
        LW_EXPECT_ERROR(lw::Tokenizer::from_gguf_vocab(spm, "m.gguf"), "tokenizer.ggml.scores", "32000");
        lw::GgufVocab utf = v;
        utf.tokens[5] = "\xC0";
        LW_EXPECT_ERROR(lw::Tokenizer::from_gguf_vocab(utf, "m.gguf"), "tokenizer.ggml.tokens", "UTF-8");
    }
};

QTEST_APPLESS_MAIN(TestTokenizer)
#include "test_tokenizer.moc"
