#include "formats/torch_pickle.h"

#include "core/error.h"

#include <bit>
#include <memory>
#include <optional>
#include <set>
#include <utility>

namespace lw {
namespace {

// Pickle opcodes (CPython's Lib/pickletools.py), named so refusals can say which one.
const char* opcode_name(std::uint8_t op) {
    switch (op) {
        case '(':
            return "MARK";
        case '.':
            return "STOP";
        case '0':
            return "POP";
        case '1':
            return "POP_MARK";
        case '2':
            return "DUP";
        case 'F':
            return "FLOAT";
        case 'I':
            return "INT";
        case 'J':
            return "BININT";
        case 'K':
            return "BININT1";
        case 'L':
            return "LONG";
        case 'M':
            return "BININT2";
        case 'N':
            return "NONE";
        case 'P':
            return "PERSID";
        case 'Q':
            return "BINPERSID";
        case 'R':
            return "REDUCE";
        case 'S':
            return "STRING";
        case 'T':
            return "BINSTRING";
        case 'U':
            return "SHORT_BINSTRING";
        case 'V':
            return "UNICODE";
        case 'X':
            return "BINUNICODE";
        case 'a':
            return "APPEND";
        case 'b':
            return "BUILD";
        case 'c':
            return "GLOBAL";
        case 'd':
            return "DICT";
        case '}':
            return "EMPTY_DICT";
        case 'e':
            return "APPENDS";
        case 'g':
            return "GET";
        case 'h':
            return "BINGET";
        case 'i':
            return "INST";
        case 'j':
            return "LONG_BINGET";
        case 'l':
            return "LIST";
        case ']':
            return "EMPTY_LIST";
        case 'o':
            return "OBJ";
        case 'p':
            return "PUT";
        case 'q':
            return "BINPUT";
        case 'r':
            return "LONG_BINPUT";
        case 's':
            return "SETITEM";
        case 't':
            return "TUPLE";
        case ')':
            return "EMPTY_TUPLE";
        case 'u':
            return "SETITEMS";
        case 'G':
            return "BINFLOAT";
        case 0x80:
            return "PROTO";
        case 0x81:
            return "NEWOBJ";
        case 0x82:
            return "EXT1";
        case 0x83:
            return "EXT2";
        case 0x84:
            return "EXT4";
        case 0x85:
            return "TUPLE1";
        case 0x86:
            return "TUPLE2";
        case 0x87:
            return "TUPLE3";
        case 0x88:
            return "NEWTRUE";
        case 0x89:
            return "NEWFALSE";
        case 0x8a:
            return "LONG1";
        case 0x8b:
            return "LONG4";
        case 'B':
            return "BINBYTES";
        case 'C':
            return "SHORT_BINBYTES";
        case 0x8c:
            return "SHORT_BINUNICODE";
        case 0x8d:
            return "BINUNICODE8";
        case 0x8e:
            return "BINBYTES8";
        case 0x8f:
            return "EMPTY_SET";
        case 0x90:
            return "ADDITEMS";
        case 0x91:
            return "FROZENSET";
        case 0x92:
            return "NEWOBJ_EX";
        case 0x93:
            return "STACK_GLOBAL";
        case 0x94:
            return "MEMOIZE";
        case 0x95:
            return "FRAME";
        case 0x96:
            return "BYTEARRAY8";
        case 0x97:
            return "NEXT_BUFFER";
        case 0x98:
            return "READONLY_BUFFER";
        default:
            return "unknown";
    }
}

enum class Kind { None, Bool, Int, Float, String, Tuple, List, Dict, Global, Storage, Tensor };

const char* kind_name(Kind k) {
    switch (k) {
        case Kind::None:
            return "None";
        case Kind::Bool:
            return "bool";
        case Kind::Int:
            return "int";
        case Kind::Float:
            return "float";
        case Kind::String:
            return "str";
        case Kind::Tuple:
            return "tuple";
        case Kind::List:
            return "list";
        case Kind::Dict:
            return "dict";
        case Kind::Global:
            return "global";
        case Kind::Storage:
            return "storage";
        case Kind::Tensor:
            return "tensor";
    }
    return "?";
}

// One unpickled value. All values live in the unpickler's arena and refer to each
// other by plain pointers, so self-referencing containers cannot leak.
struct Object {
    Kind kind = Kind::None;
    std::int64_t integer = 0;                          // Int, Bool
    double real = 0;                                   // Float
    std::string text;                                  // String; Global: "module.name"
    std::vector<Object*> items;                        // Tuple, List
    std::vector<std::pair<Object*, Object*>> entries;  // Dict
    std::unique_ptr<PickledStorage> storage;           // Storage
    std::unique_ptr<PickledTensor> tensor;             // Tensor (name unset)
};

// The storage classes torch names in persistent ids, and the element type each holds.
std::optional<DType> storage_dtype(const std::string& global) {
    if (global == "torch.FloatStorage") return DType::F32;
    if (global == "torch.HalfStorage") return DType::F16;
    if (global == "torch.BFloat16Storage") return DType::BF16;
    if (global == "torch.DoubleStorage") return DType::F64;
    return std::nullopt;
}

const std::set<std::string>& allowed_callables() {
    static const std::set<std::string> names{"collections.OrderedDict", "torch._utils._rebuild_tensor_v2",
                                             "torch._utils._rebuild_parameter"};
    return names;
}

class Unpickler {
public:
    Unpickler(std::span<const std::byte> bytes, const std::string& source, const PickleLimits& limits)
        : bytes_(bytes), source_(source), limits_(limits) {}

    std::vector<PickledTensor> read_state_dict() {
        const Object* root = run();
        if (root->kind != Kind::Dict)
            error("expected a dict of tensors at the top level, found ", kind_name(root->kind));
        std::vector<PickledTensor> tensors;
        std::set<std::string> names;
        for (const auto& [key, value] : root->entries) {
            if (key->kind != Kind::String) error("state dict key is a ", kind_name(key->kind), ", expected str");
            if (value->kind != Kind::Tensor)
                error("state dict entry '", key->text, "' is a ", kind_name(value->kind), ", expected a tensor");
            if (!names.insert(key->text).second) error("duplicate state dict key '", key->text, "'");
            tensors.push_back(*value->tensor);
            tensors.back().name = key->text;
        }
        return tensors;
    }

private:
    template <class... Args>
    [[noreturn]] void error(Args&&... args) const {
        fail(cat(std::forward<Args>(args)...), " in ", source_, " at offset ", op_offset_);
    }

    std::span<const std::byte> take(std::uint64_t n) {
        if (n > bytes_.size() - pos_)
            error("truncated pickle: needs ", n, " more bytes, ", bytes_.size() - pos_, " left");
        auto s = bytes_.subspan(pos_, static_cast<std::size_t>(n));
        pos_ += static_cast<std::size_t>(n);
        return s;
    }
    std::uint64_t read_le(std::size_t n) {
        std::uint64_t v = 0;
        auto s = take(n);
        for (std::size_t i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(s[i]) << (8 * i);
        return v;
    }
    std::string read_text(std::uint64_t n) {
        auto s = take(n);
        return std::string(reinterpret_cast<const char*>(s.data()), s.size());
    }
    std::string read_line() {
        const std::size_t start = pos_;
        while (pos_ < bytes_.size() && bytes_[pos_] != std::byte{'\n'}) ++pos_;
        if (pos_ == bytes_.size()) error("truncated pickle: GLOBAL name has no end of line");
        std::string line(reinterpret_cast<const char*>(bytes_.data() + start), pos_ - start);
        ++pos_;
        return line;
    }

    Object* make(Kind k) {
        if (arena_.size() >= limits_.max_objects) error("more than ", limits_.max_objects, " values");
        arena_.push_back(std::make_unique<Object>());
        arena_.back()->kind = k;
        return arena_.back().get();
    }
    void push(Object* o) {
        if (stack_.size() >= limits_.max_stack) error("stack deeper than ", limits_.max_stack, " values");
        stack_.push_back(o);
    }
    Object* pop() {
        if (stack_.size() <= stack_floor()) error(opcode_name(op_), " on an empty stack");
        Object* o = stack_.back();
        stack_.pop_back();
        return o;
    }
    Object* top() {
        if (stack_.size() <= stack_floor()) error(opcode_name(op_), " on an empty stack");
        return stack_.back();
    }
    std::size_t stack_floor() const { return marks_.empty() ? 0 : marks_.back(); }
    std::vector<Object*> pop_mark() {
        if (marks_.empty()) error(opcode_name(op_), " without a MARK");
        const std::size_t mark = marks_.back();
        marks_.pop_back();
        std::vector<Object*> items(stack_.begin() + static_cast<std::ptrdiff_t>(mark), stack_.end());
        stack_.resize(mark);
        return items;
    }
    Object* expect(Object* o, Kind k, const char* what) {
        if (o->kind != k) error(what, " is a ", kind_name(o->kind), ", expected ", kind_name(k));
        return o;
    }

    void memo_put(std::uint64_t index) {
        if (index >= limits_.max_memo) error("memo index ", index, " exceeds the limit of ", limits_.max_memo);
        if (index >= memo_.size()) memo_.resize(static_cast<std::size_t>(index) + 1, nullptr);
        Object*& slot = memo_[static_cast<std::size_t>(index)];
        if (!slot) ++memo_entries_;
        slot = top();
    }
    void memo_get(std::uint64_t index) {
        if (index >= memo_.size() || !memo_[static_cast<std::size_t>(index)])
            error("memo index ", index, " is not set");
        push(memo_[static_cast<std::size_t>(index)]);
    }

    Object* tuple(std::vector<Object*> items) {
        Object* t = make(Kind::Tuple);
        t->items = std::move(items);
        return t;
    }
    Object* integer(std::int64_t v) {
        Object* o = make(Kind::Int);
        o->integer = v;
        return o;
    }

    void global(const std::string& module, const std::string& name) {
        const std::string full = module + "." + name;
        if (!allowed_callables().contains(full) && !storage_dtype(full)) error("refusing global ", full);
        Object* g = make(Kind::Global);
        g->text = full;
        push(g);
    }

    std::vector<std::int64_t> int_tuple(Object* o, const char* what) {
        expect(o, Kind::Tuple, what);
        if (o->items.size() > limits_.max_tensor_dims)
            error(what, " has ", o->items.size(), " dimensions, at most ", limits_.max_tensor_dims, " supported");
        std::vector<std::int64_t> v;
        for (Object* d : o->items) {
            expect(d, Kind::Int, what);
            if (d->integer < 0) error(what, " holds the negative value ", d->integer);
            v.push_back(d->integer);
        }
        return v;
    }

    // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
    Object* rebuild_tensor(const std::vector<Object*>& args) {
        if (args.size() != 6 && args.size() != 7) error("_rebuild_tensor_v2 takes 6 or 7 arguments, got ", args.size());
        Object* t = make(Kind::Tensor);
        t->tensor = std::make_unique<PickledTensor>();
        PickledTensor& tensor = *t->tensor;
        tensor.storage = *expect(args[0], Kind::Storage, "tensor storage")->storage;
        tensor.storage_offset = expect(args[1], Kind::Int, "tensor storage offset")->integer;
        if (tensor.storage_offset < 0) error("negative storage offset ", tensor.storage_offset);
        tensor.shape = int_tuple(args[2], "tensor size");
        tensor.stride = int_tuple(args[3], "tensor stride");
        if (tensor.shape.size() != tensor.stride.size())
            error("tensor size has ", tensor.shape.size(), " dimensions but stride has ", tensor.stride.size());
        expect(args[4], Kind::Bool, "requires_grad");
        expect(args[5], Kind::Dict, "backward hooks");
        if (args.size() == 7 && args[6]->kind != Kind::Dict && args[6]->kind != Kind::None)
            error("tensor metadata is a ", kind_name(args[6]->kind), ", expected dict or None");
        return t;
    }

    void reduce() {
        Object* args = expect(pop(), Kind::Tuple, "REDUCE arguments");
        Object* callable = pop();
        if (callable->kind != Kind::Global) error("REDUCE on a ", kind_name(callable->kind), ", expected a global");
        const std::string& name = callable->text;
        if (name == "collections.OrderedDict") {
            if (!args->items.empty())
                error("OrderedDict called with ", args->items.size(), " arguments, expected none");
            push(make(Kind::Dict));
        } else if (name == "torch._utils._rebuild_tensor_v2") {
            push(rebuild_tensor(args->items));
        } else if (name == "torch._utils._rebuild_parameter") {
            // _rebuild_parameter(data, requires_grad, backward_hooks): the tensor itself.
            if (args->items.size() != 3) error("_rebuild_parameter takes 3 arguments, got ", args->items.size());
            push(expect(args->items[0], Kind::Tensor, "parameter data"));
        } else {
            error("refusing to call ", name);
        }
    }

    // ("storage", torch.<Type>Storage, key, location, numel)
    void persistent_load() {
        Object* pid = expect(pop(), Kind::Tuple, "persistent id");
        if (pid->items.size() != 5) error("persistent id has ", pid->items.size(), " fields, expected 5");
        const auto& f = pid->items;
        if (f[0]->kind != Kind::String || f[0]->text != "storage") error("persistent id is not a storage reference");
        if (f[1]->kind != Kind::Global || !storage_dtype(f[1]->text)) error("persistent id names no storage type");
        Object* s = make(Kind::Storage);
        s->storage = std::make_unique<PickledStorage>();
        s->storage->dtype = *storage_dtype(f[1]->text);
        s->storage->key = expect(f[2], Kind::String, "storage key")->text;
        s->storage->location = expect(f[3], Kind::String, "storage location")->text;
        s->storage->numel = expect(f[4], Kind::Int, "storage size")->integer;
        if (s->storage->numel < 0) error("storage '", s->storage->key, "' has negative size ", s->storage->numel);
        push(s);
    }

    void set_items(Object* dict, const std::vector<Object*>& kv) {
        expect(dict, Kind::Dict, "SETITEMS target");
        if (kv.size() % 2 != 0) error("SETITEMS with an odd number of values");
        for (std::size_t i = 0; i < kv.size(); i += 2) dict->entries.emplace_back(kv[i], kv[i + 1]);
    }

    Object* run() {
        while (true) {
            op_offset_ = pos_;
            op_ = static_cast<std::uint8_t>(take(1)[0]);
            switch (op_) {
                case 0x80: {  // PROTO
                    const auto v = read_le(1);
                    if (v < 2 || v > 5) error("unsupported pickle protocol ", v);
                    break;
                }
                case 0x95: {  // FRAME: only a hint for buffered readers
                    const auto n = read_le(8);
                    if (n > bytes_.size() - pos_) error("FRAME of ", n, " bytes past the end of the pickle");
                    break;
                }
                case '.': {  // STOP
                    if (!marks_.empty() || stack_.size() != 1)
                        error("STOP with ", stack_.size(), " values on the stack, expected 1");
                    return stack_.back();
                }
                case '}':
                    push(make(Kind::Dict));
                    break;
                case ']':
                    push(make(Kind::List));
                    break;
                case ')':
                    push(tuple({}));
                    break;
                case '(':
                    if (marks_.size() >= limits_.max_stack) error("more than ", limits_.max_stack, " nested MARKs");
                    marks_.push_back(stack_.size());
                    break;
                case 't':
                    push(tuple(pop_mark()));
                    break;
                case 0x85:
                case 0x86:
                case 0x87: {  // TUPLE1..3
                    std::vector<Object*> items(op_ - 0x84u);
                    for (auto it = items.rbegin(); it != items.rend(); ++it) *it = pop();
                    push(tuple(std::move(items)));
                    break;
                }
                case 'X':
                case 0x8c: {  // BINUNICODE, SHORT_BINUNICODE
                    Object* s = make(Kind::String);
                    s->text = read_text(read_le(op_ == 'X' ? 4 : 1));
                    push(s);
                    break;
                }
                case 'J':
                    push(integer(static_cast<std::int32_t>(read_le(4))));
                    break;
                case 'K':
                    push(integer(static_cast<std::int64_t>(read_le(1))));
                    break;
                case 'M':
                    push(integer(static_cast<std::int64_t>(read_le(2))));
                    break;
                case 0x8a: {  // LONG1: little-endian two's complement of n bytes
                    const auto n = static_cast<std::size_t>(read_le(1));
                    if (n > 8) error("LONG1 integer of ", n, " bytes does not fit in 64 bits");
                    std::uint64_t v = n ? read_le(n) : 0;
                    if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1u) v |= ~std::uint64_t{0} << (8 * n);
                    push(integer(static_cast<std::int64_t>(v)));
                    break;
                }
                case 'G': {  // BINFLOAT: big-endian IEEE double
                    auto s = take(8);
                    std::uint64_t v = 0;
                    for (auto b : s) v = (v << 8) | static_cast<std::uint64_t>(b);
                    Object* f = make(Kind::Float);
                    f->real = std::bit_cast<double>(v);
                    push(f);
                    break;
                }
                case 'N':
                    push(make(Kind::None));
                    break;
                case 0x88:
                case 0x89: {
                    Object* b = make(Kind::Bool);
                    b->integer = op_ == 0x88;
                    push(b);
                    break;
                }
                case 'q':
                    memo_put(read_le(1));
                    break;
                case 'r':
                    memo_put(read_le(4));
                    break;
                case 0x94:
                    memo_put(memo_entries_);
                    break;  // MEMOIZE: the next free index, as CPython
                case 'h':
                    memo_get(read_le(1));
                    break;
                case 'j':
                    memo_get(read_le(4));
                    break;
                case 's': {
                    Object* value = pop();
                    Object* key = pop();
                    set_items(top(), {key, value});
                    break;
                }
                case 'u': {
                    auto kv = pop_mark();
                    set_items(top(), kv);
                    break;
                }
                case 'a': {
                    Object* value = pop();
                    expect(top(), Kind::List, "APPEND target")->items.push_back(value);
                    break;
                }
                case 'e': {
                    auto values = pop_mark();
                    auto& items = expect(top(), Kind::List, "APPENDS target")->items;
                    items.insert(items.end(), values.begin(), values.end());
                    break;
                }
                case 'b': {  // BUILD: torch only sets an OrderedDict's attributes (_metadata)
                    Object* state = pop();
                    expect(top(), Kind::Dict, "BUILD target");
                    if (state->kind != Kind::Dict && state->kind != Kind::None)
                        error("BUILD with a ", kind_name(state->kind), " state, expected dict");
                    break;
                }
                case 'R':
                    reduce();
                    break;
                case 'Q':
                    persistent_load();
                    break;
                case 'c': {
                    std::string module = read_line();
                    std::string name = read_line();
                    global(module, name);
                    break;
                }
                case 0x93: {  // STACK_GLOBAL
                    Object* name = expect(pop(), Kind::String, "STACK_GLOBAL name");
                    Object* module = expect(pop(), Kind::String, "STACK_GLOBAL module");
                    global(module->text, name->text);
                    break;
                }
                default:
                    error("refusing opcode ", opcode_name(op_), " (0x", hex(op_), ")");
            }
        }
    }

    static std::string hex(std::uint8_t v) {
        const char* digits = "0123456789abcdef";
        return {digits[v >> 4], digits[v & 15]};
    }

    std::span<const std::byte> bytes_;
    const std::string& source_;
    const PickleLimits& limits_;
    std::size_t pos_ = 0;
    std::size_t op_offset_ = 0;
    std::uint8_t op_ = 0;
    std::uint64_t memo_entries_ = 0;
    std::vector<std::unique_ptr<Object>> arena_;
    std::vector<Object*> stack_;
    std::vector<std::size_t> marks_;
    std::vector<Object*> memo_;
};

}  // namespace

std::vector<PickledTensor> read_torch_state_dict_pickle(std::span<const std::byte> bytes, const std::string& source,
                                                        const PickleLimits& limits) {
    return Unpickler(bytes, source, limits).read_state_dict();
}

}  // namespace lw
