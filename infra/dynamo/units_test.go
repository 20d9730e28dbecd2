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
