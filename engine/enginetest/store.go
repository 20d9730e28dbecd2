package enginetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/statemachine/flow"
)

// t0 is the base of every time in the store tests: UTC and with
// nanoseconds, so a store that loses either shows up.
var t0 = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)

// NewExecution returns an execution with three task runs and every kind of
// field set, for tests and benchmarks of stores. Version is 1, ready for a
// Commit with Expected 0.
func NewExecution(id, namespace, flowID string, state statemachine.ExecState, start time.Time) *statemachine.Execution {
	run := func(n int, st statemachine.RunState) *statemachine.TaskRun {
		r := &statemachine.TaskRun{
			ID:        fmt.Sprintf("%s-run%d", id, n),
			TaskID:    fmt.Sprintf("task%d", n),
			State:     st,
			StartDate: start.Add(time.Duration(n) * time.Second),
			Attempts: []statemachine.Attempt{{
				Number:    1,
				State:     st,
				StartDate: start.Add(time.Duration(n) * time.Second),
			}},
		}
		if st == statemachine.RunSuccess {
			r.Outputs = map[string]any{"value": fmt.Sprintf("out%d", n)}
			r.EndDate = r.StartDate.Add(time.Second)
			r.Attempts[0].EndDate = r.EndDate
		}
		return r
	}
	ex := &statemachine.Execution{
		ID:        id,
		Namespace: namespace,
		FlowID:    flowID,
		Revision:  1,
		State:     state,
		Inputs:    map[string]any{"name": "world", "count": 3.0},
		Vars:      map[string]any{"nested": map[string]any{"list": []any{"a", 1.5, true}}},
		Labels:    []flow.Label{{Key: "team", Value: "data"}},
		Trigger:   map[string]any{"type": "manual"},
		StartDate: start,
		TaskRuns: []*statemachine.TaskRun{
			run(1, statemachine.RunSuccess),
			run(2, statemachine.RunRunning),
			run(3, statemachine.RunCreated),
		},
		Phase:   statemachine.PhaseMain,
		Frames:  map[string]*statemachine.Frame{"main": {ID: "main", Role: "main", Next: 3, Running: 1}},
		Seen:    []string{"ev-1", "ev-2"},
		Version: 1,
	}
	ex.CountRuns()
	return ex
}

type storeTest struct {
	name string
	run  func(t *testing.T, s engine.Store)
}

// TestStore checks an engine.Store against the contract in
// engine/contracts.go. newStore returns a fresh, empty store for each
// subtest; the suite closes it when the subtest ends (Close is called once).
func TestStore(t *testing.T, newStore func(t *testing.T) engine.Store) {
	tests := slices.Concat(flowTests, commitTests, readTests, partTests, logTests, outboxTests, timerTests, concurrencyTests, claimTests, growthTests, scaleTests, recordTests)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.run(t, s)
		})
	}
}

// ----------------------------------------------------------------- helpers

func commitNew(t *testing.T, s engine.Store, e *statemachine.Execution) {
	t.Helper()
	if err := s.Commit(t.Context(), engine.Commit{Execution: e, Expected: 0, Changed: e.TaskRuns}); err != nil {
		t.Fatalf("Commit new %s: %v", e.ID, err)
	}
}

// next returns a copy of e one version on, as the engine would commit
// after applying an event.
func next(t *testing.T, s engine.Store, id string, change func(e *statemachine.Execution)) (e *statemachine.Execution, expected int64) {
	t.Helper()
	e, err := s.Execution(t.Context(), id)
	if err != nil {
		t.Fatalf("Execution %s: %v", id, err)
	}
	expected = e.Version
	e.Version++
	if change != nil {
		change(e)
	}
	return e, expected
}

func mustExecution(t *testing.T, s engine.Store, id string) *statemachine.Execution {
	t.Helper()
	e, err := s.Execution(t.Context(), id)
	if err != nil {
		t.Fatalf("Execution %s: %v", id, err)
	}
	return e
}

func outboxIDs(t *testing.T, s engine.Store, limit int) []string {
	t.Helper()
	entries, err := s.Outbox(t.Context(), limit)
	if err != nil {
		t.Fatalf("Outbox: %v", err)
	}
	ids := []string{}
	for _, o := range entries {
		ids = append(ids, o.ID)
	}
	return ids
}

func dueTimerIDs(t *testing.T, s engine.Store, now time.Time, limit int) []string {
	t.Helper()
	timers, err := s.DueTimers(t.Context(), now, limit)
	if err != nil {
		t.Fatalf("DueTimers: %v", err)
	}
	ids := []string{}
	for _, tm := range timers {
		ids = append(ids, tm.ID)
	}
	return ids
}

func executionIDs(t *testing.T, s engine.Store, f engine.ExecutionFilter) []string {
	t.Helper()
	execs, err := s.Executions(t.Context(), f)
	if err != nil {
		t.Fatalf("Executions(%+v): %v", f, err)
	}
	ids := []string{}
	for _, e := range execs {
		ids = append(ids, e.ID)
	}
	return ids
}

func equalIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func outboxEntry(id, execID string) engine.OutboxEntry {
	return engine.OutboxEntry{
		ID:          id,
		ExecutionID: execID,
		Kind:        "StartAttempt",
		Payload:     []byte(`{"id":"` + id + `"}`),
		Created:     t0,
	}
}

func timer(id, execID string, fireAt time.Time) engine.Timer {
	return engine.Timer{
		ID:          id,
		ExecutionID: execID,
		TaskRunID:   execID + "-run2",
		Attempt:     2,
		Kind:        statemachine.TimerRetry,
		FireAt:      fireAt,
	}
}

func saveFlow(t *testing.T, s engine.Store, ns, id, source string) engine.FlowRecord {
	t.Helper()
	rec, err := s.SaveFlow(t.Context(), ns, id, []byte(source))
	if err != nil {
		t.Fatalf("SaveFlow %s/%s: %v", ns, id, err)
	}
	return rec
}

// ------------------------------------------------------------------- flows

var flowTests = []storeTest{
	{"SaveFlow/assignsRevisions1_2_3", func(t *testing.T, s engine.Store) {
		for rev := 1; rev <= 3; rev++ {
			src := fmt.Sprintf("id: hello\n# revision %d\n", rev)
			rec := saveFlow(t, s, "demo", "hello", src)
			if rec.Revision != rev || rec.Namespace != "demo" || rec.ID != "hello" || string(rec.Source) != src {
				t.Errorf("SaveFlow #%d = %+v, want revision %d of demo/hello with the source", rev, rec, rev)
			}
			if rec.Created.IsZero() {
				t.Errorf("SaveFlow #%d: Created is zero", rev)
			}
		}
	}},
	{"SaveFlow/sameSourceAsLatestIsNoop", func(t *testing.T, s engine.Store) {
		first := saveFlow(t, s, "demo", "hello", "v1")
		again := saveFlow(t, s, "demo", "hello", "v1")
		if again.Revision != 1 || !again.Created.Equal(first.Created) {
			t.Errorf("saving the same source = revision %d created %v, want revision 1 created %v",
				again.Revision, again.Created, first.Created)
		}
		if _, err := s.Flow(t.Context(), "demo", "hello", 2); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("Flow revision 2 after a no-op save: err = %v, want ErrNotFound", err)
		}
		if rec := saveFlow(t, s, "demo", "hello", "v2"); rec.Revision != 2 {
			t.Errorf("new source: revision %d, want 2", rec.Revision)
		}
		// Only the latest revision counts: going back to an older
		// source is a change.
		if rec := saveFlow(t, s, "demo", "hello", "v1"); rec.Revision != 3 {
			t.Errorf("source of revision 1 again: revision %d, want 3", rec.Revision)
		}
	}},
	{"SaveFlow/revisionsCountPerFlow", func(t *testing.T, s engine.Store) {
		saveFlow(t, s, "a", "x", "1")
		saveFlow(t, s, "a", "x", "2")
		if rec := saveFlow(t, s, "a", "y", "1"); rec.Revision != 1 {
			t.Errorf("other id: revision %d, want 1", rec.Revision)
		}
		if rec := saveFlow(t, s, "b", "x", "1"); rec.Revision != 1 {
			t.Errorf("same id in another namespace: revision %d, want 1", rec.Revision)
		}
	}},
	{"Flow/latestWithRevision0", func(t *testing.T, s engine.Store) {
		saveFlow(t, s, "demo", "hello", "v1")
		saved := saveFlow(t, s, "demo", "hello", "v2")
		rec, err := s.Flow(t.Context(), "demo", "hello", 0)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Revision != 2 || string(rec.Source) != "v2" || rec.Namespace != "demo" || rec.ID != "hello" ||
			!rec.Created.Equal(saved.Created) {
			t.Errorf("Flow latest = %+v, want %+v", rec, saved)
		}
	}},
	{"Flow/specificRevision", func(t *testing.T, s engine.Store) {
		saveFlow(t, s, "demo", "hello", "v1")
		saveFlow(t, s, "demo", "hello", "v2")
		saveFlow(t, s, "demo", "hello", "v3")
		for rev, src := range map[int]string{1: "v1", 2: "v2", 3: "v3"} {
			rec, err := s.Flow(t.Context(), "demo", "hello", rev)
			if err != nil {
				t.Fatalf("Flow revision %d: %v", rev, err)
			}
			if rec.Revision != rev || string(rec.Source) != src {
				t.Errorf("Flow revision %d = revision %d %q, want %q", rev, rec.Revision, rec.Source, src)
			}
		}
	}},
	{"Flow/notFound", func(t *testing.T, s engine.Store) {
		saveFlow(t, s, "demo", "hello", "v1")
		for _, c := range []struct {
			ns, id string
			rev    int
		}{
			{"demo", "missing", 0}, {"demo", "missing", 1}, {"other", "hello", 0},
			{"demo", "hello", 2}, {"demo", "hell", 0}, {"dem", "hello", 1},
		} {
			if _, err := s.Flow(t.Context(), c.ns, c.id, c.rev); !errors.Is(err, engine.ErrNotFound) {
				t.Errorf("Flow(%q, %q, %d): err = %v, want ErrNotFound", c.ns, c.id, c.rev, err)
			}
		}
	}},
	{"Flows/emptyStore", func(t *testing.T, s engine.Store) {
		flows, err := s.Flows(t.Context())
		if err != nil || len(flows) != 0 {
			t.Errorf("Flows = %v, %v; want none", flows, err)
		}
	}},
	{"Flows/latestRevisionOfEachByNamespaceAndID", func(t *testing.T, s engine.Store) {
		saveFlow(t, s, "b", "x", "bx1")
		saveFlow(t, s, "a", "y", "ay1")
		saveFlow(t, s, "a.b", "x", "a.bx1")
		saveFlow(t, s, "a", "y", "ay2")
		saveFlow(t, s, "a", "x", "ax1")
		saveFlow(t, s, "a-b", "x", "a-bx1")
		saveFlow(t, s, "a", "y", "ay3")
		saveFlow(t, s, "a", "x-y", "ax-y1")
		flows, err := s.Flows(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range flows {
			got = append(got, fmt.Sprintf("%s/%s@%d=%s", f.Namespace, f.ID, f.Revision, f.Source))
		}
		want := []string{"a/x@1=ax1", "a/x-y@1=ax-y1", "a/y@3=ay3", "a-b/x@1=a-bx1", "a.b/x@1=a.bx1", "b/x@1=bx1"}
		equalIDs(t, "Flows", got, want)
	}},
}

// ------------------------------------------------------------------ commit

var commitTests = []storeTest{
	{"Commit/newExecutionWithExpected0", func(t *testing.T, s engine.Store) {
		e := NewExecution("e1", "demo", "hello", statemachine.ExecRunning, t0)
		commitNew(t, s, e)
		if got := mustExecution(t, s, "e1"); mustJSON(t, got) != mustJSON(t, e) {
			t.Errorf("stored execution differs:\n got %s\nwant %s", mustJSON(t, got), mustJSON(t, e))
		}
	}},
	{"Commit/updateWithExpectedPreviousVersion", func(t *testing.T, s engine.Store) {
		commitNew(t, s, NewExecution("e1", "demo", "hello", statemachine.ExecRunning, t0))
		for v := int64(2); v <= 4; v++ {
			e, expected := next(t, s, "e1", func(e *statemachine.Execution) {
				e.TaskRuns[1].State = statemachine.RunSuccess
				e.Vars["step"] = e.Version
			})
			if err := s.Commit(t.Context(), engine.Commit{Execution: e, Expected: expected, Changed: e.TaskRuns[1:2]}); err != nil {
				t.Fatalf("Commit version %d: %v", v, err)
			}
			got := mustExecution(t, s, "e1")
			if got.Version != v || mustJSON(t, got) != mustJSON(t, e) {
				t.Errorf("after commit of version %d, stored %s", v, mustJSON(t, got))
			}
		}
	}},
	{"Commit/conflictOnStaleVersionWritesNothing", func(t *testing.T, s engine.Store) {
		commitNew(t, s, NewExecution("e1", "demo", "hello", statemachine.ExecRunning, t0))
		e2, expected := next(t, s, "e1", nil)
		if err := s.Commit(t.Context(), engine.Commit{Execution: e2, Expected: expected}); err != nil {
			t.Fatal(err)
		}
		want := mustJSON(t, mustExecution(t, s, "e1"))

		stale, _ := next(t, s, "e1", func(e *statemachine.Execution) { e.State = statemachine.ExecFailed })
		err := s.Commit(t.Context(), engine.Commit{
			Execution: stale,
			Expected:  1, // stored is 2
			Changed:   stale.TaskRuns,
			Outbox:    []engine.OutboxEntry{outboxEntry("stale-o", "e1")},
			Timers:    []engine.Timer{timer("stale-t", "e1", t0)},
		})
		if !errors.Is(err, engine.ErrConflict) {
			t.Fatalf("stale Commit: err = %v, want ErrConflict", err)
		}
		if got := mustJSON(t, mustExecution(t, s, "e1")); got != want {
			t.Errorf("stale Commit changed the execution to %s", got)
		}
		equalIDs(t, "outbox after a conflict", outboxIDs(t, s, 100), []string{})
		equalIDs(t, "timers after a conflict", dueTimerIDs(t, s, t0.Add(time.Hour), 100), []string{})
	}},
	{"Commit/conflictWhenNewExecutionExists", func(t *testing.T, s engine.Store) {
		first := NewExecution("e1", "demo", "hello", statemachine.ExecRunning, t0)
		commitNew(t, s, first)
		again := NewExecution("e1", "other", "flow", statemachine.ExecCreated, t0.Add(time.Hour))
		err := s.Commit(t.Context(), engine.Commit{Execution: again, Expected: 0,
			Outbox: []engine.OutboxEntry{outboxEntry("dup-o", "e1")}})
		if !errors.Is(err, engine.ErrConflict) {
			t.Fatalf("Commit of an existing execution with Expected 0: err = %v, want ErrConflict", err)
		}
		if got := mustExecution(t, s, "e1"); mustJSON(t, got) != mustJSON(t, first) {
			t.Errorf("conflicting create overwrote the execution: %s", mustJSON(t, got))
		}
		equalIDs(t, "outbox after a conflict", outboxIDs(t, s, 100), []string{})
	}},
	{"Commit/conflictWhenExpectedButMissing", func(t *testing.T, s engine.Store) {
		e := NewExecution("e1", "demo", "hello", statemachine.ExecRunning, t0)
		e.Version = 4
		err := s.Commit(t.Context(), engine.Commit{Execution: e, Expected: 3,
			Timers: []engine.Timer{timer("t1", "e1", t0)}})
		if !errors.Is(err, engine.ErrConflict) {
			t.Fatalf("Commit with Expected 3 and nothing stored: err = %v, want ErrConflict", err)
		}
		if _, err := s.Execution(t.Context(), "e1"); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("Execution after a failed create: err = %v, want ErrNotFound", err)
		}
		equalIDs(t, "timers after a conflict", dueTimerIDs(t, s, t0.Add(time.Hour), 100), []string{})
	}},
	{"Commit/concurrentSameExpectedExactlyOneWins", func(t *testing.T, s engine.Store) {
		commitNew(t, s, NewExecution("e1", "demo", "hello", statemachine.ExecRunning, t0))
		const n = 16
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			e, expected := next(t, s, "e1", func(e *statemachine.Execution) { e.Vars["writer"] = int64(i) })
			wg.Go(func() {
				<-start
				errs[i] = s.Commit(context.Background(), engine.Commit{
					Execution: e,
					Expected:  expected,
					Outbox:    []engine.OutboxEntry{outboxEntry(fmt.Sprintf("o%d", i), "e1")},
					Timers:    []engine.Timer{timer(fmt.Sprintf("t%d", i), "e1", t0)},
				})
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Errorf("writers %d and %d both won", winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, engine.ErrConflict):
				t.Errorf("writer %d: err = %v, want nil or ErrConflict", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("no writer won")
		}
		got := mustExecution(t, s, "e1")
		if got.Version != 2 || got.Vars["writer"] != int64(winner) {
			t.Errorf("stored version %d by writer %v, want version 2 by writer %d", got.Version, got.Vars["writer"], winner)
		}
		equalIDs(t, "outbox", outboxIDs(t, s, 100), []string{fmt.Sprintf("o%d", winner)})
		equalIDs(t, "timers", dueTimerIDs(t, s, t0, 100), []string{fmt.Sprintf("t%d", winner)})
	}},
	{"Commit/cancelledContextFailsAndWritesNothing", func(t *testing.T, s engine.Store) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		e := NewExecution("e1", "demo", "hello", statemachine.ExecRunning, t0)
		err := s.Commit(ctx, engine.Commit{Execution: e, Outbox: []engine.OutboxEntry{outboxEntry("o1", "e1")}})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Commit with a cancelled ctx: err = %v, want context.Canceled", err)
		}
		if _, err := s.Execution(t.Context(), "e1"); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("Execution after a cancelled Commit: err = %v, want ErrNotFound", err)
		}
		equalIDs(t, "outbox after a cancelled Commit", outboxIDs(t, s, 100), []string{})
	}},
}

// ------------------------------------------------------------------- reads

var readTests = []storeTest{
	{"Execution/notFound", func(t *testing.T, s engine.Store) {
		if _, err := s.Execution(t.Context(), "missing"); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("err = %v, want ErrNotFound", err)
		}
	}},
	{"Execution/returnsCopies", func(t *testing.T, s engine.Store) {
		committed := NewExecution("e1", "demo", "hello", statemachine.ExecRunning, t0)
		want := mustJSON(t, committed)
		commitNew(t, s, committed)
		// The committed value stays the caller's too.
		committed.State = statemachine.ExecKilled
		committed.TaskRuns[0].State = statemachine.RunKilled

		a := mustExecution(t, s, "e1")
		b := mustExecution(t, s, "e1")
		if a == b || a.TaskRuns[0] == b.TaskRuns[0] {
			t.Fatal("two reads share memory")
		}
		a.State = statemachine.ExecFailed
		a.TaskRuns[0].State = statemachine.RunFailed
		a.TaskRuns = append(a.TaskRuns, &statemachine.TaskRun{ID: "extra"})
		a.Inputs["name"] = "changed"
		a.Vars["nested"].(map[string]any)["list"].([]any)[0] = "changed"
		if _, ok := a.Run("extra"); !ok { // builds a's unexported index
			t.Fatal("Run(extra) on the changed copy failed")
		}
		if got := mustJSON(t, mustExecution(t, s, "e1")); got != want {
			t.Errorf("changing returned or committed values changed the store:\n got %s\nwant %s", got, want)
		}
		if _, ok := b.Run("extra"); ok {
			t.Error("a copy read earlier sees a run added to another copy")
		}
	}},
	{"Executions/newestFirstByStartDate", func(t *testing.T, s engine.Store) {
		for _, i := range []int{3, 1, 4, 0, 2} { // commit order differs from start order
			commitNew(t, s, NewExecution(fmt.Sprintf("e%d", i), "demo", "hello", statemachine.ExecRunning, t0.Add(time.Duration(i)*time.Minute)))
		}
		equalIDs(t, "Executions", executionIDs(t, s, engine.ExecutionFilter{}), []string{"e4", "e3", "e2", "e1", "e0"})
	}},
	{"Executions/filters", func(t *testing.T, s engine.Store) {
		specs := []struct {
			id, ns, flow string
			state        statemachine.ExecState
		}{
			{"e0", "a", "f1", statemachine.ExecRunning},
			{"e1", "a", "f2", statemachine.ExecSuccess},
			{"e2", "b", "f1", statemachine.ExecRunning},
			{"e3", "a", "f1", statemachine.ExecSuccess},
			{"e4", "b", "f2", statemachine.ExecFailed},
			{"e5", "a", "f1", statemachine.ExecRunning},
		}
		for i, sp := range specs {
			commitNew(t, s, NewExecution(sp.id, sp.ns, sp.flow, sp.state, t0.Add(time.Duration(i)*time.Second)))
		}
		for _, c := range []struct {
			f    engine.ExecutionFilter
			want []string
		}{
			{engine.ExecutionFilter{Namespace: "a"}, []string{"e5", "e3", "e1", "e0"}},
			{engine.ExecutionFilter{FlowID: "f2"}, []string{"e4", "e1"}},
			{engine.ExecutionFilter{State: statemachine.ExecRunning}, []string{"e5", "e2", "e0"}},
			{engine.ExecutionFilter{Namespace: "a", FlowID: "f1"}, []string{"e5", "e3", "e0"}},
			{engine.ExecutionFilter{Namespace: "a", FlowID: "f1", State: statemachine.ExecSuccess}, []string{"e3"}},
			{engine.ExecutionFilter{Namespace: "c"}, []string{}},
			{engine.ExecutionFilter{State: statemachine.ExecKilled}, []string{}},
		} {
			equalIDs(t, fmt.Sprintf("Executions(%+v)", c.f), executionIDs(t, s, c.f), c.want)
		}
	}},
	{"Executions/limitKeepsNewest", func(t *testing.T, s engine.Store) {
		for i := range 6 {
			ns := []string{"a", "b"}[i%2]
			commitNew(t, s, NewExecution(fmt.Sprintf("e%d", i), ns, "f", statemachine.ExecRunning, t0.Add(time.Duration(i)*time.Second)))
		}
		equalIDs(t, "Limit 2", executionIDs(t, s, engine.ExecutionFilter{Limit: 2}), []string{"e5", "e4"})
		equalIDs(t, "Limit 2 in namespace a", executionIDs(t, s, engine.ExecutionFilter{Namespace: "a", Limit: 2}), []string{"e4", "e2"})
		equalIDs(t, "Limit 10", executionIDs(t, s, engine.ExecutionFilter{Limit: 10}), []string{"e5", "e4", "e3", "e2", "e1", "e0"})
	}},
	{"Executions/seeLatestCommit", func(t *testing.T, s engine.Store) {
		commitNew(t, s, NewExecution("e1", "demo", "hello", statemachine.ExecCreated, t0))
		commitNew(t, s, NewExecution("e2", "demo", "hello", statemachine.ExecRunning, t0.Add(time.Minute)))
		// The update changes both the state and the start date.
		e, expected := next(t, s, "e1", func(e *statemachine.Execution) {
			e.State = statemachine.ExecSuccess
			e.StartDate = t0.Add(time.Hour)
		})
		if err := s.Commit(t.Context(), engine.Commit{Execution: e, Expected: expected}); err != nil {
			t.Fatal(err)
		}
		equalIDs(t, "Executions", executionIDs(t, s, engine.ExecutionFilter{}), []string{"e1", "e2"})
		equalIDs(t, "CREATED", executionIDs(t, s, engine.ExecutionFilter{State: statemachine.ExecCreated}), []string{})
		equalIDs(t, "SUCCESS", executionIDs(t, s, engine.ExecutionFilter{State: statemachine.ExecSuccess}), []string{"e1"})
		execs, err := s.Executions(t.Context(), engine.ExecutionFilter{State: statemachine.ExecSuccess})
		if err != nil || len(execs) != 1 || execs[0].Version != 2 || !execs[0].StartDate.Equal(t0.Add(time.Hour)) {
			t.Errorf("Executions returned a stale execution: %v, %v", execs, err)
		}
	}},
	{"Executions/returnsCopies", func(t *testing.T, s engine.Store) {
		commitNew(t, s, NewExecution("e1", "demo", "hello", statemachine.ExecRunning, t0))
		execs, err := s.Executions(t.Context(), engine.ExecutionFilter{})
		if err != nil || len(execs) != 1 {
			t.Fatalf("Executions = %v, %v", execs, err)
		}
		execs[0].State = statemachine.ExecFailed
		execs[0].Inputs["name"] = "changed"
		if len(execs[0].TaskRuns) > 0 {
			execs[0].TaskRuns[0].State = statemachine.RunFailed
		}
		got := mustExecution(t, s, "e1")
		if got.State != statemachine.ExecRunning || got.Inputs["name"] != "world" || got.TaskRuns[0].State != statemachine.RunSuccess {
			t.Error("changing a listed execution changed the store")
		}
	}},
	{"Context/cancelledFailsEveryMethod", func(t *testing.T, s engine.Store) {
		saveFlow(t, s, "demo", "hello", "v1")
		commitNew(t, s, NewExecution("e1", "demo", "hello", statemachine.ExecRunning, t0))
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		calls := map[string]func() error{
			"SaveFlow": func() error { _, err := s.SaveFlow(ctx, "demo", "hello", []byte("v2")); return err },
			"Flow":     func() error { _, err := s.Flow(ctx, "demo", "hello", 0); return err },
			"Flows":    func() error { _, err := s.Flows(ctx); return err },
			"Execution": func() error {
				_, err := s.Execution(ctx, "e1")
				return err
			},
			"Executions": func() error { _, err := s.Executions(ctx, engine.ExecutionFilter{}); return err },
			"AppendLogs": func() error {
				return s.AppendLogs(ctx, []engine.LogEntry{{ExecutionID: "e1", Time: t0, Level: "INFO", Message: "x"}})
			},
			"Logs":        func() error { _, err := s.Logs(ctx, "e1", 0, 0); return err },
			"Outbox":      func() error { _, err := s.Outbox(ctx, 10); return err },
			"AckOutbox":   func() error { return s.AckOutbox(ctx, "o1") },
			"DueTimers":   func() error { _, err := s.DueTimers(ctx, t0, 10); return err },
			"DeleteTimer": func() error { return s.DeleteTimer(ctx, "t1") },
		}
		for name, call := range calls {
			if err := call(); !errors.Is(err, context.Canceled) {
				t.Errorf("%s with a cancelled ctx: err = %v, want context.Canceled", name, err)
			}
		}
		if rec, err := s.Flow(t.Context(), "demo", "hello", 0); err != nil || rec.Revision != 1 {
			t.Errorf("SaveFlow with a cancelled ctx stored a revision: %+v, %v", rec, err)
		}
		if logs, err := s.Logs(t.Context(), "e1", 0, 0); err != nil || len(logs) != 0 {
			t.Errorf("AppendLogs with a cancelled ctx stored lines: %v, %v", logs, err)
		}
	}},
}

// -------------------------------------------------------------------- logs

func logLine(execID, msg string) engine.LogEntry {
	return engine.LogEntry{ExecutionID: execID, TaskRunID: execID + "-run1", TaskID: "task1", Attempt: 1,
		Time: t0, Level: "INFO", Message: msg}
}

func mustLogs(t *testing.T, s engine.Store, execID string, after int64) []engine.LogEntry {
	t.Helper()
	logs, err := s.Logs(t.Context(), execID, after, 0)
	if err != nil {
		t.Fatalf("Logs(%s, %d): %v", execID, after, err)
	}
	return logs
}

func messages(logs []engine.LogEntry) []string {
	out := []string{}
	for _, l := range logs {
		out = append(out, l.Message)
	}
	return out
}

var logTests = []storeTest{
	{"Logs/seqIncreasesPerExecution", func(t *testing.T, s engine.Store) {
		err := s.AppendLogs(t.Context(), []engine.LogEntry{
			logLine("a", "a1"), logLine("a", "a2"), logLine("b", "b1"), logLine("a", "a3"), logLine("b", "b2"),
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.AppendLogs(t.Context(), []engine.LogEntry{logLine("b", "b3"), logLine("a", "a4")}); err != nil {
			t.Fatal(err)
		}
		for id, want := range map[string][]string{"a": {"a1", "a2", "a3", "a4"}, "b": {"b1", "b2", "b3"}} {
			logs := mustLogs(t, s, id, 0)
			equalIDs(t, "Logs("+id+")", messages(logs), want)
			for i, l := range logs {
				if l.ExecutionID != id {
					t.Errorf("Logs(%s) returned a line of %s", id, l.ExecutionID)
				}
				if i > 0 && l.Seq <= logs[i-1].Seq {
					t.Errorf("Logs(%s): Seq %d after %d, want increasing", id, l.Seq, logs[i-1].Seq)
				}
				if l.Seq <= 0 {
					t.Errorf("Logs(%s): Seq %d, want > 0 so that after=0 means all", id, l.Seq)
				}
			}
		}
		l := mustLogs(t, s, "a", 0)[0]
		want := logLine("a", "a1")
		want.Seq = l.Seq
		if mustJSON(t, l) != mustJSON(t, want) {
			t.Errorf("stored line = %s, want %s", mustJSON(t, l), mustJSON(t, want))
		}
	}},
	{"Logs/afterReturnsLaterLines", func(t *testing.T, s engine.Store) {
		for i := range 5 {
			if err := s.AppendLogs(t.Context(), []engine.LogEntry{logLine("a", fmt.Sprint(i))}); err != nil {
				t.Fatal(err)
			}
		}
		all := mustLogs(t, s, "a", 0)
		if len(all) != 5 {
			t.Fatalf("got %d lines, want 5", len(all))
		}
		equalIDs(t, "after the second", messages(mustLogs(t, s, "a", all[1].Seq)), []string{"2", "3", "4"})
		equalIDs(t, "after the last", messages(mustLogs(t, s, "a", all[4].Seq)), []string{})
	}},
	{"Logs/limitReturnsTheFirstLines", func(t *testing.T, s engine.Store) {
		var lines []engine.LogEntry
		for i := range 7 {
			lines = append(lines, logLine("a", fmt.Sprint(i)))
		}
		if err := s.AppendLogs(t.Context(), lines); err != nil {
			t.Fatal(err)
		}
		var got []string
		for after := int64(0); ; {
			page, err := s.Logs(t.Context(), "a", after, 3)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > 3 {
				t.Fatalf("%d lines with limit 3", len(page))
			}
			if len(page) == 0 {
				break
			}
			got = append(got, messages(page)...)
			after = page[len(page)-1].Seq
		}
		equalIDs(t, "lines read 3 at a time", got, []string{"0", "1", "2", "3", "4", "5", "6"})
	}},
	{"Logs/unknownExecutionHasNone", func(t *testing.T, s engine.Store) {
		equalIDs(t, "Logs(missing)", messages(mustLogs(t, s, "missing", 0)), []string{})
	}},
}

// ------------------------------------------------------------------ outbox

var outboxTests = []storeTest{
	{"Outbox/commitOrder", func(t *testing.T, s engine.Store) {
		x := NewExecution("x", "demo", "hello", statemachine.ExecRunning, t0)
		if err := s.Commit(t.Context(), engine.Commit{Execution: x,
			Outbox: []engine.OutboxEntry{outboxEntry("x1-b", "x"), outboxEntry("x1-a", "x")}}); err != nil {
			t.Fatal(err)
		}
		y := NewExecution("y", "demo", "hello", statemachine.ExecRunning, t0)
		if err := s.Commit(t.Context(), engine.Commit{Execution: y,
			Outbox: []engine.OutboxEntry{outboxEntry("y1", "y")}}); err != nil {
			t.Fatal(err)
		}
		x2, expected := next(t, s, "x", nil)
		if err := s.Commit(t.Context(), engine.Commit{Execution: x2, Expected: expected,
			Outbox: []engine.OutboxEntry{outboxEntry("x2", "x")}}); err != nil {
			t.Fatal(err)
		}
		equalIDs(t, "Outbox", outboxIDs(t, s, 100), []string{"x1-b", "x1-a", "y1", "x2"})
		equalIDs(t, "Outbox limit 2", outboxIDs(t, s, 2), []string{"x1-b", "x1-a"})
		entries, err := s.Outbox(t.Context(), 1)
		if err != nil || len(entries) != 1 {
			t.Fatalf("Outbox(1) = %v, %v", entries, err)
		}
		if want := outboxEntry("x1-b", "x"); mustJSON(t, entries[0]) != mustJSON(t, want) {
			t.Errorf("stored entry = %s, want %s", mustJSON(t, entries[0]), mustJSON(t, want))
		}
	}},
	{"Outbox/ackRemoves", func(t *testing.T, s engine.Store) {
		e := NewExecution("x", "demo", "hello", statemachine.ExecRunning, t0)
		var entries []engine.OutboxEntry
		for i := range 4 {
			entries = append(entries, outboxEntry(fmt.Sprintf("o%d", i), "x"))
		}
		if err := s.Commit(t.Context(), engine.Commit{Execution: e, Outbox: entries}); err != nil {
			t.Fatal(err)
		}
		if err := s.AckOutbox(t.Context(), "o1", "o2"); err != nil {
			t.Fatal(err)
		}
		equalIDs(t, "Outbox after ack", outboxIDs(t, s, 100), []string{"o0", "o3"})
		if err := s.AckOutbox(t.Context(), "o0"); err != nil {
			t.Fatal(err)
		}
		if err := s.AckOutbox(t.Context(), "o3"); err != nil {
			t.Fatal(err)
		}
		equalIDs(t, "Outbox after acking all", outboxIDs(t, s, 100), []string{})
	}},
	// Commands are carried out at least once, so an entry can be
	// acknowledged twice.
	{"Outbox/ackIsIdempotent", func(t *testing.T, s engine.Store) {
		e := NewExecution("x", "demo", "hello", statemachine.ExecRunning, t0)
		if err := s.Commit(t.Context(), engine.Commit{Execution: e,
			Outbox: []engine.OutboxEntry{outboxEntry("o1", "x"), outboxEntry("o2", "x")}}); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := s.AckOutbox(t.Context(), "o1", "never-existed"); err != nil {
				t.Fatalf("AckOutbox: %v", err)
			}
		}
		equalIDs(t, "Outbox", outboxIDs(t, s, 100), []string{"o2"})
	}},
}

// ------------------------------------------------------------------ timers

var timerTests = []storeTest{
	{"DueTimers/dueUpToNowEarliestFirst", func(t *testing.T, s engine.Store) {
		e := NewExecution("x", "demo", "hello", statemachine.ExecRunning, t0)
		err := s.Commit(t.Context(), engine.Commit{Execution: e, Timers: []engine.Timer{
			timer("t3s", "x", t0.Add(3*time.Second)),
			timer("t1s", "x", t0.Add(1*time.Second)),
			timer("t1h", "x", t0.Add(time.Hour)),
			timer("t2s", "x", t0.Add(2*time.Second)),
		}})
		if err != nil {
			t.Fatal(err)
		}
		equalIDs(t, "before any", dueTimerIDs(t, s, t0, 10), []string{})
		equalIDs(t, "at 2s (inclusive)", dueTimerIDs(t, s, t0.Add(2*time.Second), 10), []string{"t1s", "t2s"})
		equalIDs(t, "at 1m", dueTimerIDs(t, s, t0.Add(time.Minute), 10), []string{"t1s", "t2s", "t3s"})
		equalIDs(t, "at 1m limit 2", dueTimerIDs(t, s, t0.Add(time.Minute), 2), []string{"t1s", "t2s"})
		timers, err := s.DueTimers(t.Context(), t0.Add(time.Second), 10)
		if err != nil || len(timers) != 1 {
			t.Fatalf("DueTimers = %v, %v", timers, err)
		}
		want := timer("t1s", "x", t0.Add(1*time.Second))
		if got := timers[0]; got.ID != want.ID || got.ExecutionID != want.ExecutionID || got.TaskRunID != want.TaskRunID ||
			got.Attempt != want.Attempt || got.Kind != want.Kind || !got.FireAt.Equal(want.FireAt) {
			t.Errorf("stored timer = %+v, want %+v", got, want)
		}
	}},
	{"DueTimers/sameIDReplaces", func(t *testing.T, s engine.Store) {
		e := NewExecution("x", "demo", "hello", statemachine.ExecRunning, t0)
		if err := s.Commit(t.Context(), engine.Commit{Execution: e, Timers: []engine.Timer{
			timer("a", "x", t0.Add(1*time.Second)), timer("b", "x", t0.Add(2*time.Second)),
		}}); err != nil {
			t.Fatal(err)
		}
		e2, expected := next(t, s, "x", nil)
		moved := timer("a", "x", t0.Add(3*time.Second))
		moved.Attempt = 3
		if err := s.Commit(t.Context(), engine.Commit{Execution: e2, Expected: expected, Timers: []engine.Timer{moved}}); err != nil {
			t.Fatal(err)
		}
		equalIDs(t, "at 1s", dueTimerIDs(t, s, t0.Add(time.Second), 10), []string{})
		timers, err := s.DueTimers(t.Context(), t0.Add(time.Minute), 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(timers) != 2 || timers[0].ID != "b" || timers[1].ID != "a" || timers[1].Attempt != 3 ||
			!timers[1].FireAt.Equal(moved.FireAt) {
			t.Errorf("after replacing a: %+v, want b then a at 3s attempt 3", timers)
		}
	}},
	{"DeleteTimer/removesOnlyThatTimer", func(t *testing.T, s engine.Store) {
		e := NewExecution("x", "demo", "hello", statemachine.ExecRunning, t0)
		if err := s.Commit(t.Context(), engine.Commit{Execution: e, Timers: []engine.Timer{
			timer("a", "x", t0), timer("b", "x", t0), timer("c", "x", t0.Add(time.Second)),
		}}); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteTimer(t.Context(), "b"); err != nil {
			t.Fatal(err)
		}
		equalIDs(t, "after deleting b", dueTimerIDs(t, s, t0.Add(time.Minute), 10), []string{"a", "c"})
		// The timer loop deletes at least once; a second delete is harmless.
		if err := s.DeleteTimer(t.Context(), "b"); err != nil {
			t.Errorf("deleting b again: %v", err)
		}
		// A deleted id can be used again.
		e2, expected := next(t, s, "x", nil)
		if err := s.Commit(t.Context(), engine.Commit{Execution: e2, Expected: expected,
			Timers: []engine.Timer{timer("b", "x", t0.Add(2*time.Second))}}); err != nil {
			t.Fatal(err)
		}
		equalIDs(t, "after adding b again", dueTimerIDs(t, s, t0.Add(time.Minute), 10), []string{"a", "c", "b"})
	}},
}

// ------------------------------------------------------------- concurrency

var concurrencyTests = []storeTest{
	{"Concurrent/saveFlowRevisionsAreUnique", func(t *testing.T, s engine.Store) {
		const n = 8
		revs := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				rec, err := s.SaveFlow(context.Background(), "demo", "hello", []byte(fmt.Sprintf("source %d", i)))
				if err != nil {
					t.Errorf("SaveFlow: %v", err)
				}
				revs[i] = rec.Revision
			})
		}
		wg.Wait()
		slices.Sort(revs)
		if !slices.Equal(revs, []int{1, 2, 3, 4, 5, 6, 7, 8}) {
			t.Errorf("revisions %v, want 1..8", revs)
		}
	}},
	{"Concurrent/mixedOperations", func(t *testing.T, s engine.Store) {
		const n = 8
		var wg sync.WaitGroup
		ctx := context.Background()
		for i := range n {
			id := fmt.Sprintf("e%d", i)
			wg.Go(func() {
				e := NewExecution(id, "demo", "hello", statemachine.ExecRunning, t0.Add(time.Duration(i)*time.Second))
				expected := int64(0)
				for v := range 5 {
					c := engine.Commit{Execution: e, Expected: expected,
						Outbox: []engine.OutboxEntry{outboxEntry(fmt.Sprintf("%s-%d", id, v), id)},
						Timers: []engine.Timer{timer(id, id, t0)}}
					if err := s.Commit(ctx, c); err != nil {
						t.Errorf("Commit %s v%d: %v", id, e.Version, err)
						return
					}
					expected = e.Version
					e = bumped(e)
				}
			})
			wg.Go(func() {
				for j := range 5 {
					if err := s.AppendLogs(ctx, []engine.LogEntry{logLine(id, fmt.Sprint(j))}); err != nil {
						t.Errorf("AppendLogs: %v", err)
					}
				}
			})
			wg.Go(func() {
				for range 5 {
					if _, err := s.Executions(ctx, engine.ExecutionFilter{Namespace: "demo"}); err != nil {
						t.Errorf("Executions: %v", err)
					}
					if _, err := s.Outbox(ctx, 100); err != nil {
						t.Errorf("Outbox: %v", err)
					}
					if _, err := s.DueTimers(ctx, t0, 100); err != nil {
						t.Errorf("DueTimers: %v", err)
					}
				}
			})
		}
		wg.Wait()
		if got := len(outboxIDs(t, s, 1000)); got != n*5 {
			t.Errorf("outbox holds %d entries, want %d", got, n*5)
		}
		if got := len(dueTimerIDs(t, s, t0, 1000)); got != n {
			t.Errorf("%d timers, want %d (one per execution, replaced)", got, n)
		}
		for i := range n {
			id := fmt.Sprintf("e%d", i)
			if e := mustExecution(t, s, id); e.Version != 5 {
				t.Errorf("%s at version %d, want 5", id, e.Version)
			}
			if got := len(mustLogs(t, s, id, 0)); got != 5 {
				t.Errorf("%s has %d log lines, want 5", id, got)
			}
		}
	}},
}

// bumped returns a copy of e one version on, without a store round trip.
func bumped(e *statemachine.Execution) *statemachine.Execution {
	c := *e
	c.Version++
	return &c
}

// TestStoreDurable checks that what a store holds survives closing it:
// open returns a store kept in dir (implementations whose data lives
// elsewhere may ignore dir, as long as a second open sees the first one's
// data). The suite closes every store it opens.
func TestStoreDurable(t *testing.T, open func(t *testing.T, dir string) engine.Store) {
	dir := t.TempDir()
	ctx := t.Context()

	s := open(t, dir)
	saveFlow(t, s, "demo", "hello", "v1")
	saveFlow(t, s, "demo", "hello", "v2")
	e := NewExecution("e1", "demo", "hello", statemachine.ExecRunning, t0)
	if err := s.Commit(ctx, engine.Commit{Execution: e, Changed: e.TaskRuns,
		Outbox: []engine.OutboxEntry{outboxEntry("o1", "e1"), outboxEntry("o2", "e1"), outboxEntry("o3", "e1")},
		Timers: []engine.Timer{timer("t1", "e1", t0), timer("t2", "e1", t0.Add(time.Second))},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.AckOutbox(ctx, "o2"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTimer(ctx, "t2"); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendLogs(ctx, []engine.LogEntry{logLine("e1", "before")}); err != nil {
		t.Fatal(err)
	}
	want := mustJSON(t, e)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = open(t, dir)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	flows, err := s.Flows(ctx)
	if err != nil || len(flows) != 1 || flows[0].Revision != 2 || string(flows[0].Source) != "v2" {
		t.Errorf("Flows after reopening = %+v, %v; want demo/hello revision 2", flows, err)
	}
	if got := mustJSON(t, mustExecution(t, s, "e1")); got != want {
		t.Errorf("execution after reopening:\n got %s\nwant %s", got, want)
	}
	equalIDs(t, "Executions after reopening", executionIDs(t, s, engine.ExecutionFilter{State: statemachine.ExecRunning}), []string{"e1"})
	equalIDs(t, "Outbox after reopening", outboxIDs(t, s, 100), []string{"o1", "o3"})
	equalIDs(t, "timers after reopening", dueTimerIDs(t, s, t0.Add(time.Hour), 100), []string{"t1"})

	// The store goes on where it stopped: versions are still checked,
	// revisions, outbox order and log sequence continue.
	stale := NewExecution("e1", "demo", "hello", statemachine.ExecFailed, t0)
	if err := s.Commit(ctx, engine.Commit{Execution: stale}); !errors.Is(err, engine.ErrConflict) {
		t.Errorf("creating e1 again after reopening: err = %v, want ErrConflict", err)
	}
	e2, expected := next(t, s, "e1", nil)
	if err := s.Commit(ctx, engine.Commit{Execution: e2, Expected: expected,
		Outbox: []engine.OutboxEntry{outboxEntry("o4", "e1")}}); err != nil {
		t.Fatal(err)
	}
	equalIDs(t, "Outbox after a new commit", outboxIDs(t, s, 100), []string{"o1", "o3", "o4"})
	if rec := saveFlow(t, s, "demo", "hello", "v3"); rec.Revision != 3 {
		t.Errorf("SaveFlow after reopening: revision %d, want 3", rec.Revision)
	}
	if err := s.AppendLogs(ctx, []engine.LogEntry{logLine("e1", "after")}); err != nil {
		t.Fatal(err)
	}
	logs := mustLogs(t, s, "e1", 0)
	equalIDs(t, "logs after reopening", messages(logs), []string{"before", "after"})
	if len(logs) == 2 && logs[1].Seq <= logs[0].Seq {
		t.Errorf("log Seq went from %d to %d across a reopen", logs[0].Seq, logs[1].Seq)
	}
}
