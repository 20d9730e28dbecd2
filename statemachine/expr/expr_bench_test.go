package expr

import "testing"

const typicalTemplate = "Hello {{ inputs.name | upper }} at {{ execution.startDate }}"

func benchEnv() *Env {
	return &Env{Vars: map[string]any{
		"inputs":    map[string]any{"name": "Relay"},
		"execution": map[string]any{"id": "exec-1", "startDate": testNow},
	}}
}

func BenchmarkParse_typical(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(typicalTemplate); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRender_typical(b *testing.B) {
	tpl, err := Parse(typicalTemplate)
	if err != nil {
		b.Fatal(err)
	}
	env := benchEnv()
	b.ReportAllocs()
	for b.Loop() {
		s, err := tpl.RenderString(env)
		if err != nil || s != "Hello RELAY at 2024-01-31T10:00:00Z" {
			b.Fatal(s, err)
		}
	}
}

func BenchmarkRender_singleExpr(b *testing.B) {
	tpl, err := Parse("{{ inputs.name }}")
	if err != nil {
		b.Fatal(err)
	}
	env := benchEnv()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tpl.Render(env); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRender_loop(b *testing.B) {
	tpl, err := Parse("{% for x in 1..100 %}{{ loop.index }}:{{ x * 2 }}{% if not loop.last %},{% endif %}{% endfor %}")
	if err != nil {
		b.Fatal(err)
	}
	env := benchEnv()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tpl.RenderString(env); err != nil {
			b.Fatal(err)
		}
	}
}
