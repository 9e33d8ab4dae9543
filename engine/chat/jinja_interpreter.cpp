#include "chat/jinja_interpreter.h"

#include "chat/jinja_builtins.h"
#include "chat/jinja_operators.h"
#include "core/error.h"

#include <memory>
#include <unordered_map>

namespace lw::jinja {

namespace {

struct Frame {
    std::unordered_map<std::string, Value> vars;
    std::shared_ptr<Frame> parent;

    const Value* lookup(const std::string& name) const {
        for (const Frame* f = this; f; f = f->parent.get()) {
            const auto it = f->vars.find(name);
            if (it != f->vars.end()) return &it->second;
        }
        return nullptr;
    }
};

using FramePtr = std::shared_ptr<Frame>;

FramePtr child_of(const FramePtr& parent) {
    auto f = std::make_shared<Frame>();
    f->parent = parent;
    return f;
}

enum class Flow { Normal, Break, Continue };

// Namespaces must not end up holding themselves, or their memory would never be freed.
bool holds_namespace_or_function(const Value& v) {
    switch (v.kind()) {
        case Value::Kind::Namespace:
        case Value::Kind::Function:
            return true;
        case Value::Kind::List:
        case Value::Kind::Tuple:
            for (const auto& item : v.as_list())
                if (holds_namespace_or_function(item)) return true;
            return false;
        case Value::Kind::Dict:
            for (const auto& [k, item] : v.as_dict().items)
                if (holds_namespace_or_function(item)) return true;
            return false;
        default:
            return false;
    }
}

class Renderer {
public:
    Renderer(const Source& source, std::chrono::system_clock::time_point now) : src_(source) {
        auto globals = std::make_shared<Frame>();
        for (auto& [k, v] : make_globals(now).items) globals->vars[k] = std::move(v);
        root_ = child_of(globals);
    }

    std::string run(const Body& body, const Dict& context) {
        for (const auto& [k, v] : context.items) root_->vars[k] = v;
        exec_body(body, root_);
        return std::move(out_);
    }

private:
    [[noreturn]] void located(std::size_t offset, const std::exception& e, bool raised) const {
        if (raised) fail(src_.where(offset), ": raise_exception: ", e.what());
        fail(src_.where(offset), ": ", e.what());
    }

    void emit(const std::string& s) {
        out_ += s;
        if (out_.size() > kMaxStringBytes) runtime_error(cat("rendered output exceeds ", kMaxStringBytes, " bytes"));
    }

    void step() {
        if (++steps_ > kMaxRenderSteps)
            runtime_error(cat("template ran more than ", kMaxRenderSteps, " loop iterations and macro calls"));
    }

    Flow exec_body(const Body& body, const FramePtr& frame) {
        for (const auto& stmt : body) {
            const Flow flow = exec(*stmt, frame);
            if (flow != Flow::Normal) return flow;
        }
        return Flow::Normal;
    }

    Flow exec(const Stmt& s, const FramePtr& frame) {
        try {
            return exec_inner(s, frame);
        } catch (const TemplateRaised& e) {
            located(s.offset, e, true);
        } catch (const RuntimeError& e) {
            located(s.offset, e, false);
        }
    }

    Flow exec_inner(const Stmt& s, const FramePtr& frame) {
        switch (s.kind) {
            case Stmt::Kind::Text:
                emit(s.text);
                return Flow::Normal;
            case Stmt::Kind::Output:
                emit(eval(*s.expr, frame).str());
                return Flow::Normal;
            case Stmt::Kind::If:
                for (const auto& [condition, body] : s.branches)
                    if (eval(*condition, frame).truthy()) return exec_body(body, frame);
                return exec_body(s.else_body, frame);
            case Stmt::Kind::For:
                return exec_for(s, frame);
            case Stmt::Kind::Set:
                assign(s.target, eval(*s.expr, frame), frame);
                return Flow::Normal;
            case Stmt::Kind::SetBlock:
                assign(s.target, Value(capture(s.body, child_of(frame))), frame);
                return Flow::Normal;
            case Stmt::Kind::Macro:
                define_macro(s, frame);
                return Flow::Normal;
            case Stmt::Kind::Break:
                return Flow::Break;
            case Stmt::Kind::Continue:
                return Flow::Continue;
            case Stmt::Kind::Generation:
                return exec_body(s.body, frame);
        }
        return Flow::Normal;
    }

    std::string capture(const Body& body, const FramePtr& frame) {
        std::string saved = std::move(out_);
        out_.clear();
        try {
            exec_body(body, frame);
        } catch (...) {
            out_ = std::move(saved);
            throw;
        }
        std::string captured = std::move(out_);
        out_ = std::move(saved);
        return captured;
    }

    void assign(const Target& t, Value value, const FramePtr& frame) {
        if (!t.attribute.empty()) {
            const Value* ns = frame->lookup(t.names[0]);
            if (!ns || ns->kind() != Value::Kind::Namespace)
                runtime_error(
                    cat("cannot assign attribute '", t.attribute, "' on '", t.names[0], "': it is not a namespace"));
            if (t.attribute.starts_with("_"))
                runtime_error(cat("namespace attribute '", t.attribute, "' must not start with '_'"));
            if (holds_namespace_or_function(value))
                runtime_error(cat("cannot store a namespace or callable in namespace attribute '", t.attribute, "'"));
            ns->namespace_dict().set(t.attribute, std::move(value));
            return;
        }
        if (!t.unpack) {
            frame->vars[t.names[0]] = std::move(value);
            return;
        }
        const List items = iterate(value);
        if (items.size() != t.names.size())
            runtime_error(cat("cannot unpack ", items.size(), " values into ", t.names.size(), " names"));
        for (std::size_t i = 0; i < items.size(); ++i) frame->vars[t.names[i]] = items[i];
    }

    Flow exec_for(const Stmt& s, const FramePtr& frame) {
        List items = iterate(eval(*s.expr, frame));
        if (s.condition) {
            List kept;
            for (auto& item : items) {
                step();
                auto scope = child_of(frame);
                assign(s.target, item, scope);
                if (eval(*s.condition, scope).truthy()) kept.push_back(std::move(item));
            }
            items = std::move(kept);
        }
        if (items.empty()) {
            exec_body(s.else_body, child_of(frame));
            return Flow::Normal;
        }
        const auto n = static_cast<std::int64_t>(items.size());
        for (std::int64_t i = 0; i < n; ++i) {
            step();
            auto scope = child_of(frame);
            assign(s.target, items[static_cast<std::size_t>(i)], scope);
            scope->vars["loop"] = loop_object(items, i);
            if (exec_body(s.body, scope) == Flow::Break) break;
        }
        return Flow::Normal;
    }

    static Value loop_object(const List& items, std::int64_t i) {
        const auto n = static_cast<std::int64_t>(items.size());
        Dict loop;
        loop.items = {{"index", Value(i + 1)},    {"index0", Value(i)},
                      {"revindex", Value(n - i)}, {"revindex0", Value(n - i - 1)},
                      {"first", Value(i == 0)},   {"last", Value(i == n - 1)},
                      {"length", Value(n)},       {"depth", Value(1)},
                      {"depth0", Value(0)}};
        if (i > 0) loop.items.emplace_back("previtem", items[static_cast<std::size_t>(i - 1)]);
        if (i + 1 < n) loop.items.emplace_back("nextitem", items[static_cast<std::size_t>(i + 1)]);
        loop.items.emplace_back("cycle", Value::function(std::make_shared<const Function>(Function{
                                             "loop.cycle", [i](const CallArgs& a) {
                                                 if (a.positional.empty())
                                                     runtime_error("loop.cycle() needs at least one value");
                                                 return a.positional[static_cast<std::size_t>(i) % a.positional.size()];
                                             }})));
        return Value::dict(std::move(loop));
    }

    void define_macro(const Stmt& s, const FramePtr& frame) {
        std::weak_ptr<Frame> home = frame;
        auto fn = [this, &s, home](const CallArgs& a) -> Value {
            const FramePtr parent = home.lock();
            if (!parent) runtime_error(cat("macro '", s.text, "' called after its scope ended"));
            if (a.positional.size() > s.params.size())
                runtime_error(cat("macro '", s.text, "' takes ", s.params.size(), " arguments but ",
                                  a.positional.size(), " were given"));
            auto scope = child_of(parent);
            for (const auto& [k, v] : a.keyword) {
                bool known = false;
                for (const auto& p : s.params) known = known || p.first == k;
                if (!known) runtime_error(cat("macro '", s.text, "' has no parameter named '", k, "'"));
            }
            for (std::size_t i = 0; i < s.params.size(); ++i) {
                const auto& [name, fallback] = s.params[i];
                Value v = a.get(i, name);
                if (v.is_undefined() && fallback) v = eval(*fallback, scope);
                if (v.is_undefined()) v = Value::undefined(cat("'", name, "' is undefined"));
                scope->vars[name] = std::move(v);
            }
            step();
            if (++call_depth_ > kMaxMacroDepth) {
                --call_depth_;
                runtime_error(cat("macro calls nested deeper than ", kMaxMacroDepth));
            }
            struct Leave {
                int& depth;
                ~Leave() { --depth; }
            } leave{call_depth_};
            return Value(capture(s.body, scope));
        };
        frame->vars[s.text] = Value::function(std::make_shared<const Function>(Function{s.text, fn}));
    }

    Value eval(const Expr& e, const FramePtr& frame) {
        try {
            return eval_inner(e, frame);
        } catch (const TemplateRaised& err) {
            located(e.offset, err, true);
        } catch (const RuntimeError& err) {
            located(e.offset, err, false);
        }
    }

    CallArgs eval_args(const Expr& e, std::size_t first, const FramePtr& frame) {
        CallArgs args;
        for (std::size_t i = first; i < e.args.size(); ++i) args.positional.push_back(eval(*e.args[i], frame));
        for (const auto& [k, v] : e.kwargs) args.keyword.emplace_back(k, eval(*v, frame));
        return args;
    }

    Value eval_optional(const ExprPtr& e, const FramePtr& frame) { return e ? eval(*e, frame) : Value::none(); }

    Value eval_inner(const Expr& e, const FramePtr& frame) {
        switch (e.kind) {
            case Expr::Kind::Literal:
                return e.value;
            case Expr::Kind::Name: {
                const Value* v = frame->lookup(e.name);
                return v ? *v : Value::undefined(cat("'", e.name, "' is undefined"));
            }
            case Expr::Kind::List:
            case Expr::Kind::Tuple: {
                List items;
                for (const auto& a : e.args) items.push_back(eval(*a, frame));
                return e.kind == Expr::Kind::List ? Value::list(std::move(items)) : Value::tuple(std::move(items));
            }
            case Expr::Kind::Dict: {
                Dict d;
                for (std::size_t i = 0; i + 1 < e.args.size(); i += 2) {
                    const Value key = eval(*e.args[i], frame);
                    if (!key.is_string()) runtime_error(cat("dict keys must be strings, not ", key.type_name()));
                    d.set(key.as_string(), eval(*e.args[i + 1], frame));
                }
                return Value::dict(std::move(d));
            }
            case Expr::Kind::Attribute:
                return get_attribute(eval(*e.args[0], frame), e.name);
            case Expr::Kind::Item: {
                const Value obj = eval(*e.args[0], frame);
                return get_item(obj, eval(*e.args[1], frame));
            }
            case Expr::Kind::Slice: {
                const Value obj = eval(*e.args[0], frame);
                return get_slice(obj, eval_optional(e.args[1], frame), eval_optional(e.args[2], frame),
                                 eval_optional(e.args[3], frame));
            }
            case Expr::Kind::Call: {
                const Value callee = eval(*e.args[0], frame);
                callee.require_defined();
                if (callee.kind() != Value::Kind::Function)
                    runtime_error(cat("'", callee.type_name(), "' object is not callable"));
                return callee.as_function().call(eval_args(e, 1, frame));
            }
            case Expr::Kind::Filter: {
                const Value input = eval(*e.args[0], frame);
                return apply_filter(e.name, input, eval_args(e, 1, frame));
            }
            case Expr::Kind::Test: {
                const Value input = eval(*e.args[0], frame);
                return Value(apply_test(e.name, input, eval_args(e, 1, frame)));
            }
            case Expr::Kind::Unary: {
                const Value v = eval(*e.args[0], frame);
                if (e.name == "not") return Value(!v.truthy());
                if (e.name == "-") return negate(v);
                v.require_defined();
                if (!v.is_number()) runtime_error(cat("bad operand type for unary +: '", v.type_name(), "'"));
                return v.kind() == Value::Kind::Float ? v : Value(v.as_int());
            }
            case Expr::Kind::Binary: {
                Value left = eval(*e.args[0], frame);
                if (e.name == "and") return left.truthy() ? eval(*e.args[1], frame) : left;
                if (e.name == "or") return left.truthy() ? left : eval(*e.args[1], frame);
                return binary_op(e.name, left, eval(*e.args[1], frame));
            }
            case Expr::Kind::Compare: {
                Value left = eval(*e.args[0], frame);
                for (std::size_t i = 0; i < e.ops.size(); ++i) {
                    Value right = eval(*e.args[i + 1], frame);
                    if (!compare(e.ops[i], left, right)) return Value(false);
                    left = std::move(right);
                }
                return Value(true);
            }
            case Expr::Kind::Condition:
                if (eval(*e.args[0], frame).truthy()) return eval(*e.args[1], frame);
                return e.args[2] ? eval(*e.args[2], frame) : Value::undefined("conditional expression without else");
        }
        return {};
    }

    static bool compare(const std::string& op, const Value& a, const Value& b) {
        if (op == "==") return a.equals(b);
        if (op == "!=") return !a.equals(b);
        if (op == "in") return contains(b, a);
        if (op == "not in") return !contains(b, a);
        a.require_defined();
        b.require_defined();
        if (op == "<") return a.less(b);
        if (op == ">") return b.less(a);
        if (op == "<=") return !b.less(a);
        return !a.less(b);
    }

    const Source& src_;
    FramePtr root_;
    std::string out_;
    std::size_t steps_ = 0;
    int call_depth_ = 0;
};

}  // namespace

std::string render(const Source& source, const Body& body, const Dict& context,
                   std::chrono::system_clock::time_point now) {
    return Renderer(source, now).run(body, context);
}

}  // namespace lw::jinja
