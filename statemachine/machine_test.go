package statemachine_test

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	sm "github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/statemachine/flow"
)

func logText(s *sim) string {
	var b strings.Builder
	for _, l := range s.logs {
		b.WriteString(l.Message + "\n")
	}
	return b.String()
}

func scheduledIDs(s *sim) []string {
	var ids []string
	for _, c := range s.schedule {
		ids = append(ids, c.TaskRunID)
	}
	return ids
}

func TestHello_runsTasksInOrderAndRendersProperties(t *testing.T) {
	f := exampleFlow(t, "hello.yaml")
	s := newSim(t, f)
	id := s.start(f, nil)
	s.run()
	ex := s.exec(id)
	if ex.State != sm.ExecSuccess {
		t.Fatalf("state %s (%s)", ex.State, ex.Error)
	}
	if got := strings.Join(scheduledIDs(s), ","); got != "say_hello,greet,generate_report" {
		t.Errorf("scheduled %s", got)
	}
	msg := s.schedule[2].Props["message"].(string)
	if !strings.Contains(msg, "Hello from getting_started/hello_world") || !strings.Contains(msg, "2024-01-31T10:00:00Z") {
		t.Errorf("message rendered as %q", msg)
	}
	if len(s.finished) != 1 || s.finished[0].State != sm.ExecSuccess {
		t.Errorf("finished events %+v", s.finished)
	}
}

func TestParallel_respectsConcurrencyLimit(t *testing.T) {
	f := parseFlow(t, `
id: p
namespace: t
tasks:
  - id: par
    type: flow.parallel
    concurrent: 2
    tasks:
      - {id: a, type: log, message: a}
      - {id: b, type: log, message: b}
      - {id: c, type: log, message: c}
      - {id: d, type: log, message: d}
      - {id: e, type: log, message: e}
`)
	s := newSim(t, f)
	id := s.start(f, nil)
	s.run()
	if st := s.exec(id).State; st != sm.ExecSuccess {
		t.Fatalf("state %s", st)
	}
	if s.maxRun[id] != 2 {
		t.Errorf("at most %d attempts ran at once, want 2", s.maxRun[id])
	}
}

func TestForEach_respectsConcurrencyLimitAndKeysOutputsByValue(t *testing.T) {
	f := parseFlow(t, `
id: fe
namespace: t
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.EachParallel
    value: "{{ range(1, 6) }}"
    concurrent: 3
    tasks:
      - id: double
        type: debug.return
        format: "{{ taskrun.value * 2 }}"
      - id: report
        type: debug.return
        format: "{{ outputs.double[taskrun.value].value }}"
outputs:
  - id: third
    type: INT
    value: "{{ outputs.report['3'].value }}"
`)
	s := newSim(t, f)
	id := s.start(f, nil)
	s.run()
	ex := s.exec(id)
	if ex.State != sm.ExecSuccess {
		t.Fatalf("state %s: %s", ex.State, ex.Error)
	}
	if s.maxRun[id] != 3 {
		t.Errorf("at most %d iterations ran at once, want 3", s.maxRun[id])
	}
	if ex.Outputs["third"] != int64(6) {
		t.Errorf("outputs %v", ex.Outputs)
	}
	// Inside one iteration the tasks run one after the other.
	order := map[string]int{}
	for i, c := range s.schedule {
		order[c.TaskRunID] = i
	}
	for i := 0; i < 5; i++ {
		d, r := order["double["+itoa(i)+"]"], order["report["+itoa(i)+"]"]
		if d >= r {
			t.Errorf("iteration %d: report scheduled before double", i)
		}
	}
}

func itoa(i int) string { return string(rune('0' + i)) }

func TestNestedForEach_readsParentValues(t *testing.T) {
	f := exampleFlow(t, "nested_foreach.yaml")
	s := newSim(t, f)
	id := s.start(f, nil)
	s.run()
	ex := s.exec(id)
	if ex.State != sm.ExecSuccess {
		t.Fatalf("state %s: %s", ex.State, ex.Error)
	}
	r, _ := ex.Run("combine[1][0]")
	if r == nil || r.Outputs["value"] != "us-gold" {
		t.Errorf("combine[1][0] = %+v", r)
	}
	last := s.schedule[len(s.schedule)-1]
	if last.TaskID != "summary" || last.Props["message"] != "eu gold is eu-gold" {
		t.Errorf("summary scheduled as %+v", last)
	}
}

func TestIfAndSwitch_chooseBranches(t *testing.T) {
	tests := []struct {
		file   string
		inputs map[string]any
		ran    string
		notRan string
	}{
		{"if_else.yaml", map[string]any{"order_total": "150"}, "large_order", "small_order"},
		{"if_else.yaml", map[string]any{"order_total": "10"}, "small_order", "large_order"},
		{"switch.yaml", map[string]any{"environment": "production"}, "deploy_prod", "deploy_dev"},
		{"switch.yaml", map[string]any{"environment": "sandbox"}, "unknown_environment", "deploy_dev"},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.ran, func(t *testing.T) {
			f := exampleFlow(t, tt.file)
			s := newSim(t, f)
			id := s.start(f, tt.inputs)
			s.run()
			ex := s.exec(id)
			if ex.State != sm.ExecSuccess {
				t.Fatalf("state %s: %s", ex.State, ex.Error)
			}
			if _, ok := ex.Run(tt.ran); !ok {
				t.Errorf("%s did not run", tt.ran)
			}
			if _, ok := ex.Run(tt.notRan); ok {
				t.Errorf("%s ran", tt.notRan)
			}
		})
	}
}

func TestDag_followsDependencies(t *testing.T) {
	f := exampleFlow(t, "dag.yaml")
	s := newSim(t, f)
	id := s.start(f, nil)
	s.run()
	ex := s.exec(id)
	if ex.State != sm.ExecSuccess {
		t.Fatalf("state %s: %s", ex.State, ex.Error)
	}
	got := strings.Join(scheduledIDs(s), ",")
	if got != "extract_a,extract_b,load,report" {
		t.Errorf("order %s", got)
	}
	if r, _ := ex.Run("load"); r.Outputs["value"] != "ab" {
		t.Errorf("load outputs %v", r.Outputs)
	}
}

func TestRetry_exponentialBackoffWithTimers(t *testing.T) {
	f := parseFlow(t, `
id: r
namespace: t
tasks:
  - id: flaky
    type: shell.commands
    commands: [exit 1]
    retry:
      type: exponential
      interval: PT1S
      maxInterval: PT10S
      maxAttempts: 4
      warningOnRetry: true
`)
	s := newSim(t, f)
	s.work = func(c sm.ScheduleTaskRun) outcome {
		if c.Attempt < 4 {
			return outcome{state: sm.RunFailed, err: &sm.TaskError{Kind: sm.KindRetryable, Message: "boom"}}
		}
		return outcome{}
	}
	id := s.start(f, nil)
	s.run()
	ex := s.exec(id)
	r, _ := ex.Run("flaky")
	if ex.State != sm.ExecWarning || r.State != sm.RunWarning || len(r.Attempts) != 4 {
		t.Fatalf("execution %s, run %s, %d attempts", ex.State, r.State, len(r.Attempts))
	}
	// Attempts start 1s, 2s and 4s after the previous one ended.
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}
	for i, w := range want {
		gap := r.Attempts[i+1].StartDate.Sub(r.Attempts[i].EndDate)
		if gap != w {
			t.Errorf("wait before attempt %d = %s, want %s", i+2, gap, w)
		}
	}
}

func TestRetry_fatalErrorsAreNotRetried(t *testing.T) {
	f := parseFlow(t, "id: r\nnamespace: t\ntasks:\n  - id: x\n    type: http.request\n    uri: http://example\n    retry: {type: constant, interval: PT1S, maxAttempts: 5}\n")
	s := newSim(t, f)
	s.work = func(c sm.ScheduleTaskRun) outcome {
		return outcome{state: sm.RunFailed, err: &sm.TaskError{Kind: sm.KindFatal, Type: "HTTPStatus", Message: "404"}}
	}
	id := s.start(f, nil)
	s.run()
	if r, _ := s.exec(id).Run("x"); r.State != sm.RunFailed || len(r.Attempts) != 1 {
		t.Errorf("run %s after %d attempts", r.State, len(r.Attempts))
	}
}

func TestRetryDelay(t *testing.T) {
	exp := &flow.Retry{Type: flow.RetryExponential, Interval: time.Second, MaxInterval: 5 * time.Second, DelayFactor: 2}
	tests := []struct {
		name   string
		p      *flow.Retry
		n      int
		u1, u2 float64
		want   time.Duration
	}{
		{"constant", &flow.Retry{Type: flow.RetryConstant, Interval: 3 * time.Second}, 4, 0, 0, 3 * time.Second},
		{"exponential 1", exp, 1, 0, 0, time.Second},
		{"exponential 3", exp, 3, 0, 0, 4 * time.Second},
		{"exponential capped", exp, 10, 0, 0, 5 * time.Second},
		{"random", &flow.Retry{Type: flow.RetryRandom, MinInterval: time.Second, MaxInterval: 3 * time.Second}, 1, 0.5, 0, 2 * time.Second},
		{"jitter duration", &flow.Retry{Type: flow.RetryConstant, Interval: time.Second, Jitter: time.Second}, 1, 0, 0.25, 1250 * time.Millisecond},
		{"jitter factor", &flow.Retry{Type: flow.RetryConstant, Interval: 10 * time.Second, JitterFactor: 0.2}, 1, 0, 0.5, 11 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sm.RetryDelay(tt.p, tt.n, tt.u1, tt.u2); got != tt.want {
				t.Errorf("RetryDelay = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestErrorsAndFinally_runOnFailure(t *testing.T) {
	f := exampleFlow(t, "error_handling.yaml")
	s := newSim(t, f)
	s.work = func(c sm.ScheduleTaskRun) outcome {
		if c.TaskID == "flaky" {
			return outcome{state: sm.RunFailed, err: &sm.TaskError{Kind: sm.KindRetryable, Type: "ExitCode", Message: "exit code 1"}}
		}
		return outcome{}
	}
	id := s.start(f, nil)
	s.run()
	ex := s.exec(id)
	want := map[string]sm.RunState{
		"optional_step": sm.RunWarning, // flow.fail with allowFailure
		"flaky":         sm.RunFailed,
		"local_cleanup": sm.RunSuccess,
		"guarded":       sm.RunFailed,
		"alert":         sm.RunSuccess,
		"always":        sm.RunSuccess,
	}
	for run, st := range want {
		if got := s.runState(id, run); got != st {
			t.Errorf("%s: %s, want %s", run, got, st)
		}
	}
	if r, _ := ex.Run("flaky"); len(r.Attempts) != 3 {
		t.Errorf("flaky had %d attempts, want 3 (flow retry)", len(r.Attempts))
	}
	if ex.State != sm.ExecFailed {
		t.Errorf("execution %s", ex.State)
	}
	order := strings.Join(scheduledIDs(s), ",")
	if !strings.HasSuffix(order, "local_cleanup,alert,always") {
		t.Errorf("order %s", order)
	}
	if !strings.Contains(s.schedule[len(s.schedule)-1].Props["message"].(string), "cleanup done for execution exec-1") {
		t.Errorf("finally message %v", s.schedule[len(s.schedule)-1].Props["message"])
	}
}

func TestAllowFailure_endsInWarning(t *testing.T) {
	f := parseFlow(t, `
id: af
namespace: t
tasks:
  - id: block
    type: flow.allowfailure
    tasks:
      - {id: bad, type: flow.fail, errorMessage: nope}
  - id: after
    type: log
    message: still here
`)
	s := newSim(t, f)
	id := s.start(f, nil)
	s.run()
	ex := s.exec(id)
	if ex.State != sm.ExecWarning || s.runState(id, "block") != sm.RunWarning || s.runState(id, "after") != sm.RunSuccess {
		t.Errorf("execution %s, block %s", ex.State, s.runState(id, "block"))
	}
	if r, _ := ex.Run("bad"); r.Error == nil || r.Error.Message != "nope" {
		t.Errorf("bad error %+v", r.Error)
	}
}

func TestRunIfAndDisabled(t *testing.T) {
	f := parseFlow(t, `
id: ri
namespace: t
tasks:
  - {id: skipped, type: log, message: x, runIf: "{{ 1 > 2 }}"}
  - {id: off, type: log, message: x, disabled: true}
  - {id: on, type: log, message: x, runIf: "{{ 'yes' }}"}
`)
	s := newSim(t, f)
	id := s.start(f, nil)
	s.run()
	if s.runState(id, "skipped") != sm.RunSkipped || s.runState(id, "on") != sm.RunSuccess {
		t.Error("runIf not honoured")
	}
	if _, ok := s.exec(id).Run("off"); ok {
		t.Error("a disabled task ran")
	}
	if s.exec(id).State != sm.ExecSuccess {
		t.Errorf("state %s", s.exec(id).State)
	}
}

func TestTimeout_failsTheAttemptAndRetries(t *testing.T) {
	f := parseFlow(t, `
id: to
namespace: t
tasks:
  - id: slow
    type: shell.commands
    commands: [sleep 60]
    timeout: PT5S
    retry: {type: constant, interval: PT1S, maxAttempts: 2}
`)
	s := newSim(t, f)
	s.work = func(c sm.ScheduleTaskRun) outcome { return outcome{hang: true} }
	id := s.start(f, nil)
	s.run()
	ex := s.exec(id)
	r, _ := ex.Run("slow")
	if ex.State != sm.ExecFailed || len(r.Attempts) != 2 {
		t.Fatalf("execution %s after %d attempts", ex.State, len(r.Attempts))
	}
	for _, a := range r.Attempts {
		if a.Error == nil || a.Error.Kind != sm.KindTimeout {
			t.Errorf("attempt %d error %+v", a.Number, a.Error)
		}
	}
	if d := ex.EndDate.Sub(ex.StartDate); d != 11*time.Second {
		t.Errorf("ended after %s, want 11s (5s + 1s + 5s)", d)
	}
}

// An attempt that never reports back (its worker vanished) fails at the
// deployment's default attempt timeout and is retried: zombie detection.
func TestAttemptTimeout_detectsZombies(t *testing.T) {
	f := parseFlow(t, `
id: z
namespace: t
tasks:
  - id: work
    type: shell.commands
    commands: [make]
    retry: {type: constant, interval: PT1S, maxAttempts: 2}
  - id: own
    type: shell.commands
    commands: [make]
    timeout: PT5S
`)
	s := newSim(t, f)
	s.opts.AttemptTimeout = time.Minute
	s.work = func(c sm.ScheduleTaskRun) outcome { return outcome{hang: c.TaskID == "work" && c.Attempt == 1} }
	id := s.start(f, nil)
	s.run()
	ex := s.exec(id)
	r, _ := ex.Run("work")
	if ex.State != sm.ExecSuccess || len(r.Attempts) != 2 {
		t.Fatalf("execution %s after %d attempts", ex.State, len(r.Attempts))
	}
	if e := r.Attempts[0].Error; e == nil || e.Kind != sm.KindTimeout || !strings.Contains(e.Message, "within 1m0s") {
		t.Errorf("first attempt error %+v", e)
	}
	if d := r.EndDate.Sub(r.StartDate); d < 61*time.Second || d > 62*time.Second {
		t.Errorf("work took %s, want 1m timeout + 1s retry + the second attempt", d)
	}
	for _, tc := range []struct {
		run  string
		want time.Duration
	}{{"work", time.Minute}, {"own", 5 * time.Second}} { // the task's own timeout wins
		r, _ := ex.Run(tc.run)
		if a := r.Attempts[0]; a.Deadline.Sub(a.StartDate) != tc.want {
			t.Errorf("%s: deadline %s after the start, want %s", tc.run, a.Deadline.Sub(a.StartDate), tc.want)
		}
	}
}

func TestPause_resumeWithInputs(t *testing.T) {
	f := exampleFlow(t, "pause.yaml")
	s := newSim(t, f)
	id := s.start(f, nil)
	s.runFor(time.Hour)
	ex := s.exec(id)
	if ex.State != sm.ExecPaused || s.runState(id, "wait_for_approval") != sm.RunPaused {
		t.Fatalf("execution %s", ex.State)
	}
	version := ex.Version
	// Bad inputs change nothing.
	if _, err := s.deliver(sm.Event{ID: "r1", Type: sm.EvResume, ExecutionID: id, Inputs: map[string]any{"approved": "maybe"}}); err == nil {
		t.Fatal("resume with a bad BOOLEAN was accepted")
	}
	if ex := s.exec(id); ex.Version != version || ex.State != sm.ExecPaused {
		t.Fatal("a rejected resume changed the execution")
	}
	if _, err := s.deliver(sm.Event{ID: "r2", Type: sm.EvResume, ExecutionID: id, Inputs: map[string]any{"approved": "true"}}); err != nil {
		t.Fatal(err)
	}
	s.run() // the pause timeout timer, now stale, fires too
	if ex := s.exec(id); ex.State != sm.ExecSuccess {
		t.Fatalf("execution %s: %s", ex.State, ex.Error)
	}
	last := s.schedule[len(s.schedule)-1]
	if last.Props["message"] != "approved=true (no reason given)" {
		t.Errorf("report message %q", last.Props["message"])
	}
	// Resuming an execution that is not paused is an invalid transition.
	_, err := s.deliver(sm.Event{ID: "r3", Type: sm.EvResume, ExecutionID: id})
	if !errors.Is(err, sm.ErrInvalidTransition) {
		t.Errorf("err = %v, want ErrInvalidTransition", err)
	}
}

func TestPause_timeoutFails(t *testing.T) {
	f := exampleFlow(t, "pause.yaml")
	s := newSim(t, f)
	id := s.start(f, nil)
	s.run()
	if ex := s.exec(id); ex.State != sm.ExecFailed || ex.EndDate.Sub(ex.StartDate) < 24*time.Hour {
		t.Errorf("execution %s after %s", ex.State, ex.EndDate.Sub(ex.StartDate))
	}
}

func TestSleepAndWaitFor_useTimers(t *testing.T) {
	f := parseFlow(t, `
id: sw
namespace: t
tasks:
  - {id: nap, type: flow.sleep, duration: PT30S}
  - id: poll
    type: flow.waitfor
    condition: "{{ outputs.check.value == 3 }}"
    checkFrequency: {interval: PT10S, maxIterations: 5}
    tasks:
      - id: check
        type: debug.return
        format: "{{ taskrun.iteration }}"
`)
	s := newSim(t, f)
	id := s.start(f, nil)
	s.run()
	ex := s.exec(id)
	if ex.State != sm.ExecSuccess {
		t.Fatalf("state %s: %s", ex.State, ex.Error)
	}
	r, _ := ex.Run("poll")
	if r.Outputs["iterationCount"] != int64(3) {
		t.Errorf("poll outputs %v", r.Outputs)
	}
	// 30s sleep, then three iterations 10s apart (plus 10ms per attempt).
	if d := ex.EndDate.Sub(ex.StartDate); d != 50*time.Second+30*time.Millisecond {
		t.Errorf("took %s", d)
	}
}

func TestSubflow_passesOutputsBack(t *testing.T) {
	main := exampleFlow(t, "main_pipeline.yaml")
	s := newSim(t, main, exampleFlow(t, "data_extraction.yaml"), exampleFlow(t, "data_transformation.yaml"), exampleFlow(t, "data_loading.yaml"))
	id := s.start(main, nil)
	s.run()
	ex := s.exec(id)
	if ex.State != sm.ExecSuccess {
		t.Fatalf("state %s: %s", ex.State, ex.Error)
	}
	if ex.Outputs["loaded"] != int64(3) {
		t.Errorf("outputs %v", ex.Outputs)
	}
	child := s.exec(id + ".transform-phase")
	if child.Parent == nil || child.Parent.TaskRunID != "transform-phase" || child.Outputs["rows"] == nil {
		t.Errorf("child %+v", child)
	}
}

func TestSubflow_failureIsTransmitted(t *testing.T) {
	parent := parseFlow(t, "id: p\nnamespace: t\ntasks:\n  - {id: call, type: flow.subflow, namespace: t, flowId: c}\n")
	child := parseFlow(t, "id: c\nnamespace: t\ntasks:\n  - {id: boom, type: flow.fail, errorMessage: bad}\n")
	s := newSim(t, parent, child)
	id := s.start(parent, nil)
	s.run()
	if st := s.exec(id).State; st != sm.ExecFailed {
		t.Errorf("parent %s", st)
	}
}

func TestSubflow_depthIsLimited(t *testing.T) {
	f := parseFlow(t, "id: loop\nnamespace: t\ntasks:\n  - {id: again, type: flow.subflow, namespace: t, flowId: loop}\n")
	s := newSim(t, f)
	id := s.start(f, nil)
	s.run()
	if st := s.exec(id).State; st != sm.ExecFailed {
		t.Errorf("state %s", st)
	}
	if !strings.Contains(logText(s), "nested more than 10 deep") {
		t.Errorf("logs:\n%s", logText(s))
	}
}

func TestKill_stopsRunningAttemptsAndStartsNothing(t *testing.T) {
	f := parseFlow(t, `
id: k
namespace: t
tasks:
  - id: par
    type: flow.parallel
    tasks:
      - {id: long, type: shell.commands, commands: [sleep 100]}
      - {id: other, type: shell.commands, commands: [sleep 100]}
  - {id: never, type: log, message: x}
`)
	s := newSim(t, f)
	s.work = func(c sm.ScheduleTaskRun) outcome { return outcome{hang: true} }
	id := s.start(f, nil)
	s.run()
	res, err := s.deliver(sm.Event{ID: "kill-1", Type: sm.EvKill, ExecutionID: id})
	if err != nil {
		t.Fatal(err)
	}
	kills := 0
	for _, c := range res.Commands {
		if _, ok := c.(sm.KillAttempt); ok {
			kills++
		}
	}
	if kills != 2 || s.exec(id).State != sm.ExecKilling {
		t.Fatalf("%d KillAttempt commands, state %s", kills, s.exec(id).State)
	}
	s.run()
	ex := s.exec(id)
	if ex.State != sm.ExecKilled || s.runState(id, "long") != sm.RunKilled || s.runState(id, "par") != sm.RunKilled {
		t.Errorf("execution %s, long %s, par %s", ex.State, s.runState(id, "long"), s.runState(id, "par"))
	}
	if _, ok := ex.Run("never"); ok {
		t.Error("a task started after the kill")
	}
	if _, err := s.deliver(sm.Event{ID: "kill-2", Type: sm.EvKill, ExecutionID: id}); !errors.Is(err, sm.ErrInvalidTransition) {
		t.Errorf("killing a killed execution: %v", err)
	}
}

func TestEvents_duplicatesAndStaleAttemptsChangeNothing(t *testing.T) {
	f := parseFlow(t, "id: d\nnamespace: t\ntasks:\n  - {id: a, type: log, message: x}\n  - {id: b, type: log, message: y}\n")
	s := newSim(t, f)
	id := s.start(f, nil)
	s.step() // requested
	started := sm.Event{ID: "s1", Type: sm.EvTaskRunStarted, ExecutionID: id, TaskRunID: "a", Attempt: 1}
	if _, err := s.deliver(started); err != nil {
		t.Fatal(err)
	}
	ex := s.exec(id)
	v := ex.Version
	for _, ev := range []sm.Event{
		started, // the same event again
		{ID: "s2", Type: sm.EvTaskRunFinished, ExecutionID: id, TaskRunID: "a", Attempt: 7, State: sm.RunSuccess}, // not the current attempt
	} {
		res, err := s.deliver(ev)
		if err != nil || res.Ignored == "" || len(res.Commands) != 0 || ex.Version != v {
			t.Errorf("%s: err %v, ignored %q, %d commands, version %d->%d", ev.ID, err, res.Ignored, len(res.Commands), v, ex.Version)
		}
	}
	if _, err := s.deliver(sm.Event{ID: "s3", Type: sm.EvTaskRunStarted, ExecutionID: id, TaskRunID: "nope", Attempt: 1}); err == nil {
		t.Error("an event about an unknown task run was accepted")
	}
	if _, err := s.deliver(sm.Event{ID: "s4", Type: sm.EvTaskRunFinished, ExecutionID: id, TaskRunID: "a", Attempt: 1, State: sm.RunPaused}); err == nil {
		t.Error("a finished event with state PAUSED was accepted")
	}
}

func TestInputs_invalidFailTheExecution(t *testing.T) {
	f := exampleFlow(t, "if_else.yaml")
	s := newSim(t, f)
	id := s.start(f, map[string]any{"order_total": "lots"})
	s.run()
	ex := s.exec(id)
	if ex.State != sm.ExecFailed || !strings.Contains(ex.Error, "order_total") || len(ex.TaskRuns) != 0 {
		t.Errorf("state %s, error %q", ex.State, ex.Error)
	}
}

func TestTransitions_tableIsEnforced(t *testing.T) {
	run := []struct {
		from, to sm.RunState
		ok       bool
	}{
		{sm.RunCreated, sm.RunSubmitted, true},
		{sm.RunSubmitted, sm.RunRunning, true},
		{sm.RunRunning, sm.RunRetrying, true},
		{sm.RunRetrying, sm.RunSubmitted, true},
		{sm.RunCreated, sm.RunSkipped, true},
		{sm.RunPaused, sm.RunSuccess, true},
		{sm.RunSuccess, sm.RunRunning, false},
		{sm.RunSkipped, sm.RunFailed, false},
		{sm.RunRunning, sm.RunSkipped, false},
		{sm.RunKilled, sm.RunRunning, false},
		{sm.RunRetrying, sm.RunSuccess, false},
	}
	for _, tt := range run {
		if got := sm.CanRun(tt.from, tt.to); got != tt.ok {
			t.Errorf("CanRun(%s, %s) = %v", tt.from, tt.to, got)
		}
	}
	exec := []struct {
		from, to sm.ExecState
		ok       bool
	}{
		{sm.ExecCreated, sm.ExecRunning, true},
		{sm.ExecCreated, sm.ExecQueued, true},
		{sm.ExecRunning, sm.ExecPaused, true},
		{sm.ExecPaused, sm.ExecRunning, true},
		{sm.ExecKilling, sm.ExecKilled, true},
		{sm.ExecSuccess, sm.ExecRunning, false},
		{sm.ExecFailed, sm.ExecKilled, false},
		{sm.ExecQueued, sm.ExecPaused, false},
	}
	for _, tt := range exec {
		if got := sm.CanExec(tt.from, tt.to); got != tt.ok {
			t.Errorf("CanExec(%s, %s) = %v", tt.from, tt.to, got)
		}
	}
	// Terminal states stay, but for a restart of a FAILED or KILLED one.
	for _, s := range []sm.ExecState{sm.ExecSuccess, sm.ExecWarning, sm.ExecFailed, sm.ExecKilled, sm.ExecCancelled} {
		for _, to := range []sm.ExecState{sm.ExecRunning, sm.ExecPaused, sm.ExecKilling} {
			restart := (s == sm.ExecFailed || s == sm.ExecKilled) && to == sm.ExecRunning
			if sm.CanExec(s, to) != restart {
				t.Errorf("terminal %s may move to %s: %v", s, to, sm.CanExec(s, to))
			}
		}
	}
}

func TestFlowOutputs_renderedAndTyped(t *testing.T) {
	f := exampleFlow(t, "parameterized.yaml")
	s := newSim(t, f)
	id := s.start(f, map[string]any{"processing_mode": "streaming"})
	s.run()
	if out := s.exec(id).Outputs; out["processingMode"] != "streaming" {
		t.Errorf("outputs %v", out)
	}
}

func TestConcurrency_overLimitBehaviors(t *testing.T) {
	for _, behavior := range []string{"QUEUE", "CANCEL", "FAIL"} {
		t.Run(behavior, func(t *testing.T) {
			f := parseFlow(t, "id: c\nnamespace: t\nconcurrency: {limit: 1, behavior: "+behavior+"}\ntasks:\n  - {id: a, type: log, message: x}\n")
			s := newSim(t, f)
			res, err := s.deliver(sm.Event{ID: "r", Type: sm.EvExecutionRequested, ExecutionID: "e", Namespace: "t", FlowID: "c", OverLimit: behavior})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]sm.ExecState{"QUEUE": sm.ExecQueued, "CANCEL": sm.ExecCancelled, "FAIL": sm.ExecFailed}[behavior]
			if res.Execution.State != want || len(res.Execution.TaskRuns) != 0 {
				t.Fatalf("state %s with %d task runs, want %s", res.Execution.State, len(res.Execution.TaskRuns), want)
			}
			_, err = s.deliver(sm.Event{ID: "d", Type: sm.EvDequeued, ExecutionID: "e"})
			if behavior == "QUEUE" {
				if err != nil {
					t.Fatal(err)
				}
				s.run()
				if st := s.exec("e").State; st != sm.ExecSuccess {
					t.Errorf("after dequeue: %s", st)
				}
			} else if !errors.Is(err, sm.ErrInvalidTransition) {
				t.Errorf("dequeue of a %s execution: %v", want, err)
			}
		})
	}
}

// A worker reports a short attempt's start only with its end: the attempt
// and its run take the worker's start date, and a started event arriving
// after the end changes nothing.
func TestEvents_finishedWithoutStarted(t *testing.T) {
	f := parseFlow(t, "id: d\nnamespace: t\ntasks:\n  - {id: a, type: log, message: x}\n  - {id: b, type: log, message: y}\n")
	for _, tc := range []struct {
		name  string
		start time.Duration // before the executor's now; 0: not reported
		want  time.Duration
	}{
		{"reported", 3 * time.Second, 3 * time.Second},
		{"not reported", 0, 0},
		{"later than the executor's clock", -time.Second, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, f)
			id := s.start(f, nil)
			s.step() // requested
			var start time.Time
			if tc.start != 0 {
				start = s.now.Add(-tc.start)
			}
			fin := sm.Event{ID: "f1", Type: sm.EvTaskRunFinished, ExecutionID: id, TaskRunID: "a", Attempt: 1, State: sm.RunSuccess, StartDate: start}
			if _, err := s.deliver(fin); err != nil {
				t.Fatal(err)
			}
			r, _ := s.exec(id).Run("a")
			want := s.now.Add(-tc.want)
			if r.State != sm.RunSuccess || !r.StartDate.Equal(want) || !r.Attempts[0].StartDate.Equal(want) || !r.EndDate.Equal(s.now) {
				t.Errorf("run %s start %v (attempt %v) end %v, want SUCCESS from %v to %v", r.State, r.StartDate, r.Attempts[0].StartDate, r.EndDate, want, s.now)
			}
			if res, err := s.deliver(sm.Event{ID: "s1", Type: sm.EvTaskRunStarted, ExecutionID: id, TaskRunID: "a", Attempt: 1}); err != nil || res.Ignored == "" {
				t.Errorf("a late started event: err %v, ignored %q", err, res.Ignored)
			}
		})
	}
}

func TestLastEvent_followsTheRing(t *testing.T) {
	full := make([]string, sm.SeenLimit)
	for i := range full {
		full[i] = "e" + strconv.Itoa(i)
	}
	for _, tc := range []struct {
		name string
		ex   sm.Execution
		want string
	}{
		{"none", sm.Execution{}, ""},
		{"growing", sm.Execution{Seen: []string{"a", "b"}}, "b"},
		{"just full", sm.Execution{Seen: full}, full[sm.SeenLimit-1]},
		{"wrapped", sm.Execution{Seen: full, SeenNext: 3}, "e2"},
	} {
		if got := tc.ex.LastEvent(); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	// The machine's own bookkeeping agrees.
	f := parseFlow(t, "id: d\nnamespace: t\ntasks:\n  - {id: a, type: log, message: x}\n")
	s := newSim(t, f)
	id := s.start(f, nil)
	s.step() // requested
	if _, err := s.deliver(sm.Event{ID: "s1", Type: sm.EvTaskRunStarted, ExecutionID: id, TaskRunID: "a", Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	if got := s.exec(id).LastEvent(); got != "s1" {
		t.Errorf("after s1: %q", got)
	}
}

// taskrun.attemptKey names the attempt being scheduled: the same key for
// every delivery of one attempt, another for each retry.
func TestAttemptKey_namesEachAttemptOfATaskRun(t *testing.T) {
	f := parseFlow(t, `
id: r
namespace: t
tasks:
  - id: flaky
    type: debug.return
    format: "{{ taskrun.attemptKey }}"
    retry: {type: constant, interval: PT1S, maxAttempts: 3}
`)
	s := newSim(t, f)
	s.work = func(c sm.ScheduleTaskRun) outcome {
		if want := sm.AttemptKey(c.ExecutionID, c.TaskRunID, c.Attempt); c.Props["format"] != want {
			t.Errorf("attempt %d rendered attemptKey %v, want %s", c.Attempt, c.Props["format"], want)
		}
		if c.Attempt < 3 {
			return outcome{state: sm.RunFailed, err: &sm.TaskError{Kind: sm.KindRetryable, Message: "boom"}}
		}
		return outcome{}
	}
	id := s.start(f, nil)
	s.run()
	if r, _ := s.exec(id).Run("flaky"); r == nil || len(r.Attempts) != 3 {
		t.Fatalf("run %+v", r)
	}
	if got := sm.AttemptKey(id, "flaky", 2); got != id+"/flaky/2" {
		t.Errorf("AttemptKey = %s", got)
	}
}

func TestEvents_finishedKeepsTheAttemptsMetrics(t *testing.T) {
	f := parseFlow(t, "id: d\nnamespace: t\ntasks:\n  - {id: a, type: log, message: x, retry: {type: constant, maxAttempts: 2, interval: PT1S}}\n")
	s := newSim(t, f)
	id := s.start(f, nil)
	s.step() // requested
	m1 := []sm.Metric{{Name: "rows", Type: "counter", Value: 3, Tags: map[string]string{"table": "orders"}}}
	if _, err := s.deliver(sm.Event{ID: "f1", Type: sm.EvTaskRunFinished, ExecutionID: id, TaskRunID: "a", Attempt: 1, State: sm.RunFailed, Metrics: m1,
		Error: &sm.TaskError{Kind: sm.KindRetryable, Message: "exit code 1"}}); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.exec(id).Run("a"); !reflect.DeepEqual(r.Metrics, m1) {
		t.Errorf("after a failed attempt the run has metrics %+v, want %+v", r.Metrics, m1)
	}
	s.now = s.now.Add(time.Second)
	if _, err := s.deliver(sm.Event{ID: "t1", Type: sm.EvTimerFired, ExecutionID: id, TaskRunID: "a", Attempt: 1, Timer: sm.TimerRetry}); err != nil {
		t.Fatal(err)
	}
	m2 := []sm.Metric{{Name: "took", Type: "timer", Value: 0.5}}
	if _, err := s.deliver(sm.Event{ID: "f2", Type: sm.EvTaskRunFinished, ExecutionID: id, TaskRunID: "a", Attempt: 2, State: sm.RunSuccess, Metrics: m2}); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.exec(id).Run("a"); r.State != sm.RunSuccess || !reflect.DeepEqual(r.Metrics, m2) {
		t.Errorf("run %s with metrics %+v, want SUCCESS with the last attempt's %+v", r.State, r.Metrics, m2)
	}
}
