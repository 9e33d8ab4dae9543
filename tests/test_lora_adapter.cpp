// LoRA adapters end to end: every adapter PEFT saved (safetensors and .bin) and the
// hand-made torch variants load to exactly the modules, ranks, scales and values PEFT
// reports in expected.json; tensors that cannot be placed and adapters that do not
// fit their base are refused naming the tensor, expected and actual shape.
#include "support/test_support.h"

#include "core/dequantize.h"
#include "formats/hf_config.h"
#include "model/lora_adapter.h"

#include <QTemporaryDir>

#include <nlohmann/json.hpp>

#include <cmath>

namespace {

namespace fs = std::filesystem;

lw::ModelConfig tiny_llama() {
    return lw::read_hf_config(lw::test::data_path("models/tiny_llama/config.json"));
}

lw::DType dtype_from_torch(const std::string& name) {
    if (name == "float32") return lw::DType::F32;
    if (name == "float16") return lw::DType::F16;
    if (name == "bfloat16") return lw::DType::BF16;
    qFatal("unexpected dtype %s in expected.json", name.c_str());
}

// Compares one tensor with PEFT's summary of it: shape, dtype, float64 sum, first values.
bool matches(const lw::TensorView& t, const nlohmann::json& e, std::string& why) {
    if (t.shape != e["shape"].get<std::vector<std::int64_t>>())
        return why = "shape " + lw::shape_string(t.shape), false;
    if (t.dtype != dtype_from_torch(e["dtype"])) return why = "dtype", false;
    std::vector<float> v(static_cast<std::size_t>(t.numel()));
    lw::dequantize(t, v);
    double sum = 0;
    for (float x : v) sum += x;
    if (std::abs(sum - e["sum"].get<double>()) > 1e-9) return why = "sum " + std::to_string(sum), false;
    for (std::size_t i = 0; i < e["first"].size(); ++i)
        if (double(v[i]) != e["first"][i].get<double>()) return why = "value " + std::to_string(i), false;
    return true;
}

// Loads adapters/<name> and checks every module against expected.json's entry.
void check_against_expected(const fs::path& folder, const nlohmann::json& expected) {
    const auto adapter = lw::load_lora_adapter(folder);
    const auto& modules = expected["modules"];
    QCOMPARE(adapter.modules.size(), modules.size());
    for (std::size_t i = 0; i < modules.size(); ++i) {
        const auto& m = adapter.modules[i];
        const auto& e = modules[i];
        const std::string where = folder.filename().string() + " module " + std::to_string(i);
        QVERIFY2(m.layer == e["layer"].get<int>(), where.c_str());
        QVERIFY2(m.module == e["module"].get<std::string>(), where.c_str());
        QVERIFY2(m.rank == e["rank"].get<int>(), where.c_str());
        QVERIFY2(m.scale == static_cast<float>(e["scale"].get<double>()), where.c_str());
        std::string why;
        QVERIFY2(matches(m.a, e["a"], why), (where + " lora_A: " + why).c_str());
        QVERIFY2(matches(m.b, e["b"], why), (where + " lora_B: " + why).c_str());
    }
}

nlohmann::json read_json(const fs::path& p) {
    return nlohmann::json::parse(lw::test::read_file(p));
}

// A copy of a real adapter with its adapter_config.json fields replaced.
fs::path adapter_with_config(const QTemporaryDir& dir, const std::string& from, const nlohmann::json& changes) {
    const fs::path src = lw::test::data_path("peft/" + from);
    const fs::path dst = fs::path(dir.path().toStdString()) / from;
    fs::create_directories(dst);
    for (const auto& f : fs::directory_iterator(src)) fs::copy_file(f.path(), dst / f.path().filename());
    auto config = read_json(src / "adapter_config.json");
    config.update(changes);
    lw::test::write_file(dst / "adapter_config.json", config.dump());
    return dst;
}

// A safetensors file of 4-byte zeros (F32 unless told) with the given tensor names and shapes.
void write_safetensors(const fs::path& p, const std::vector<std::pair<std::string, std::vector<std::int64_t>>>& ts,
                       const std::string& dtype = "F32") {
    nlohmann::json header = nlohmann::json::object();
    std::size_t offset = 0;
    for (const auto& [name, shape] : ts) {
        std::size_t n = 4;
        for (auto d : shape) n *= static_cast<std::size_t>(d);
        header[name] = {{"dtype", dtype}, {"shape", shape}, {"data_offsets", {offset, offset + n}}};
        offset += n;
    }
    const std::string h = header.dump();
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((h.size() >> (8 * i)) & 0xff);
    lw::test::write_file(p, bytes + h + std::string(offset, '\0'));
}

}  // namespace

class TestLoraAdapter : public QObject {
    Q_OBJECT
private slots:
    void loadsEveryAdapterPeftSaved() {
        const auto expected = read_json(lw::test::data_path("peft/expected.json"));
        QCOMPARE(expected.size(), std::size_t(5));
        for (const auto& [name, e] : expected.items()) check_against_expected(lw::test::data_path("peft/" + name), e);
    }
    void loadsHandMadeTorchVariants() {
        const auto expected = read_json(lw::test::data_path("peft/handmade/expected.json"));
        for (const auto& [name, e] : expected.items())
            check_against_expected(lw::test::data_path("peft/handmade/" + name), e);
    }
    void describesTheAdapter() {
        const auto a = lw::load_lora_adapter(lw::test::data_path("peft/all_r4_rslora_bin/adapter_model.bin"));
        QCOMPARE(a.name, std::string("all_r4_rslora_bin"));
        QCOMPARE(a.targets(), lw::linear_module_names());
        QCOMPARE(a.max_rank(), 4);
        // bf16: per layer q 4*64+64*4, k and v 4*64+32*4, o 4*64+64*4, gate and up 4*64+160*4, down 2*160+64*2
        QCOMPARE(a.weight_bytes(), std::size_t(3 * 2 * (512 + 384 + 384 + 512 + 896 + 896 + 448)));
        const auto qv = lw::load_lora_adapter(lw::test::data_path("peft/qv_r8"), "custom");
        QCOMPARE(qv.name, std::string("custom"));
        QCOMPARE(qv.targets(), (std::vector<std::string>{"q_proj", "v_proj"}));
    }
    void validatesAgainstTheBase() {
        const auto base = tiny_llama();
        for (const char* name : {"qv_r8", "all_r4_rslora_bin", "regex_targets", "layers_subset"})
            lw::validate_lora_adapter(lw::load_lora_adapter(lw::test::data_path(std::string("peft/") + name)), base,
                                      16);
        lw::validate_lora_adapter(lw::load_lora_adapter(lw::test::data_path("peft/handmade/proto4_ordered")), base, 16);
    }
    void refusesAdapterForAnotherBase() {
        const auto wrong = lw::load_lora_adapter(lw::test::data_path("peft/wrong_base"));
        LW_EXPECT_ERROR(lw::validate_lora_adapter(wrong, tiny_llama(), 64), "adapter 'wrong_base'",
                        "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", "has shape [4, 48]",
                        "expected [4, 64]");
        auto two_layers = tiny_llama();
        two_layers.num_layers = 2;
        LW_EXPECT_ERROR(
            lw::validate_lora_adapter(lw::load_lora_adapter(lw::test::data_path("peft/qv_r8")), two_layers, 64),
            "model.layers.2.self_attn.q_proj", "beyond the base's 2 layers");
    }
    void refusesRanksAboveTheMaximum() {
        LW_EXPECT_ERROR(
            lw::validate_lora_adapter(lw::load_lora_adapter(lw::test::data_path("peft/qv_r8")), tiny_llama(), 4),
            "adapter 'qv_r8'", "model.layers.0.self_attn.q_proj has rank 8, above max_lora_rank 4");
    }
    void refusesTargetsWithoutWeights() {
        QTemporaryDir dir;
        const auto more = adapter_with_config(dir, "qv_r8", {{"target_modules", {"q_proj", "v_proj", "k_proj"}}});
        LW_EXPECT_ERROR(lw::validate_lora_adapter(lw::load_lora_adapter(more), tiny_llama(), 64),
                        "targets model.layers.0.self_attn.k_proj but the adapter has no weights for it");
        const auto norm = adapter_with_config(
            dir, "layers_subset", {{"target_modules", R"(.*\.1\.mlp\.(gate|up)_proj|.*\.1\.input_layernorm)"}});
        LW_EXPECT_ERROR(lw::validate_lora_adapter(lw::load_lora_adapter(norm), tiny_llama(), 64),
                        "targets model.layers.1.input_layernorm, which is not one of the linear modules");
    }
    void refusesTensorsThatCannotBePlaced() {
        QTemporaryDir dir;
        const auto untargeted = adapter_with_config(dir, "qv_r8", {{"target_modules", {"q_proj"}}});
        LW_EXPECT_ERROR(lw::load_lora_adapter(untargeted), "adapter_model.safetensors",
                        "tensor base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight",
                        "model.layers.0.self_attn.v_proj", "does not target");
        const auto rank = adapter_with_config(dir, "all_r4_rslora_bin", {{"rank_pattern", nlohmann::json::object()}});
        LW_EXPECT_ERROR(lw::load_lora_adapter(rank), "adapter_model.bin",
                        "tensor base_model.model.model.layers.0.mlp.down_proj.lora_A.weight", "has shape [2, 160]",
                        "expected [4, 160]", "rank 4");

        const fs::path folder = fs::path(dir.path().toStdString()) / "bad_keys";
        lw::test::write_file(folder / "adapter_config.json", R"({"r": 2, "target_modules": ["q_proj", "o_proj"]})");
        const std::string q = "base_model.model.model.layers.0.self_attn.q_proj.";
        const std::string qa = q + "lora_A.weight";
        auto with = [&](std::vector<std::pair<std::string, std::vector<std::int64_t>>> ts) {
            write_safetensors(folder / "adapter_model.safetensors", ts);
            return folder;
        };
        LW_EXPECT_ERROR(lw::load_lora_adapter(with({{"base_model.model.lm_head.lora_A.weight", {2, 64}}})),
                        "cannot place tensor base_model.model.lm_head.lora_A.weight");
        LW_EXPECT_ERROR(lw::load_lora_adapter(with({{q + "lora_A.weight", {2, 64}}})), qa.c_str(), "has lora_A",
                        "but no lora_B");
        LW_EXPECT_ERROR(
            lw::load_lora_adapter(with({{q + "lora_A.weight", {2, 64}}, {q + "lora_A.default.weight", {2, 64}}})),
            "are the same weight");
        LW_EXPECT_ERROR(lw::load_lora_adapter(with({{q + "lora_magnitude_vector.weight", {64}}})),
                        "not a lora_A or lora_B weight");
        LW_EXPECT_ERROR(
            lw::load_lora_adapter(with({{"base_model.model.model.layers.0.mlp.o_proj.lora_A.weight", {2, 64}}})),
            "module under the wrong block");
        LW_EXPECT_ERROR(
            lw::load_lora_adapter(with({{"base_model.model.model.layers.x.self_attn.q_proj.lora_A.weight", {2, 64}}})),
            "bad layer index");
        LW_EXPECT_ERROR(
            lw::load_lora_adapter(with({{q + "lora_A.weight", {2, 64, 1}}, {q + "lora_B.weight", {64, 2}}})),
            qa.c_str(), "has shape [2, 64, 1], expected 2 dimensions");
        LW_EXPECT_ERROR(lw::load_lora_adapter(with({})), "holds no tensors");
        write_safetensors(folder / "adapter_model.safetensors", {{qa, {2, 64}}, {q + "lora_B.weight", {64, 2}}}, "I32");
        LW_EXPECT_ERROR(lw::load_lora_adapter(folder), qa.c_str(), "has dtype I32, expected F32, F16, BF16 or F64");
    }
    void refusesWhatIsNotAnAdapter() {
        QTemporaryDir dir;
        const fs::path root = dir.path().toStdString();
        LW_EXPECT_ERROR(lw::load_lora_adapter(root), "no adapter_config.json");
        lw::test::write_file(root / "adapter_config.json", R"({"target_modules": ["q_proj"]})");
        LW_EXPECT_ERROR(lw::load_lora_adapter(root), "no adapter_model.safetensors or adapter_model.bin");
        LW_EXPECT_ERROR(lw::load_lora_adapter(root / "notes.txt"), "notes.txt", "not a PEFT adapter");
        // A hostile pickle inside an adapter folder is refused before anything else.
        fs::copy_file(lw::test::data_path("peft/hostile/global_os_system.bin"), root / "adapter_model.bin");
        LW_EXPECT_ERROR(lw::load_lora_adapter(root), "refusing global os.system");
    }
};

QTEST_APPLESS_MAIN(TestLoraAdapter)
#include "test_lora_adapter.moc"
