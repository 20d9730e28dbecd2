package statemachine_test

import (
	"strings"
	"testing"
	"time"

	sm "github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/statemachine/flow"
)

// What valid Kestra flows carry runs (issue 18, item 12): Pause with child
// tasks and a behavior, subflow inheritLabels and outputs, system labels,
// flow SLAs.

func TestPause_childTasksAndBehavior(t *testing.T) {
	tests := []struct {
		name     string
		pause    string
		resume   bool // resume by hand instead of waiting for the delay
		exec     sm.ExecState
		pauseEnd sm.RunState
		ran      []string // tasks a worker ran, in order
	}{
		{"tasks run after a resume", "tasks: [{id: inside, type: log, message: \"{{ outputs.wait.onResume.ok }}\"}]\n    onResume: [{id: ok, type: BOOLEAN, defaults: true}]", true, sm.ExecSuccess, sm.RunSuccess, []string{"inside", "after"}},
		{"tasks run after the delay", "delay: PT1M\n    tasks: [{id: inside, type: log, message: x}]", false, sm.ExecSuccess, sm.RunSuccess, []string{"inside", "after"}},
		{"RESUME", "delay: PT1M\n    behavior: RESUME", false, sm.ExecSuccess, sm.RunSuccess, []string{"after"}},
		{"WARN", "delay: PT1M\n    behavior: WARN", false, sm.ExecWarning, sm.RunWarning, []string{"after"}},
		{"WARN with tasks", "delay: PT1M\n    behavior: WARN\n    tasks: [{id: inside, type: log, message: x}]", false, sm.ExecWarning, sm.RunWarning, []string{"inside", "after"}},
		{"FAIL", "delay: PT1M\n    behavior: FAIL", false, sm.ExecFailed, sm.RunFailed, nil},
		{"CANCEL", "delay: PT1M\n    behavior: CANCEL", false, sm.ExecCancelled, sm.RunKilled, nil},
		{"a resume by hand always goes on", "delay: PT1M\n    behavior: FAIL", true, sm.ExecSuccess, sm.RunSuccess, []string{"after"}},
		{"a failing child runs the pause's errors", "tasks: [{id: inside, type: flow.fail}]\n    errors: [{id: cleanup, type: log, message: x}]", true, sm.ExecFailed, sm.RunFailed, []string{"cleanup"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := parseFlow(t, "id: f\nnamespace: t\ntasks:\n  - id: wait\n    type: io.kestra.plugin.core.flow.Pause\n    "+tt.pause+"\n  - {id: after, type: log, message: done}\n")
			s := newSim(t, f)
			id := s.start(f, nil)
			if tt.resume {
				s.runFor(time.Second)
				if st := s.exec(id).State; st != sm.ExecPaused {
					t.Fatalf("before the resume: %s", st)
				}
				s.push(s.now, sm.Event{Type: sm.EvResume, ExecutionID: id})
			}
			s.run()
			ex := s.exec(id)
			r, _ := ex.Run("wait")
			ran := ranTasks(s)
			if ex.State != tt.exec || r.State != tt.pauseEnd || strings.Join(ran, ",") != strings.Join(tt.ran, ",") {
				t.Fatalf("execution %s, pause %s, ran %v; want %s, %s, %v\n%s", ex.State, r.State, ran, tt.exec, tt.pauseEnd, tt.ran, logText(s))
			}
			if strings.HasPrefix(tt.name, "tasks run after a resume") && rendered(s)["inside"] != "true" {
				t.Errorf("the pause's child read onResume %q", rendered(s)["inside"])
			}
		})
	}
}

func TestSubflow_inheritLabelsOutputsAndCorrelation(t *testing.T) {
	child := parseFlow(t, "id: child\nnamespace: t\nlabels: {own: c}\ntasks:\n  - {id: work, type: debug.return, format: \"{{ labels.team ?? 'none' }}\"}\noutputs:\n  - {id: flowOut, type: STRING, value: f}\n")
	tests := []struct {
		name    string
		task    string
		labels  map[string]string // labels of the child
		outputs string            // the parent's subflow outputs
	}{
		{"no inheritance", "", map[string]string{"team": "", "own": "c", "system.correlationId": "exec-1"}, `{"flowOut":"f"}`},
		{"inheritLabels", "inheritLabels: true", map[string]string{"team": "data", "env": "prod", "own": "c", "system.correlationId": "exec-1"}, `{"flowOut":"f"}`},
		{"labels override inherited ones", "inheritLabels: true\n    labels: {env: dev}", map[string]string{"team": "data", "env": "dev"}, ""},
		{"legacy outputs render in the child", `outputs: {v: "{{ outputs.work.value }}", n: "{{ 1 + 1 }}"}`, nil, `{"n":2,"v":"none"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := parseFlow(t, "id: parent\nnamespace: t\nlabels: {team: data, env: prod}\ntasks:\n  - id: call\n    type: flow.subflow\n    namespace: t\n    flowId: child\n    "+tt.task+"\n")
			s := newSim(t, parent, child)
			id := s.start(parent, nil)
			s.run()
			ex := s.exec(id)
			r, _ := ex.Run("call")
			if ex.State != sm.ExecSuccess {
				t.Fatalf("parent %s %s", ex.State, logText(s))
			}
			if !hasLabel(ex, sm.CorrelationLabel, id) {
				t.Errorf("parent labels %+v, want its own id as correlation id", ex.Labels)
			}
			cex := s.exec(r.ChildExec)
			for k, v := range tt.labels {
				if v == "" {
					for _, l := range cex.Labels {
						if l.Key == k {
							t.Errorf("child has label %s=%s", k, l.Value)
						}
					}
					continue
				}
				if !hasLabel(cex, k, v) {
					t.Errorf("child labels %+v, want %s=%s", cex.Labels, k, v)
				}
			}
			if tt.outputs != "" && toText(r.Outputs["outputs"]) != tt.outputs {
				t.Errorf("subflow outputs %s, want %s", toText(r.Outputs["outputs"]), tt.outputs)
			}
		})
	}
}

func TestParse_kestraKeysAcceptedWithNotes(t *testing.T) {
	f, err := flow.Parse("k.yaml", []byte(`
id: f
namespace: t
revision: 12
tasks:
  - {id: a, type: log, message: x, logToFile: true}
  - id: call
    type: io.kestra.plugin.core.flow.Subflow
    namespace: t
    flowId: other
    outputs: {x: "{{ outputs.only_in_child.value }}"}
triggers:
  - {id: hook, type: io.kestra.plugin.core.trigger.Webhook, key: "{{ secret('HOOK') }}", logToFile: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	var notes []string
	for _, n := range f.Notes {
		notes = append(notes, n.Error())
	}
	want := []string{
		"k.yaml:4:1: revision: `revision` is ignored: the store assigns revisions when the flow is saved",
		"k.yaml:6:47: a.logToFile: `logToFile` is ignored",
		"k.yaml:13:",
	}
	if len(notes) != len(want) {
		t.Fatalf("notes:\n%s", strings.Join(notes, "\n"))
	}
	for i, w := range want {
		if !strings.HasPrefix(notes[i], w) {
			t.Errorf("note %q, want %q...", notes[i], w)
		}
	}
	if f.Revision != 0 {
		t.Errorf("revision %d taken from the document", f.Revision)
	}
}

func TestSLA_maxDurationAndAssertion(t *testing.T) {
	tests := []struct {
		name   string
		sla    string
		exec   sm.ExecState
		labels map[string]string
		ran    string // tasks a worker ran
		err    string
	}{
		{"MAX_DURATION FAIL", "{id: slow, type: MAX_DURATION, duration: PT30S, behavior: FAIL, labels: {sla: miss}}", sm.ExecFailed, map[string]string{"sla": "miss"}, "first", "SLA slow violated: the execution ran longer than 30s"},
		{"MAX_DURATION CANCEL", "{id: slow, type: MAX_DURATION, duration: PT30S, behavior: CANCEL}", sm.ExecCancelled, nil, "first", ""},
		{"MAX_DURATION NONE labels only", "{id: slow, type: MAX_DURATION, duration: PT30S, behavior: NONE, labels: [{key: sla, value: late}]}", sm.ExecSuccess, map[string]string{"sla": "late"}, "first,last", ""},
		{"MAX_DURATION met", "{id: slow, type: MAX_DURATION, duration: PT2H, behavior: FAIL}", sm.ExecSuccess, nil, "first,last", ""},
		{"assertion false", `{id: check, type: EXECUTION_ASSERTION, assert: "{{ outputs.first is not defined or outputs.first.value == 'ok' }}", behavior: FAIL}`, sm.ExecFailed, nil, "first", "SLA check violated: the assertion is false"},
		{"assertion holds", `{id: check, type: EXECUTION_ASSERTION, assert: "{{ outputs.first is not defined or outputs.first.value == 'first' }}", behavior: FAIL}`, sm.ExecSuccess, nil, "first,last", ""},
		{"assertion that cannot render", `{id: check, type: EXECUTION_ASSERTION, assert: "{{ outputs.first.value }}", behavior: CANCEL, labels: {bad: yes}}`, sm.ExecCancelled, map[string]string{"bad": "yes"}, "first", ""}, // checked from the first event on
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := parseFlow(t, "id: f\nnamespace: t\nsla:\n  - "+tt.sla+"\ntasks:\n  - {id: first, type: debug.return, format: first}\n  - {id: nap, type: flow.sleep, duration: PT1H}\n  - {id: last, type: debug.return, format: last}\n")
			s := newSim(t, f)
			id := s.start(f, nil)
			s.run()
			ex := s.exec(id)
			ran := ranTasks(s)
			if ex.State != tt.exec || strings.Join(ran, ",") != tt.ran {
				t.Fatalf("execution %s after %v, want %s after %s\n%s", ex.State, ran, tt.exec, tt.ran, logText(s))
			}
			for k, v := range tt.labels {
				if !hasLabel(ex, k, v) {
					t.Errorf("labels %+v, want %s=%s", ex.Labels, k, v)
				}
			}
			if !strings.Contains(ex.Error, tt.err) {
				t.Errorf("error %q, want %q", ex.Error, tt.err)
			}
			if len(ex.SLAViolated) > 1 {
				t.Errorf("violations %v: an SLA applies once", ex.SLAViolated)
			}
		})
	}
}

// A restarted execution gets its MAX_DURATION again, from the restart.
func TestSLA_restartStartsAgain(t *testing.T) {
	f := parseFlow(t, "id: f\nnamespace: t\nsla:\n  - {id: slow, type: MAX_DURATION, duration: PT30S, behavior: FAIL}\ntasks:\n  - {id: nap, type: flow.sleep, duration: PT1M}\n")
	s := newSim(t, f)
	id := s.start(f, nil)
	s.run()
	if ex := s.exec(id); ex.State != sm.ExecFailed {
		t.Fatalf("first run %s", ex.State)
	}
	s.push(s.now, sm.Event{Type: sm.EvRestart, ExecutionID: id})
	s.run()
	ex := s.exec(id)
	if ex.State != sm.ExecFailed || ex.Restarts != 1 || len(ex.SLAViolated) != 1 {
		t.Fatalf("after the restart: %s, %d restarts, violations %v", ex.State, ex.Restarts, ex.SLAViolated)
	}
	if d := ex.EndDate.Sub(ex.StartDate); d < 60*time.Second {
		t.Errorf("ended %s after its start, want the second 30s from the restart", d)
	}
}

// ranTasks lists the tasks whose attempts a worker ran, in order.
func ranTasks(s *sim) []string {
	var ran []string
	for _, c := range s.schedule {
		ran = append(ran, c.TaskID)
	}
	return ran
}
