package firing

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/statemachine"
)

// Regression tests: each pins a behaviour that was once wrong.

// A schedule time between the deployment and the scheduler's first tick
// runs: the schedule's cursor starts at the deployment, not at the first
// tick.
func TestSchedulerFirstTickAfterADueTime(t *testing.T) {
	st := newStore(t)
	c := newClock(at(10, 4, 50))
	deploy(t, st, every5, c.Now())
	if i := listInfo(t, st, at(10, 4, 55), "team", "s", "every-5"); !i.Next.Equal(at(10, 5, 0)) {
		t.Fatalf("List: next %s", i.Next)
	}
	s, rec := newScheduler(t, st, c)
	c.Set(at(10, 5, 10)) // the first tick, 20 s after the deployment
	tick(t, s)
	if got := dates(rec.take()); !slices.Equal(got, []string{"2025-06-02T10:05:00Z"}) {
		t.Fatalf("started %v, want 10:05 (after the deployment, before the first tick)", got)
	}
}

// hookStore runs a function once, right after Index first reads the
// flow's entry: another Index of the same flow gets in between.
type hookStore struct {
	Store
	once sync.Once
	hook func()
}

func (h *hookStore) Record(ctx context.Context, kind, key string) (engine.Record, error) {
	r, err := h.Store.Record(ctx, kind, key)
	if kind == kindFlow {
		h.once.Do(h.hook) // after the read: the caller goes on with what it read
	}
	return r, err
}

// Two Index calls of one flow at once (two deployments racing): the one
// that loses the conditional write of the flow's entry takes out the
// triggers it filed that the winner's revision does not have, so the
// router never fires them from the old revision.
func TestIndexRaceLeavesNoOrphanEntries(t *testing.T) {
	st := newStore(t)
	c := newClock(t0)
	deploy(t, st, flowA, t0)
	es := Store(st)
	_, f1, err := engine.SaveFlow(t.Context(), st, "b.yaml", []byte(flowB)) // revision 1: after-a
	if err != nil {
		t.Fatal(err)
	}
	_, f2, err := engine.SaveFlow(t.Context(), st, "b.yaml", []byte(flowYAML("team", "b", "", ""))) // revision 2: none
	if err != nil {
		t.Fatal(err)
	}
	h := &hookStore{Store: es}
	h.hook = func() {
		if err := Index(t.Context(), st, f2, t0); err != nil {
			t.Errorf("Index revision 2: %v", err)
		}
	}
	_ = Index(t.Context(), h, f1, t0) // loses: an error is fine
	if keys := recordKeys(t, st, "tix:flow:team/a"); len(keys) != 0 {
		t.Errorf("index under flow:team/a: %v, want none (revision 2 has no trigger)", keys)
	}
	r, rec := newRouter(t, st, c)
	handle(t, r, finishedEvent(t, fin("a-1", "team", "a", statemachine.ExecSuccess), t0))
	if got := rec.take(); len(got) != 0 {
		t.Errorf("A's end started %v from a revision that is not the latest", flowsOf(got))
	}
	// No later deployment takes it out: the flow's entry does not list it.
	deploy(t, st, flowYAML("team", "b", "", "")+"description: revision 3\n", t0)
	if keys := recordKeys(t, st, "tix:flow:team/a"); len(keys) != 0 {
		t.Errorf("after revision 3: index under flow:team/a: %v, want none", keys)
	}
}

func TestRouterResolve(t *testing.T) {
	// Resolve reads back the data of an event before matching.
	st := newStore(t)
	deploy(t, st, flowCreated, t0)
	rec := newRecorder(t)
	r := NewRouter(RouterConfig{Store: st, Bus: rec, Now: newClock(t0).Now,
		Resolve: func(_ context.Context, ce cloudevents.Event) (cloudevents.Event, error) {
			ce = ce.Clone()
			err := ce.SetData("application/json", map[string]any{"id": "resolved"})
			return ce, err
		}})
	handle(t, r, externalEvent(t, "ev-1", "com.acme.order.created", "/shop", map[string]any{"ref": "blob"}, t0))
	got := rec.all()
	if len(got) != 1 || got[0].Ev.Inputs["order"] != "resolved" {
		t.Fatalf("requests %+v, want one with the resolved data", got)
	}
}

func TestScheduleReaddedStartsFresh(t *testing.T) {
	// A schedule removed and added back later is planned from the new
	// deployment: the times while it was gone are not started.
	st := newStore(t)
	c := newClock(at(10, 0, 30))
	deploy(t, st, every5, c.Now())
	s, rec := newScheduler(t, st, c)
	tick(t, s)
	c.Set(at(10, 5, 0))
	tick(t, s)
	rec.take()
	deploy(t, st, flowYAML("team", "s", "  - {id: when, type: STRING, required: false}\n", ""), at(10, 6, 0))
	c.Set(at(10, 31, 0))
	deploy(t, st, every5+"description: back\n", c.Now())
	tick(t, s)
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("added back at 10:31: started %v", dates(got))
	}
	c.Set(at(10, 35, 0).Add(time.Millisecond))
	tick(t, s)
	if got := dates(rec.take()); !slices.Equal(got, []string{"2025-06-02T10:35:00Z"}) {
		t.Fatalf("10:35: started %v", got)
	}
}
