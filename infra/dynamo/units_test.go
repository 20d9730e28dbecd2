package dynamo

import (
	"testing"
	"time"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/engine/enginetest"
	"github.com/relayflow/relay/statemachine"
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

// A lagging read of a small execution costs half a strongly consistent
// one, and reads the same execution.
func TestExecutionLagging_costsHalf(t *testing.T) {
	s := newTestStore(t, uniqueTable())
	dropTable(t, s)
	e := enginetest.NewExecution("l1", "demo", "lagging", statemachine.ExecRunning, time.Now())
	if err := s.Commit(t.Context(), engine.Commit{Execution: e, Changed: e.TaskRuns}); err != nil {
		t.Fatal(err)
	}
	read := func(f func() (*statemachine.Execution, error)) (*statemachine.Execution, float64) {
		t.Helper()
		before := s.ReadUnits()
		ex, err := f()
		if err != nil {
			t.Fatal(err)
		}
		return ex, s.ReadUnits() - before
	}
	strong, full := read(func() (*statemachine.Execution, error) { return s.Execution(t.Context(), "l1") })
	lagging, half := read(func() (*statemachine.Execution, error) { return s.ExecutionLagging(t.Context(), "l1") })
	if full != 1 || half != 0.5 {
		t.Errorf("read units: %v consistent, %v lagging; want 1 and 0.5", full, half)
	}
	if lagging.Version != strong.Version || len(lagging.TaskRuns) != len(strong.TaskRuns) {
		t.Errorf("lagging read: version %d, %d task runs; consistent: %d, %d", lagging.Version, len(lagging.TaskRuns), strong.Version, len(strong.TaskRuns))
	}
}
