package statemachine_test

import (
	"strings"
	"testing"
	"time"

	sm "github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/statemachine/flow"
)

// A task with taskCache enabled names a cache entry by its flow revision,
// task and rendered properties; a hit ends the run SUCCESS with the
// cached outputs, marked cached, and a restart runs it again (item 8).
func TestTaskCache_entriesAndHits(t *testing.T) {
	const cachedFlow = `
id: f
namespace: t
inputs:
  - {id: n, type: INT, defaults: 1}
tasks:
  - id: w
    type: shell.commands
    commands: ["echo {{ inputs.n }}"]
    taskCache: {enabled: true, ttl: PT1H}
  - {id: after, type: log, message: "{{ outputs.w.exitCode }}"}
`
	tests := []struct {
		name      string
		flow      string
		inputs    []map[string]any // one execution each, in order
		ran       int              // attempts of w the workers ran
		cached    []bool           // per execution: w's run is cached
		noEntries bool
	}{
		{"same properties: the second run is a hit", cachedFlow, []map[string]any{nil, nil}, 1, []bool{false, true}, false},
		{"other properties: another entry", cachedFlow, []map[string]any{{"n": 1}, {"n": 2}, {"n": 1}}, 2, []bool{false, false, true}, false},
		{"no taskCache: no entry", strings.Replace(cachedFlow, "    taskCache: {enabled: true, ttl: PT1H}\n", "", 1), []map[string]any{nil, nil}, 2, []bool{false, false}, true},
		{"taskCache disabled", strings.Replace(cachedFlow, "enabled: true", "enabled: false", 1), []map[string]any{nil, nil}, 2, []bool{false, false}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := parseFlow(t, tt.flow)
			s := newSim(t, f)
			s.cache = map[string]cached{}
			var ids []string
			for _, in := range tt.inputs {
				ids = append(ids, s.start(f, in))
				s.run()
			}
			ran := 0
			for _, c := range s.schedule {
				if c.TaskID == "w" {
					ran++
					if (c.Cache == nil) != tt.noEntries {
						t.Errorf("attempt of %s: cache entry %+v", c.ExecutionID, c.Cache)
					}
					if c.Cache != nil && c.Cache.TTL != time.Hour {
						t.Errorf("ttl %s", c.Cache.TTL)
					}
				}
			}
			if ran != tt.ran {
				t.Errorf("w ran %d times, want %d", ran, tt.ran)
			}
			for i, id := range ids {
				ex := s.exec(id)
				r, _ := ex.Run("w")
				if ex.State != sm.ExecSuccess || r.State != sm.RunSuccess || r.Cached != tt.cached[i] {
					t.Errorf("execution %d: %s, w %s cached=%v, want cached=%v", i, ex.State, r.State, r.Cached, tt.cached[i])
				}
				if r.Cached && (r.Outputs["exitCode"] != int64(0) || len(r.Attempts) != 1) {
					t.Errorf("cached run: outputs %v, attempts %d", r.Outputs, len(r.Attempts))
				}
			}
			if tt.cached[len(ids)-1] && !strings.Contains(logText(s), "outputs reused from the task cache (a run of execution "+ids[0]+")") {
				t.Errorf("logs:\n%s", logText(s))
			}
		})
	}
}

// A revision of the flow has entries of its own.
func TestTaskCache_revisionsDoNotShareEntries(t *testing.T) {
	src := "id: f\nnamespace: t\ntasks:\n  - {id: w, type: shell.commands, commands: [x], taskCache: {enabled: true, ttl: PT1M}}\n"
	f1, f2 := parseFlow(t, src), parseFlow(t, src)
	f2.Revision = f1.Revision + 1
	s := newSim(t, f1)
	s.cache = map[string]cached{}
	s.start(f1, nil)
	s.run()
	s.flows["t/f"] = f2
	s.start(f2, nil)
	s.run()
	if len(s.schedule) != 2 || s.schedule[0].Cache.Key == s.schedule[1].Cache.Key {
		t.Fatalf("%d attempts ran; revisions must not share an entry", len(s.schedule))
	}
}

func TestTaskCache_validation(t *testing.T) {
	for _, tt := range []struct{ task, err string }{
		{"{id: w, type: log, message: x, taskCache: {enabled: true}}", "an enabled taskCache needs a `ttl`"},
		{"{id: w, type: log, message: x, taskCache: {enabled: true, ttl: PT0S}}", "an enabled taskCache needs a `ttl`"},
		{"{id: w, type: flow.sequential, tasks: [{id: x, type: log, message: x}], taskCache: {enabled: true, ttl: PT1H}}", "taskCache applies to runnable tasks"},
	} {
		_, err := flow.Parse("test.yaml", []byte("id: f\nnamespace: t\ntasks:\n  - "+tt.task+"\n"))
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: error %v, want %q", tt.task, err, tt.err)
		}
	}
}

// execution.labels sets labels of the execution, which later tasks see;
// Relay's own system.* labels cannot be set (item 9).
func TestLabelsTask_setsExecutionLabels(t *testing.T) {
	tests := []struct {
		name   string
		labels string
		state  sm.ExecState
		want   map[string]string
		err    string
	}{
		{"a map", `{team: "{{ 1 + 1 }}", env: prod}`, sm.ExecSuccess, map[string]string{"team": "2", "env": "prod", "owner": "me"}, ""},
		{"a list", `[{key: team, value: data}, {key: owner, value: you}]`, sm.ExecSuccess, map[string]string{"team": "data", "owner": "you"}, ""},
		{"JSON text", `"{{ {'team': 'x'} | json }}"`, sm.ExecSuccess, map[string]string{"team": "x"}, ""},
		{"a system label", `{system.correlationId: x}`, sm.ExecFailed, nil, "system.correlationId is a system label"},
		{"not a map", `"{{ 3 }}"`, sm.ExecFailed, nil, "want a map or a list"},
		{"a list without keys", `[{value: x}]`, sm.ExecFailed, nil, "want a map with key and value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := parseFlow(t, "id: f\nnamespace: t\nlabels: {owner: me}\ntasks:\n  - id: l\n    type: io.kestra.plugin.core.execution.Labels\n    labels: "+tt.labels+"\n  - {id: show, type: log, message: \"{{ labels.team }}\"}\n")
			s := newSim(t, f)
			id := s.start(f, nil)
			s.run()
			ex := s.exec(id)
			if ex.State != tt.state {
				t.Fatalf("execution %s, want %s (%s)", ex.State, tt.state, ex.Error)
			}
			for k, v := range tt.want {
				if !hasLabel(ex, k, v) {
					t.Errorf("labels %+v, want %s=%s", ex.Labels, k, v)
				}
			}
			if tt.want != nil && rendered(s)["show"] != tt.want["team"] {
				t.Errorf("show rendered %q", rendered(s)["show"])
			}
			r, _ := ex.Run("l")
			if tt.err != "" && (r.Error == nil || !strings.Contains(r.Error.Message, tt.err)) {
				t.Errorf("error %+v, want %q", r.Error, tt.err)
			}
			for _, c := range s.schedule {
				if c.TaskID == "l" {
					t.Errorf("a worker ran the labels task")
				}
			}
		})
	}
}
