package enginetest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/statemachine/flow"
)

// WriteMeter is a store that measures what its commits write, in a unit of
// its own (bytes for the embedded store, write units for DynamoDB): the
// scale test compares a store with itself as an execution grows.
type WriteMeter interface {
	WriteCost() float64
}

// scaleFlow is a ForEach of n items, ten at a time, as users write it.
func scaleFlow(t *testing.T, n int) *flow.Flow {
	t.Helper()
	src := fmt.Sprintf(`id: wide
namespace: scale
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: "{{ range(1, %d) }}"
    concurrencyLimit: 10
    tasks:
      - id: ret
        type: io.kestra.plugin.core.debug.Return
        format: "item {{ taskrun.value }}"
`, n)
	f, err := flow.Parse("wide.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// sequentialFlow is a flow of n debug.return tasks, one after the other.
func sequentialFlow(t *testing.T, n int) *flow.Flow {
	t.Helper()
	var src strings.Builder
	src.WriteString("id: long\nnamespace: scale\ntasks:\n")
	for i := range n {
		fmt.Fprintf(&src, "  - {id: t%04d, type: io.kestra.plugin.core.debug.Return, format: \"%d\"}\n", i, i)
	}
	f, err := flow.Parse("long.yaml", []byte(src.String()))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// CommitRun runs an execution of f through the state machine, workers
// answering every attempt at once with SUCCESS, and commits every
// transition to s as the engine commits it; it returns the ended execution
// and what each commit cost in m's unit (the first commit creates the
// execution).
func CommitRun(t *testing.T, s engine.Store, m WriteMeter, f *flow.Flow, id string) (*statemachine.Execution, []float64) {
	t.Helper()
	now := t0
	var (
		ex      *statemachine.Execution
		pending []statemachine.ScheduleTaskRun
		costs   []float64
	)
	apply := func(ev statemachine.Event) {
		t.Helper()
		now = now.Add(time.Millisecond)
		expected := int64(0)
		if ex != nil {
			expected = ex.Version
		}
		res, err := statemachine.Apply(f, ex, ev, now, statemachine.Options{})
		if err != nil || res.Ignored != "" {
			t.Fatalf("applying %s: %v %s", ev.ID, err, res.Ignored)
		}
		ex = res.Execution
		c := engine.Commit{Execution: ex, Expected: expected, Changed: res.Changed, Items: res.NewItems, Replayable: true}
		for i, cmd := range res.Commands {
			if sch, ok := cmd.(statemachine.ScheduleTaskRun); ok {
				pending = append(pending, sch)
			}
			payload, err := json.Marshal(cmd)
			if err != nil {
				t.Fatal(err)
			}
			c.Outbox = append(c.Outbox, engine.OutboxEntry{ID: fmt.Sprintf("%s/%d/%d", ex.ID, ex.Version, i), ExecutionID: ex.ID, Kind: fmt.Sprintf("%T", cmd), Payload: payload, Created: now})
		}
		before := m.WriteCost()
		if err := s.Commit(t.Context(), c); err != nil {
			t.Fatalf("commit %d: %v", len(costs), err)
		}
		costs = append(costs, m.WriteCost()-before)
	}
	apply(statemachine.Event{ID: id + "/requested", Type: statemachine.EvExecutionRequested, ExecutionID: id, Namespace: f.Namespace, FlowID: f.ID})
	for len(pending) > 0 {
		sch := pending[0]
		pending = pending[1:]
		apply(statemachine.Event{ID: fmt.Sprintf("%s/%d/finished", sch.TaskRunID, sch.Attempt), Type: statemachine.EvTaskRunFinished, ExecutionID: id,
			TaskRunID: sch.TaskRunID, Attempt: sch.Attempt, State: statemachine.RunSuccess, Outputs: map[string]any{"value": sch.Props["format"]}})
	}
	return ex, costs
}

// scaleTests check that what a commit writes does not grow with the
// execution: the state machine runs a ForEach of 1,200 items, then a flow
// of 1,200 tasks, and every transition is committed as the engine commits
// it.
var scaleTests = []storeTest{
	{"Commit/writesDoNotGrowWithTheExecution", func(t *testing.T, s engine.Store) {
		writesStayFlat(t, s, scaleFlow(t, 1200), 1201) // the ForEach's run and its items'
	}},
	{"Commit/writesDoNotGrowWithTheFlow", func(t *testing.T, s engine.Store) {
		writesStayFlat(t, s, sequentialFlow(t, 1200), 1200)
	}},
}

// writesStayFlat runs an execution of f, which must succeed with runs task
// runs, committing every transition to s, and checks that later commits
// cost what early ones did.
func writesStayFlat(t *testing.T, s engine.Store, f *flow.Flow, runs int) {
	t.Helper()
	m, ok := s.(WriteMeter)
	if !ok {
		t.Skip("the store does not measure what it writes")
	}
	ex, costs := CommitRun(t, s, m, f, f.ID)
	if ex.State != statemachine.ExecSuccess || len(ex.TaskRuns) != runs {
		t.Fatalf("%s ended %s with %d task runs, want SUCCESS with %d", f.ID, ex.State, len(ex.TaskRuns), runs)
	}
	checkFlat(t, costs)
}

// checkFlat fails the test when commits 1000-1099 cost more than 15% over
// commits 100-199.
func checkFlat(t *testing.T, costs []float64) {
	t.Helper()
	mean := func(from, to int) float64 {
		sum := 0.0
		for _, c := range costs[from:to] {
			sum += c
		}
		return sum / float64(to-from)
	}
	early, late := mean(100, 200), mean(1000, 1100)
	t.Logf("write cost per commit: %.1f at commits 100-199, %.1f at 1000-1099 (%d commits)", early, late, len(costs))
	if early <= 0 || late > 1.15*early {
		t.Errorf("commits 1000-1099 write %.1f each, commits 100-199 %.1f: what a commit writes grows with the execution", late, early)
	}
}
