package dynamo

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/engine/enginetest"
	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/statemachine/flow"
)

// The write units of the commits of a small execution, as DynamoDB
// reports them: the first one writes the item and its GSI2 keys, the
// others the item alone (GSI2 projects keys only, and they do not change),
// whatever the commit keeps of its outbox.
func TestCommit_smallExecutionsCostOneWriteUnitPerTransition(t *testing.T) {
	s := newTestStore(t, uniqueTable())
	dropTable(t, s)
	e := enginetest.NewExecution("u1", "demo", "units", statemachine.ExecRunning, time.Now())
	entry := func(id string) engine.OutboxEntry {
		return engine.OutboxEntry{ID: id, ExecutionID: "u1", Kind: "ScheduleTaskRun", Payload: []byte(`{"executionId":"u1","taskRunId":"` + id + `"}`), Created: time.Now()}
	}
	units := func(c engine.Commit) float64 {
		t.Helper()
		before := s.WriteUnits()
		if err := s.Commit(t.Context(), c); err != nil {
			t.Fatal(err)
		}
		return s.WriteUnits() - before
	}
	if got := units(engine.Commit{Execution: e, Changed: e.TaskRuns, Replayable: true, Outbox: []engine.OutboxEntry{entry("a")}}); got != 2 {
		t.Errorf("creating: %v write units, want 2 (the item and its index entry)", got)
	}
	for i := range 3 {
		next := *e
		next.Version = e.Version + 1
		next.Seen = append(append([]string{}, e.Seen...), "ev")
		if got := units(engine.Commit{Execution: &next, Expected: e.Version, Changed: next.TaskRuns[i : i+1], Replayable: true, Outbox: []engine.OutboxEntry{entry("b")}}); got != 1 {
			t.Errorf("transition %d: %v write units, want 1", i, got)
		}
		e = &next
	}
}

// A lagging read of an execution's run costs half a strongly consistent
// one, and reads the same run.
func TestExecutionRunLagging_costsHalf(t *testing.T) {
	s := newTestStore(t, uniqueTable())
	dropTable(t, s)
	e := enginetest.NewExecution("l1", "demo", "lagging", statemachine.ExecRunning, time.Now())
	if err := s.Commit(t.Context(), engine.Commit{Execution: e, Changed: e.TaskRuns}); err != nil {
		t.Fatal(err)
	}
	type read func(ctx context.Context, id string, pos int) (*statemachine.Execution, *statemachine.TaskRun, error)
	measure := func(f read) (*statemachine.Execution, *statemachine.TaskRun, float64) {
		t.Helper()
		before := s.ReadUnits()
		ex, r, err := f(t.Context(), "l1", 1)
		if err != nil {
			t.Fatal(err)
		}
		return ex, r, s.ReadUnits() - before
	}
	strong, strongRun, full := measure(s.ExecutionRun)
	lagging, laggingRun, half := measure(s.ExecutionRunLagging)
	if full != 1 || half != 0.5 {
		t.Errorf("read units: %v consistent, %v lagging; want 1 and 0.5", full, half)
	}
	if lagging.Version != strong.Version || laggingRun.ID != strongRun.ID || strongRun.ID != e.TaskRuns[1].ID {
		t.Errorf("lagging read: version %d, run %s; consistent: %d, %s; want run %s", lagging.Version, laggingRun.ID, strong.Version, strongRun.ID, e.TaskRuns[1].ID)
	}
}

// A three-step flow as users write it, run through the state machine:
// creating the execution costs 2 write units (the item and its GSI2 keys)
// and each task run's end 1, the execution item staying under 1 KB. The
// benchmarks' cost model (docs/cost.md) rests on these figures.
func TestCommit_threeStepFlowCostsFiveWriteUnits(t *testing.T) {
	s := newTestStore(t, uniqueTable())
	dropTable(t, s)
	f, err := flow.Parse("tput.yaml", []byte(`id: tput
namespace: bench
tasks:
  - {id: s00, type: debug.return, format: "0"}
  - {id: s01, type: debug.return, format: "1"}
  - {id: s02, type: debug.return, format: "2"}
`))
	if err != nil {
		t.Fatal(err)
	}
	ex, costs := enginetest.CommitRun(t, s, s, f, "three")
	if ex.State != statemachine.ExecSuccess {
		t.Fatalf("the execution ended %s", ex.State)
	}
	if want := []float64{2, 1, 1, 1}; !slices.Equal(costs, want) {
		t.Errorf("write units per commit: %v, want %v", costs, want)
	}
}
