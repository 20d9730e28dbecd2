package statemachine_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	sm "github.com/relayflow/relay/statemachine"
)

// rendered runs a flow in the sim and returns the rendered message or
// format of every scheduled attempt, by task run id (the last attempt's).
func rendered(s *sim) map[string]string {
	out := map[string]string{}
	for _, c := range s.schedule {
		for _, k := range []string{"message", "format"} {
			if v, ok := c.Props[k]; ok {
				if l, ok := v.([]any); ok && len(l) == 1 {
					v = l[0]
				}
				out[c.TaskRunID] = toText(v)
			}
		}
	}
	return out
}

func toText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(jsonText(v), "\n", ""), " ", ""))
}

func TestKestraContext_rendersWhatKestraFlowsRead(t *testing.T) {
	tests := []struct {
		name string
		flow string
		opts sm.Options
		want map[string]string // task run id -> rendered message
	}{
		{
			name: "taskrun.startDate while the properties render (item 1)",
			flow: `
id: f
namespace: t
tasks:
  - {id: a, type: log, message: "{{ taskrun.startDate }} {{ execution.startDate }}"}
`,
			want: map[string]string{"a": "2024-01-31T10:00:00Z 2024-01-31T10:00:00Z"},
		},
		{
			name: "WaitFor iterationCount inside the loop (item 3)",
			flow: `
id: f
namespace: t
tasks:
  - id: loop
    type: io.kestra.plugin.core.flow.WaitFor
    condition: "{{ outputs.count.value == 3 }}"
    checkFrequency: {interval: PT1S}
    tasks:
      - {id: count, type: debug.return, format: "{{ outputs.loop.iterationCount }}"}
`,
			want: map[string]string{"count@1": "1", "count@2": "2", "count@3": "3"},
		},
		{
			name: "parents in nested ForEach and a Switch inside a ForEach (item 4)",
			flow: `
id: f
namespace: t
tasks:
  - id: outer
    type: flow.foreach
    values: ["a"]
    tasks:
      - id: inner
        type: flow.foreach
        values: [1]
        tasks:
          - {id: deep, type: log, message: "{{ parents | length }} {{ parent.taskrun.value }} {{ parents[1].task.id }} {{ parents[0].task.id }} {{ taskrun.value }}"}
          - id: sw
            type: flow.switch
            value: "{{ taskrun.value }}"
            cases:
              "1":
                - {id: incase, type: log, message: "{{ taskrun.value }} {{ parents | length }} {{ parent.task.id }} {{ parent.taskrun.value }} {{ parents[1].taskrun.value }} {{ parents[2].task.id }}"}
`,
			want: map[string]string{
				"deep[0][0]":   "2 a outer inner 1",
				"incase[0][0]": "1 3 sw 1 a outer",
			},
		},
		{
			name: "errorLogs() and execution.state in errors (item 6)",
			flow: `
id: f
namespace: t
tasks:
  - {id: boom, type: flow.fail, errorMessage: "disk full"}
errors:
  - {id: alert, type: log, message: "{{ execution.state }}: {{ errorLogs()[0].taskId }} {{ errorLogs()[0].message }}"}
finally:
  - {id: last, type: log, message: "{{ execution.state }}"}
`,
			want: map[string]string{"alert": "FAILED: boom boom failed: disk full", "last": "RUNNING"},
		},
		{
			name: "jq, render, equals, is json, envs, globals and system labels (item 10, 12)",
			flow: `
id: f
namespace: t
labels:
  system.correlationId: c-1
variables:
  greeting: "{{ 'hi ' ~ envs.region }}"
tasks:
  - {id: a, type: log, message: "{{ {'a': [1, 2]} | jq('.a | add') | first }} {{ render(vars.greeting) }} {{ globals.team equals 'data' }} {{ '[1]' is json }} {{ labels.system.correlationId }}"}
  - {id: b, type: log, message: "{% for x in [1, 2] %}{% if x > 1 %}{{ x }}{% endif %}{% endfor %} {{ fromJson('{\"n\": 1}') | toJson }}"}
`,
			opts: sm.Options{Envs: map[string]any{"region": "eu"}, Globals: map[string]any{"team": "data"}},
			want: map[string]string{"a": "3 hi eu true true c-1", "b": `2 {"n":1}`},
		},
		{
			name: "guarded references render their fallback (item 5)",
			flow: `
id: f
namespace: t
inputs:
  - {id: known, type: STRING, required: false}
tasks:
  - {id: a, type: log, message: "{{ inputs.missing ?? 'none' }} {{ inputs.missing is defined }} {{ inputs.missing | default('d') }} {{ inputs.missing is defined ? inputs.missing : 'x' }}"}
`,
			want: map[string]string{"a": "none false d x"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := parseFlow(t, tt.flow)
			s := newSim(t, f)
			s.opts = tt.opts
			if strings.Contains(tt.flow, "debug.return") {
				s.work = nil
			}
			id := s.start(f, nil)
			s.run()
			got := rendered(s)
			for run, want := range tt.want {
				if got[run] != want {
					t.Errorf("%s rendered %q, want %q (execution %s %s)", run, got[run], want, s.exec(id).State, s.exec(id).Error)
				}
			}
		})
	}
}

// Kestra retries a flow.fail per its retry policy and records every
// attempt (item 2).
func TestFail_isRetriedPerItsPolicyWithEveryAttemptRecorded(t *testing.T) {
	f := parseFlow(t, `
id: f
namespace: t
tasks:
  - id: boom
    type: io.kestra.plugin.core.execution.Fail
    errorMessage: "attempt {{ taskrun.attemptsCount }}"
    retry: {type: constant, interval: PT2S, maxAttempts: 3}
`)
	s := newSim(t, f)
	id := s.start(f, nil)
	s.run()
	ex := s.exec(id)
	r, _ := ex.Run("boom")
	if ex.State != sm.ExecFailed || r.State != sm.RunFailed || len(r.Attempts) != 3 {
		t.Fatalf("execution %s, run %s with %d attempts", ex.State, r.State, len(r.Attempts))
	}
	for i, a := range r.Attempts {
		if a.Number != i+1 || a.State != sm.RunFailed || a.Error == nil || a.Error.Message != "attempt "+itoa(i) {
			t.Errorf("attempt %d: %+v %+v", i+1, a, a.Error)
		}
	}
	if gap := r.Attempts[1].StartDate.Sub(r.Attempts[0].EndDate); gap != 2*time.Second {
		t.Errorf("waited %s between attempts, want 2s", gap)
	}
}

// ForEach over an empty list succeeds with no iteration; over null, or a
// list holding null, it fails saying so; duplicates run once (item 14).
func TestForEach_edgeCasesMatchKestra(t *testing.T) {
	tests := []struct {
		values string
		state  sm.RunState
		runs   int
		err    string
	}{
		{"[]", sm.RunSuccess, 0, ""},
		{`"{{ [] }}"`, sm.RunSuccess, 0, ""},
		{`"[]"`, sm.RunSuccess, 0, ""},
		{`"{{ null }}"`, sm.RunFailed, 0, "the values are null; expected a list (an empty list runs no iteration)"},
		{`"null"`, sm.RunFailed, 0, "the values are null"},
		{`"{{ [1, null] }}"`, sm.RunFailed, 0, "found a null value at index 1"},
		{`[a, b, a, "1", 1]`, sm.RunSuccess, 3, ""},
	}
	for _, tt := range tests {
		t.Run(tt.values, func(t *testing.T) {
			f := parseFlow(t, "id: f\nnamespace: t\ntasks:\n  - id: each\n    type: flow.foreach\n    values: "+tt.values+"\n    tasks:\n      - {id: x, type: log, message: \"{{ taskrun.value }}\"}\n")
			s := newSim(t, f)
			id := s.start(f, nil)
			s.run()
			r, _ := s.exec(id).Run("each")
			if r.State != tt.state || len(s.schedule) != tt.runs {
				t.Fatalf("run %s after %d iterations, want %s after %d", r.State, len(s.schedule), tt.state, tt.runs)
			}
			if tt.err != "" && (r.Error == nil || !strings.Contains(r.Error.Message, tt.err)) {
				t.Errorf("error %+v, want %q", r.Error, tt.err)
			}
		})
	}
}

// execution.startDate renders with the precision Kestra shows (Java's
// microsecond clock): microseconds at most, in groups of three digits.
func TestExecutionStartDate_rendersWithKestrasPrecision(t *testing.T) {
	f := parseFlow(t, "id: f\nnamespace: t\ntasks:\n  - {id: a, type: log, message: \"{{ execution.startDate }}\"}\n")
	tests := []struct {
		at   time.Time
		want string
	}{
		{time.Date(2024, 1, 31, 10, 0, 0, 0, time.UTC), "2024-01-31T10:00:00Z"},
		{time.Date(2024, 1, 31, 10, 0, 0, 120_000_000, time.UTC), "2024-01-31T10:00:00.120Z"},
		{time.Date(2024, 1, 31, 10, 0, 0, 123_456_789, time.UTC), "2024-01-31T10:00:00.123456Z"},
	}
	for _, tt := range tests {
		res, err := sm.Apply(f, nil, sm.Event{ID: "r", Type: sm.EvExecutionRequested, ExecutionID: "x"}, tt.at, sm.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range res.Commands {
			if st, ok := c.(sm.ScheduleTaskRun); ok {
				if got := toText(st.Props["message"]); got != tt.want {
					t.Errorf("startDate %v rendered %q, want %q", tt.at, got, tt.want)
				}
			}
		}
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
