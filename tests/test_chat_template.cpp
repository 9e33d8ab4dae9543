// Chat templates: the real templates of Llama-2/3.x, Mistral, Qwen2.5 and SmolLM2
// render exactly what transformers renders (tests/data/chat_templates/renders.json,
// made by tools/fixtures/make_chat_template_fixtures.py), and the interpreter's
// features and errors one by one.
#include "support/test_support.h"

#include "chat/chat_template.h"
#include "core/error.h"

#include <chrono>
#include <cstdlib>
#include <ctime>

using nlohmann::ordered_json;

namespace {

// The clock the fixtures were rendered with: 2024-09-05 13:04:05 (the test runs in UTC).
const std::chrono::system_clock::time_point kFixtureNow{std::chrono::seconds(1725541445)};

std::string render(const std::string& text, const ordered_json& context = ordered_json::object()) {
    return lw::ChatTemplate(text, "test.jinja").render(context, kFixtureNow);
}

const ordered_json& fixture() {
    static const ordered_json f =
        ordered_json::parse(lw::test::read_file(lw::test::data_path("chat_templates/renders.json")));
    return f;
}

}  // namespace

class TestChatTemplate : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() {
        qputenv("TZ", "UTC");
        tzset();
    }

    void realTemplatesMatchTransformers_data() {
        QTest::addColumn<int>("index");
        const auto& cases = fixture()["cases"];
        QVERIFY(cases.size() >= 300);
        for (std::size_t i = 0; i < cases.size(); ++i) {
            const auto& c = cases[i];
            const std::string name = c["template"].get<std::string>() + "/" + c["conversation"].get<std::string>() +
                                     (c["add_generation_prompt"].get<bool>() ? "/prompt" : "");
            QTest::newRow(name.c_str()) << static_cast<int>(i);
        }
    }
    void realTemplatesMatchTransformers() {
        QFETCH(int, index);
        const auto& c = fixture()["cases"][static_cast<std::size_t>(index)];
        const auto& conv = fixture()["conversations"][c["conversation"].get<std::string>()];
        const std::string name = c["template"].get<std::string>() + ".jinja";
        const lw::ChatTemplate tpl(lw::test::read_file(lw::test::data_path("chat_templates/" + name)), name);
        // The variables transformers' render_jinja_template passes.
        ordered_json context = {
            {"messages", conv["messages"]}, {"tools", conv.contains("tools") ? conv["tools"] : ordered_json(nullptr)},
            {"documents", nullptr},         {"add_generation_prompt", c["add_generation_prompt"]},
            {"bos_token", c["bos_token"]},  {"eos_token", c["eos_token"]}};
        if (conv.contains("kwargs"))
            for (const auto& [k, v] : conv["kwargs"].items()) context[k] = v;
        if (c.contains("expected")) {
            QCOMPARE(QString::fromStdString(tpl.render(context, kFixtureNow)),
                     QString::fromStdString(c["expected"].get<std::string>()));
        } else if (c["raised"].get<bool>()) {
            const std::string message = c["error"].get<std::string>();
            LW_EXPECT_ERROR(tpl.render(context, kFixtureNow), name.c_str(), "raise_exception", message.c_str());
        } else {
            LW_EXPECT_ERROR(tpl.render(context, kFixtureNow), name.c_str());
        }
    }

    void applyPassesTransformersVariables() {
        const lw::ChatTemplate tpl(lw::test::read_file(lw::test::data_path("chat_templates/llama2-chat.jinja")), "l2");
        const ordered_json messages = {{{"role", "system"}, {"content", "Be brief."}},
                                       {{"role", "user"}, {"content", " Hi "}}};
        QCOMPARE(QString::fromStdString(tpl.apply(messages, true, "<s>", "</s>")),
                 QString("<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\n Hi [/INST]"));
        const lw::ChatTemplate vars("{{ tools is none }}{{ documents is none }}{{ add_generation_prompt }}", "v");
        QCOMPARE(QString::fromStdString(vars.apply(ordered_json::array(), false, "", "")), QString("TrueTrueFalse"));
        // A plain nlohmann::json converts implicitly.
        QCOMPARE(QString::fromStdString(vars.render(nlohmann::json{{"tools", 1}})), QString("FalseFalse"));
        LW_EXPECT_ERROR(tpl.apply(ordered_json::object(), false, "", ""), "l2", "array");
        LW_EXPECT_ERROR(tpl.render(ordered_json::array()), "l2", "object");
    }

    void whitespaceControl() {
        // trim_blocks drops the newline after a block tag; lstrip_blocks the indentation before it.
        QCOMPARE(QString::fromStdString(render("a\n  {% if true %}\n  x\n  {% endif %}\n  y")), QString("a\n  x\n  y"));
        QCOMPARE(QString::fromStdString(render("a  {%- if true -%}  x  {%- endif %}")), QString("ax"));
        QCOMPARE(QString::fromStdString(render("  {{- 'a' -}}  \n b")), QString("ab"));
        // '+' keeps what lstrip_blocks and trim_blocks would remove.
        QCOMPARE(QString::fromStdString(render("  {%+ if true %}b{% endif +%}\nc")), QString("  b\nc"));
        // Variables are never lstripped; one trailing newline of the template is dropped.
        QCOMPARE(QString::fromStdString(render("  {{ 1 }}\n")), QString("  1"));
        QCOMPARE(QString::fromStdString(render("x {# note #}\ny\r\nz")), QString("x y\nz"));
        QCOMPARE(QString::fromStdString(render("  {# c #}\nx {#- c -#} y")), QString("xy"));
        QCOMPARE(QString::fromStdString(render("{% raw %}{{ x }}{% endraw %}|  {% raw -%}  y  {%- endraw %}")),
                 QString("{{ x }}|  y"));
    }

    void literalsAndPrinting() {
        QCOMPARE(QString::fromStdString(render("{{ 1.0 }} {{ 1e20 }} {{ 1e15 }} {{ 0.00001 }} {{ 1/3 }} {{ -0.5 }}")),
                 QString("1.0 1e+20 1000000000000000.0 1e-05 0.3333333333333333 -0.5"));
        QCOMPARE(QString::fromStdString(render("{{ true }} {{ False }} {{ none }} {{ None }} {{ 0x1f }} {{ 1_000 }}")),
                 QString("True False None None 31 1000"));
        QCOMPARE(QString::fromStdString(render("{{ [1, 'a', none, {'k': 1.5, 'q': \"it's\"}] }} {{ (1,) }} {{ () }}")),
                 QString("[1, 'a', None, {'k': 1.5, 'q': \"it's\"}] (1,) ()"));
        QCOMPARE(QString::fromStdString(render("{{ '\\x41\\u00e9\\n\\t\\\\\\'' }}{{ \"a\" 'b' }}{{ 'x\\qy' }}")),
                 QString::fromUtf8("A\xc3\xa9\n\t\\'abx\\qy"));
        QCOMPARE(QString::fromStdString(render("{{ {'a': {'b': 1}} }}{{ {'a': 1, 'a': 2} }}")),
                 QString("{'a': {'b': 1}}{'a': 2}"));
    }

    void arithmeticAndComparison() {
        QCOMPARE(QString::fromStdString(render("{{ 10/4 }} {{ 7//2 }} {{ -7//2 }} {{ -7 % 3 }} {{ 2**10 }} {{ 2**-1 }} "
                                               "{{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 2 * 3 ** 2 }} {{ -2 + 5 }}")),
                 QString("2.5 3 -4 2 1024 0.5 3.0 0.5 18 3"));
        QCOMPARE(
            QString::fromStdString(render("{{ 'ab' * 3 }} {{ [1] + [2] }} {{ 'a' ~ 1 ~ none ~ x }} {{ true + 1 }}")),
            QString("ababab [1, 2] a1None 2"));
        QCOMPARE(QString::fromStdString(render("{{ 1 == 1.0 }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'a' < 'b' }} "
                                               "{{ [1, 2] == [1, 2] }} {{ {'a': 1} == {'a': 1} }} {{ x == y }}")),
                 QString("True True False True True True True"));
        QCOMPARE(
            QString::fromStdString(render("{{ 'a' in 'cat' }} {{ 3 not in [1, 2] }} {{ 'k' in {'k': 0} }} "
                                          "{{ x in [1] }} {{ 0 and 1 }} {{ 1 and 2 }} {{ none or 'd' }} {{ not 1 }}")),
            QString("True True True False 0 2 d False"));
        QCOMPARE(QString::fromStdString(render("{{ 'y' if 0 else 'n' }}|{{ 'y' if false }}|{{ 'y' if 1 }}")),
                 QString("n||y"));
    }

    void accessAndSlicing() {
        const ordered_json ctx = {{"m", {{"role", "user"}, {"items", 3}}}, {"s", "h\xc3\xa9llo"}};
        QCOMPARE(QString::fromStdString(
                     render("{{ m.role }}{{ m['role'] }}{{ m.missing }}{{ m['x'] }}|{{ m['items'] }}", ctx)),
                 QString("useruser|3"));
        QCOMPARE(
            QString::fromStdString(render("{{ s[1] }} {{ s|length }} {{ s[1:3] }} {{ s[::-1] }} {{ s[-1] }}", ctx)),
            QString::fromUtf8("\xc3\xa9 5 \xc3\xa9l oll\xc3\xa9h o"));
        QCOMPARE(QString::fromStdString(render("{{ [1,2,3,4,5][1:4:2] }} {{ [1,2,3][-2:] }} {{ [1,2,3][::-2] }} "
                                               "{{ [1,2,3][5:] }} {{ [1,2,3][5] }} {{ (1, 2)[1] }} {{ [[7]][0].0 }}")),
                 QString("[2, 4] [2, 3] [3, 1] []  2 7"));
    }

    void undefinedSemantics() {
        QCOMPARE(QString::fromStdString(
                     render("[{{ x }}]{{ x is defined }}{{ x is undefined }}{{ x|length }}"
                            "{{ x|default('d') }}{{ x|d('e') }}{{ x|list }}{% for i in x %}no{% endfor %}")),
                 QString("[]FalseTrue0de[]"));
        QCOMPARE(QString::fromStdString(render("{{ 'y' if x else 'n' }}{{ x is iterable }}{{ {}.a is defined }}")),
                 QString("nTrueFalse"));
        LW_EXPECT_ERROR(render("{{ x.y }}"), "test.jinja:1:5", "'x' is undefined");
        LW_EXPECT_ERROR(render("\n{{ m.a.b }}", {{"m", ordered_json::object()}}),
                        "test.jinja:2:", "'dict object' has no attribute 'a'");
        LW_EXPECT_ERROR(render("{{ x + 1 }}"), "'x' is undefined");
        LW_EXPECT_ERROR(render("{{ foo() }}"), "'foo' is undefined");
        LW_EXPECT_ERROR(render("{{ x|tojson }}"), "not JSON serializable");
    }

    void loops() {
        QCOMPARE(QString::fromStdString(render(
                     "{% for a in [1, 2, 3] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}"
                     "{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.previtem }}-{{ loop.nextitem }}"
                     "{{ loop.cycle('o', 'e') }};{% endfor %}")),
                 QString("1032TrueFalse3-2o;2121FalseFalse31-3e;3210FalseTrue32-o;"));
        const ordered_json ctx = {{"ms", {{{"role", "system"}}, {{"role", "user"}}, {{"role", "assistant"}}}},
                                  {"d", {{"b", 1}, {"a", {1, 2}}}}};
        QCOMPARE(QString::fromStdString(render("{% for m in ms if m.role != 'system' %}{{ loop.index }}{{ m.role }}"
                                               "{% if loop.last %}!{% endif %}{% endfor %}|{% for m in [] %}x{% else %}"
                                               "empty{% endfor %}",
                                               ctx)),
                 QString("1user2assistant!|empty"));
        QCOMPARE(QString::fromStdString(
                     render("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}"
                            "{% for k, v in d|items %}{{ k }}{% endfor %}{% for k in d %}{{ k }}{% endfor %}"
                            "{% for (a, b) in [(1, 2)] %}{{ a + b }}{% endfor %}",
                            ctx)),
                 QString("b=1;a=[1, 2];baba3"));
        QCOMPARE(QString::fromStdString(render("{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}"
                                               "{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}"
                                               "{{ range(2, 9, 3)|list }}{{ range(3, 0, -1)|list }}")),
                 QString("0134[2, 5, 8][3, 2, 1]"));
        LW_EXPECT_ERROR(render("{% for a, b in [1] %}{% endfor %}"), "test.jinja:1:", "not iterable");
        LW_EXPECT_ERROR(render("{% for a, b in [[1, 2, 3]] %}{% endfor %}"), "cannot unpack 3 values into 2 names");
    }

    void scopesSetAndNamespace() {
        // A loop iteration has its own scope; if does not.
        QCOMPARE(QString::fromStdString(render("{% set c = 0 %}{% for i in range(3) %}{% set c = c + 1 %}{{ c }}"
                                               "{% endfor %}{{ c }}{% if true %}{% set y = 5 %}{% endif %}{{ y }}")),
                 QString("11105"));
        QCOMPARE(
            QString::fromStdString(render("{% set ns = namespace(found=false, n=0) %}{% for i in range(5) %}"
                                          "{% if i > 2 %}{% set ns.found = true %}{% set ns.n = ns.n + i %}{% endif %}"
                                          "{% endfor %}{{ ns.found }} {{ ns.n }}")),
            QString("True 7"));
        QCOMPARE(QString::fromStdString(render("{% set x %} b {{ 1 + 1 }} {% endset %}[{{ x }}]{% set p, q = 1, 2 %}"
                                               "{{ p }}{{ q }}{{ dict(a=1, b='x') }}")),
                 QString("[ b 2 ]12{'a': 1, 'b': 'x'}"));
        LW_EXPECT_ERROR(render("{% set s = 'x' %}{% set s.a = 1 %}"), "test.jinja:1:", "not a namespace");
        LW_EXPECT_ERROR(render("{% set ns = namespace() %}{% set ns.x = ns %}"), "cannot store a namespace");
        LW_EXPECT_ERROR(render("{% set ns = namespace(_private=1) %}"), "'_private'");
    }

    void macros() {
        QCOMPARE(QString::fromStdString(render("{% macro m(a, b=2) %}[{{ a }}{{ b }}{{ g }}]{% endmacro %}"
                                               "{% set g = 7 %}{{ m(1) }}{{ m(1, b=3) }}{{ m(a=4) }}")),
                 QString("[127][137][427]"));
        QCOMPARE(QString::fromStdString(render("{% macro greet(name) -%}\nHi {{ name }}!\n{%- endmacro %}\n"
                                               "{{ greet('bob') }}")),
                 QString("Hi bob!"));
        LW_EXPECT_ERROR(render("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}"), "macro 'm' takes 1 arguments");
        LW_EXPECT_ERROR(render("{% macro m(a) %}{% endmacro %}{{ m(z=1) }}"), "no parameter named 'z'");
        LW_EXPECT_ERROR(render("{% macro r(n) %}{{ r(n) }}{% endmacro %}{{ r(1) }}"), "macro calls nested deeper");
    }

    void filters() {
        const ordered_json ctx = {{"xs",
                                   {{{"role", "user"}, {"n", 3}},
                                    {{"role", "assistant"}, {"n", 1}, {"tool_calls", {1}}},
                                    {{"role", "user"}, {"n", 2}}}}};
        QCOMPARE(QString::fromStdString(render(
                     "{{ xs|selectattr('role', 'equalto', 'user')|list|length }} "
                     "{{ xs|rejectattr('role', 'equalto', 'user')|map(attribute='role')|join(',') }} "
                     "{{ xs|selectattr('tool_calls')|map(attribute='n')|first }} {{ xs|map(attribute='x', "
                     "default='-')|join }} "
                     "{{ xs|sort(attribute='n')|map(attribute='n')|list }} {{ [1, 2, 3, 4]|select('even')|list }} "
                     "{{ [1, 2, 3, 4]|reject('odd')|list }} {{ ['a', 'b']|map('upper')|join }} {{ [0, 1, '', "
                     "'x']|select|list }}",
                     ctx)),
                 QString("2 assistant 1 --- [1, 2, 3] [2, 4] [2, 4] AB [1, 'x']"));
        QCOMPARE(QString::fromStdString(render(
                     "{{ '  x  '|trim }}|{{ 'xxhixx'|trim('x') }}|{{ 'hello world'|title }}|"
                     "{{ 'hELLO'|capitalize }}|{{ 'aBc'|upper }}{{ 'aBc'|lower }}|{{ 'aaa'|replace('a', 'b', 2) }}|"
                     "{{ [1, none, 'a']|join('-') }}|{{ [1, 2]|last }}|{{ []|first }}|{{ 'ab'|reverse }}")),
                 QString("x|hi|Hello World|Hello|ABCabc|bba|1-None-a|2||ba"));
        QCOMPARE(QString::fromStdString(
                     render("{{ 5|float }} {{ '3.7'|int }} {{ 'abc'|int }} {{ 'abc'|int(7) }} {{ 2.5|round }} "
                            "{{ 3.5|round }} {{ 2.675|round(2) }} {{ 1.27|round(1, 'floor') }} {{ -3|abs }} "
                            "{{ 5|string }}{{ none|string }} {{ 1.5|int }} {{ ' 0x1A '|int(base=16) }}")),
                 QString("5.0 3 0 7 2.0 4.0 2.67 1.2 3 5None 1 26"));
        QCOMPARE(QString::fromStdString(render(
                     "{{ ['b', 'A', 'a']|sort }} {{ [3, 1, 2]|sort(reverse=true) }} "
                     "{{ ['b', 'A', 'a', 'B']|unique|list }} {{ 'ab'|list }} {{ [3, 1]|max }} "
                     "{{ [1, 2, 3]|sum }} {{ {'b': 1, 'a': 2}|dictsort }} {{ 'x'|safe }}{{ ''|default('d', true) }}")),
                 QString("['A', 'a', 'b'] [3, 2, 1] ['b', 'A'] ['a', 'b'] 3 6 [('a', 2), ('b', 1)] xd"));
        QCOMPARE(QString::fromStdString(render(
                     "{{ 'a\nb'|indent(2) }}|{{ 'a\n\nb'|indent(2, true) }}|{{ 'a\n\nb'|indent(2, blank=true) }}")),
                 QString("a\n  b|  a\n\n  b|a\n  \n  b"));
        // safe marks Markup: '+' then HTML-escapes the plain side, as markupsafe does; '~' does not.
        QCOMPARE(QString::fromStdString(
                     render("{{ '<b>'|safe + '\"&' }}|{{ '\"'|safe ~ '<' }}|{{ '<'|e }}|{{ 'a'|safe * 2 + '<' }}")),
                 QString("<b>&#34;&amp;|\"<|&lt;|aa&lt;"));
        // select/map skip falsy inputs, as jinja2 does; other filters reject them.
        QCOMPARE(QString::fromStdString(render("{{ none|selectattr('type')|list }}{{ none|map('upper')|list }}")),
                 QString("[][]"));
        LW_EXPECT_ERROR(render("{{ none|join }}"), "test.jinja:1:", "'NoneType' object is not iterable");
        LW_EXPECT_ERROR(render("{{ 1|sort }}"), "test.jinja:1:", "'int' object is not iterable");
        LW_EXPECT_ERROR(render("{{ [1]|map('nope')|list }}"), "no filter named 'nope'");
        LW_EXPECT_ERROR(render("{{ 'x'|round }}"), "round needs a number");
    }

    void tojsonAsTransformers() {
        const ordered_json ctx = {
            {"x",
             {{"b", {1, 2.5, {{"c", nullptr}, {"d", true}}}}, {"a", "\xc3\xa9\"\n"}, {"e", ordered_json::object()}}}};
        QCOMPARE(QString::fromStdString(render("{{ x|tojson }}", ctx)),
                 QString::fromUtf8("{\"b\": [1, 2.5, {\"c\": null, \"d\": true}], \"a\": \"é\\\"\\n\", \"e\": {}}"));
        QCOMPARE(QString::fromStdString(render("{{ x|tojson(indent=2) }}", ctx)),
                 QString::fromUtf8(
                     "{\n  \"b\": [\n    1,\n    2.5,\n    {\n      \"c\": null,\n      \"d\": true\n    }\n  ],"
                     "\n  \"a\": \"é\\\"\\n\",\n  \"e\": {}\n}"));
        QCOMPARE(QString::fromStdString(render("{{ x|tojson(separators=(',', ':'), sort_keys=true) }}", ctx)),
                 QString::fromUtf8("{\"a\":\"é\\\"\\n\",\"b\":[1,2.5,{\"c\":null,\"d\":true}],\"e\":{}}"));
        QCOMPARE(QString::fromStdString(
                     render("{{ 'é\x01'|tojson(ensure_ascii=true) }} {{ (1, 'a')|tojson }} {{ 1.0|tojson }}")),
                 QString("\"\\u00e9\\u0001\" [1, \"a\"] 1.0"));
    }

    void stringMethods() {
        QCOMPARE(QString::fromStdString(
                     render("{{ '  a b  '.split() }} {{ 'a,b,c'.split(',', 1) }} {{ ' x '.strip() }}|"
                            "{{ ' x '.lstrip() }}|{{ ' x '.rstrip() }}|{{ 'abc'.startswith('ab') }}"
                            "{{ 'abc'.endswith(('x', 'c')) }} {{ 'hello world'.title() }} {{ 'AbC'.upper() }}"
                            "{{ 'AbC'.lower() }} {{ 'aXa'.replace('a', 'b') }} {{ 'h\xc3\xa9llo'.find('l') }} "
                            "{{ 'a-b-c'.count('-') }} {{ ','.join(['a', 'b']) }} {{ 'xax'.strip('x') }}")),
                 QString("['a', 'b'] ['a', 'b,c'] x|x | x|TrueTrue Hello World ABCabc bXb 2 2 a,b a"));
        QCOMPARE(
            QString::fromStdString(render("{{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 5) }} {{ d.keys()|list }} "
                                          "{{ d.values()|list }} {{ d.items()|list }}",
                                          {{"d", {{"a", 1}}}})),
            QString("1 None 5 ['a'] [1] [('a', 1)]"));
        QCOMPARE(QString::fromUtf8(
                     render("{{ '\xc3\x80\xc3\x89 stra\xc3\x9f\x65 \xd0\xbf\xd1\x80\xd0\xb8'|upper }}").c_str()),
                 QString::fromUtf8("\xc3\x80\xc3\x89 STRASSE \xd0\x9f\xd0\xa0\xd0\x98"));
        QCOMPARE(QString::fromStdString(
                     render("{{ '<{}|{}|{n}|{{}}>'.format('a', 2.0, n=none) }}{{ '{1}{0}{1}'.format('a', 2) }}")),
                 QString("<a|2.0|None|{}>2a2"));
        LW_EXPECT_ERROR(render("{{ '{1}{}'.format(1, 2) }}"), "cannot mix automatic and manual field numbering");
        LW_EXPECT_ERROR(render("{{ '{:>4}'.format(1) }}"), "format field '{:>4}' is not supported");
        LW_EXPECT_ERROR(render("{{ '{} {}'.format(1) }}"), "format field '{}' has no matching argument");
        LW_EXPECT_ERROR(render("{{ 'x'.nope() }}"), "test.jinja:1:", "'str object' has no attribute 'nope'");
        LW_EXPECT_ERROR(render("{{ [].append(1) }}"), "'list object' has no attribute 'append'");
    }

    void tests() {
        QCOMPARE(
            QString::fromStdString(render(
                "{{ 4 is divisibleby 2 }}{{ 5 is divisibleby(2) }}{{ 3 is odd }}{{ 3 is even }}{{ 'a' is string }}"
                "{{ 1 is number }}{{ true is boolean }}{{ {} is mapping }}{{ [] is mapping }}{{ 'x' is equalto 'x' }}"
                "{{ none is none }}{{ 1 is integer }}{{ 1.0 is float }}{{ true is true }}{{ 0 is false }}"
                "{{ 'a' is not string }}{{ [] is iterable }}{{ 'x' is sequence }}{{ 3 is gt 2 }}{{ 'a' is in 'abc' }}"
                "{{ 'abc' is lower }}{{ 'ABC' is upper }}")),
            QString("TrueFalseTrueFalseTrueTrueTrueTrueFalseTrueTrueTrueTrueTrueFalseFalseTrueTrueTrueTrueTrueTrue"));
    }

    void globals() {
        QCOMPARE(QString::fromStdString(render("{{ strftime_now('%d %b %Y %H:%M') }}")), QString("05 Sep 2024 13:04"));
        LW_EXPECT_ERROR(render("{% if true %}\n  {{ raise_exception('Roles must alternate') }}\n{% endif %}"),
                        "test.jinja:2:", "raise_exception: Roles must alternate");
        LW_EXPECT_ERROR(render("{{ range(1, 2, 0) }}"), "must not be zero");
    }

    void parseErrorsNameSourceLineAndColumn() {
        const auto parse = [](const std::string& text) { lw::ChatTemplate t(text, "bad.jinja"); };
        LW_EXPECT_ERROR(parse("{% if x %}"), "bad.jinja:1:4", "'if' block is never closed", "'endif'");
        LW_EXPECT_ERROR(parse("ok\n{% for x in y %}{% endif %}"), "bad.jinja:2:20", "unexpected 'endif'");
        LW_EXPECT_ERROR(parse("ok\n{% for x in y %}"), "bad.jinja:2:4", "'for' block is never closed");
        LW_EXPECT_ERROR(parse("{% endfor %}"), "bad.jinja:1:4", "unexpected 'endfor'");
        LW_EXPECT_ERROR(parse("{% include 'x' %}"), "bad.jinja:1:4", "unsupported tag 'include'");
        LW_EXPECT_ERROR(parse("{{ x | nope }}"), "bad.jinja:1:8", "unknown filter 'nope'");
        LW_EXPECT_ERROR(parse("{{ x is nope }}"), "bad.jinja:1:9", "unknown test 'nope'");
        LW_EXPECT_ERROR(parse("{% if a %}{% for b in c %}{{ b|nope }}{% endfor %}{% endif %}"),
                        "unknown filter 'nope'");
        // Inside if blocks and conditional expressions jinja2 only fails when the filter runs.
        QCOMPARE(QString::fromStdString(render("{% if false %}{{ x|nope }}{% endif %}{{ x|nope if false }}")),
                 QString(""));
        LW_EXPECT_ERROR(render("{% if true %}\n{{ x is nope }}{% endif %}"), "test.jinja:2:", "no test named 'nope'");
        LW_EXPECT_ERROR(parse("{{ x"), "bad.jinja:1:1", "expected '}}'");
        LW_EXPECT_ERROR(parse("{{ 'abc }}"), "bad.jinja:1:4", "unterminated string");
        LW_EXPECT_ERROR(parse("{# never closed"), "bad.jinja:1:1", "missing end of comment");
        LW_EXPECT_ERROR(parse("{% raw %}x"), "bad.jinja:1:1", "missing end of raw");
        LW_EXPECT_ERROR(parse("{{ (1 ] }}"), "bad.jinja:1:7", "unexpected ']'");
        LW_EXPECT_ERROR(parse("{{ 1 + }}"), "bad.jinja:1:8", "unexpected '}}'");
        LW_EXPECT_ERROR(parse("{{ a @ b }}"), "bad.jinja:1:6", "unexpected character '@'");
        LW_EXPECT_ERROR(parse("{% break %}"), "'break' outside of a loop");
        LW_EXPECT_ERROR(parse("{% for x in y recursive %}{% endfor %}"), "recursive loops are not supported");
        LW_EXPECT_ERROR(parse("{{ f(*a) }}"), "*args");
        LW_EXPECT_ERROR(parse("{{ 99999999999999999999 }}"), "integer literal too large");
        LW_EXPECT_ERROR(parse("{{ x is defined is defined }}"), "cannot be chained");
    }

    void hostileInputStopsCleanly() {
        const auto parse = [](const std::string& text) { lw::ChatTemplate t(text, "deep.jinja"); };
        LW_EXPECT_ERROR(parse("{{ " + std::string(10000, '(') + "1" + std::string(10000, ')') + " }}"),
                        "nested deeper");
        std::string blocks;
        for (int i = 0; i < 500; ++i) blocks += "{% if true %}";
        LW_EXPECT_ERROR(parse(blocks), "nested deeper");
        LW_EXPECT_ERROR(parse("{{ " + std::string(5000, '-') + "1 }}"), "nested deeper");
        LW_EXPECT_ERROR(render("{% for i in range(100000000) %}{% endfor %}"), "range() of more than");
        LW_EXPECT_ERROR(render("{% for i in range(1000000) %}{% for j in range(1000000) %}{% endfor %}{% endfor %}"),
                        "loop iterations");
        LW_EXPECT_ERROR(render("{{ 'x' * 100000000000 }}"), "exceeds the limit");
        LW_EXPECT_ERROR(
            render("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"),
            "exceeds the limit");
        LW_EXPECT_ERROR(
            render("{% set ns = namespace(l=[]) %}{% for i in range(1000) %}{% set ns.l = [ns.l] %}{% endfor %}"),
            "nested deeper");
        LW_EXPECT_ERROR(render("{{ 9223372036854775807 + 1 }}"), "integer overflow");
        LW_EXPECT_ERROR(render("{{ 1 // 0 }}"), "division or modulo by zero");
        // Invalid UTF-8 renders as U+FFFD where code points are needed, and never crashes.
        QCOMPARE(QString::fromStdString(render("{{ s|length }}{{ s[0] }}", {{"s", std::string("\xff"
                                                                                              "a")}})),
                 QString::fromUtf8("2\xef\xbf\xbd"));
    }
};

QTEST_GUILESS_MAIN(TestChatTemplate)
#include "test_chat_template.moc"
