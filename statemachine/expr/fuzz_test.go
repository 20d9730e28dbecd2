package expr

import (
	"errors"
	"testing"
)

var fuzzSeeds = []string{
	"",
	"plain text",
	"Hello {{ inputs.name | upper }} at {{ execution.startDate }}",
	"{{ inputs.n * 2 + 7 / 2 }}",
	"{{ outputs['extract-data'].uri }}",
	"{{ outputs.transform-data.rowCount }}",
	"{{ inputs.missing ?? inputs.nil ??? 'x' }}",
	"{{ inputs.items | join(', ') | upper | length }}",
	"{{ now() | date('yyyy-MM-dd HH:mm:ss.SSS XXX', timeZone='Europe/Paris') }}",
	"{{ now() | dateAdd(-1, 'MONTHS') | date('iso') }}",
	"{{ '31/01/2024' | date('iso_sec', existingFormat='dd/MM/yyyy') }}",
	"{% if inputs.flag %}a{% elseif inputs.n > 2 %}b{% else %}c{% endif %}",
	"{% for k, v in inputs.labels %}{{ loop.index }}{{ k }}={{ v }}{% else %}none{% endfor %}",
	"{% for x in 1..5 %}{% set y = x * x %}{{ y }}{% if not loop.last %},{% endif %}{% endfor %}",
	"{%- raw -%} {{ not parsed }} {%- endraw -%}",
	"a {{- 1 -}} b {#- comment -#} c",
	"{{ {'a': {'b': [1, 2.5, null, true]}} | json }}",
	"{{ fromJson('{\"a\": [1, 2]}').a[-1] }}",
	"{{ [3, 1, 2] | sort | reverse | unique | first }}",
	"{{ 'a,b,,c' | split(',') | length }}",
	"{{ 'Héllo Wörld' | slugify | replace({'-': '_'}) | title }}",
	"{{ inputs.n is odd and inputs.name is defined or missing is not defined }}",
	"{{ inputs.n > 2 ? 'big' : inputs.n == 2 ? 'two' : 'small' }}",
	"{{ 'b' in inputs.items }} {{ inputs.items contains 'a' }} {{ 'x' not in 'abc' }}",
	"{{ range(10, 0, -3) | join('-') }}",
	"{{ secret('TOKEN') | sha256 | abbreviate(10) }} {{ uuid() }}",
	"{{ currentEachOutput(outputs.each) }}",
	"{{ 9223372036854775807 + 1 }} {{ -7 // 2 }} {{ 7 % -3 }} {{ 1 / 3 }}",
	"{{ '\\u00e9\\n\\t' ~ \"it's\" }}",
	"{% set s = 'ab' %}{% for i in 1..30 %}{% set s = s ~ s %}{% endfor %}{{ s | length }}",
	"{{ (((1 + 2) * 3) - -4) | abs | round(2) }}",
	"{{ inputs.rows[0].id + inputs.nums | length }}",
	"{{ x | date(format=",
	"{% if %}{% endif",
}

func FuzzParseRender(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		tpl, err := Parse(src)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Line < 1 || se.Col < 1 || se.Offset < 0 || se.Offset > len(src) {
				t.Fatalf("bad parse error %#v", err)
			}
			_ = se.Error()
			return
		}
		for _, r := range tpl.References() {
			if len(r.Path) == 0 || r.Offset < 0 || r.Offset >= len(src) {
				t.Fatalf("bad ref %+v", r)
			}
		}
		env := testEnv()
		env.Limits = Limits{MaxSteps: 20_000, MaxOutput: 1 << 16, MaxRange: 1000}
		for _, render := range []func(*Env) (any, error){
			tpl.Render,
			func(e *Env) (any, error) { return tpl.RenderString(e) },
		} {
			v, err := render(env)
			if err != nil {
				var ee *EvalError
				if !errors.As(err, &ee) || ee.Offset < 0 || ee.Offset > len(src) {
					t.Fatalf("bad eval error %#v", err)
				}
				_ = ee.Error()
				continue
			}
			if s, ok := v.(string); ok && len(s) > 1<<16 && !tpl.IsLiteral() && !tpl.IsSingleExpr() {
				t.Fatalf("output of %d bytes exceeds MaxOutput", len(s))
			}
		}
	})
}
