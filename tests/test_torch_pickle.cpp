// The restricted unpickler and the torch.save zip reader: real checkpoints written by
// torch (through PEFT) and by Python's pickle in torch's variants read back; hostile
// and broken ones are refused with a message naming what is wrong, and nothing runs.
#include "support/test_support.h"

#include "core/dequantize.h"
#include "formats/torch_checkpoint.h"
#include "formats/torch_pickle.h"

#include <nlohmann/json.hpp>

#include <map>

namespace {

using namespace std::string_literals;

std::vector<std::byte> bytes(const std::string& s) {
    std::vector<std::byte> out(s.size());
    std::memcpy(out.data(), s.data(), s.size());
    return out;
}

std::vector<lw::PickledTensor> unpickle(const std::string& s, const lw::PickleLimits& limits = {}) {
    return lw::read_torch_state_dict_pickle(bytes(s), "inline.pkl", limits);
}

lw::TorchCheckpoint hostile(const std::string& name) {
    return lw::read_torch_checkpoint(lw::test::data_path("peft/hostile/" + name + ".bin"));
}

std::map<std::string, const lw::TensorView*> by_name(const lw::TorchCheckpoint& c) {
    std::map<std::string, const lw::TensorView*> m;
    for (const auto& t : c.tensors) m[t.name] = &t;
    return m;
}

// A state dict entry as torch pickles it: key -> _rebuild_tensor_v2(storage "0" of `numel`
// floats, offset, size, stride, False, OrderedDict()).
std::string tensor_entry(const std::string& key, const std::string& numel, const std::string& offset,
                         const std::string& size, const std::string& stride) {
    return "X"s + char(key.size()) + std::string(3, '\0') + key +
           "ctorch._utils\n_rebuild_tensor_v2\n((X\x07\0\0\0storage"s
           "ctorch\nFloatStorage\nX\x01\0\0\0"s
           "0X\x03\0\0\0cpu"s +
           numel + "tQ" + offset + size + stride +
           "\x89"
           "ccollections\nOrderedDict\n)RtR";
}

}  // namespace

class TestTorchPickle : public QObject {
    Q_OBJECT
private slots:
    void readsCheckpointSavedByTorch() {
        // adapter_model.bin saved by PEFT through torch.save: bf16, protocol 2, one storage per tensor.
        const auto ckpt = lw::read_torch_checkpoint(lw::test::data_path("peft/all_r4_rslora_bin/adapter_model.bin"));
        QCOMPARE(ckpt.tensors.size(), std::size_t(3 * 7 * 2));
        const auto expected = nlohmann::json::parse(lw::test::read_file(lw::test::data_path("peft/expected.json")));
        const auto tensors = by_name(ckpt);
        for (const auto& m : expected["all_r4_rslora_bin"]["modules"]) {
            const std::string module = m["module"];
            const bool attention = module == "q_proj" || module == "k_proj" || module == "v_proj" || module == "o_proj";
            const std::string group = attention ? "self_attn" : "mlp";
            for (const char* ab : {"A", "B"}) {
                const std::string key = "base_model.model.model.layers." + std::to_string(int(m["layer"])) + "." +
                                        group + "." + module + ".lora_" + ab + ".weight";
                QVERIFY2(tensors.contains(key), key.c_str());
                const auto& t = *tensors.at(key);
                const auto& e = m[ab == std::string("A") ? "a" : "b"];
                QVERIFY(t.dtype == lw::DType::BF16);
                QCOMPARE(t.shape, e["shape"].get<std::vector<std::int64_t>>());
                std::vector<float> values(static_cast<std::size_t>(t.numel()));
                lw::dequantize(t, values);
                for (std::size_t i = 0; i < e["first"].size(); ++i)
                    QCOMPARE(double(values[i]), e["first"][i].get<double>());
            }
        }
    }
    void readsProtocol4OrderedDictWithSharedStorage() {
        // FRAME, MEMOIZE, STACK_GLOBAL, OrderedDict + BUILD(_metadata), _rebuild_parameter,
        // and two tensors viewing one F16 storage at different offsets.
        const auto ckpt =
            lw::read_torch_checkpoint(lw::test::data_path("peft/handmade/proto4_ordered/adapter_model.bin"));
        QCOMPARE(ckpt.tensors.size(), std::size_t(2));
        const auto& a = ckpt.tensors[0];
        const auto& b = ckpt.tensors[1];
        QCOMPARE(a.name, std::string("base_model.model.model.layers.2.self_attn.o_proj.lora_A.default.weight"));
        QCOMPARE(b.name, std::string("base_model.model.model.layers.2.self_attn.o_proj.lora_B.default.weight"));
        QVERIFY(a.dtype == lw::DType::F16 && b.dtype == lw::DType::F16);
        QCOMPARE(a.shape, (std::vector<std::int64_t>{2, 64}));
        QCOMPARE(b.shape, (std::vector<std::int64_t>{64, 2}));
        QCOMPARE(a.data.size(), std::size_t(256));
        QVERIFY(b.data.data() == a.data.data() + 256);  // B starts 128 halves into the shared storage
    }
    void refusesGlobalOsSystemAndRunsNothing() {
        const std::filesystem::path marker = "/tmp/lw_hostile_pickle_ran";
        std::filesystem::remove(marker);
        LW_EXPECT_ERROR(hostile("global_os_system"), "refusing global os.system", "global_os_system.bin", "data.pkl");
        QVERIFY(!std::filesystem::exists(marker));
    }
    void refusesStackGlobalEval() {
        LW_EXPECT_ERROR(hostile("stack_global_eval"), "refusing global builtins.eval", "stack_global_eval.bin");
    }
    void refusesCallingAnAllowedNameTorchNeverCalls() {
        LW_EXPECT_ERROR(hostile("reduce_storage_call"), "refusing to call torch.FloatStorage");
    }
    void refusesOpcodesTorchDoesNotWrite() {
        LW_EXPECT_ERROR(hostile("inst_opcode"), "refusing opcode INST", "offset 1");
        LW_EXPECT_ERROR(unpickle("\x80\x02"
                                 "cos\nsystem\n"),
                        "refusing global os.system", "inline.pkl");
        LW_EXPECT_ERROR(unpickle("\x80\x02"
                                 "}\x81."),
                        "refusing opcode NEWOBJ", "offset 3");
        LW_EXPECT_ERROR(unpickle("\x80\x02"
                                 "\xff"),
                        "refusing opcode unknown (0xff)");
        LW_EXPECT_ERROR(unpickle("\x80\x02"
                                 "]]b."),
                        "BUILD target is a list");
    }
    void refusesHugeMemoIndex() {
        LW_EXPECT_ERROR(hostile("huge_memo"), "memo index 4294967295 exceeds the limit");
        LW_EXPECT_ERROR(unpickle("\x80\x02}h\x05."), "memo index 5 is not set");
    }
    void refusesTruncatedPickle() {
        LW_EXPECT_ERROR(hostile("truncated"), "truncated pickle", "data.pkl");
        LW_EXPECT_ERROR(unpickle("\x80\x02}X\xff\xff\xff\x7f"
                                 "abc"),
                        "truncated pickle", "needs 2147483647");
        LW_EXPECT_ERROR(unpickle("\x80\x02}"), "truncated pickle");
        LW_EXPECT_ERROR(unpickle(""), "truncated pickle");
    }
    void checksStoragesAgainstTheirBytes() {
        LW_EXPECT_ERROR(hostile("missing_storage"), "storage '0' is missing", "archive/data/0",
                        "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
        LW_EXPECT_ERROR(hostile("small_storage"), "storage '0' declares 192 elements of F32 but holds only 764 bytes");
        LW_EXPECT_ERROR(hostile("non_contiguous"), "tensor t", "not contiguous", "stride [1, 4]");
    }
    void refusesWhatIsNotATorchZip() {
        LW_EXPECT_ERROR(hostile("not_zip"), "not_zip.bin", "not a zip archive");
        LW_EXPECT_ERROR(hostile("zip_bomb"), "zip_bomb.bin", "expand beyond");
        lw::TorchCheckpointLimits small;
        small.max_member_bytes = 1000;
        LW_EXPECT_ERROR(
            lw::read_torch_checkpoint(lw::test::data_path("peft/handmade/rank_patterns/adapter_model.bin"), small),
            "zip member archive/data.pkl expands beyond the limit of 1000 bytes");
    }
    void checksTensorArguments() {
        const std::string head = "\x80\x02}(";
        // A valid entry first, so the failures below are about the arguments alone.
        auto ok = unpickle(head + tensor_entry("w", "K\x06", "K\x00"s, "K\x02K\x03\x86", "K\x03K\x01\x86") + "u.");
        QCOMPARE(ok.size(), std::size_t(1));
        QCOMPARE(ok[0].name, std::string("w"));
        QCOMPARE(ok[0].storage.key, std::string("0"));
        QCOMPARE(ok[0].storage.numel, std::int64_t(6));
        QCOMPARE(ok[0].shape, (std::vector<std::int64_t>{2, 3}));
        QCOMPARE(ok[0].stride, (std::vector<std::int64_t>{3, 1}));
        LW_EXPECT_ERROR(
            unpickle(head + tensor_entry("w", "K\x06", "J\xff\xff\xff\xff", "K\x02\x85", "K\x01\x85") + "u."),
            "negative storage offset -1");
        LW_EXPECT_ERROR(unpickle(head + tensor_entry("w", "\x8a\x01\xfe", "K\x00"s, "K\x02\x85", "K\x01\x85") + "u."),
                        "storage '0' has negative size -2");
        LW_EXPECT_ERROR(unpickle(head + tensor_entry("w", "K\x06", "K\x00"s, "K\x02\x85", "K\x01K\x01\x86") + "u."),
                        "size has 1 dimensions but stride has 2");
        LW_EXPECT_ERROR(unpickle(head +
                                 tensor_entry("w", "K\x06", "K\x00"s,
                                              "X\x01\0\0\0"s
                                              "a\x85",
                                              "K\x01\x85") +
                                 "u."),
                        "tensor size is a str, expected int");
        LW_EXPECT_ERROR(unpickle(head + tensor_entry("w", "K\x06", "K\x00"s, "K\x01\x85", "K\x01\x85") +
                                 tensor_entry("w", "K\x06", "K\x00"s, "K\x01\x85", "K\x01\x85") + "u."),
                        "duplicate state dict key 'w'");
        LW_EXPECT_ERROR(
            unpickle(head + tensor_entry("w", "\x8a\x09" + std::string(9, '\x01'), "K\x00"s, "K\x01\x85", "K\x01\x85") +
                     "u."),
            "LONG1 integer of 9 bytes");
    }
    void checksTheStateDictShape() {
        LW_EXPECT_ERROR(unpickle("\x80\x02]."), "expected a dict of tensors at the top level, found list");
        LW_EXPECT_ERROR(unpickle("\x80\x02}(X\x01\0\0\0kK\x01u."s), "state dict entry 'k' is a int, expected a tensor");
        LW_EXPECT_ERROR(unpickle("\x80\x02}}."), "STOP with 2 values on the stack");
        LW_EXPECT_ERROR(unpickle("\x80\x02(."), "STOP with 0 values");
        LW_EXPECT_ERROR(unpickle("\x80\x02}(K\x01u."), "odd number of values");
        LW_EXPECT_ERROR(unpickle("\x80\x02}a."), "APPEND on an empty stack");
        LW_EXPECT_ERROR(unpickle("\x80\x09}."), "unsupported pickle protocol 9");
        // A list holding itself: no infinite walk, no leak, just the wrong type at the top.
        LW_EXPECT_ERROR(unpickle("\x80\x02]q\x00h\x00"s
                                 "a."),
                        "found list");
    }
    void boundsMemory() {
        lw::PickleLimits small;
        small.max_stack = 8;
        small.max_objects = 100;
        LW_EXPECT_ERROR(unpickle("\x80\x02" + std::string(20, '('), small), "nested MARKs");
        LW_EXPECT_ERROR(unpickle("\x80\x02" + std::string(20, 'N'), small), "stack deeper than 8");
        std::string appends = "\x80\x02]";
        for (int i = 0; i < 150; ++i) appends += "Na";
        LW_EXPECT_ERROR(unpickle(appends, small), "more than 100 values");
        small.max_memo = 4;
        LW_EXPECT_ERROR(unpickle("\x80\x02}q\x04.", small), "memo index 4 exceeds the limit of 4");
        lw::PickleLimits flat;
        flat.max_tensor_dims = 1;
        LW_EXPECT_ERROR(
            unpickle("\x80\x02}(" + tensor_entry("w", "K\x06", "K\x00"s, "K\x02K\x03\x86", "K\x03K\x01\x86") + "u.",
                     flat),
            "tensor size has 2 dimensions, at most 1");
    }
};

QTEST_APPLESS_MAIN(TestTorchPickle)
#include "test_torch_pickle.moc"
