package enginetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/statemachine"
)

// growTo commits new task runs to execution id, a few per commit, until it
// has n; the run at position each is a ForEach run with items (its items
// listed in the commit that creates it). It returns the execution as
// committed last.
func growTo(t *testing.T, s engine.Store, id string, n, each int, items []any) *statemachine.Execution {
	t.Helper()
	e := mustExecution(t, s, id)
	for len(e.TaskRuns) < n {
		expected := e.Version
		e.Version++
		var changed, withItems []*statemachine.TaskRun
		for k := 0; k < 7 && len(e.TaskRuns) < n; k++ {
			pos := len(e.TaskRuns)
			r := &statemachine.TaskRun{ID: fmt.Sprintf("%s-run%d", id, pos+1), TaskID: "t", State: statemachine.RunSuccess, StartDate: t0,
				Outputs: map[string]any{"pos": int64(pos)}}
			if pos == each {
				r.TaskID, r.State, r.Items = "each", statemachine.RunRunning, items
				withItems = append(withItems, r)
			}
			e.TaskRuns = append(e.TaskRuns, r)
			changed = append(changed, r)
		}
		e.CountRuns()
		if err := s.Commit(t.Context(), engine.Commit{Execution: e, Expected: expected, Changed: changed, Items: withItems}); err != nil {
			t.Fatalf("commit with %d task runs: %v", len(e.TaskRuns), err)
		}
	}
	return e
}

// partTests check the reads of parts of an execution: its head, a page of
// its task runs, one run.
var partTests = []storeTest{
	{"ExecutionHead/isTheExecutionWithoutItsTaskRuns", func(t *testing.T, s engine.Store) {
		e := NewExecution("h1", "demo", "head", statemachine.ExecRunning, t0)
		commitNew(t, s, e)
		head, err := s.ExecutionHead(t.Context(), "h1")
		if err != nil {
			t.Fatal(err)
		}
		if len(head.TaskRuns) != 0 {
			t.Errorf("the head has %d task runs, want none", len(head.TaskRuns))
		}
		want := *e
		want.TaskRuns = nil
		head.TaskRuns = nil
		if mustJSON(t, head) != mustJSON(t, &want) {
			t.Errorf("head differs:\n got %s\nwant %s", mustJSON(t, head), mustJSON(t, &want))
		}
		if _, err := s.ExecutionHead(t.Context(), "missing"); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("head of a missing execution: %v, want ErrNotFound", err)
		}
	}},
	{"TaskRuns/pagesInCreationOrderWithItems", func(t *testing.T, s engine.Store) {
		commitNew(t, s, NewExecution("p1", "demo", "pages", statemachine.ExecRunning, t0))
		items := []any{int64(1), "two", map[string]any{"three": 3.5}}
		e := growTo(t, s, "p1", 75, 40, items)
		var got []*statemachine.TaskRun
		for from := 0; ; {
			page, err := s.TaskRuns(t.Context(), "p1", from, 20)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > 20 {
				t.Fatalf("a page of %d runs, limit 20", len(page))
			}
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			from += len(page)
		}
		if len(got) != len(e.TaskRuns) {
			t.Fatalf("paged through %d task runs, want %d", len(got), len(e.TaskRuns))
		}
		for i, r := range got {
			if r.ID != e.TaskRuns[i].ID {
				t.Fatalf("position %d is %s, want %s", i, r.ID, e.TaskRuns[i].ID)
			}
		}
		if mustJSON(t, got[40].Items) != mustJSON(t, items) || got[40].Items[0] != int64(1) {
			t.Errorf("items of the ForEach run read back as %s (%T)", mustJSON(t, got[40].Items), got[40].Items[0])
		}
		if all, err := s.TaskRuns(t.Context(), "p1", 70, 0); err != nil || len(all) != 5 {
			t.Errorf("TaskRuns from 70 without a limit: %d runs (%v), want 5", len(all), err)
		}
		if none, err := s.TaskRuns(t.Context(), "p1", 75, 10); err != nil || len(none) != 0 {
			t.Errorf("TaskRuns past the end: %d runs (%v), want none", len(none), err)
		}
		if _, err := s.TaskRuns(t.Context(), "missing", 0, 10); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("TaskRuns of a missing execution: %v, want ErrNotFound", err)
		}
	}},
	{"ExecutionRun/readsOneRunAndTheHead", func(t *testing.T, s engine.Store) {
		for _, n := range []int{3, 60} { // within an execution's own item, and past it
			id := fmt.Sprintf("r%d", n)
			commitNew(t, s, NewExecution(id, "demo", "run", statemachine.ExecRunning, t0))
			e := growTo(t, s, id, n, 1, []any{"a"})
			for _, pos := range []int{1, n - 1} {
				head, r, err := s.ExecutionRun(t.Context(), id, pos)
				if err != nil {
					t.Fatalf("%d runs, position %d: %v", n, pos, err)
				}
				if r.ID != e.TaskRuns[pos].ID || head.Version != e.Version || head.State != e.State || len(head.TaskRuns) != 0 {
					t.Errorf("%d runs, position %d: run %s at version %d with %d runs, want %s at %d with none", n, pos, r.ID, head.Version, len(head.TaskRuns), e.TaskRuns[pos].ID, e.Version)
				}
			}
			if _, _, err := s.ExecutionRun(t.Context(), id, n); !errors.Is(err, engine.ErrNotFound) {
				t.Errorf("%d runs, position %d: %v, want ErrNotFound", n, n, err)
			}
		}
		if _, _, err := s.ExecutionRun(t.Context(), "missing", 0); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("a run of a missing execution: %v, want ErrNotFound", err)
		}
	}},
	{"Commit/itemsWrittenOnceStayWithTheirRun", func(t *testing.T, s engine.Store) {
		commitNew(t, s, NewExecution("i1", "demo", "items", statemachine.ExecRunning, t0))
		items := make([]any, 500)
		for i := range items {
			items[i] = int64(i)
		}
		growTo(t, s, "i1", 45, 10, items)
		// Later commits change the ForEach run without listing its items.
		for k := 0; k < 3; k++ {
			e, expected := next(t, s, "i1", func(e *statemachine.Execution) { e.TaskRuns[10].NextItem++ })
			if err := s.Commit(t.Context(), engine.Commit{Execution: e, Expected: expected, Changed: e.TaskRuns[10:11]}); err != nil {
				t.Fatal(err)
			}
		}
		got := mustExecution(t, s, "i1")
		r := got.TaskRuns[10]
		if r.NextItem != 3 || len(r.Items) != 500 || r.Items[499] != int64(499) {
			t.Errorf("the ForEach run read back with NextItem %d and %d items", r.NextItem, len(r.Items))
		}
		if _, one, err := s.ExecutionRun(t.Context(), "i1", 10); err != nil || one.NextItem != 3 {
			t.Errorf("ExecutionRun: %+v, %v", one, err)
		}
	}},
	{"Commit/manyRunsAtOnceWhileTheExecutionGrows", func(t *testing.T, s engine.Store) {
		commitNew(t, s, NewExecution("m1", "demo", "many", statemachine.ExecRunning, t0))
		e := growTo(t, s, "m1", 30, -1, nil)
		// One commit creating 70 runs: with the 30 before, past what one
		// DynamoDB transaction holds when the runs leave the execution's
		// own item.
		expected := e.Version
		e.Version++
		var changed []*statemachine.TaskRun
		for pos := 30; pos < 100; pos++ {
			r := &statemachine.TaskRun{ID: fmt.Sprintf("m1-run%d", pos+1), TaskID: "t", State: statemachine.RunSuccess, StartDate: t0}
			e.TaskRuns = append(e.TaskRuns, r)
			changed = append(changed, r)
		}
		e.CountRuns()
		if err := s.Commit(t.Context(), engine.Commit{Execution: e, Expected: expected, Changed: changed}); err != nil {
			t.Fatal(err)
		}
		got := mustExecution(t, s, "m1")
		if len(got.TaskRuns) != 100 || got.TaskRuns[99].ID != "m1-run100" || got.TaskRuns[5].ID != "m1-run6" {
			t.Fatalf("read back %d task runs", len(got.TaskRuns))
		}
	}},
}
