package flow_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/relayflow/relay/statemachine/expr"
	"github.com/relayflow/relay/statemachine/flow"
)

var update = flag.Bool("update", false, "rewrite golden files and generated docs")

const examplesDir = "../../examples/flows"

func mustParse(t *testing.T, src string) *flow.Flow {
	t.Helper()
	f, err := flow.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return f
}

func diagnostics(t *testing.T, src string) flow.Diagnostics {
	t.Helper()
	_, err := flow.Parse("test.yaml", []byte(src))
	var ds flow.Diagnostics
	if !errors.As(err, &ds) {
		t.Fatalf("Parse error = %v, want Diagnostics", err)
	}
	return ds
}

func TestParse_examplesAreValid(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	if len(files) < 10 {
		t.Fatalf("found %d example flows, want at least 10", len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := flow.Parse(file, src); err != nil {
				t.Errorf("example does not validate:\n%v", err)
			}
		})
	}
}

// TestParse_invalidGolden checks the exact diagnostics, positions included,
// of the broken flows under testdata/invalid. Run with -update to rewrite.
func TestParse_invalidGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/invalid/*.yaml")
	if len(files) == 0 {
		t.Fatal("no broken flows found")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			_, err = flow.Parse(filepath.ToSlash(file), src)
			var ds flow.Diagnostics
			if !errors.As(err, &ds) || len(ds) == 0 {
				t.Fatalf("Parse error = %v, want diagnostics", err)
			}
			for _, d := range ds {
				if d.Pos.Line < 1 || d.Pos.Col < 1 {
					t.Errorf("diagnostic without a position: %v", d)
				}
			}
			got := ds.Error() + "\n"
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("reading golden file (run with -update to create it): %v", err)
			}
			if got != string(want) {
				t.Errorf("diagnostics differ from %s\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

func TestParse_kestraAliasesResolveToRelayTypes(t *testing.T) {
	tests := []struct {
		typ, want string
	}{
		{"io.kestra.plugin.core.log.Log", flow.TypeLog},
		{"io.kestra.core.tasks.log.Log", flow.TypeLog},
		{"io.kestra.plugin.core.debug.Echo", flow.TypeReturn},
		{"io.kestra.plugin.core.flow.EachParallel", flow.TypeForEach},
		{"io.kestra.plugin.core.flow.LoopUntil", flow.TypeWaitFor},
		{"io.kestra.plugin.core.execution.Fail", flow.TypeFail},
		{"io.kestra.plugin.http.Request", flow.TypeHTTPRequest},
		{"io.kestra.plugin.scripts.shell.Commands", flow.TypeShell},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			def, ok := flow.Builtin.Lookup(flow.CategoryTask, tt.typ)
			if !ok || def.Name != tt.want {
				t.Errorf("Lookup(%q) = %v, %v; want %s", tt.typ, def, ok, tt.want)
			}
		})
	}
}

func TestParse_forEachConcurrencyDependsOnAlias(t *testing.T) {
	tests := []struct {
		typ  string
		want int64
	}{
		{"io.kestra.plugin.core.flow.ForEach", 1},
		{"io.kestra.plugin.core.flow.EachSequential", 1},
		{"io.kestra.plugin.core.flow.EachParallel", 0},
		{"flow.foreach", 1},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			f := mustParse(t, `
id: f
namespace: n
tasks:
  - id: each
    type: `+tt.typ+`
    values: [1, 2]
    tasks:
      - id: body
        type: log
        message: "{{ taskrun.value }}"
`)
			each, _ := f.Task("each")
			if got := each.Prop("concurrencyLimit").Literal(); got != tt.want {
				t.Errorf("concurrencyLimit = %v, want %d", got, tt.want)
			}
			body, _ := f.Task("body")
			if !body.InsideForEach() || body.Parent != each {
				t.Errorf("body: InsideForEach=%v parent=%v", body.InsideForEach(), body.Parent)
			}
		})
	}
}

func TestParse_retrySpellings(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want flow.Retry
	}{
		{"seed article spelling", "maxAttempt: 3\n      delay: PT10S\n      maxDelay: PT1M\n      jitter: true",
			flow.Retry{Type: flow.RetryExponential, MaxAttempts: 3, Interval: 10 * time.Second, MaxInterval: time.Minute, DelayFactor: 2, JitterFactor: 0.2, Behavior: flow.RetryFailedTask}},
		{"constant", "type: constant\n      maxAttempts: 5\n      interval: 10s",
			flow.Retry{Type: flow.RetryConstant, MaxAttempts: 5, Interval: 10 * time.Second, DelayFactor: 2, Behavior: flow.RetryFailedTask}},
		{"random with duration", "type: random\n      minInterval: PT1S\n      maxInterval: PT5S\n      maxDuration: PT1H\n      jitter: 500ms\n      warningOnRetry: true",
			flow.Retry{Type: flow.RetryRandom, MinInterval: time.Second, MaxInterval: 5 * time.Second, MaxDuration: time.Hour, DelayFactor: 2, Jitter: 500 * time.Millisecond, WarningOnRetry: true, Behavior: flow.RetryFailedTask}},
		{"exponential factor", "type: exponential\n      maxAttempts: 4\n      interval: 1s\n      maxInterval: 1m\n      delayFactor: 3",
			flow.Retry{Type: flow.RetryExponential, MaxAttempts: 4, Interval: time.Second, MaxInterval: time.Minute, DelayFactor: 3, Behavior: flow.RetryFailedTask}},
		{"Prefect's list of delays, one retry each", "delays: [PT1S, PT10S, 1m]",
			flow.Retry{Type: flow.RetryDelays, MaxAttempts: 4, Delays: []time.Duration{time.Second, 10 * time.Second, time.Minute}, DelayFactor: 2, Behavior: flow.RetryFailedTask}},
		{"delays with more attempts, a new execution each", "delays: [PT1S]\n      maxAttempts: 3\n      behavior: CREATE_NEW_EXECUTION",
			flow.Retry{Type: flow.RetryDelays, MaxAttempts: 3, Delays: []time.Duration{time.Second}, DelayFactor: 2, Behavior: flow.CreateNewExecution}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustParse(t, "id: f\nnamespace: n\ntasks:\n  - id: t\n    type: log\n    message: hi\n    retry:\n      "+tt.yaml+"\n")
			task, _ := f.Task("t")
			if task.Retry == nil || !reflect.DeepEqual(*task.Retry, tt.want) {
				t.Errorf("Retry = %+v\nwant    %+v", task.Retry, tt.want)
			}
		})
	}
}

func TestParse_labelsAsMapOrList(t *testing.T) {
	for _, labels := range []string{"labels:\n  team: data\n  env: prod", "labels:\n  - key: team\n    value: data\n  - key: env\n    value: prod"} {
		f := mustParse(t, "id: f\nnamespace: n\n"+labels+"\ntasks:\n  - id: t\n    type: log\n    message: hi\n")
		want := []flow.Label{{Key: "team", Value: "data"}, {Key: "env", Value: "prod"}}
		if len(f.Labels) != 2 || f.Labels[0] != want[0] || f.Labels[1] != want[1] {
			t.Errorf("Labels = %v, want %v", f.Labels, want)
		}
	}
}

func TestParse_inputsAreTyped(t *testing.T) {
	f := mustParse(t, `
id: f
namespace: n
inputs:
  - id: mode
    type: ENUM
    values: [a, b]
    defaults: a
  - id: n
    type: INT
    min: 1
  - id: day
    type: DATETIME
    defaults: "{{ now() | dateAdd(-1, 'DAYS') }}"
tasks:
  - id: t
    type: log
    message: "{{ inputs.mode }} {{ inputs.n }} {{ inputs.day }}"
`)
	mode, _ := f.Input("mode")
	if mode.Required || !mode.HasDefaults || len(mode.Values) != 2 {
		t.Errorf("mode = %+v", mode)
	}
	n, _ := f.Input("n")
	if !n.Required || n.Min != int64(1) {
		t.Errorf("n = %+v", n)
	}
	if d := f.InputDefaults["day"]; d == nil || !d.IsDynamic() {
		t.Errorf("day default = %v, want a compiled expression", d)
	}
}

func TestProperty_renderIsTypedForSingleExpressions(t *testing.T) {
	f := mustParse(t, `
id: f
namespace: n
inputs:
  - id: items
    type: JSON
tasks:
  - id: each
    type: flow.foreach
    values: "{{ inputs.items }}"
    tasks:
      - id: body
        type: output.values
        values:
          first: "{{ inputs.items | first }}"
          text: "first is {{ inputs.items | first }}"
          count: "{{ inputs.items | length }}"
`)
	env := &expr.Env{Vars: map[string]any{"inputs": map[string]any{"items": []any{int64(7), int64(8)}}}}
	each, _ := f.Task("each")
	got, err := each.Prop("values").Render(env)
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := got.([]any); !ok || len(l) != 2 {
		t.Errorf("values rendered to %#v, want a list of 2", got)
	}
	body, _ := f.Task("body")
	vals, err := body.Prop("values").Render(env)
	if err != nil {
		t.Fatal(err)
	}
	m := vals.(map[string]any)
	if m["first"] != int64(7) || m["text"] != "first is 7" || m["count"] != int64(2) {
		t.Errorf("rendered %#v", m)
	}
}

func TestProperty_renderErrorNamesPropertyAndExpression(t *testing.T) {
	f := mustParse(t, "id: f\nnamespace: n\ntasks:\n  - id: t\n    type: log\n    message: \"{{ trigger.date | date('yyyy') }}\"\n")
	task, _ := f.Task("t")
	_, err := task.Prop("message").Render(&expr.Env{Vars: map[string]any{}})
	if err == nil {
		t.Fatal("want an error for an undefined variable")
	}
	for _, want := range []string{"t.message", "`{{ trigger.date | date('yyyy') }}`", "trigger"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestParse_reportsEveryProblemAtOnce(t *testing.T) {
	ds := diagnostics(t, `
id: f
namespace: n
tasks:
  - id: a
    type: nope
  - id: b
    type: log
  - id: c
    type: log
    message: hi
    colour: red
`)
	if len(ds) != 3 {
		t.Fatalf("got %d diagnostics, want 3:\n%v", len(ds), ds)
	}
	wantLines := []int{6, 7, 12}
	for i, d := range ds {
		if d.Pos.Line != wantLines[i] {
			t.Errorf("diagnostic %d at line %d, want %d: %v", i, d.Pos.Line, wantLines[i], d)
		}
	}
}

func TestParse_suggestsCloseNames(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"task type", "type: io.kestra.plugin.core.log.Logs\n    message: hi", "did you mean `io.kestra.plugin.core.log.Log`?"},
		{"property", "type: log\n    mesage: hi", "did you mean `message`?"},
		{"enum", "type: log\n    message: hi\n    level: info", "did you mean `INFO`?"},
		{"output", "type: log\n    message: \"{{ outputs.t.value }}\"", "task `t` (log) has no outputs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := diagnostics(t, "id: f\nnamespace: n\ntasks:\n  - id: t\n    "+tt.src+"\n")
			if !strings.Contains(ds.Error(), tt.want) {
				t.Errorf("diagnostics do not contain %q:\n%v", tt.want, ds)
			}
		})
	}
}

func TestParse_aliasBombFailsFast(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		b.WriteString("a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	b.WriteString("id: f\nnamespace: n\nvariables:\n  bomb: *a8\ntasks:\n  - id: t\n    type: log\n    message: hi\n")
	start := time.Now()
	_, err := flow.Parse("bomb.yaml", b.Bytes())
	if err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("err = %v, want the node limit", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
}

func TestAllTasks_documentOrder(t *testing.T) {
	f := mustParse(t, `
id: f
namespace: n
tasks:
  - id: a
    type: flow.if
    condition: "{{ true }}"
    then:
      - id: b
        type: log
        message: b
    else:
      - id: c
        type: log
        message: c
errors:
  - id: d
    type: log
    message: d
finally:
  - id: e
    type: log
    message: e
`)
	var ids []string
	for _, task := range f.AllTasks() {
		ids = append(ids, task.ID)
	}
	if got := strings.Join(ids, ","); got != "a,b,c,d,e" {
		t.Errorf("AllTasks = %s", got)
	}
}

func TestParse_typeSuggestionsStayWithinAPackage(t *testing.T) {
	tests := []struct{ typ, hint string }{
		{"io.kestra.plugin.core.flow.Paralel", "did you mean `io.kestra.plugin.core.flow.Parallel`?"},
		{"io.kestra.plugin.core.flows.Parallel", "did you mean `io.kestra.plugin.core.flow.Parallel`?"},
		{"flow.paralel", "did you mean `flow.parallel`?"},
		{"lgo", "did you mean `log`?"},
		{"io.kestra.plugin.scripts.r.Script", "Relay runs Kestra's core tasks"},
		{"io.kestra.plugin.gcp.bigquery.Load", "Relay runs Kestra's core tasks"},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			ds := diagnostics(t, "id: f\nnamespace: n\ntasks:\n  - id: t\n    type: "+tt.typ+"\n")
			if len(ds) != 1 || ds[0].Hint != tt.hint && !strings.HasPrefix(ds[0].Hint, tt.hint) {
				t.Errorf("diagnostics = %v, want hint %q", ds, tt.hint)
			}
		})
	}
}

func TestFlow_resolveInputsCoercesAndRendersDefaults(t *testing.T) {
	f := mustParse(t, `
id: f
namespace: n
inputs:
  - id: count
    type: INT
    min: 1
  - id: day
    type: DATE
    defaults: "{{ now() | dateAdd(-1, 'DAYS') | date('yyyy-MM-dd') }}"
  - id: mode
    type: ENUM
    values: [batch, streaming]
    defaults: batch
tasks:
  - id: t
    type: log
    message: "{{ inputs.count }}"
`)
	env := &expr.Env{Now: time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC), Vars: map[string]any{}}
	got, err := f.ResolveInputs(map[string]any{"count": "42"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if got["count"] != int64(42) || got["day"] != "2024-02-29" || got["mode"] != "batch" {
		t.Errorf("inputs = %#v", got)
	}
	_, err = f.ResolveInputs(map[string]any{"count": "0", "mode": "stream", "extra": "x"}, env)
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{"`count`", "`mode`", "extra"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s:\n%v", want, err)
		}
	}
}

// A type property named like a common one would never be decoded: the
// common definition is found first.
func TestBuiltin_typePropertiesDoNotShadowCommonOnes(t *testing.T) {
	common := map[flow.Category][]*flow.PropDef{
		flow.CategoryTask:    flow.CommonTaskProps(),
		flow.CategoryTrigger: flow.CommonTriggerProps(),
	}
	for c, props := range common {
		names := map[string]bool{}
		for _, p := range props {
			names[p.Name] = true
			for _, a := range p.Aliases {
				names[a] = true
			}
		}
		for _, def := range flow.Builtin.Types(c) {
			for _, p := range def.Props {
				for _, n := range append([]string{p.Name}, p.Aliases...) {
					if names[n] {
						t.Errorf("%s %s: property %q is also a common property", c, def.Name, n)
					}
				}
			}
		}
	}
}

func TestLevelBelow(t *testing.T) {
	for _, tc := range []struct {
		level, least string
		want         bool
	}{
		{"INFO", "", false},
		{"TRACE", "", false},
		{"DEBUG", "INFO", true},
		{"INFO", "INFO", false},
		{"WARN", "INFO", false},
		{"WARN", "ERROR", true},
		{"ERROR", "ERROR", false},
		{"TRACE", "DEBUG", true},
	} {
		if got := flow.LevelBelow(tc.level, tc.least); got != tc.want {
			t.Errorf("LevelBelow(%q, %q) = %v, want %v", tc.level, tc.least, got, tc.want)
		}
	}
}
