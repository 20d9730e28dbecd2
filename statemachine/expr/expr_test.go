package expr

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestText(t *testing.T) {
	runRender(t, testEnv(), []renderCase{
		{"", ""},
		{"plain text { } %} }}", "plain text { } %} }}"},
		{"a{# comment {{ x }} #}b", "ab"},
		{"Hello {{ inputs.name }}!", "Hello Relay!"},
		{"{{ inputs.name }}{{ inputs.n }}", "Relay3"},
		{"{{'}}'}}", "}}"},
		{`{{ "%}" }}`, "%}"},
		{"{{ {'a': {'b': 1}} }}", `{"a":{"b":1}}`},
		{"{{ {'a': {'b': 1}}.a.b }}", "1"},
		{"{{ [[1, 2], [3]] }}", "[[1,2],[3]]"},
		// whitespace control
		{"a  {{- 1 -}}  b", "a1b"},
		{"a \n {{- 1 }} \n b", "a1 \n b"},
		{"a {{ 1 -}} \n\t b", "a 1b"},
		{"a\n{%- if true -%}\n  x\n{%- endif -%}\n b", "axb"},
		{"a {#- c -#} b", "ab"},
		{"a {# c #} b", "a  b"},
		// newlines after tags are kept (Kestra disables Pebble's newline trimming)
		{"{% if true %}\nx\n{% endif %}\n", "\nx\n\n"},
		// raw
		{"{% raw %}{{ x }} {% if %}{% endraw %}", "{{ x }} {% if %}"},
		{"a {%- raw -%} {{ y }} {%- endraw -%} b", "a{{ y }}b"},
		{"{% raw %}{% endraw %}", ""},
		{"{%raw%}a{%endraw%}{{ 1 }}", "a1"},
	})
}

func TestStatements(t *testing.T) {
	runRender(t, testEnv(), []renderCase{
		{"{% if inputs.flag %}yes{% endif %}", "yes"},
		{"{% if not inputs.flag %}yes{% else %}no{% endif %}", "no"},
		{"{% if inputs.n == 1 %}1{% elseif inputs.n == 3 %}3{% else %}x{% endif %}", "3"},
		{"{% if inputs.n == 1 %}1{% elif inputs.n == 2 %}2{% else %}x{% endif %}", "x"},
		{"{% if inputs.no %}t{% else %}f{% endif %}", "f"},
		{"{% if inputs.items %}t{% endif %}", "t"},
		{"{% if [] %}t{% else %}f{% endif %}", "f"},
		{"{% if true %}{% if false %}a{% else %}b{% endif %}{% endif %}", "b"},
		// for
		{"{% for x in inputs.items %}{{ loop.index }}:{{ x }}{% if not loop.last %},{% endif %}{% endfor %}", "0:a,1:b"},
		{"{% for x in inputs.items %}{{ loop.first }}/{{ loop.last }}/{{ loop.length }}/{{ loop.revindex }} {% endfor %}", "true/false/2/1 false/true/2/0 "},
		{"{% for k, v in {'b': 2, 'a': 1} %}{{ k }}={{ v }};{% endfor %}", "a=1;b=2;"},
		{"{% for e in {'b': 2, 'a': 1} %}{{ e.key }}{{ e.value }}{% endfor %}", "a1b2"},
		{"{% for k, v in inputs.labels %}{{ k }}={{ v }} {% endfor %}", "env=prod team=data "},
		{"{% for i, x in ['a', 'b'] %}{{ i }}{{ x }}{% endfor %}", "0a1b"},
		{"{% for x in [] %}x{% else %}empty{% endfor %}", "empty"},
		{"{% for x in null %}x{% else %}none{% endfor %}", "none"},
		{"{% for x in inputs.nums %}{{ x }}{% endfor %}", "312"},
		{"{% for r in inputs.rows %}{{ r.id }}{% endfor %}", "12"},
		{"{% for i in 1..3 %}{{ i }}{% endfor %}", "123"},
		{"{% for a in [1, 2] %}{% for b in [3, 4] %}{{ loop.index }}{% endfor %}{{ loop.index }}{% endfor %}", "010011"},
		{"{% for a in [1, 2] %}{% for b in [3, 4] %}{{ a }}{{ b }} {% endfor %}{% endfor %}", "13 14 23 24 "},
		{"{% for x in [1] %}{{ x }}{% endfor %}{{ x ?? 'gone' }}", "1gone"},
		// set
		{"{% set x = inputs.n * 2 %}{{ x }}", "6"},
		{"{% set inputs = 'shadow' %}{{ inputs }}", "shadow"},
		{"{% set x = 1 %}{% for i in [1, 2] %}{% set x = i %}{{ x }}{% endfor %}{{ x }}", "121"},
		{"{% for i in [1, 2] %}{% if loop.first %}{% set s = 'x' %}{% endif %}{{ s }}{% endfor %}", "xx"},
		{"{% set l = [] %}{% for i in 1..3 %}{% set l = l + [i] %}{% endfor %}{{ l ?? 'scoped' }}", "[]"},
		{"{% if true %}{% set y = 5 %}{% endif %}{{ y }}", "5"},
	})
}

func TestLiterals(t *testing.T) {
	runRender(t, testEnv(), []renderCase{
		{`{{ 'it\'s' }}`, "it's"},
		{`{{ "a\"b" }}`, `a"b`},
		{`{{ "tab\tnl\n" }}`, "tab\tnl\n"},
		{`{{ '\u00e9\u20AC' }}`, "é€"},
		{`{{ '\ud83d\ude00' }}`, "😀"},
		{`{{ '\d+\.' }}`, `\d+\.`},
		{`{{ 'a\\b' }}`, `a\b`},
		{"{{ 42 }} {{ -7 }} {{ 2.50 }} {{ 1e3 }} {{ 1.5e-3 }}", "42 -7 2.5 1000 0.0015"},
		{"{{ true }} {{ True }} {{ false }} {{ False }} {{ null }}|{{ none }}|{{ None }}", "true true false false ||"},
		{"{{ [1, 'a', null, true] }}", `[1,"a",null,true]`},
		{"{{ [1, 2,] }} {{ {'a': 1,} }}", `[1,2] {"a":1}`},
		{"{{ {'b': 1, 'a': [true]} }}", `{"a":[true],"b":1}`},
		{"{{ {1: 'one'} }}", `{"1":"one"}`},
		{"{{ {inputs.name: 1} }}", `{"Relay":1}`},
		{"{{ [] }} {{ {} }}", "[] {}"},
		{"{{ 0.1 + 0.2 }}", "0.30000000000000004"},
	})
}

func TestAccess(t *testing.T) {
	runRender(t, testEnv(), []renderCase{
		{"{{ inputs.name }}", "Relay"},
		{"{{ inputs['name'] }}", "Relay"},
		{"{{ outputs['extract-data'].uri }}", "s3://bucket/data.csv"},
		{"{{ outputs[\"extract-data\"]['uri'] }}", "s3://bucket/data.csv"},
		{"{{ inputs.items[0] }}{{ inputs.items[1] }}", "ab"},
		{"{{ inputs.items[-1] }}", "b"},
		{"{{ inputs.items.0 }}", "a"},
		{"{{ inputs.rows.1.id }}", "2"},
		{"{{ inputs.items[inputs.n - 2] }}", "b"},
		{"{{ inputs[\"na\" ~ \"me\"] }}", "Relay"},
		{"{{ inputs.labels.team }}", "data"},
		{"{{ 'hello'[1] }}{{ 'hello'[-1] }}", "eo"},
		{"{{ {'1': 'x'}[1] }}", "x"},
		{"{{ outputs.task1.vars.count }}", "7"},
		{"{{ execution.startDate }}", "2024-01-31T10:00:00Z"},
	})
}

func TestInputNormalization(t *testing.T) {
	runRender(t, testEnv(), []renderCase{
		{"{{ inputs.n + 1 }} {{ inputs.i32 * 2 }} {{ inputs.u8 + 1 }}", "4 -8 201"},
		{"{{ inputs.f32 + 1 }} {{ inputs.jint + 1 }} {{ inputs.jflt * 2 }}", "1.5 13 2.5"},
		{"{{ inputs.items }} {{ inputs.nums }} {{ inputs.labels }}", `["a","b"] [3,1,2] {"env":"prod","team":"data"}`},
		{"{{ inputs.rows }}", `[{"id":1},{"id":2}]`},
		{"{{ inputs.pt }}", "{1 2}"},
		{"{{ inputs.ptr }}", "2024-01-31T10:00:00Z"},
		{"{{ inputs.items | length }} {{ inputs.labels | length }}", "2 2"},
		{"{{ 'b' in inputs.items }} {{ 'env' in inputs.labels }}", "true true"},
	})
}

func TestOperators(t *testing.T) {
	runRender(t, testEnv(), []renderCase{
		// arithmetic
		{"{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 10 - 4 - 3 }}", "7 9 3"},
		{"{{ 7 / 2 }} {{ 6 / 3 }} {{ -6 / 4 }} {{ 7.0 / 2 }}", "3.5 2 -1.5 3.5"},
		{"{{ 7 // 2 }} {{ -7 // 2 }} {{ 7.5 // 2 }}", "3 -4 3"},
		{"{{ 7 % 3 }} {{ -7 % 3 }} {{ 7.5 % 2 }}", "1 -1 1.5"},
		{"{{ 2 * 2.5 }} {{ 1 - 0.5 }}", "5 0.5"},
		{"{{ 9223372036854775807 + 1 }}", "9223372036854776000"},
		{"{{ -inputs.n }} {{ -(1 + 2) }} {{ +3 }} {{ - -3 }}", "-3 -3 3 3"},
		// + on strings and lists (Pebble)
		{"{{ 'a' + 'b' }} {{ 1 + '2' }} {{ [1] + [2] }} {{ [1] + 2 }}", `ab 12 [1,2] [1,2]`},
		// concatenation
		{"{{ 'a' ~ 1 ~ true ~ null ~ [1] }}", "a1true[1]"},
		// comparison
		{"{{ 1 == 1.0 }} {{ 1 != 2 }} {{ 'a' == 'a' }} {{ 1 == '1' }} {{ null == null }}", "true true true false true"},
		{"{{ [1, {'a': 2}] == [1, {'a': 2.0}] }} {{ [1] == [1, 2] }}", "true false"},
		{"{{ 1 < 2 }} {{ 2 <= 2 }} {{ 3 > 2.5 }} {{ 2 >= 3 }} {{ 'abc' < 'abd' }}", "true true true false true"},
		{"{{ now() | date('yyyy') > '2023' }}", "true"},
		// logic
		{"{{ true and false }} {{ true or false }} {{ not true }} {{ !false }}", "false true false true"},
		{"{{ true && 1 }} {{ 0 || '' }} {{ 'x' or missing }} {{ false and missing }}", "true false true false"},
		{"{{ not 1 == 2 }} {{ not false and false }} {{ not (false and false) }}", "true false true"},
		// membership
		{"{{ 'b' in ['a', 'b'] }} {{ 'c' not in ['a'] }} {{ 'k' in {'k': 1} }} {{ 'ell' in 'hello' }}", "true true true true"},
		{"{{ 1 in [1.0] }} {{ 'x' in null }} {{ 2 in '123' }}", "true false true"},
		{"{{ [1, 2, 3] contains 2 }} {{ [1, 2, 3] contains [1, 3] }} {{ 'abc' contains 'bc' }} {{ {'a': 1} contains 'a' }}", "true true true true"},
		// ternary
		{"{{ inputs.n > 2 ? 'big' : 'small' }}", "big"},
		{"{{ false ? 1 : true ? 2 : 3 }}", "2"},
		{"{{ (inputs.flag ? 'a' : 'b') ~ '!' }}", "a!"},
		// coalescing
		{"{{ inputs.missing ?? 'd' }} {{ inputs.nil ?? 'd' }} {{ inputs.name ?? 'd' }}", "d d Relay"},
		{"{{ missing.a.b ?? other ?? 'last' }}", "last"},
		{"{{ inputs.nil ??? 'd' }}|{{ inputs.missing ??? 'd' }}", "|d"},
		{"{{ inputs.missing ?? 'x' | upper }}", "X"},
		{"{{ (inputs.missing | upper) ?? 'y' }}", "y"},
		{"{{ inputs.items[9] ?? 'oob' }} {{ inputs.nil.x ?? 'nil' }} {{ inputs.name.x ?? 'str' }}", "oob nil str"},
		// range
		{"{{ 1..3 }} {{ 3..1 }} {{ 0..0 }} {{ -2..0 }}", "[1,2,3] [] [0] [-2,-1,0]"},
		{"{{ 1..inputs.n | join('-') }}", "1-2-3"},
		// precedence between filters and operators (Pebble)
		{"{{ 'a' ~ 'b' | upper }}", "AB"},
		{"{{ 1 + 2 | string }}", "12"},
		{"{{ -5 | abs }} {{ -inputs.n | abs }}", "5 3"},
		{"{{ inputs.items | length > 1 }}", "true"},
		{"{{ not inputs.missing is defined }}", "true"},
	})
}

func TestTests(t *testing.T) {
	runRender(t, testEnv(), []renderCase{
		{"{{ inputs.name is defined }} {{ inputs.missing is defined }} {{ inputs.nil is defined }}", "true false false"},
		{"{{ missing is not defined }} {{ missing.a.b is defined }} {{ inputs.items[5] is defined }}", "true false false"},
		{"{{ inputs.nil is null }} {{ inputs.name is not null }}", "true true"},
		{"{{ '' is empty }} {{ [] is empty }} {{ {} is empty }} {{ null is empty }} {{ ' ' is empty }} {{ 0 is empty }}", "true true true true false false"},
		{"{{ 2 is even }} {{ 3 is even }} {{ 3 is odd }} {{ -3 is odd }} {{ 'x' is odd }} {{ 4.0 is even }}", "true false true true false true"},
		{"{{ [] is iterable }} {{ {} is iterable }} {{ 'abc' is iterable }} {{ inputs.items is iterable }}", "true true false true"},
		{"{{ {} is map }} {{ inputs.labels is map }} {{ [] is map }}", "true true false"},
		{"{{ 1 is number }} {{ 1.5 is number }} {{ '1' is number }} {{ '1' is string }} {{ 1 is string }}", "true true false true false"},
	})
}

func TestTypedResult(t *testing.T) {
	env := testEnv()
	cases := []struct {
		src  string
		want any
	}{
		{"{{ inputs.n }}", int64(3)},
		{"  {{ inputs.n }}\n", int64(3)},
		{"{{- inputs.n -}}", int64(3)},
		{"{{ 1.5 }}", 1.5},
		{"{{ 6 / 3 }}", int64(2)},
		{"{{ null }}", nil},
		{"{{ inputs.nil }}", nil},
		{"{{ true }}", true},
		{"{{ inputs.name }}", "Relay"},
		{"{{ inputs.items }}", []any{"a", "b"}},
		{"{{ inputs.nums }}", []any{int64(3), int64(1), int64(2)}},
		{"{{ inputs.labels }}", map[string]any{"team": "data", "env": "prod"}},
		{"{{ inputs.rows }}", []any{map[string]any{"id": int64(1)}, map[string]any{"id": int64(2)}}},
		{"{{ now() }}", "2024-01-31T10:00:00Z"},
		{"{{ [now(), 1] }}", []any{"2024-01-31T10:00:00Z", int64(1)}},
		{"{{ {'t': now()} }}", map[string]any{"t": "2024-01-31T10:00:00Z"}},
		{"{{ fromJson('{\"a\": [1, 2.5, null]}') }}", map[string]any{"a": []any{int64(1), 2.5, nil}}},
		{"plain", "plain"},
		{"a{{ 1 }}", "a1"},
		{"{{ 1 }}{{ 2 }}", "12"},
		{"{{ 1 }} x", "1 x"},
		{"{% if true %}1{% endif %}", "1"},
		{"{# c #}{{ 1 }}", int64(1)}, // comments count as whitespace
	}
	for _, c := range cases {
		tpl, err := Parse(c.src)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.src, err)
		}
		got, err := tpl.Render(env)
		if err != nil {
			t.Errorf("Render(%q): %v", c.src, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Render(%q) = %#v (%T), want %#v (%T)", c.src, got, got, c.want, c.want)
		}
	}
	// RenderString of a single expression is its Stringify form.
	tpl, _ := Parse("{{ inputs.items }}")
	if s, _ := tpl.RenderString(env); s != `["a","b"]` {
		t.Errorf("RenderString = %q", s)
	}
}

func TestTemplateFlags(t *testing.T) {
	cases := []struct {
		src             string
		literal, single bool
	}{
		{"", true, false},
		{"plain { text }", true, false},
		{"{{ x }}", false, true},
		{" \n{{ x }}\t", false, true},
		{"a{{ x }}", false, false},
		{"{{ x }}{{ y }}", false, false},
		{"{# c #}", false, false},
		{"{% raw %}x{% endraw %}", false, false},
		{"{% set a = 1 %}{{ a }}", false, false},
	}
	for _, c := range cases {
		tpl, err := Parse(c.src)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.src, err)
		}
		if tpl.IsLiteral() != c.literal || tpl.IsSingleExpr() != c.single {
			t.Errorf("%q: IsLiteral=%v IsSingleExpr=%v, want %v %v", c.src, tpl.IsLiteral(), tpl.IsSingleExpr(), c.literal, c.single)
		}
		if tpl.Source() != c.src {
			t.Errorf("Source() = %q", tpl.Source())
		}
	}
	tpl, _ := Parse("no tags")
	if v, err := tpl.Render(nil); err != nil || v != "no tags" {
		t.Errorf("literal Render = %v, %v", v, err)
	}
}

func TestStrictness(t *testing.T) {
	runEvalErrors(t, testEnv(), []errCase{
		{"{{ missing }}", "line 1 col 4: variable `missing` is not defined"},
		{"{{ outputs.foo }}", "line 1 col 4: variable `outputs.foo` is not defined"},
		{"{{ outputs.foo.bar.baz }}", "variable `outputs.foo` is not defined"},
		{"x\n  {{ inputs.name ~ outputs['a-b'].c }}", "line 2 col 20: variable `outputs['a-b']` is not defined"},
		{"{{ inputs.nil.x }}", "cannot read `x` of `inputs.nil`: it is null"},
		{"{{ inputs.name.x }}", "cannot read `x` of string `inputs.name`"},
		{"{{ inputs.items[5] }}", "index 5 is out of range for `inputs.items` (length 2)"},
		{"{{ inputs.items.size }}", "cannot read `size` of list `inputs.items`"},
		{"{{ inputs.missing | upper }}", "variable `inputs.missing` is not defined"},
		{"{{ inputs.missing is null }}", "variable `inputs.missing` is not defined"},
		{"{{ inputs.missing is empty }}", "variable `inputs.missing` is not defined"},
		{"{% if outputs.t.ok %}x{% endif %}", "variable `outputs.t` is not defined"},
		{"{% for x in outputs.t %}x{% endfor %}", "variable `outputs.t` is not defined"},
		{"{{ (inputs.missing ?? 1) + other }}", "variable `other` is not defined"},
		{"{{ inputs.items[inputs.missing] ?? 'x' }}{{ y }}", "variable `y` is not defined"},
		// hyphenated ids parse as subtraction; the error says how to fix it
		{"{{ outputs.transform-data.rowCount }}", "variable `outputs.transform` is not defined (use outputs['transform-data'].rowCount for ids containing '-')"},
		{"{{ outputs.a-b-c.d }}", "use outputs['a-b-c'].d for ids containing '-'"},
		{"{{ inputs.my-input }}", "use inputs['my-input'] for ids containing '-'"},
	})
	// A subtraction with spaces gets no hint.
	tpl, _ := Parse("{{ inputs.n - outputs.x }}")
	_, err := tpl.Render(testEnv())
	if err == nil || strings.Contains(err.Error(), "use ") {
		t.Errorf("unexpected hint: %v", err)
	}
	if !errors.Is(err, ErrUndefined) {
		t.Errorf("error does not wrap ErrUndefined: %v", err)
	}
	var ee *EvalError
	if !errors.As(err, &ee) || ee.Offset != 14 || ee.Src != "{{ inputs.n - outputs.x }}" {
		t.Errorf("EvalError = %+v", ee)
	}
}

func TestEvalErrors(t *testing.T) {
	runEvalErrors(t, testEnv(), []errCase{
		{"{{ 1 / 0 }}", "line 1 col 4: `1 / 0`: division by zero"},
		{"{{ 1 % 0 }} ", "division by zero"},
		{"{{ 1.5 // 0 }}", "division by zero"},
		{"{{ 1 - 'a' }}", "invalid operands for `-`: integer and string"},
		{"{{ [1] * 2 }}", "invalid operands for `*`: list and integer"},
		{"{{ 1 < 'a' }}", "cannot compare integer with string"},
		{"{{ -'a' }}", "invalid operand for unary `-`: string `'a'`"},
		{"{{ 1 in 5 }}", "cannot look for a value in integer"},
		{"{{ inputs.items[true] }}", "cannot index `inputs.items` with boolean `true`"},
		{"{{ {[1]: 2} }}", "map key `[1]` must be a string, got list"},
		{"{% for x in 'abc' %}{% endfor %}", "cannot iterate over string `'abc'`"},
		{"{{ 'a'..'c' }}", "range bounds must be integers"},
		{"{{ 'x' | date }}", "filter `date` on `'x'`: cannot parse \"x\" as a date"},
		{"{{ now() | date('yyyy-qqq-bb') }}", "unsupported pattern letter 'b'"},
		{"{{ secret('missing') }}", "function `secret`: secret \"missing\": no such secret"},
	})
	// Underlying errors are wrapped.
	tpl, _ := Parse("{{ secret('missing') }}")
	_, err := tpl.Render(testEnv())
	var ee *EvalError
	if !errors.As(err, &ee) || ee.Err == nil || !strings.Contains(ee.Err.Error(), "no such secret") {
		t.Errorf("secret error not wrapped: %#v", err)
	}
}

func TestUnavailableEnv(t *testing.T) {
	runEvalErrors(t, &Env{}, []errCase{
		{"{{ now() }}", "now() is not available"},
		{"{{ uuid() }}", "uuid() is not available"},
		{"{{ secret('a') }}", "secret() is not available"},
		{"{{ inputs }}", "variable `inputs` is not defined"},
	})
	tpl, _ := Parse("{{ 1 + 1 }}")
	if v, err := tpl.Render(nil); err != nil || v != int64(2) {
		t.Errorf("nil env: %v %v", v, err)
	}
}

func TestSyntaxErrors(t *testing.T) {
	cases := []struct {
		src       string
		line, col int
		msg       string
	}{
		{"{{ }}", 1, 4, "unexpected `}}`, expected expression"},
		{"{{ inputs. }}", 1, 12, "unexpected `}}`, expected attribute name"},
		{"{{ 1 + }}", 1, 8, "unexpected `}}`, expected expression"},
		{"ab\n  {{ foo", 2, 3, "unclosed `{{`, expected `}}`"},
		{"{{ a b }}", 1, 6, "unexpected `b`, expected `}}`"},
		{"{{ (1 + 2 }}", 1, 11, "unexpected `}}`, expected `)`"},
		{"{{ [1, 2 }}", 1, 10, "unexpected `}}`, expected `,` or `]`"},
		{"{{ {'a' 1} }}", 1, 9, "unexpected `1`, expected `:`"},
		{"{{ 'abc }}", 1, 4, "unterminated string"},
		{"{{ @ }}", 1, 4, "unexpected character '@'"},
		{"{{ 99999999999999999999 }}", 1, 4, "integer `99999999999999999999` is out of range"},
		{"{{ x | nope }}", 1, 8, "unknown filter `nope`"},
		{"{{ nope() }}", 1, 4, "unknown function `nope`"},
		{"{{ x is nope }}", 1, 9, "unknown test `nope`"},
		{"{{ x | date(foo='x') }}", 1, 13, "filter `date` has no argument `foo` (arguments: format, timeZone, existingFormat)"},
		{"{{ x | date(format='a', format='b') }}", 1, 25, "filter `date`: argument `format` given twice"},
		{"{{ x | date(format='a', 1) }}", 1, 25, "positional argument after named argument"},
		{"{{ range(1) }}", 1, 4, "function `range` requires argument `end`"},
		{"{{ x | upper(1) }}", 1, 14, "filter `upper` takes at most 0 arguments, got 1"},
		{"{{ x | replace }}", 1, 8, "filter `replace` requires argument `search`"},
		{"{{ a.b() }}", 1, 7, "method calls are not supported; use a filter (`x | name`) or a function (`name(x)`)"},
		{"{{ in }}", 1, 4, "unexpected `in`, expected expression"},
		{"{# x", 1, 1, "unclosed comment, expected `#}`"},
		{"{% raw %}x", 1, 1, "unclosed `{% raw %}`, expected `{% endraw %}`"},
		{"{% if x %}a", 1, 1, "unclosed `{% if %}`, expected `{% endif %}`"},
		{"{% if x %}a{% else %}b", 1, 1, "unclosed `{% if %}`, expected `{% endif %}`"},
		{"{% for x in y %}a", 1, 1, "unclosed `{% for %}`, expected `{% endfor %}`"},
		{"{% endif %}", 1, 4, "unexpected `endif` without matching `{% if %}`"},
		{"{% endfor %}", 1, 4, "unexpected `endfor` without matching `{% for %}`"},
		{"{% for x in y %}{% endif %}{% endfor %}", 1, 20, "unexpected `endif` without matching `{% if %}`"},
		{"{% foo %}", 1, 4, "unknown statement `foo`"},
		{"{% %}", 1, 4, "unexpected `%}`, expected statement name"},
		{"{% for in x %}{% endfor %}", 1, 8, "unexpected `in`, expected loop variable name"},
		{"{% for x y %}{% endfor %}", 1, 10, "unexpected `y`, expected `in`"},
		{"{% for 1 in x %}{% endfor %}", 1, 8, "unexpected `1`, expected loop variable name"},
		{"{% set = 1 %}", 1, 8, "unexpected `=`, expected variable name"},
		{"{% set x 1 %}", 1, 10, "unexpected `1`, expected `=`"},
		{"{% if x y %}{% endif %}", 1, 9, "unexpected `y`, expected `%}`"},
		{"{{ true ? 1 }}", 1, 13, "unexpected `}}`, expected `:`"},
		{"{{ 'é' + }}\n", 1, 10, "unexpected `}}`, expected expression"},
		{"{{ '\\uZZZZ' }}", 1, 5, "invalid unicode escape"},
	}
	for _, c := range cases {
		_, err := Parse(c.src)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) = %v, want *SyntaxError", c.src, err)
			continue
		}
		if se.Line != c.line || se.Col != c.col || se.Msg != c.msg {
			t.Errorf("Parse(%q) = line %d col %d %q, want line %d col %d %q", c.src, se.Line, se.Col, se.Msg, c.line, c.col, c.msg)
		}
		if se.Src != c.src {
			t.Errorf("Src = %q", se.Src)
		}
	}
	_, err := Parse("{{ }}")
	if got, want := err.Error(), "line 1 col 4: unexpected `}}`, expected expression in `{{ }}`"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	long := strings.Repeat("x", 100) + "{{ ) }}" + strings.Repeat("y", 100)
	_, err = Parse(long)
	if got := err.Error(); !strings.Contains(got, "in `..."+strings.Repeat("x", 27)+"{{ ) }}"+strings.Repeat("y", 26)+"...`") {
		t.Errorf("long snippet: %q", got)
	}
}

func TestNestingLimits(t *testing.T) {
	deep := []string{
		"{{ " + strings.Repeat("(", 300) + "1" + strings.Repeat(")", 300) + " }}",
		"{{ " + strings.Repeat("[", 300) + strings.Repeat("]", 300) + " }}",
		"{{ " + strings.Repeat("-", 300) + "x }}",
		"{{ " + strings.Repeat("not ", 300) + "x }}",
		"{{ " + strings.Repeat("a ? ", 300) + "1" + strings.Repeat(" : 2", 300) + " }}",
		strings.Repeat("{% if x %}", 300) + strings.Repeat("{% endif %}", 300),
		"{{ 1" + strings.Repeat(" + 1", 600) + " }}",
		"{{ x" + strings.Repeat(" | upper", 600) + " }}",
		"{{ x" + strings.Repeat(".a", 600) + " }}",
	}
	for _, src := range deep {
		_, err := Parse(src)
		var se *SyntaxError
		if !errors.As(err, &se) || !(strings.Contains(se.Msg, "nested too deeply") || strings.Contains(se.Msg, "too complex")) {
			t.Errorf("Parse(%.40q...) = %v, want nesting error", src, err)
		}
	}
	// Reasonable depth is fine.
	ok := "{{ " + strings.Repeat("(", 50) + "1" + strings.Repeat(")", 50) + " }}"
	if _, err := Parse(ok); err != nil {
		t.Errorf("50 parentheses: %v", err)
	}
	ok = "{{ 1" + strings.Repeat(" + 1", 100) + " }}"
	runRender(t, nil, []renderCase{{ok, "101"}})
}

func TestLimits(t *testing.T) {
	cases := []struct {
		src    string
		limits Limits
		want   string
	}{
		{"{% for i in range(1, 1000) %}{{ i }}{% endfor %}", Limits{MaxSteps: 100}, "template exceeds 100 evaluation steps"},
		{"{% for i in 1..1000 %}{% for j in 1..1000 %}{% endfor %}{% endfor %}", Limits{}, "template exceeds 1000000 evaluation steps"},
		{"{{ 'aaaaaaaaaaaaaaaaaaaaaaaa' }} x", Limits{MaxOutput: 10}, "template output exceeds 10 bytes"},
		{"{% for i in 1..100 %}xxxxxxxxxx{% endfor %}", Limits{MaxOutput: 100}, "template output exceeds 100 bytes"},
		{"{{ range(0, 1000) }}x", Limits{MaxOutput: 100}, "template output exceeds 100 bytes"},
		{"{{ range(1, 100) }}", Limits{MaxRange: 10}, "range of 100 elements exceeds the limit of 10"},
		{"{{ 1..100 }}", Limits{MaxRange: 10}, "range of 100 elements exceeds the limit of 10"},
		{"{{ 0..9223372036854775807 }}", Limits{}, "exceeds the limit of 100000"},
		{"{% set s = 'ab' %}{% for i in 1..40 %}{% set s = s ~ s %}{% endfor %}", Limits{}, "exceeds the limit of 1048576 bytes"},
		{"{% set s = [1] %}{% for i in 1..40 %}{% set s = s + s %}{% endfor %}", Limits{}, "evaluation steps"},
		{"{% set s = 'a' %}{% for i in 1..40 %}{% set s = s | replace('a', 'aa') %}{% endfor %}", Limits{}, "bytes"},
		{"{% for i in 1..50000 %}{{ range(1, 50000) | join }}{% endfor %}", Limits{}, "exceeds"},
		{"{% set l = range(1, 90000) %}{% for i in 1..1000 %}{{ l == l }}{% endfor %}", Limits{}, "evaluation steps"},
		{"{% set l = range(1, 90000) %}{% for i in 1..1000 %}{{ 0 in l }}{% endfor %}", Limits{}, "evaluation steps"},
		{"{% set s = range(1, 90000) | join %}{% for i in 1..90000 %}{{ s[0] }}{% endfor %}", Limits{}, "evaluation steps"},
		{"{% set s = range(1, 90000) | join %}{% for i in 1..90000 %}{{ s < s }}{% endfor %}", Limits{}, "evaluation steps"},
		{"{% set s = range(1, 90000) | join %}{% for i in 1..90000 %}{{ s | length }}{% endfor %}", Limits{}, "evaluation steps"},
		{"{% set p = range(1, 90000) | join('S') %}{% for i in 1..90000 %}{{ now() | date(p) }}{% endfor %}", Limits{}, "exceeds"},
	}
	for _, c := range cases {
		tpl, err := Parse(c.src)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.src, err)
		}
		env := testEnv()
		env.Limits = c.limits
		start := time.Now()
		_, err = tpl.RenderString(env)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want %q", c.src, err, c.want)
			continue
		}
		if !errors.Is(err, ErrLimit) {
			t.Errorf("%q: %v does not wrap ErrLimit", c.src, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%q took %v", c.src, d)
		}
	}
	// Typed rendering of a huge value goes through the same checks.
	tpl, _ := Parse("{{ range(1, 10) }}")
	env := &Env{Limits: Limits{MaxRange: 5}}
	if _, err := tpl.Render(env); !errors.Is(err, ErrLimit) {
		t.Errorf("Render: %v", err)
	}
}

func TestCyclicValue(t *testing.T) {
	m := map[string]any{}
	m["self"] = m
	m["again"] = m
	env := &Env{Vars: map[string]any{"m": m}}
	for _, src := range []string{"{{ m }}", "x{{ m }}", "{{ m | json }}", "{{ m == m }}", "{{ [m] | unique }}"} {
		tpl, err := Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tpl.Render(env); err == nil {
			t.Errorf("%s: expected an error for a cyclic value", src)
		}
	}
	var p any
	p = &p
	env = &Env{Vars: map[string]any{"p": p, "l": []any{&p}}}
	for _, src := range []string{"{{ p }}", "{{ l }}", "{{ l[0] }}", "{{ l | json }}"} {
		tpl, err := Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = tpl.Render(env) // must terminate; the printed form does not matter
	}
	if s := Stringify(m); len(s) > stringifyLimit+1024 {
		t.Errorf("Stringify of cyclic value is %d bytes", len(s))
	}
}

func TestTruthy(t *testing.T) {
	cases := []struct {
		v    any
		want bool
	}{
		{nil, false}, {true, true}, {false, false},
		{0, false}, {1, true}, {int64(-1), true}, {0.0, false}, {0.5, true}, {math.NaN(), false},
		{"", false}, {"false", false}, {"FALSE", false}, {" False ", false}, {"0", false},
		{"no", false}, {"No", false}, {"off", false}, {"OFF", false}, {"null", false}, {"NULL", false},
		{"x", true}, {"true", true}, {"yes", true}, {"00", true}, {" ", false}, {"falsey", true},
		{[]any{}, false}, {[]any{0}, true}, {[]string{}, false}, {[]string{""}, true},
		{map[string]any{}, false}, {map[string]any{"a": 1}, true}, {map[string]string{}, false},
		{testNow, true}, {point{}, true},
	}
	for _, c := range cases {
		if got := Truthy(c.v); got != c.want {
			t.Errorf("Truthy(%#v) = %v, want %v", c.v, got, c.want)
		}
	}
}

func TestStringify(t *testing.T) {
	cases := []struct {
		v    any
		want string
	}{
		{nil, ""}, {"s", "s"}, {true, "true"}, {false, "false"},
		{42, "42"}, {int64(-7), "-7"}, {uint64(math.MaxUint64), "18446744073709552000"},
		{1.0, "1"}, {1.5, "1.5"}, {-0.25, "-0.25"}, {0.1, "0.1"}, {1e20, "100000000000000000000"},
		{1e21, "1e+21"}, {1.5e-8, "1.5e-08"}, {1e-7, "0.0000001"}, {float32(0.5), "0.5"},
		{math.NaN(), "NaN"}, {math.Inf(1), "Infinity"}, {math.Inf(-1), "-Infinity"},
		{testNow, "2024-01-31T10:00:00Z"},
		{testNow.Add(123 * time.Millisecond), "2024-01-31T10:00:00.123Z"},
		{time.Date(2024, 1, 31, 10, 0, 0, 0, time.FixedZone("", 3600)), "2024-01-31T10:00:00+01:00"},
		{[]any{1, "a", nil, 2.5, []any{}}, `[1,"a",null,2.5,[]]`},
		{map[string]any{"b": 1, "a": map[string]any{"z": true}}, `{"a":{"z":true},"b":1}`},
		{[]string{"x"}, `["x"]`}, {map[string]string{"k": "v"}, `{"k":"v"}`},
		{map[int]string{2: "b", 1: "a"}, `{"1":"a","2":"b"}`},
		{[]any{"<a&b>", "q\"\\\n\t\x01", math.NaN()}, `["<a&b>","q\"\\\n\t\u0001",null]`},
		{[]any{"\xff"}, `["\ufffd"]`},
		{[]any{testNow}, `["2024-01-31T10:00:00Z"]`},
		{point{1, 2}, "{1 2}"},
	}
	for _, c := range cases {
		if got := Stringify(c.v); got != c.want {
			t.Errorf("Stringify(%#v) = %q, want %q", c.v, got, c.want)
		}
	}
}

func TestReferences(t *testing.T) {
	cases := []struct {
		src  string
		want string // "path@offset" joined by " "
	}{
		{"plain", ""},
		{"{{ outputs['extract-data'].uri }}", "outputs.extract-data.uri@3"},
		{"{{ inputs.a }} {{ inputs.b | date(format=vars.fmt) }}", "inputs.a@3 inputs.b@18 vars.fmt@41"},
		{"{{ outputs[inputs.task].uri }}", "outputs@3 inputs.task@11"},
		{"{{ outputs.x[0].y }}", "outputs.x@3"},
		{"{{ outputs.x.0.y }}", "outputs.x.0.y@3"},
		{"{{ a ?? b.c }}", "a@3 b.c@8"},
		{"{{ x is defined }}", "x@3"},
		{"{{ currentEachOutput(outputs.t) }}", "outputs.t@21"},
		{"{{ now() | date }} {{ 1 + 2 }}", ""},
		{"{{ (inputs.m).k }}", "inputs.m.k@4"},
		{"{{ fromJson(inputs.j).k }}", "inputs.j@12"},
		{"{% if outputs.t.ok %}{{ a }}{% elseif b %}{% else %}{{ c }}{% endif %}", "outputs.t.ok@6 a@24 b@38 c@55"},
		{"{% for x in inputs.items %}{{ x.name }}{{ loop.index }}{% endfor %}{{ x }}", "inputs.items@12 x@70"},
		{"{% for k, v in m %}{{ k }}{{ v }}{{ w }}{% endfor %}", "m@15 w@36"},
		{"{% set y = inputs.a %}{{ y.b }}", "inputs.a@11"},
		{"{{ y }}{% set y = 1 %}{{ y }}", "y@3"},
		{"{% for i in l %}{% set t = i %}{% endfor %}{{ t }}", "l@12 t@46"},
		{"{% if c %}{% set t = 1 %}{% endif %}{{ t }}", "c@6"},
		{"{{ outputs.transform-data.rowCount }}", "outputs.transform@3 data.rowCount@21"},
		{"{{ {'k': v}['k'] }}", "v@9"},
	}
	for _, c := range cases {
		tpl, err := Parse(c.src)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.src, err)
		}
		var parts []string
		for _, r := range tpl.References() {
			parts = append(parts, fmt.Sprintf("%s@%d", strings.Join(r.Path, "."), r.Offset))
		}
		if got := strings.Join(parts, " "); got != c.want {
			t.Errorf("References(%q) = %q, want %q", c.src, got, c.want)
		}
	}
	// The returned slice is a copy.
	tpl, _ := Parse("{{ a.b }}")
	tpl.References()[0].Path[0] = "changed"
	if tpl.References()[0].Path[0] != "a" {
		t.Error("References exposes internal state")
	}
}

func TestConcurrentRender(t *testing.T) {
	tpl, err := Parse("{% for x in inputs.items %}{{ loop.index }}{{ x | upper }}{% set y = x %}{% endfor %}{{ inputs.n * 2 }}")
	if err != nil {
		t.Fatal(err)
	}
	env := testEnv()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				got, err := tpl.RenderString(env)
				if err != nil || got != "0A1B6" {
					t.Errorf("got %q, %v", got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestCurrentEachOutput(t *testing.T) {
	runRender(t, testEnv(), []renderCase{
		{"{{ currentEachOutput(outputs.each).x }}", "1"},
		{"{{ currentEachOutput({'v1': 'direct'}) }}", "direct"},
	})
	env := testEnv()
	delete(env.Vars, "parents")
	runRender(t, env, []renderCase{
		{"{{ currentEachOutput({'v1': {'a': 1}, 'v2': 2}) }}", `{"a":1}`},
	})
	runEvalErrors(t, testEnv(), []errCase{{"{{ currentEachOutput('x') }}", "expected a map of outputs, got string"}})
}
