package expr

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func render(t *testing.T, src string, env *Env) (string, error) {
	t.Helper()
	tpl, err := Parse(src)
	if err != nil {
		return "", err
	}
	return tpl.RenderString(env)
}

func TestKestraBuiltins_renderAsKestraDocuments(t *testing.T) {
	env := DocsEnv()
	env.Vars["vars"] = map[string]any{"greeting": "{{ 'hi ' ~ inputs.name }}", "loop": "{{ render(vars.loop) }}"}
	tests := []struct{ src, want string }{
		{"{{ render(vars.greeting) }}", "hi Relay"},
		{"{{ vars.greeting }}", "{{ 'hi ' ~ inputs.name }}"}, // rendered once, as Kestra
		{"{{ [1, 2] | jq('.[] * 10') }}", "[10,20]"},
		{"{{ {'a': {'b': 'c'}} | jq('.a.b') | first }}", "c"},
		{"{{ 1 | jq('now') | first }}", "1706695200"},       // the execution's clock, not the host's
		{"{{ 1 | jq('env | length') | first }}", "0"},       // no environment
		{"{{ 1 | jq('$ENV | length') | first }}", "0"},      // no environment
		{"{{ 0 | jq('localtime | mktime') | first }}", "0"}, // no host time zone
		{"{{ '{\"a\": 1}' is json }} {{ 'x' is json }} {{ 1 is json }}", "true false false"},
		{"{{ 1 equals 1.0 }} {{ 'a' equals 'b' }}", "true false"},
		{"{{ 3 isIn ['1', '3'] }} {{ 'k' isIn {'k': 1} }} {{ 1 isIn {'k': 1} }} {{ null isIn [null] }}", "true true true false"},
		{"{{ 'x' notIn ['x'] }}", "false"},
		{"{% filter upper %}ab{{ inputs.name }}{% endfilter %}!", "ABRELAY!"},
		{"{% filter lower | title %}HELLO WORLD{% endfilter %}", "Hello World"},
		{"{% filter replace('a', 'o') %}banana{% endfilter %}", "bonono"},
		{"{{ [3, 1, 2] | rsort | first }}", "3"},
		{"{{ 1234.5 | numberFormat('#,##0') }} {{ 2.5 | numberFormat('0') }} {{ -0.001 | numberFormat('0.00') }}", "1,234 2 0.00"},
		{"{{ '2024-02-03T23:30:00-05:00' | jq('.') | first }}", "2024-02-03T23:30:00-05:00"},
		{"{{ isWeekend('2024-02-03T23:30:00-05:00') }} {{ dayOfWeek('2024-02-03T23:30:00-05:00') }}", "true SATURDAY"},
		{"{{ isLastWorkingDay('2024-03-29', 'MONDAY,TUESDAY,WEDNESDAY,THURSDAY') }}", "false"},
		{"{{ {'a': 1} | merge({'a': 2, 'b': 3}) | toJson }}", `{"a":2,"b":3}`},
		{"{{ yaml('a: 1\\nb: [x, 2.5]').b }}", `["x",2.5]`},
		{"{{ kv('greeting', namespace='company.team') }}", "hello"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			got, err := render(t, tt.src, env)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestKestraBuiltins_failWithClearErrors(t *testing.T) {
	env := DocsEnv()
	env.Vars["vars"] = map[string]any{"loop": "{{ render(vars.loop) }}"}
	tests := []struct{ src, want string }{
		{"{{ kv('missing') }}", "namespace company.team has no key \"missing\""},
		{"{{ render(vars.loop) }}", "render(): still holds expressions after 10 passes"},
		{"{{ render('{{ nope }}') }}", "variable `nope` is not defined"},
		{"{{ 1 | jq('.[') }}", "invalid jq expression"},
		{"{{ 1 | jq('def f: f; f') }}", "ran longer than 1s"},
		{"{{ randomInt(5, 5) }}", "upper bound 5 must be greater than lower bound 5"},
		{"{{ 'a' | numberFormat('x') }}", "expected a number"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			_, err := render(t, tt.src, env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
	if _, err := render(t, "{{ 1 | jq('def f: f; f') }}", env); !errors.Is(err, ErrLimit) {
		t.Errorf("a jq program that does not end is a limit error, got %v", err)
	}
}

func TestKestraBuiltins_unavailableHooksFail(t *testing.T) {
	for _, src := range []string{"{{ kv('a') }}", "{{ errorLogs() }}", "{{ randomInt(1, 2) }}", "{{ id() }}", "{{ ksuid() }}"} {
		if _, err := render(t, src, &Env{}); err == nil {
			t.Errorf("%s rendered without its hook", src)
		}
	}
}

func TestUnsupported_isAParseErrorThatSaysWhy(t *testing.T) {
	tests := []struct{ src, want string }{
		{"{{ fileURI('f.txt') }}", "function `fileURI` is not supported by Relay"},
		{"{{ tasksWithState('FAILED') }}", "function `tasksWithState` is not supported by Relay"},
		{"{{ 1 | className }}", "filter `className` is not supported by Relay"},
		{"{% macro m() %}x{% endmacro %}", "statement `macro` is not supported by Relay"},
		{"{% filter upper %}x", "unclosed `{% filter %}`"},
		{"{{ nope() }}", "unknown function `nope`"},
		{"{{ '{}' | fromJson }}", "unknown filter `fromJson` (`fromJson` is a function: `fromJson(value)`)"},
		{"{{ toJson(1) }}", "unknown function `toJson` (`toJson` is a filter: `value | toJson`)"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.src)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want %q", tt.src, err, tt.want)
		}
	}
}

func TestReferences_guardedReadsAreMarked(t *testing.T) {
	tpl, err := Parse("{{ inputs.a ?? inputs.b }} {{ inputs.c is defined }} {{ inputs.d | default(inputs.e) }} {{ inputs.f is null }} {% filter upper %}{{ vars.g ??? 1 }}{% endfilter %}")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, r := range tpl.References() {
		got[strings.Join(r.Path, ".")] = r.Guarded
	}
	want := map[string]bool{"inputs.a": true, "inputs.b": false, "inputs.c": true, "inputs.d": true, "inputs.e": false, "inputs.f": false, "vars.g": true}
	for p, g := range want {
		if v, ok := got[p]; !ok || v != g {
			t.Errorf("%s: guarded %v (found %v), want %v", p, v, ok, g)
		}
	}
}

func TestDates_printAsJavaInstants(t *testing.T) {
	tests := []struct {
		t    time.Time
		want string
	}{
		{time.Date(2024, 1, 31, 10, 0, 0, 0, time.UTC), "2024-01-31T10:00:00Z"},
		{time.Date(2024, 1, 31, 10, 0, 0, 120_000_000, time.UTC), "2024-01-31T10:00:00.120Z"},
		{time.Date(2024, 1, 31, 10, 0, 0, 123_456_000, time.UTC), "2024-01-31T10:00:00.123456Z"},
		{time.Date(2024, 1, 31, 10, 0, 0, 123_456_789, time.UTC), "2024-01-31T10:00:00.123456789Z"},
		{time.Date(2024, 1, 31, 10, 0, 0, 5_000, time.FixedZone("", 3600)), "2024-01-31T10:00:00.000005+01:00"},
	}
	for _, tt := range tests {
		if got := Stringify(tt.t); got != tt.want {
			t.Errorf("Stringify(%v) = %q, want %q", tt.t, got, tt.want)
		}
	}
}
