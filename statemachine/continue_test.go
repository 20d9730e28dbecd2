package statemachine_test

import (
	"fmt"
	"testing"
	"time"

	sm "github.com/relayflow/relay/statemachine"
)

// Wide fan-outs start their task runs MaxStartsPerEvent at a time, going
// on in execution.continued events, and a ForEach without a limit keeps at
// most MaxOpenIterations iterations open: what one event does, and the
// execution's own record, stay bounded whatever the width. Workers answer
// late (in batches), so that many iterations are open at once.
func TestApply_wideFanOutsStartABoundedNumberPerEvent(t *testing.T) {
	tests := []struct {
		name, src string
		runs      int
	}{
		{"EachParallel of 2,000", `id: wide
namespace: t
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.EachParallel
    value: "{{ range(1, 2000) }}"
    tasks:
      - {id: ret, type: debug.return, format: "{{ taskrun.value }}"}
`, 2001},
		{"Parallel of 100 branches", func() string {
			s := "id: wide\nnamespace: t\ntasks:\n  - id: par\n    type: io.kestra.plugin.core.flow.Parallel\n    tasks:\n"
			for i := range 100 {
				s += fmt.Sprintf("      - {id: b%03d, type: debug.return, format: \"%d\"}\n", i, i)
			}
			return s
		}(), 101},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := parseFlow(t, tt.src)
			now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
			var ex *sm.Execution
			queue := []sm.Event{{ID: "req", Type: sm.EvExecutionRequested, ExecutionID: "x"}}
			var answers []sm.Event // attempts' ends, delivered 300 at a time
			continues, maxFrames := 0, 0
			for len(queue) > 0 || len(answers) > 0 {
				if len(queue) == 0 {
					n := min(300, len(answers))
					queue, answers = answers[:n], answers[n:]
				}
				ev := queue[0]
				queue = queue[1:]
				res, err := sm.Apply(f, ex, ev, now, sm.Options{})
				if err != nil {
					t.Fatal(err)
				}
				ex = res.Execution
				started := 0
				for _, c := range res.Commands {
					if _, ok := c.(sm.ScheduleTaskRun); ok {
						started++
					}
				}
				if started > sm.MaxStartsPerEvent {
					t.Fatalf("event %s started %d task runs, at most %d", ev.ID, started, sm.MaxStartsPerEvent)
				}
				maxFrames = max(maxFrames, len(ex.Frames))
				for _, c := range res.Commands {
					switch c := c.(type) {
					case sm.Continue:
						continues++
						queue = append(queue, sm.Event{ID: c.EventID, Type: sm.EvContinue, ExecutionID: "x"})
					case sm.ScheduleTaskRun:
						answers = append(answers, sm.Event{ID: fmt.Sprintf("%s/%d/f", c.TaskRunID, c.Attempt), Type: sm.EvTaskRunFinished, ExecutionID: "x",
							TaskRunID: c.TaskRunID, Attempt: c.Attempt, State: sm.RunSuccess})
					}
				}
			}
			if ex.State != sm.ExecSuccess || len(ex.TaskRuns) != tt.runs || ex.RunCounts[sm.RunSuccess] != tt.runs {
				t.Fatalf("execution %s with %d runs (%v), want SUCCESS with %d", ex.State, len(ex.TaskRuns), ex.RunCounts, tt.runs)
			}
			if continues == 0 {
				t.Error("no execution.continued event: the test checks nothing")
			}
			if maxFrames > sm.MaxOpenIterations+2 || tt.runs > 1000 && maxFrames < sm.MaxOpenIterations {
				t.Errorf("%d blocks open at most, want %d iterations and the flow's own", maxFrames, sm.MaxOpenIterations)
			}
			if len(ex.Deferred) != 0 {
				t.Errorf("work left deferred at the end: %v", ex.Deferred)
			}
		})
	}
}
