package engine_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/infra/embedded"
	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/tasks"
)

// commitCounter counts a store's commits.
type commitCounter struct {
	*embedded.Store
	commits atomic.Int32
}

func (c *commitCounter) Commit(ctx context.Context, cm engine.Commit) error {
	c.commits.Add(1)
	return c.Store.Commit(ctx, cm)
}

// The events of one execution that arrive together are applied together:
// one commit for the batch, the same state as one by one, and the same
// batch delivered again changes nothing.
func TestExecutorBatch_oneCommitPerExecutionAndBatch(t *testing.T) {
	st, _ := bareEngines(t)
	counted := &commitCounter{Store: st}
	bus := embedded.NewBus()
	defer bus.Close()
	e, err := engine.New(engine.Config{Store: counted, Bus: bus, Tasks: mustBuiltin(t), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := e.Deploy(ctx, "par.yaml", []byte("id: par\nnamespace: t\ntasks:\n  - id: p\n    type: io.kestra.plugin.core.flow.Parallel\n    tasks:\n      - {id: a, type: debug.return, format: a}\n      - {id: b, type: debug.return, format: b}\n      - {id: c, type: debug.return, format: c}\n")); err != nil {
		t.Fatal(err)
	}
	ids := []string{engine.NewID(), engine.NewID()}
	var batch []cloudevents.Event
	add := func(ev statemachine.Event) {
		ce, err := engine.MachineEvent(ev, "test", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, ce)
	}
	for _, id := range ids {
		add(statemachine.Event{ID: id + "/requested", Type: statemachine.EvExecutionRequested, ExecutionID: id, Namespace: "t", FlowID: "par"})
	}
	if err := e.ExecutorBatchHandler()(ctx, batch); err != nil {
		t.Fatal(err)
	}
	batch = nil
	for _, run := range []string{"a", "b", "c"} { // the two executions' events interleaved, as on a partition
		for _, id := range ids {
			add(statemachine.Event{ID: fmt.Sprintf("%s/%s/1/finished", id, run), Type: statemachine.EvTaskRunFinished, ExecutionID: id, TaskRunID: run, Attempt: 1, State: statemachine.RunSuccess})
		}
	}
	before := counted.commits.Load()
	if err := e.ExecutorBatchHandler()(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if n := counted.commits.Load() - before; n != 2 {
		t.Errorf("%d commits for a batch of 3 events of each of 2 executions, want 2", n)
	}
	for _, id := range ids {
		ex, err := st.Execution(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if ex.State != statemachine.ExecSuccess || ex.RunCounts[statemachine.RunSuccess] != 4 {
			t.Errorf("execution %s: %s with %v, want SUCCESS with 4 runs", id, ex.State, ex.RunCounts)
		}
	}
	before = counted.commits.Load()
	if err := e.ExecutorBatchHandler()(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if n := counted.commits.Load() - before; n != 0 {
		t.Errorf("the same batch again committed %d times, want none", n)
	}
}

func mustBuiltin(t *testing.T) *tasks.Registry {
	t.Helper()
	reg, err := tasks.Builtin(tasks.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}
