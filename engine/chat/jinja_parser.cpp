#include "chat/jinja_parser.h"

#include "chat/jinja_builtins.h"
#include "core/error.h"

#include <cstdlib>
#include <initializer_list>

namespace lw::jinja {

namespace {

using K = Token::Kind;

class Parser {
public:
    Parser(const Source& source, std::vector<Token> tokens) : src_(source), tokens_(std::move(tokens)) {}

    Body parse_template() {
        Body body = parse_body({});
        if (cur().kind != K::End) error(cur().offset, cat("unexpected '", cur().text, "'"));
        return body;
    }

private:
    // Counts nesting so hostile input cannot recurse without bound.
    struct DepthGuard {
        Parser& p;
        explicit DepthGuard(Parser& parser) : p(parser) {
            if (++p.depth_ > kMaxNestingDepth)
                p.error(p.cur().offset, cat("template nested deeper than ", kMaxNestingDepth, " levels"));
        }
        ~DepthGuard() { --p.depth_; }
    };

    [[noreturn]] void error(std::size_t offset, const std::string& message) const {
        fail(src_.where(offset), ": ", message);
    }

    const Token& cur() const { return tokens_[pos_]; }
    const Token& peek() const { return tokens_[pos_ + 1 < tokens_.size() ? pos_ + 1 : pos_]; }
    const Token& advance() { return tokens_[pos_ < tokens_.size() - 1 ? pos_++ : pos_]; }

    bool is_op(std::string_view op) const { return cur().kind == K::Operator && cur().text == op; }
    bool is_name(std::string_view name) const { return cur().kind == K::Name && cur().text == name; }
    bool skip_op(std::string_view op) {
        if (!is_op(op)) return false;
        advance();
        return true;
    }
    bool skip_name(std::string_view name) {
        if (!is_name(name)) return false;
        advance();
        return true;
    }

    std::string describe(const Token& t) const {
        switch (t.kind) {
            case K::End:
                return "end of template";
            case K::BlockEnd:
                return "'%}'";
            case K::VariableEnd:
                return "'}}'";
            case K::BlockBegin:
                return "'{%'";
            case K::VariableBegin:
                return "'{{'";
            case K::String:
                return "string literal";
            default:
                return "'" + t.text + "'";
        }
    }

    void expect_op(std::string_view op) {
        if (!skip_op(op)) error(cur().offset, cat("expected '", op, "', found ", describe(cur())));
    }
    std::string expect_name(std::string_view what) {
        if (cur().kind != K::Name) error(cur().offset, cat("expected ", what, ", found ", describe(cur())));
        return advance().text;
    }
    void expect_block_end() {
        if (cur().kind != K::BlockEnd) error(cur().offset, cat("expected '%}', found ", describe(cur())));
        advance();
    }

    static ExprPtr make(Expr::Kind kind, std::size_t offset) {
        auto e = std::make_unique<Expr>();
        e->kind = kind;
        e->offset = offset;
        return e;
    }

    // ---- statements ----

    // Parses until a block tag whose name is in `end_names`; leaves that name current.
    Body parse_body(std::initializer_list<std::string_view> end_names) {
        DepthGuard guard(*this);
        Body body;
        while (true) {
            const Token& t = cur();
            if (t.kind == K::End) return body;
            if (t.kind == K::Text) {
                auto s = std::make_unique<Stmt>();
                s->kind = Stmt::Kind::Text;
                s->offset = t.offset;
                s->text = t.text;
                body.push_back(std::move(s));
                advance();
            } else if (t.kind == K::VariableBegin) {
                advance();
                auto s = std::make_unique<Stmt>();
                s->kind = Stmt::Kind::Output;
                s->offset = t.offset;
                s->expr = parse_tuple(false, true);
                if (cur().kind != K::VariableEnd) error(cur().offset, cat("expected '}}', found ", describe(cur())));
                advance();
                body.push_back(std::move(s));
            } else if (t.kind == K::BlockBegin) {
                const Token& name = peek();
                for (auto end : end_names)
                    if (name.kind == K::Name && name.text == end) {
                        advance();
                        return body;
                    }
                advance();
                body.push_back(parse_statement());
            } else {
                error(t.offset, cat("unexpected ", describe(t)));
            }
        }
    }

    // Parses a nested body and consumes its closing tag, which must be one of `end_names`.
    Body parse_block(std::size_t opened_at, std::string_view tag, std::initializer_list<std::string_view> end_names) {
        Body body = parse_body(end_names);
        if (cur().kind == K::End) {
            std::string expected;
            for (auto e : end_names) expected += (expected.empty() ? "'" : " or '") + std::string(e) + "'";
            error(opened_at,
                  cat("'", tag, "' block is never closed: expected ", expected, " before the end of template"));
        }
        return body;
    }

    std::unique_ptr<Stmt> parse_statement() {
        const Token& t = cur();
        if (t.kind != K::Name) error(t.offset, cat("expected a tag name, found ", describe(t)));
        auto s = std::make_unique<Stmt>();
        s->offset = t.offset;
        const std::string tag = advance().text;
        if (tag == "if") {
            parse_if(*s);
        } else if (tag == "for") {
            parse_for(*s);
        } else if (tag == "set") {
            parse_set(*s);
        } else if (tag == "macro") {
            parse_macro(*s);
        } else if (tag == "break" || tag == "continue") {
            if (loop_depth_ == 0) error(t.offset, cat("'", tag, "' outside of a loop"));
            s->kind = tag == "break" ? Stmt::Kind::Break : Stmt::Kind::Continue;
            expect_block_end();
        } else if (tag == "generation") {
            s->kind = Stmt::Kind::Generation;
            expect_block_end();
            s->body = parse_block(s->offset, tag, {"endgeneration"});
            advance();
            expect_block_end();
        } else if (tag.starts_with("end") || tag == "elif" || tag == "else") {
            error(t.offset, cat("unexpected '", tag, "' with no open block it could close"));
        } else {
            error(t.offset, cat("unsupported tag '", tag, "'"));
        }
        return s;
    }

    void parse_if(Stmt& s) {
        s.kind = Stmt::Kind::If;
        while (true) {
            ExprPtr condition = parse_tuple(false, false);
            expect_block_end();
            Body body = parse_block(s.offset, "if", {"elif", "else", "endif"});
            s.branches.emplace_back(std::move(condition), std::move(body));
            const std::string next = advance().text;
            if (next == "elif") continue;
            if (next == "else") {
                expect_block_end();
                s.else_body = parse_block(s.offset, "if", {"endif"});
                advance();
            }
            expect_block_end();
            return;
        }
    }

    Target parse_target(bool allow_namespace) {
        Target target;
        if (allow_namespace && cur().kind == K::Name && peek().kind == K::Operator && peek().text == ".") {
            target.names.push_back(advance().text);
            advance();
            target.attribute = expect_name("an attribute name");
            return target;
        }
        const bool parenthesised = skip_op("(");
        while (true) {
            target.names.push_back(expect_name("a variable name"));
            if (!skip_op(",")) break;
            target.unpack = true;
            if (cur().kind != K::Name) break;
        }
        if (parenthesised) {
            expect_op(")");
            target.unpack = true;
        }
        return target;
    }

    void parse_for(Stmt& s) {
        s.kind = Stmt::Kind::For;
        s.target = parse_target(false);
        if (!skip_name("in")) error(cur().offset, cat("expected 'in' in for loop, found ", describe(cur())));
        s.expr = parse_tuple(false, false, "recursive");
        if (skip_name("if")) s.condition = parse_expression(true);
        if (is_name("recursive")) error(cur().offset, "recursive loops are not supported");
        expect_block_end();
        ++loop_depth_;
        s.body = parse_block(s.offset, "for", {"endfor", "else"});
        --loop_depth_;
        if (advance().text == "else") {
            expect_block_end();
            s.else_body = parse_block(s.offset, "for", {"endfor"});
            advance();
        }
        expect_block_end();
    }

    void parse_set(Stmt& s) {
        s.target = parse_target(true);
        if (skip_op("=")) {
            s.kind = Stmt::Kind::Set;
            s.expr = parse_tuple(false, true);
            expect_block_end();
            return;
        }
        if (!s.target.attribute.empty() || s.target.unpack)
            error(cur().offset, cat("expected '=' after the set target, found ", describe(cur())));
        if (is_op("|")) error(cur().offset, "filters on block set are not supported");
        s.kind = Stmt::Kind::SetBlock;
        expect_block_end();
        s.body = parse_block(s.offset, "set", {"endset"});
        advance();
        expect_block_end();
    }

    void parse_macro(Stmt& s) {
        s.kind = Stmt::Kind::Macro;
        s.text = expect_name("a macro name");
        expect_op("(");
        while (!is_op(")")) {
            if (!s.params.empty()) expect_op(",");
            if (is_op(")")) break;
            std::string name = expect_name("a parameter name");
            ExprPtr fallback;
            if (skip_op("=")) fallback = parse_expression(true);
            s.params.emplace_back(std::move(name), std::move(fallback));
        }
        advance();
        expect_block_end();
        const int saved_loops = loop_depth_;
        loop_depth_ = 0;
        s.body = parse_block(s.offset, "macro", {"endmacro"});
        loop_depth_ = saved_loops;
        advance();
        if (cur().kind == K::Name) advance();  // {% endmacro name %}
        expect_block_end();
    }

    // ---- expressions (jinja2's precedence, lowest first) ----

    bool at_tuple_end(std::string_view extra_end) const {
        const auto k = cur().kind;
        return k == K::VariableEnd || k == K::BlockEnd || is_op(")") || (!extra_end.empty() && is_name(extra_end));
    }

    ExprPtr parse_tuple(bool explicit_parentheses, bool with_condition, std::string_view extra_end = {}) {
        const std::size_t offset = cur().offset;
        std::vector<ExprPtr> items;
        bool is_tuple = false;
        while (true) {
            if (!items.empty()) expect_op(",");
            if (at_tuple_end(extra_end)) break;
            items.push_back(parse_expression(with_condition));
            if (is_op(","))
                is_tuple = true;
            else
                break;
        }
        if (!is_tuple) {
            if (!items.empty()) return std::move(items[0]);
            if (!explicit_parentheses) error(cur().offset, cat("expected an expression, found ", describe(cur())));
        }
        auto e = make(Expr::Kind::Tuple, offset);
        e->args = std::move(items);
        return e;
    }

    ExprPtr parse_expression(bool with_condition) { return with_condition ? parse_condition() : parse_or(); }

    ExprPtr parse_condition() {
        DepthGuard guard(*this);
        ExprPtr value = parse_or();
        while (is_name("if")) {
            auto e = make(Expr::Kind::Condition, cur().offset);
            advance();
            e->args.push_back(parse_or());
            e->args.push_back(std::move(value));
            e->args.push_back(skip_name("else") ? parse_condition() : nullptr);
            value = std::move(e);
        }
        return value;
    }

    ExprPtr binary(std::string op, std::size_t offset, ExprPtr left, ExprPtr right) {
        auto e = make(Expr::Kind::Binary, offset);
        e->name = std::move(op);
        e->args.push_back(std::move(left));
        e->args.push_back(std::move(right));
        return e;
    }

    ExprPtr parse_or() {
        ExprPtr left = parse_and();
        while (is_name("or")) {
            const std::size_t offset = advance().offset;
            left = binary("or", offset, std::move(left), parse_and());
        }
        return left;
    }

    ExprPtr parse_and() {
        ExprPtr left = parse_not();
        while (is_name("and")) {
            const std::size_t offset = advance().offset;
            left = binary("and", offset, std::move(left), parse_not());
        }
        return left;
    }

    ExprPtr parse_not() {
        DepthGuard guard(*this);
        if (is_name("not")) {
            auto e = make(Expr::Kind::Unary, advance().offset);
            e->name = "not";
            e->args.push_back(parse_not());
            return e;
        }
        return parse_compare();
    }

    ExprPtr parse_compare() {
        const std::size_t offset = cur().offset;
        ExprPtr first = parse_math1();
        auto e = make(Expr::Kind::Compare, offset);
        e->args.push_back(std::move(first));
        while (true) {
            if (cur().kind == K::Operator && (cur().text == "==" || cur().text == "!=" || cur().text == "<" ||
                                              cur().text == ">" || cur().text == "<=" || cur().text == ">=")) {
                e->ops.push_back(advance().text);
            } else if (skip_name("in")) {
                e->ops.push_back("in");
            } else if (is_name("not") && peek().kind == K::Name && peek().text == "in") {
                advance();
                advance();
                e->ops.push_back("not in");
            } else {
                break;
            }
            e->args.push_back(parse_math1());
        }
        if (e->ops.empty()) return std::move(e->args[0]);
        return e;
    }

    ExprPtr parse_math1() {
        ExprPtr left = parse_concat();
        while (is_op("+") || is_op("-")) {
            const Token& op = advance();
            left = binary(op.text, op.offset, std::move(left), parse_concat());
        }
        return left;
    }

    ExprPtr parse_concat() {
        ExprPtr left = parse_math2();
        while (is_op("~")) {
            const std::size_t offset = advance().offset;
            left = binary("~", offset, std::move(left), parse_math2());
        }
        return left;
    }

    ExprPtr parse_math2() {
        ExprPtr left = parse_pow();
        while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
            const Token& op = advance();
            left = binary(op.text, op.offset, std::move(left), parse_pow());
        }
        return left;
    }

    ExprPtr parse_pow() {
        ExprPtr left = parse_unary(true);
        while (is_op("**")) {
            const std::size_t offset = advance().offset;
            left = binary("**", offset, std::move(left), parse_unary(true));
        }
        return left;
    }

    ExprPtr parse_unary(bool with_filter) {
        DepthGuard guard(*this);
        ExprPtr node;
        if (is_op("-") || is_op("+")) {
            node = make(Expr::Kind::Unary, cur().offset);
            node->name = advance().text;
            node->args.push_back(parse_unary(false));
        } else {
            node = parse_primary();
        }
        node = parse_postfix(std::move(node));
        if (with_filter) node = parse_filters(std::move(node));
        return node;
    }

    ExprPtr parse_primary() {
        DepthGuard guard(*this);
        const Token& t = cur();
        switch (t.kind) {
            case K::Name: {
                advance();
                auto e = make(Expr::Kind::Literal, t.offset);
                if (t.text == "true" || t.text == "True")
                    e->value = Value(true);
                else if (t.text == "false" || t.text == "False")
                    e->value = Value(false);
                else if (t.text == "none" || t.text == "None")
                    e->value = Value::none();
                else {
                    e->kind = Expr::Kind::Name;
                    e->name = t.text;
                }
                return e;
            }
            case K::String: {
                auto e = make(Expr::Kind::Literal, t.offset);
                std::string s;
                while (cur().kind == K::String) s += advance().text;  // adjacent literals concatenate
                e->value = Value(std::move(s));
                return e;
            }
            case K::Integer: {
                advance();
                auto e = make(Expr::Kind::Literal, t.offset);
                e->value = Value(static_cast<std::int64_t>(std::strtoull(t.text.c_str(), nullptr, 10)));
                return e;
            }
            case K::Float: {
                advance();
                auto e = make(Expr::Kind::Literal, t.offset);
                e->value = Value(std::strtod(t.text.c_str(), nullptr));
                return e;
            }
            case K::Operator:
                if (t.text == "(") {
                    advance();
                    ExprPtr inner = parse_tuple(true, true);
                    expect_op(")");
                    return inner;
                }
                if (t.text == "[") return parse_list();
                if (t.text == "{") return parse_dict();
                break;
            default:
                break;
        }
        error(t.offset, cat("unexpected ", describe(t)));
    }

    ExprPtr parse_list() {
        auto e = make(Expr::Kind::List, advance().offset);
        while (!is_op("]")) {
            if (!e->args.empty()) expect_op(",");
            if (is_op("]")) break;
            e->args.push_back(parse_expression(true));
        }
        advance();
        return e;
    }

    ExprPtr parse_dict() {
        auto e = make(Expr::Kind::Dict, advance().offset);
        while (!is_op("}")) {
            if (!e->args.empty()) expect_op(",");
            if (is_op("}")) break;
            e->args.push_back(parse_expression(true));
            expect_op(":");
            e->args.push_back(parse_expression(true));
        }
        advance();
        return e;
    }

    ExprPtr parse_postfix(ExprPtr node) {
        while (true) {
            if (is_op(".") || is_op("["))
                node = parse_subscript(std::move(node));
            else if (is_op("("))
                node = parse_call(std::move(node));
            else
                return node;
        }
    }

    ExprPtr parse_filters(ExprPtr node) {
        while (true) {
            if (is_op("|"))
                node = parse_filter(std::move(node));
            else if (is_name("is"))
                node = parse_test(std::move(node));
            else if (is_op("("))
                node = parse_call(std::move(node));
            else
                return node;
        }
    }

    ExprPtr parse_subscript(ExprPtr node) {
        DepthGuard guard(*this);
        const Token& t = advance();
        if (t.text == ".") {
            if (cur().kind == K::Integer) {
                auto e = make(Expr::Kind::Item, t.offset);
                e->args.push_back(std::move(node));
                e->args.push_back(parse_primary());
                return e;
            }
            auto e = make(Expr::Kind::Attribute, t.offset);
            e->name = expect_name("an attribute name after '.'");
            e->args.push_back(std::move(node));
            return e;
        }
        std::vector<ExprPtr> items;
        while (!is_op("]")) {
            if (!items.empty()) expect_op(",");
            items.push_back(parse_subscribed());
        }
        advance();
        if (items.empty()) error(t.offset, "expected an index inside '[]'");
        if (items.size() == 1 && items[0]->kind == Expr::Kind::Slice) {
            items[0]->args[0] = std::move(node);
            return std::move(items[0]);
        }
        auto e = make(Expr::Kind::Item, t.offset);
        e->args.push_back(std::move(node));
        if (items.size() == 1) {
            e->args.push_back(std::move(items[0]));
        } else {
            auto tuple = make(Expr::Kind::Tuple, t.offset);
            for (auto& item : items) {
                if (item->kind == Expr::Kind::Slice)
                    error(item->offset, "slices inside a tuple index are not supported");
                tuple->args.push_back(std::move(item));
            }
            e->args.push_back(std::move(tuple));
        }
        return e;
    }

    // One index or a slice [start:stop:step]; a slice's args[0] is filled in by the caller.
    ExprPtr parse_subscribed() {
        const std::size_t offset = cur().offset;
        ExprPtr start;
        if (!is_op(":")) {
            start = parse_expression(true);
            if (!is_op(":")) return start;
        }
        advance();
        auto slice = make(Expr::Kind::Slice, offset);
        slice->args.push_back(nullptr);
        slice->args.push_back(std::move(start));
        const auto part = [&]() -> ExprPtr {
            return is_op("]") || is_op(",") || is_op(":") ? nullptr : parse_expression(true);
        };
        slice->args.push_back(part());
        slice->args.push_back(skip_op(":") ? part() : nullptr);
        return slice;
    }

    void parse_call_args(Expr& e) {
        expect_op("(");
        bool first = true;
        while (!is_op(")")) {
            if (!first) expect_op(",");
            first = false;
            if (is_op(")")) break;
            if (is_op("*") || is_op("**")) error(cur().offset, "*args and **kwargs in calls are not supported");
            if (cur().kind == K::Name && peek().kind == K::Operator && peek().text == "=") {
                std::string name = advance().text;
                advance();
                e.kwargs.emplace_back(std::move(name), parse_expression(true));
            } else {
                if (!e.kwargs.empty()) error(cur().offset, "positional argument follows keyword argument");
                e.args.push_back(parse_expression(true));
            }
        }
        advance();
    }

    ExprPtr parse_call(ExprPtr node) {
        DepthGuard guard(*this);
        auto e = make(Expr::Kind::Call, cur().offset);
        e->args.push_back(std::move(node));
        parse_call_args(*e);
        return e;
    }

    ExprPtr parse_filter(ExprPtr node) {
        DepthGuard guard(*this);
        advance();
        auto e = make(Expr::Kind::Filter, cur().offset);
        e->name = expect_name("a filter name after '|'");
        e->args.push_back(std::move(node));
        if (is_op("(")) parse_call_args(*e);
        return e;
    }

    ExprPtr parse_test(ExprPtr node) {
        DepthGuard guard(*this);
        const std::size_t offset = advance().offset;
        const bool negated = skip_name("not");
        auto e = make(Expr::Kind::Test, cur().offset);
        e->name = expect_name("a test name after 'is'");
        e->args.push_back(std::move(node));
        const auto k = cur().kind;
        if (is_op("(")) {
            parse_call_args(*e);
        } else if ((k == K::Name || k == K::String || k == K::Integer || k == K::Float || is_op("[") || is_op("{")) &&
                   !is_name("else") && !is_name("or") && !is_name("and")) {
            if (is_name("is")) error(cur().offset, "tests cannot be chained with 'is'");
            e->args.push_back(parse_postfix(parse_primary()));
        }
        if (!negated) return e;
        auto n = make(Expr::Kind::Unary, offset);
        n->name = "not";
        n->args.push_back(std::move(e));
        return n;
    }

    const Source& src_;
    std::vector<Token> tokens_;
    std::size_t pos_ = 0;
    int depth_ = 0;
    int loop_depth_ = 0;
};

// jinja2 rejects unknown filters and tests when it compiles a template, except inside
// if blocks and conditional expressions ("soft" frames), where it waits until they run.
class NameChecker {
public:
    explicit NameChecker(const Source& source) : src_(source) {}

    void body(const Body& b, bool soft) {
        for (const auto& s : b) stmt(*s, soft);
    }

private:
    void stmt(const Stmt& s, bool soft) {
        switch (s.kind) {
            case Stmt::Kind::If:
                for (const auto& [condition, branch] : s.branches) {
                    expr(condition.get(), true);
                    body(branch, true);
                }
                body(s.else_body, true);
                return;
            case Stmt::Kind::For:
                expr(s.expr.get(), soft);
                expr(s.condition.get(), false);
                body(s.body, false);
                body(s.else_body, false);
                return;
            case Stmt::Kind::Macro:
                for (const auto& [name, fallback] : s.params) expr(fallback.get(), false);
                body(s.body, false);
                return;
            case Stmt::Kind::SetBlock:
                body(s.body, false);
                return;
            case Stmt::Kind::Generation:
                body(s.body, soft);
                return;
            default:
                expr(s.expr.get(), soft);
        }
    }

    void expr(const Expr* e, bool soft) {
        if (!e) return;
        if (e->kind == Expr::Kind::Condition) soft = true;
        if (!soft && e->kind == Expr::Kind::Filter && !is_filter(e->name))
            fail(src_.where(e->offset), ": unknown filter '", e->name, "'");
        if (!soft && e->kind == Expr::Kind::Test && !is_test(e->name))
            fail(src_.where(e->offset), ": unknown test '", e->name, "'");
        for (const auto& a : e->args) expr(a.get(), soft);
        for (const auto& [k, v] : e->kwargs) expr(v.get(), soft);
    }

    const Source& src_;
};

}  // namespace

Body parse(const Source& source) {
    Body body = Parser(source, tokenize(source)).parse_template();
    NameChecker(source).body(body, false);
    return body;
}

}  // namespace lw::jinja
