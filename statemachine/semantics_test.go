package statemachine_test

import (
	"encoding/json"
	"errors"
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

// scheduledCount counts the attempts scheduled for each task run.
func scheduledCount(s *sim) map[string]int {
	out := map[string]int{}
	for _, c := range s.schedule {
		out[c.TaskRunID]++
	}
	return out
}

// failFirst fails the first attempt of the given task runs.
func failFirst(ids ...string) worker {
	return func(c sm.ScheduleTaskRun) outcome {
		for _, id := range ids {
			if c.TaskRunID == id && c.Attempt == 1 {
				return outcome{state: sm.RunFailed, err: &sm.TaskError{Kind: sm.KindRetryable, Message: "boom"}}
			}
		}
		return outcome{}
	}
}

// Restart runs the failed task runs of a FAILED or KILLED execution again,
// in the same execution, keeping what succeeded (item 7).
func TestRestart_rerunsFailedTaskRunsInPlace(t *testing.T) {
	tests := []struct {
		name      string
		flow      string
		work      worker
		kill      bool
		scheduled map[string]int // attempts scheduled over both runs
		attempts  map[string]int // attempts recorded on the run
	}{
		{
			name: "a failed task, the ones after it never ran",
			flow: `
id: f
namespace: t
tasks:
  - {id: a, type: debug.return, format: "a"}
  - {id: b, type: debug.return, format: "{{ outputs.a.value }}b"}
  - {id: c, type: debug.return, format: "{{ outputs.b.value }}c"}
`,
			work:      failFirst("b"),
			scheduled: map[string]int{"a": 1, "b": 2, "c": 1},
			attempts:  map[string]int{"a": 1, "b": 2, "c": 1},
		},
		{
			name: "one failed ForEach iteration",
			flow: `
id: f
namespace: t
tasks:
  - id: each
    type: flow.foreach
    values: [x, y]
    concurrencyLimit: 0
    tasks:
      - {id: t, type: debug.return, format: "{{ taskrun.value }}"}
`,
			work:      failFirst("t[1]"),
			scheduled: map[string]int{"t[0]": 1, "t[1]": 2},
			attempts:  map[string]int{"t[0]": 1, "t[1]": 2},
		},
		{
			name: "errors handlers run again; a Dag reruns only the failed branch",
			flow: `
id: f
namespace: t
tasks:
  - id: dag
    type: flow.dag
    tasks:
      - task: {id: x, type: debug.return, format: x}
      - task: {id: y, type: debug.return, format: y}
      - task: {id: z, type: debug.return, format: "{{ outputs.x.value }}{{ outputs.y.value }}"}
        dependsOn: [x, y]
errors:
  - {id: alert, type: log, message: failed}
`,
			work:      failFirst("y"),
			scheduled: map[string]int{"x": 1, "y": 2, "z": 1, "alert": 1},
			attempts:  map[string]int{"x": 1, "y": 2, "z": 1, "alert": 1},
		},
		{
			name: "a killed execution",
			flow: `
id: f
namespace: t
tasks:
  - {id: a, type: debug.return, format: a}
  - {id: slow, type: shell.commands, commands: [sleep 100]}
`,
			work: func(c sm.ScheduleTaskRun) outcome {
				return outcome{hang: c.TaskID == "slow" && c.Attempt == 1}
			},
			kill:      true,
			scheduled: map[string]int{"a": 1, "slow": 2},
			attempts:  map[string]int{"a": 1, "slow": 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := parseFlow(t, tt.flow)
			s := newSim(t, f)
			s.work = tt.work
			id := s.start(f, nil)
			if tt.kill {
				s.runFor(time.Second)
				s.push(s.now, sm.Event{Type: sm.EvKill, ExecutionID: id})
			}
			s.run()
			first := s.exec(id)
			if first.State != sm.ExecFailed && first.State != sm.ExecKilled {
				t.Fatalf("first run ended %s", first.State)
			}
			s.push(s.now, sm.Event{Type: sm.EvRestart, ExecutionID: id})
			s.run()
			ex := s.exec(id)
			if ex.State != sm.ExecSuccess || ex.Restarts != 1 {
				t.Fatalf("after the restart: %s (%s), restarts %d", ex.State, ex.Error, ex.Restarts)
			}
			if got := scheduledCount(s); !equalCounts(got, tt.scheduled) {
				t.Errorf("scheduled %v, want %v", got, tt.scheduled)
			}
			for run, n := range tt.attempts {
				if r, _ := ex.Run(run); r == nil || len(r.Attempts) != n || r.State != sm.RunSuccess {
					t.Errorf("%s: %+v, want SUCCESS after %d attempts", run, r, n)
				}
			}
			if !hasLabel(ex, sm.RestartedLabel, "true") {
				t.Errorf("labels %v lack %s", ex.Labels, sm.RestartedLabel)
			}
		})
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func hasLabel(ex *sm.Execution, k, v string) bool {
	for _, l := range ex.Labels {
		if l.Key == k && l.Value == v {
			return true
		}
	}
	return false
}

func TestRestart_refusedUnlessFailedOrKilled(t *testing.T) {
	f := parseFlow(t, "id: f\nnamespace: t\ntasks:\n  - {id: a, type: log, message: hi}\n")
	s := newSim(t, f)
	id := s.start(f, nil)
	s.run()
	_, err := s.deliver(sm.Event{ID: "r", Type: sm.EvRestart, ExecutionID: id})
	if !errors.Is(err, sm.ErrInvalidTransition) || !strings.Contains(err.Error(), "only a FAILED or KILLED execution can be restarted, this one is SUCCESS") {
		t.Errorf("restarting a SUCCESS execution: %v", err)
	}
}

// A restarted parent restarts its failed child execution (Kestra's
// RETRY_FAILED), or starts a new one (NEW_EXECUTION).
func TestRestart_subflowRestartBehavior(t *testing.T) {
	child := parseFlow(t, "id: child\nnamespace: t\ntasks:\n  - {id: work, type: debug.return, format: w}\n")
	for _, behavior := range []string{"RETRY_FAILED", "NEW_EXECUTION"} {
		t.Run(behavior, func(t *testing.T) {
			parent := parseFlow(t, "id: parent\nnamespace: t\ntasks:\n  - {id: call, type: flow.subflow, namespace: t, flowId: child, restartBehavior: "+behavior+"}\n")
			s := newSim(t, parent, child)
			id := "exec-1"
			s.work = func(c sm.ScheduleTaskRun) outcome { // the first child fails once
				if c.ExecutionID == id+".call" && c.Attempt == 1 {
					return outcome{state: sm.RunFailed, err: &sm.TaskError{Kind: sm.KindRetryable, Message: "boom"}}
				}
				return outcome{}
			}
			s.start(parent, nil)
			s.run()
			if st := s.exec(id).State; st != sm.ExecFailed {
				t.Fatalf("first run %s", st)
			}
			s.push(s.now, sm.Event{Type: sm.EvRestart, ExecutionID: id})
			s.run()
			ex := s.exec(id)
			r, _ := ex.Run("call")
			if ex.State != sm.ExecSuccess || r.State != sm.RunSuccess {
				t.Fatalf("after the restart: %s, call %s", ex.State, r.State)
			}
			children := 0
			for cid := range s.execs {
				if strings.HasPrefix(cid, id+".") {
					children++
				}
			}
			want := map[string]int{"RETRY_FAILED": 1, "NEW_EXECUTION": 2}[behavior]
			if children != want {
				t.Errorf("%d child executions, want %d", children, want)
			}
			if behavior == "RETRY_FAILED" && s.exec(r.ChildExec).Restarts != 1 {
				t.Errorf("the child was not restarted: %+v", s.exec(r.ChildExec))
			}
		})
	}
}

// Replay starts a new execution that reuses the runs before the task it
// replays from (Kestra's replay).
func TestReplay_reusesTheRunsBeforeTheTask(t *testing.T) {
	f := parseFlow(t, `
id: f
namespace: t
tasks:
  - {id: a, type: debug.return, format: a}
  - id: seq
    type: flow.sequential
    tasks:
      - {id: b, type: debug.return, format: "{{ outputs.a.value }}b"}
      - {id: c, type: debug.return, format: "{{ outputs.b.value }}c"}
  - {id: d, type: debug.return, format: "{{ outputs.c.value }}d"}
errors:
  - {id: alert, type: log, message: x}
`)
	tests := []struct {
		from      string
		scheduled map[string]int // scheduled by the replay
	}{
		{"c", map[string]int{"c": 1, "d": 1}},
		{"seq", map[string]int{"b": 1, "c": 1, "d": 1}},
		{"a", map[string]int{"a": 1, "b": 1, "c": 1, "d": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.from, func(t *testing.T) {
			s := newSim(t, f)
			src := s.start(f, nil)
			s.run()
			before := len(s.schedule)
			s.push(s.now, sm.Event{Type: sm.EvExecutionRequested, ExecutionID: "replay", Namespace: "t", FlowID: "f",
				Replay: &sm.Replay{ExecutionID: src, From: tt.from}})
			s.run()
			ex := s.exec("replay")
			if ex.State != sm.ExecSuccess || ex.OriginalID != src {
				t.Fatalf("replay %s (%s), original %q", ex.State, ex.Error, ex.OriginalID)
			}
			s.schedule = s.schedule[before:]
			if got := scheduledCount(s); !equalCounts(got, tt.scheduled) {
				t.Errorf("scheduled %v, want %v", got, tt.scheduled)
			}
			if d, _ := ex.Run("d"); d.Outputs["value"] != "abcd" {
				t.Errorf("d returned %v", d.Outputs)
			}
		})
	}
	s := newSim(t, f)
	src := s.start(f, nil)
	s.run()
	s.push(s.now, sm.Event{Type: sm.EvExecutionRequested, ExecutionID: "bad", Namespace: "t", FlowID: "f", Replay: &sm.Replay{ExecutionID: src, From: "nope"}})
	s.run()
	if ex := s.exec("bad"); ex.State != sm.ExecFailed || !strings.Contains(ex.Error, `has no task run or task "nope"`) {
		t.Errorf("replaying from an unknown task: %s %s", ex.State, ex.Error)
	}
}

// failUntil fails the given task runs until their attempt n.
func failUntil(n int, ids ...string) worker {
	return func(c sm.ScheduleTaskRun) outcome {
		for _, id := range ids {
			if c.TaskRunID == id && c.Attempt < n {
				return outcome{state: sm.RunFailed, err: &sm.TaskError{Kind: sm.KindRetryable, Message: "boom"}}
			}
		}
		return outcome{}
	}
}

// A retry policy with behavior CREATE_NEW_EXECUTION runs the failed
// execution again in place, counting execution attempts; RETRY_FAILED_TASK
// retries the task run; Prefect's list of delays gives each wait (item 11).
func TestRetry_behaviorsAndDelays(t *testing.T) {
	tests := []struct {
		name     string
		retry    string // the flow's retry
		task     string // the task's own retry, or ""
		failFor  int    // b's attempts before this one fail
		state    sm.ExecState
		restarts int
		bRuns    int // attempts of b
		alert    bool
		gaps     []time.Duration // waits between b's attempts
	}{
		{"flow CREATE_NEW_EXECUTION succeeds on the third execution attempt", "{behavior: CREATE_NEW_EXECUTION, type: constant, interval: PT1S, maxAttempts: 3}", "", 3,
			sm.ExecSuccess, 2, 3, false, []time.Duration{time.Second, time.Second}},
		{"flow CREATE_NEW_EXECUTION gives up after maxAttempts executions", "{behavior: CREATE_NEW_EXECUTION, type: constant, interval: PT1S, maxAttempts: 2}", "", 9,
			sm.ExecFailed, 1, 2, true, []time.Duration{time.Second}},
		{"task-level CREATE_NEW_EXECUTION", "{type: constant, interval: PT9S, maxAttempts: 5}", "{behavior: CREATE_NEW_EXECUTION, delays: [PT2S], maxAttempts: 2}", 2,
			sm.ExecSuccess, 1, 2, false, []time.Duration{2 * time.Second}},
		{"RETRY_FAILED_TASK with Prefect's delays", "{delays: [PT1S, PT5S]}", "", 3,
			sm.ExecSuccess, 0, 3, false, []time.Duration{time.Second, 5 * time.Second}},
		{"the last delay repeats", "{delays: [PT1S, PT5S], maxAttempts: 4}", "", 4,
			sm.ExecSuccess, 0, 4, false, []time.Duration{time.Second, 5 * time.Second, 5 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			own := ""
			if tt.task != "" {
				own = ", retry: " + tt.task
			}
			f := parseFlow(t, "id: f\nnamespace: t\nretry: "+tt.retry+"\ntasks:\n  - {id: a, type: debug.return, format: a}\n  - {id: b, type: debug.return, format: b"+own+"}\nerrors:\n  - {id: alert, type: log, message: x}\n")
			s := newSim(t, f)
			s.work = failUntil(tt.failFor, "b")
			id := s.start(f, nil)
			s.run()
			ex := s.exec(id)
			b, _ := ex.Run("b")
			_, alerted := ex.Run("alert")
			if ex.State != tt.state || ex.Restarts != tt.restarts || len(b.Attempts) != tt.bRuns || alerted != tt.alert {
				t.Fatalf("execution %s after %d restarts, b %d attempts, alert ran %v", ex.State, ex.Restarts, len(b.Attempts), alerted)
			}
			if a, _ := ex.Run("a"); len(a.Attempts) != 1 {
				t.Errorf("a ran %d times: a restarted execution keeps what succeeded", len(a.Attempts))
			}
			for i, want := range tt.gaps {
				if gap := b.Attempts[i+1].StartDate.Sub(b.Attempts[i].EndDate); gap != want {
					t.Errorf("wait before attempt %d: %s, want %s", i+2, gap, want)
				}
			}
		})
	}
}

func TestRetry_retryingExecutionCanBeKilled(t *testing.T) {
	f := parseFlow(t, "id: f\nnamespace: t\nretry: {behavior: CREATE_NEW_EXECUTION, type: constant, interval: PT1H, maxAttempts: 3}\ntasks:\n  - {id: b, type: debug.return, format: b}\n")
	s := newSim(t, f)
	s.work = failUntil(9, "b")
	id := s.start(f, nil)
	s.runFor(time.Minute)
	if st := s.exec(id).State; st != sm.ExecRetrying {
		t.Fatalf("state %s, want RETRYING", st)
	}
	s.push(s.now, sm.Event{Type: sm.EvKill, ExecutionID: id})
	s.run()
	if ex := s.exec(id); ex.State != sm.ExecKilled || ex.Restarts != 0 {
		t.Errorf("after the kill: %s, %d restarts (the restart timer must no longer apply)", ex.State, ex.Restarts)
	}
}

// An attempt whose worker died or whose process the OS killed is CRASHED
// (Prefect's meaning), then retried per its policy (item 13).
func TestCrashed_attemptsAreRetriedAndTheRunEndsCrashedWithoutRetries(t *testing.T) {
	tests := []struct {
		name     string
		retry    string
		crashes  int // attempts that crash
		run      sm.RunState
		exec     sm.ExecState
		attempts []sm.RunState
	}{
		{"a crash is retried", ", retry: {type: constant, interval: PT1S, maxAttempts: 3}", 1, sm.RunSuccess, sm.ExecSuccess, []sm.RunState{sm.RunCrashed, sm.RunSuccess}},
		{"no retry left: the run ends CRASHED", ", retry: {type: constant, interval: PT1S, maxAttempts: 2}", 2, sm.RunCrashed, sm.ExecFailed, []sm.RunState{sm.RunCrashed, sm.RunCrashed}},
		{"no policy", "", 1, sm.RunCrashed, sm.ExecFailed, []sm.RunState{sm.RunCrashed}},
		{"allowFailure", ", allowFailure: true", 1, sm.RunWarning, sm.ExecWarning, []sm.RunState{sm.RunCrashed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := parseFlow(t, "id: f\nnamespace: t\ntasks:\n  - {id: w, type: shell.commands, commands: [make]"+tt.retry+"}\n  - {id: after, type: log, message: x}\n")
			s := newSim(t, f)
			s.work = func(c sm.ScheduleTaskRun) outcome {
				if c.TaskID == "w" && c.Attempt <= tt.crashes {
					return outcome{state: sm.RunCrashed, err: &sm.TaskError{Kind: sm.KindCrashed, Type: "WorkerLost", Message: "its worker stopped renewing its lease"}}
				}
				return outcome{}
			}
			id := s.start(f, nil)
			s.run()
			ex := s.exec(id)
			r, _ := ex.Run("w")
			if r.State != tt.run || ex.State != tt.exec || len(r.Attempts) != len(tt.attempts) {
				t.Fatalf("run %s, execution %s, %d attempts", r.State, ex.State, len(r.Attempts))
			}
			for i, st := range tt.attempts {
				if r.Attempts[i].State != st {
					t.Errorf("attempt %d %s, want %s", i+1, r.Attempts[i].State, st)
				}
			}
			if tt.exec == sm.ExecFailed && !strings.Contains(logText(s), "w failed: its worker stopped renewing its lease") {
				t.Errorf("logs:\n%s", logText(s))
			}
		})
	}
}

// A task's logLevel drops the lines below it: the attempts it schedules
// carry it to the worker, and the state machine's own lines about the task
// (a retry announced at WARN) are not emitted; tasks without one keep every
// line.
func TestLogLevel_dropsTheTasksLinesBelowIt(t *testing.T) {
	f := parseFlow(t, `
id: f
namespace: t
tasks:
  - id: quiet
    type: io.kestra.plugin.core.log.Log
    logLevel: WARN
    message: kept only at WARN or above
  - id: loud
    type: io.kestra.plugin.core.log.Log
    message: every line
  - id: boom
    type: io.kestra.plugin.core.execution.Fail
    logLevel: ERROR
    retry: {type: constant, interval: PT1S, maxAttempts: 2}
`)
	s := newSim(t, f)
	s.start(f, nil)
	s.run()
	levels := map[string]string{}
	for _, c := range s.schedule {
		levels[c.TaskID] = c.LogLevel
	}
	if levels["quiet"] != "WARN" || levels["loud"] != "" {
		t.Errorf("scheduled attempts carry log levels %v, want quiet WARN and loud none", levels)
	}
	var boom []string
	for _, l := range s.logs {
		if l.TaskID == "boom" {
			boom = append(boom, l.Level)
		}
	}
	if len(boom) == 0 || strings.Count(strings.Join(boom, " "), "ERROR") != len(boom) {
		t.Errorf("boom logged %v: want its ERROR lines only (the WARN of its retry dropped)", boom)
	}
}
