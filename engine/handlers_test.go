package engine_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/infra/embedded"
	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/statemachine/flow"
	"github.com/relayflow/relay/tasks"
	"github.com/relayflow/relay/tasks/builtin"
)

// bareEngines returns an embedded store and a constructor of engines on it
// (with the given execution cache) that share a bus nothing consumes: the
// tests hand events to the engines' handlers themselves.
func bareEngines(t *testing.T) (*embedded.Store, func(cache int) *engine.Engine) {
	st, err := embedded.OpenStore(filepath.Join(t.TempDir(), "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	bus := embedded.NewBus()
	t.Cleanup(func() { bus.Close() })
	reg, err := builtin.Registry(builtin.Config{Tasks: tasks.Config{}})
	if err != nil {
		t.Fatal(err)
	}
	return st, func(cache int) *engine.Engine {
		e, err := engine.New(engine.Config{Store: st, Bus: bus, Tasks: reg, CacheExecutions: cache, Logger: testLogger()})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
}

// An executor that keeps executions in memory (CacheExecutions) may hold
// a stale one when another executor moved it on: its event is then applied
// to the stored execution, whether the stale state rejects it (an unknown
// task run) or accepts it (the commit conflicts).
func TestCache_staleExecutionsAreReadAgain(t *testing.T) {
	st, newEngine := bareEngines(t)
	a, b := newEngine(100), newEngine(0)
	ctx := context.Background()
	if _, _, err := a.Deploy(ctx, "two.yaml", []byte("id: two\nnamespace: t\ntasks:\n  - {id: x, type: io.kestra.plugin.core.debug.Return, format: x}\n  - {id: y, type: io.kestra.plugin.core.debug.Return, format: y}\n")); err != nil {
		t.Fatal(err)
	}
	deliver := func(e *engine.Engine, ev statemachine.Event) {
		t.Helper()
		ce, err := engine.MachineEvent(ev, "test", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := e.ExecutorHandler()(ctx, ce); err != nil {
			t.Fatalf("%s: %v", ev.ID, err)
		}
	}
	finished := func(id, run string) statemachine.Event {
		return statemachine.Event{ID: id + "/" + run + "/fin", Type: statemachine.EvTaskRunFinished, ExecutionID: id, TaskRunID: run, Attempt: 1, State: statemachine.RunSuccess}
	}
	for _, tc := range []struct {
		name          string
		byB           statemachine.Event // applied by the executor without a cache
		byA           statemachine.Event // then by the one whose cached copy it made stale
		wantConflicts int64
	}{
		{"rejected by the stale copy", statemachine.Event{ID: "fin-x", Type: statemachine.EvTaskRunFinished, TaskRunID: "x", Attempt: 1, State: statemachine.RunSuccess},
			statemachine.Event{ID: "fin-y", Type: statemachine.EvTaskRunFinished, TaskRunID: "y", Attempt: 1, State: statemachine.RunSuccess}, 0},
		{"accepted by the stale copy", statemachine.Event{ID: "start-x", Type: statemachine.EvTaskRunStarted, TaskRunID: "x", Attempt: 1},
			statemachine.Event{ID: "fin-x", Type: statemachine.EvTaskRunFinished, TaskRunID: "x", Attempt: 1, State: statemachine.RunSuccess}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := engine.NewID()
			before := a.Conflicts()
			deliver(a, statemachine.Event{ID: id + "/requested", Type: statemachine.EvExecutionRequested, ExecutionID: id, Namespace: "t", FlowID: "two"})
			tc.byB.ExecutionID, tc.byA.ExecutionID = id, id
			deliver(b, tc.byB)
			deliver(a, tc.byA)
			ex, err := st.Execution(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range []statemachine.Event{tc.byB, tc.byA} {
				if !slices.Contains(ex.Seen, ev.ID) {
					t.Errorf("event %s is not applied: seen %v", ev.ID, ex.Seen)
				}
			}
			if n := a.Conflicts() - before; n != tc.wantConflicts {
				t.Errorf("%d conflicts, want %d", n, tc.wantConflicts)
			}
			// The cache follows: the next event applies without a conflict.
			deliver(a, finished(id, "y"))
			if ex, _ := st.Execution(ctx, id); ex.State != statemachine.ExecSuccess {
				t.Errorf("execution %s, want SUCCESS", ex.State)
			}
		})
	}
}

// laggingStore is a store that offers lagging reads (engine.LaggingReader)
// and counts them.
type laggingStore struct {
	*embedded.Store
	lagging atomic.Int32
}

func (s *laggingStore) ExecutionRunLagging(ctx context.Context, id string, position int) (*statemachine.Execution, *statemachine.TaskRun, error) {
	s.lagging.Add(1)
	return s.ExecutionRun(ctx, id, position)
}

// A worker checks an attempt that waited more than a second for it against
// its execution before running it, on a lagging read where the store has
// them: one that no longer applies (here: its execution does not exist) is
// dropped. A prompt delivery runs at once, without reading.
func TestWorker_staleAttemptsAreCheckedFirst(t *testing.T) {
	st, _ := bareEngines(t)
	ls := &laggingStore{Store: st}
	reg, err := builtin.Registry(builtin.Config{Tasks: tasks.Config{}})
	if err != nil {
		t.Fatal(err)
	}
	bus := embedded.NewBus()
	defer bus.Close()
	e, err := engine.New(engine.Config{Store: ls, Bus: bus, Tasks: reg, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name        string
		age         time.Duration
		wantRun     bool
		wantLagging int32
	}{
		{"prompt", 0, true, 0},
		{"stale", 5 * time.Second, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mark := filepath.Join(dir, tc.name)
			c := statemachine.ScheduleTaskRun{ExecutionID: engine.NewID(), TaskRunID: "t", TaskID: "t", Type: flow.TypeShell, Attempt: 1,
				Props: map[string]any{"commands": []any{"touch " + mark}}}
			ce, err := engine.NewEvent(c.ExecutionID+"/t/1/scheduled", engine.TypeTaskRunScheduled, "test", c.ExecutionID, time.Now().Add(-tc.age), c)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.WorkerHandler()(context.Background(), ce); err != nil {
				t.Fatal(err)
			}
			_, statErr := os.Stat(mark)
			if ran := statErr == nil; ran != tc.wantRun {
				t.Errorf("the attempt ran: %v, want %v", ran, tc.wantRun)
			}
			if got := ls.lagging.Swap(0); got != tc.wantLagging {
				t.Errorf("%d lagging reads, want %d", got, tc.wantLagging)
			}
		})
	}
}

// retriedLeases is a store whose Lease writes twice, as a store client
// does when it retries a write that was applied but whose answer was lost
// (a 500, a timeout): the second write finds the lease the first took.
type retriedLeases struct{ engine.Store }

func (s retriedLeases) Lease(ctx context.Context, key, holder string, until time.Time) (engine.LeaseResult, error) {
	if _, err := s.Store.Lease(ctx, key, holder, until); err != nil {
		return engine.LeaseResult{}, err
	}
	return s.Store.Lease(ctx, key, holder, until)
}

// A first delivery whose lease write was retried by the store's client
// after it was applied finds the lease held by itself: it runs the attempt
// rather than taking itself for a dead worker and reporting it CRASHED.
func TestWorker_aLeaseWriteRetriedAfterItAppliedIsTheWorkersOwn(t *testing.T) {
	st, _ := bareEngines(t)
	reg, err := builtin.Registry(builtin.Config{Tasks: tasks.Config{}})
	if err != nil {
		t.Fatal(err)
	}
	bus := &flakyBus{Bus: embedded.NewBus()}
	defer bus.Close()
	e, err := engine.New(engine.Config{Store: retriedLeases{st}, Bus: bus, Tasks: reg, StartedAfter: time.Hour, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	mark := filepath.Join(t.TempDir(), "ran")
	c := statemachine.ScheduleTaskRun{ExecutionID: engine.NewID(), TaskRunID: "t", TaskID: "t", Type: flow.TypeShell, Attempt: 1,
		Props: map[string]any{"commands": []any{"touch " + mark}}}
	ce, err := engine.NewEvent(c.ExecutionID+"/t/1/scheduled", engine.TypeTaskRunScheduled, "test", c.ExecutionID, time.Now(), c)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.WorkerHandler()(context.Background(), ce); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(mark); err != nil {
		t.Errorf("the attempt did not run: %v", err)
	}
	if !slices.Equal(bus.sent, []string{c.ExecutionID + "/t/1/finished"}) {
		t.Errorf("published %v, want the attempt's end alone", bus.sent)
	}
}

// flakyBus fails every publish as an outage while down, and keeps what it
// published.
type flakyBus struct {
	engine.Bus
	down atomic.Bool
	mu   sync.Mutex
	sent []string
}

func (b *flakyBus) Publish(ctx context.Context, topic, key string, ev cloudevents.Event) error {
	if b.down.Load() {
		return engine.Unavailable(errors.New("broker down"))
	}
	b.mu.Lock()
	b.sent = append(b.sent, ev.ID())
	b.mu.Unlock()
	return b.Bus.Publish(ctx, topic, key, ev)
}

// In Lambda, a worker whose attempt ended while Kafka is down waits for it
// until the invocation is nearly over, then keeps the attempt's end in the
// table and fails the batch; the batch delivered again publishes the kept
// end instead of running the attempt a second time (the attempt is not
// taken for lost).
func TestWorker_anEndThatCannotBePublishedIsKeptNotRunAgain(t *testing.T) {
	st, _ := bareEngines(t)
	reg, err := builtin.Registry(builtin.Config{Tasks: tasks.Config{}})
	if err != nil {
		t.Fatal(err)
	}
	inner := embedded.NewBus()
	defer inner.Close()
	bus := &flakyBus{Bus: inner}
	e, err := engine.New(engine.Config{Store: st, Bus: bus, Tasks: reg, StartedAfter: time.Hour, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	runs := filepath.Join(t.TempDir(), "runs")
	c := statemachine.ScheduleTaskRun{ExecutionID: engine.NewID(), TaskRunID: "t", TaskID: "t", Type: flow.TypeShell, Attempt: 1,
		Props: map[string]any{"commands": []any{"echo ran >> " + runs}}}
	ce, err := engine.NewEvent(c.ExecutionID+"/t/1/scheduled", engine.TypeTaskRunScheduled, "test", c.ExecutionID, time.Now(), c)
	if err != nil {
		t.Fatal(err)
	}
	bus.down.Store(true)
	invocation, cancel := context.WithTimeout(context.Background(), engine.InvocationMargin+time.Second)
	defer cancel()
	if err := e.WorkerHandler()(invocation, ce); !errors.Is(err, engine.ErrUnavailable) {
		t.Fatalf("the invocation that met the outage: %v, want ErrUnavailable (the batch fails)", err)
	}
	if _, err := st.Record(context.Background(), engine.KindAttemptResult, c.ExecutionID+"/t/1"); err != nil {
		t.Fatalf("the attempt's end was not kept: %v", err)
	}
	bus.down.Store(false)
	if err := e.WorkerHandler()(context.Background(), ce); err != nil {
		t.Fatalf("the batch delivered again: %v", err)
	}
	raw, _ := os.ReadFile(runs)
	if n := strings.Count(string(raw), "ran"); n != 1 {
		t.Errorf("the attempt ran %d times, want once", n)
	}
	if !slices.Contains(bus.sent, c.ExecutionID+"/t/1/finished") {
		t.Errorf("published %v, want the attempt's end", bus.sent)
	}
	if _, err := st.Record(context.Background(), engine.KindAttemptResult, c.ExecutionID+"/t/1"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("the kept end is still there after it was published: %v", err)
	}
}

// An attempt whose worker died (its lease expired) CRASHED: the worker
// that takes the delivery over reports it so instead of running it, and
// the attempt's retry policy schedules the next one (Prefect's Crashed).
func TestWorker_attemptOfADeadWorkerCrashes(t *testing.T) {
	st, newEngine := bareEngines(t)
	e := newEngine(0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mark := filepath.Join(t.TempDir(), "ran")
	src := "id: z\nnamespace: t\ntasks:\n  - id: w\n    type: shell.commands\n    commands: [touch " + mark + "]\n    retry: {type: constant, interval: PT1H, maxAttempts: 2}\n"
	if _, _, err := e.Deploy(ctx, "z.yaml", []byte(src)); err != nil {
		t.Fatal(err)
	}
	bus := embedded.NewBus()
	defer bus.Close()
	events := make(chan statemachine.Event, 8)
	go bus.Subscribe(ctx, engine.TopicExecutions, "test", func(_ context.Context, ce cloudevents.Event) error {
		ev, err := engine.DecodeMachineEvent(ce)
		if err == nil {
			events <- ev
		}
		return nil
	})
	for bus.Subscribers(engine.TopicExecutions, "test") == 0 {
		time.Sleep(time.Millisecond)
	}
	reg, _ := tasks.Builtin(tasks.Config{})
	worker, err := engine.New(engine.Config{Store: st, Bus: bus, Tasks: reg, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	id := engine.NewID()
	apply := func(ev statemachine.Event) {
		t.Helper()
		ce, err := engine.MachineEvent(ev, "test", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := e.ExecutorHandler()(ctx, ce); err != nil {
			t.Fatal(err)
		}
	}
	apply(statemachine.Event{ID: id + "/requested", Type: statemachine.EvExecutionRequested, ExecutionID: id, Namespace: "t", FlowID: "z"})
	// A worker leased the attempt, then died: its lease ended a while ago.
	if _, err := st.Lease(ctx, "attempt/"+id+"/w/1", "dead-worker#1", time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	c := statemachine.ScheduleTaskRun{ExecutionID: id, TaskRunID: "w", TaskID: "w", Type: flow.TypeShell, Attempt: 1, Props: map[string]any{"commands": []any{"touch " + mark}}}
	ce, err := engine.NewEvent(id+"/w/1/scheduled", engine.TypeTaskRunScheduled, "test", id, time.Now(), c)
	if err != nil {
		t.Fatal(err)
	}
	if err := worker.WorkerHandler()(ctx, ce); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(mark); err == nil {
		t.Error("the crashed attempt ran again on the worker that took it over")
	}
	var fin statemachine.Event
	select {
	case fin = <-events:
	case <-time.After(10 * time.Second):
		t.Fatal("no event reported the attempt")
	}
	if fin.Type != statemachine.EvTaskRunFinished || fin.State != statemachine.RunCrashed || fin.Error == nil || fin.Error.Kind != statemachine.KindCrashed {
		t.Fatalf("reported %+v (error %+v), want a CRASHED attempt", fin, fin.Error)
	}
	apply(fin)
	ex, err := st.Execution(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := ex.Run("w")
	if r.State != statemachine.RunRetrying || len(r.Attempts) != 1 || r.Attempts[0].State != statemachine.RunCrashed {
		t.Errorf("task run %s with attempts %+v, want RETRYING after a CRASHED attempt", r.State, r.Attempts)
	}
}
