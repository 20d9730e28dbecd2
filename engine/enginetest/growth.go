package enginetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/statemachine"
)

// growthTests check that an execution reads back whole while its task runs
// grow one transition at a time past any store's internal limits (a store
// may keep few task runs in the execution's own item and move them out
// later), and that OutboxKeeper stores follow their contract.
var growthTests = []storeTest{
	{"Commit/taskRunsGrowPastItemLimits", func(t *testing.T, s engine.Store) {
		e := NewExecution("g1", "demo", "grow", statemachine.ExecRunning, t0)
		commitNew(t, s, e)
		for i := 4; i <= 70; i++ {
			e, expected := next(t, s, "g1", nil)
			r := &statemachine.TaskRun{ID: fmt.Sprintf("g1-run%d", i), TaskID: "each", State: statemachine.RunSuccess, StartDate: t0,
				Outputs: map[string]any{"value": strings.Repeat("x", 300)}}
			e.TaskRuns = append(e.TaskRuns, r)
			changed := []*statemachine.TaskRun{r}
			if i == 50 { // an old run changes too
				e.TaskRuns[1].State = statemachine.RunSuccess
				changed = append(changed, e.TaskRuns[1])
			}
			if err := s.Commit(t.Context(), engine.Commit{Execution: e, Expected: expected, Changed: changed}); err != nil {
				t.Fatalf("commit with %d task runs: %v", len(e.TaskRuns), err)
			}
		}
		got := mustExecution(t, s, "g1")
		if len(got.TaskRuns) != 70 || got.Version != 68 {
			t.Fatalf("read back %d task runs at version %d, want 70 at 68", len(got.TaskRuns), got.Version)
		}
		for i, r := range got.TaskRuns {
			if want := fmt.Sprintf("g1-run%d", i+1); r.ID != want {
				t.Fatalf("task run %d is %s, want %s", i, r.ID, want)
			}
		}
		if got.TaskRuns[1].State != statemachine.RunSuccess || got.TaskRuns[69].Outputs["value"] != strings.Repeat("x", 300) {
			t.Errorf("task runs changed in later commits read back as %s and %v", got.TaskRuns[1].State, got.TaskRuns[69].Outputs)
		}
		list, err := s.Executions(t.Context(), engine.ExecutionFilter{Namespace: "demo", FlowID: "grow"})
		if err != nil || len(list) != 1 || list[0].Version != 68 {
			t.Errorf("Executions: %d executions (%v)", len(list), err)
		}
	}},
	{"OutboxKeeper/keepsReplayableOutboxesInTheExecution", func(t *testing.T, s engine.Store) {
		k, ok := s.(engine.OutboxKeeper)
		if !ok {
			t.Skip("the store keeps every outbox entry in the outbox")
		}
		e := NewExecution("k1", "demo", "keep", statemachine.ExecRunning, t0)
		c := engine.Commit{Execution: e, Changed: e.TaskRuns, Replayable: true, Outbox: []engine.OutboxEntry{outboxEntry("k1-a", "k1"), outboxEntry("k1-b", "k1")}}
		if err := s.Commit(t.Context(), c); err != nil {
			t.Fatal(err)
		}
		var kept, queued []string
		for _, o := range c.Outbox {
			if o.Kept {
				kept = append(kept, o.ID)
			} else {
				queued = append(queued, o.ID)
			}
		}
		slices.Sort(queued)
		equalIDs(t, "Outbox (the entries not kept)", outboxIDs(t, s, 100), append([]string{}, queued...))
		last, err := k.LastOutbox(t.Context(), "k1")
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, o := range last {
			ids = append(ids, o.ID)
			if !o.Kept || string(o.Payload) != `{"id":"`+o.ID+`"}` {
				t.Errorf("LastOutbox entry %+v: want Kept and its payload", o)
			}
		}
		equalIDs(t, "LastOutbox", ids, append([]string{}, kept...))
		if len(kept) == 0 {
			t.Error("a small replayable commit kept no entry in the execution")
		}

		// A commit that is not replayable keeps nothing, and replaces what
		// the last one kept.
		e2, expected := next(t, s, "k1", nil)
		c2 := engine.Commit{Execution: e2, Expected: expected, Outbox: []engine.OutboxEntry{outboxEntry("k1-c", "k1")}}
		if err := s.Commit(t.Context(), c2); err != nil {
			t.Fatal(err)
		}
		if c2.Outbox[0].Kept {
			t.Error("an entry of a commit that is not replayable was kept")
		}
		if last, err := k.LastOutbox(t.Context(), "k1"); err != nil || len(last) != 0 {
			t.Errorf("LastOutbox after a commit that kept nothing: %d entries (%v)", len(last), err)
		}
		equalIDs(t, "Outbox", outboxIDs(t, s, 100), append(queued, "k1-c"))
		if _, err := k.LastOutbox(t.Context(), "missing"); !errorsIsNotFound(err) {
			t.Errorf("LastOutbox of a missing execution: %v, want ErrNotFound", err)
		}
	}},
}

func errorsIsNotFound(err error) bool { return errors.Is(err, engine.ErrNotFound) }
