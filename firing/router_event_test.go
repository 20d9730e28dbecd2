package firing

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/tasks"
	"github.com/relayflow/relay/triggers"
)

// Flows of the event-trigger tests.
var (
	// created starts on com.acme.order.created (filed under that type).
	flowCreated = flowYAML("shop", "created", "  - {id: order, type: STRING, required: false}\n", `  - id: on-created
    type: cloudevents.trigger
    filters:
      - exact: {type: com.acme.order.created}
    inputs:
      order: "{{ trigger.event.data.id }}"
`)
	// shipped starts on com.acme.order.shipped.
	flowShipped = flowYAML("shop", "shipped", "", `  - id: on-shipped
    type: cloudevents.trigger
    filters:
      - exact: {type: com.acme.order.shipped}
`)
	// eu starts on any event from a source under /shop/eu (filed under
	// every type).
	flowEU = flowYAML("shop", "eu", "", `  - id: from-eu
    type: cloudevents.trigger
    filters:
      - prefix: {source: /shop/eu}
`)
	// big starts on large orders only: a condition on the event's data.
	flowBig = flowYAML("shop", "big", "", `  - id: big-order
    type: cloudevents.trigger
    filters:
      - exact: {type: com.acme.order.created}
    condition: "{{ trigger.event.data.total > 100 }}"
`)
)

func deployEventFlows(t *testing.T, st Store) {
	t.Helper()
	for _, src := range []string{flowCreated, flowShipped, flowEU, flowBig} {
		deploy(t, st, src, t0)
	}
}

func TestRouterEventTriggers(t *testing.T) {
	for _, tc := range []struct {
		name, typ, source string
		data              any
		want              []string
	}{
		{"created, small, from the US", "com.acme.order.created", "/shop/us", map[string]any{"id": "o-1", "total": 50}, []string{"shop/created"}},
		{"created, big, from the US", "com.acme.order.created", "/shop/us", map[string]any{"id": "o-2", "total": 500}, []string{"shop/big", "shop/created"}},
		{"created, big, from the EU", "com.acme.order.created", "/shop/eu/paris", map[string]any{"id": "o-3", "total": 500}, []string{"shop/big", "shop/created", "shop/eu"}},
		{"created, no total", "com.acme.order.created", "/shop/us", map[string]any{"id": "o-4"}, []string{"shop/created"}},
		{"shipped", "com.acme.order.shipped", "/shop/us", nil, []string{"shop/shipped"}},
		{"another type from the EU", "com.acme.cart.abandoned", "/shop/eu", nil, []string{"shop/eu"}},
		{"a type that only starts with the filter's", "com.acme.order.created.v2", "/shop/us", map[string]any{"total": 500}, nil},
		{"another type from elsewhere", "com.acme.cart.abandoned", "/warehouse", nil, nil},
		{"a source that only contains the prefix", "com.acme.cart.abandoned", "/x/shop/eu", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore(t)
			c := newClock(t0)
			deployEventFlows(t, st)
			r, rec := newRouter(t, st, c)
			handle(t, r, externalEvent(t, "ev-1", tc.typ, tc.source, tc.data, t0))
			got := rec.all()
			flows := flowsOf(got)
			slices.Sort(flows)
			if !slices.Equal(flows, tc.want) {
				t.Fatalf("started %v, want %v", flows, tc.want)
			}
			for _, p := range got {
				checkRequest(t, p)
				ev := p.Ev
				if ev.Origin == nil || ev.Origin.Type != "cloudevents.trigger" || ev.Depth != 0 {
					t.Errorf("%s: origin %+v, depth %d", ev.FlowID, ev.Origin, ev.Depth)
				}
				e, _ := ev.Trigger["event"].(map[string]any)
				if e["id"] != "ev-1" || e["type"] != tc.typ || e["source"] != tc.source {
					t.Errorf("%s: trigger.event %#v", ev.FlowID, e)
				}
				if ev.FlowID == "created" {
					data, _ := tc.data.(map[string]any)
					if ev.Inputs["order"] != data["id"] {
						t.Errorf("inputs %#v, want order from trigger.event.data.id", ev.Inputs)
					}
				}
			}
		})
	}
}

func TestRouterEventIdentity(t *testing.T) {
	// An event is identified by its source and id: seen twice, it requests
	// the same execution; another source or id, another one.
	st := newStore(t)
	c := newClock(t0)
	deploy(t, st, flowShipped, t0)
	r, rec := newRouter(t, st, c)
	for _, e := range []struct{ id, source string }{
		{"ev-1", "/shop/us"}, {"ev-1", "/shop/us"}, {"ev-1", "/shop/eu"}, {"ev-2", "/shop/us"},
	} {
		handle(t, r, externalEvent(t, e.id, "com.acme.order.shipped", e.source, nil, t0))
	}
	got := rec.all()
	if len(got) != 4 {
		t.Fatalf("%d requests, want 4", len(got))
	}
	ids := []string{got[0].Ev.ExecutionID, got[1].Ev.ExecutionID, got[2].Ev.ExecutionID, got[3].Ev.ExecutionID}
	if ids[0] != ids[1] {
		t.Errorf("the same event requested %s and %s", ids[0], ids[1])
	}
	if ids[2] == ids[0] || ids[3] == ids[0] || ids[2] == ids[3] {
		t.Errorf("different events requested %v: want distinct ids", ids)
	}
	want := triggers.ExecutionID("shop/shipped/on-shipped", triggers.EventCause(&triggers.Event{ID: "ev-1", Source: "/shop/us"}))
	if ids[0] != want {
		t.Errorf("execution id %s, want %s", ids[0], want)
	}
}

func TestRouterEventDepth(t *testing.T) {
	for _, tc := range []struct {
		name      string
		emitter   *statemachine.Execution // stored; nil: the extension names an unknown execution
		ext       string                  // relayexecution; "" none
		wantDepth int                     // -1: nothing starts
	}{
		{"no emitting execution", nil, "", 0},
		{"an unknown execution", nil, "gone", 0},
		{"an execution at depth 0", &statemachine.Execution{ID: "em", Depth: 0}, "em", 1},
		{"an execution at depth 3", &statemachine.Execution{ID: "em", Depth: 3}, "em", 4},
		{"an execution just below the limit", &statemachine.Execution{ID: "em", Depth: statemachine.MaxDepth - 1}, "em", statemachine.MaxDepth},
		{"an execution at the limit", &statemachine.Execution{ID: "em", Depth: statemachine.MaxDepth}, "em", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore(t)
			c := newClock(t0)
			deploy(t, st, flowShipped, t0)
			if e := tc.emitter; e != nil {
				e.Namespace, e.FlowID, e.State, e.StartDate = "shop", "emitter", statemachine.ExecRunning, t0
				commitExecution(t, st, e)
			}
			r, rec := newRouter(t, st, c)
			ce := externalEvent(t, "ev-1", "com.acme.order.shipped", "relay/shop/emitter", nil, t0)
			if tc.ext != "" {
				ce.SetExtension(tasks.ExtensionExecution, tc.ext)
			}
			handle(t, r, ce)
			got := rec.all()
			if tc.wantDepth < 0 {
				if len(got) != 0 {
					t.Fatalf("started %v", flowsOf(got))
				}
				logs := logsOf(t, st, tc.ext)
				if len(logs) != 1 || !strings.HasPrefix(logs[0], "ERROR ") || !strings.Contains(logs[0], fmt.Sprintf("more than %d deep", statemachine.MaxDepth)) || !strings.Contains(logs[0], "ev-1") {
					t.Fatalf("emitter's log %q, want an ERROR line naming the depth limit and the event", logs)
				}
				return
			}
			if len(got) != 1 || got[0].Ev.Depth != tc.wantDepth {
				t.Fatalf("requests %+v, want one at depth %d", got, tc.wantDepth)
			}
			if tc.ext != "" {
				ext, _ := got[0].Ev.Trigger["event"].(map[string]any)["extensions"].(map[string]any)
				if ext[tasks.ExtensionExecution] != tc.ext {
					t.Errorf("trigger.event.extensions %#v", ext)
				}
			}
		})
	}
}

func TestRouterStoreFailureAsksForRedelivery(t *testing.T) {
	// The store failing (here: closed) is an error, so the bus delivers
	// the event again.
	st := newStore(t)
	c := newClock(t0)
	deployEventFlows(t, st)
	deploy(t, st, flowA, t0)
	deploy(t, st, flowB, t0)
	r, rec := newRouter(t, st, c)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Handle(t.Context(), externalEvent(t, "ev-1", "com.acme.order.shipped", "/x", nil, t0)); err == nil {
		t.Error("an event handled with the store closed: no error")
	}
	if err := r.Handle(t.Context(), finishedEvent(t, fin("a-1", "team", "a", statemachine.ExecSuccess), t0)); err == nil {
		t.Error("an execution.finished event handled with the store closed: no error")
	}
	if got := rec.all(); len(got) != 0 {
		t.Errorf("started %v", flowsOf(got))
	}
}

func TestRouterStopAfter(t *testing.T) {
	// Each trigger type with stopAfter: [FAILED]; an execution it started
	// ends (Origin names the trigger), then a cause of the trigger comes.
	origin := func(id, typ string) *statemachine.Origin { return &statemachine.Origin{TriggerID: id, Type: typ} }
	for _, tc := range []struct {
		name     string
		state    statemachine.ExecState
		origin   *statemachine.Origin
		flowID   string // of the ended execution; "" the trigger's flow
		stops    bool
		wantLogs bool
	}{
		{"an execution it started fails", statemachine.ExecFailed, origin("on-order", "cloudevents.trigger"), "", true, true},
		{"an execution it started succeeds", statemachine.ExecSuccess, origin("on-order", "cloudevents.trigger"), "", false, false},
		{"an execution it started is killed", statemachine.ExecKilled, origin("on-order", "cloudevents.trigger"), "", false, false},
		{"an execution another trigger started fails", statemachine.ExecFailed, origin("other", "cloudevents.trigger"), "", false, false},
		{"an execution started by hand fails", statemachine.ExecFailed, nil, "", false, false},
		{"an execution of another flow with the same trigger id fails", statemachine.ExecFailed, origin("on-order", "cloudevents.trigger"), "other", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore(t)
			c := newClock(t0)
			deploy(t, st, flowYAML("shop", "orders", "", `  - id: on-order
    type: cloudevents.trigger
    stopAfter: [FAILED]
    filters:
      - exact: {type: com.acme.order.created}
`), t0)
			deploy(t, st, flowYAML("shop", "other", "", ""), t0)
			r, rec := newRouter(t, st, c)
			handle(t, r, externalEvent(t, "ev-1", "com.acme.order.created", "/shop", nil, t0))
			if got := rec.take(); len(got) != 1 {
				t.Fatalf("before any end: started %v, want shop/orders", flowsOf(got))
			}
			flowID := tc.flowID
			if flowID == "" {
				flowID = "orders"
			}
			end := fin("x-1", "shop", flowID, tc.state)
			end.Origin = tc.origin
			c.Set(t0.Add(time.Minute))
			handle(t, r, finishedEvent(t, end, c.Now()))
			if got := rec.take(); len(got) != 0 {
				t.Fatalf("the end started %v", flowsOf(got))
			}
			c.Set(t0.Add(2 * time.Minute))
			handle(t, r, externalEvent(t, "ev-2", "com.acme.order.created", "/shop", nil, c.Now()))
			got := rec.take()
			if tc.stops && len(got) != 0 || !tc.stops && len(got) != 1 {
				t.Fatalf("after the end: started %v, want stopped=%v", flowsOf(got), tc.stops)
			}
			info := listInfo(t, st, c.Now(), "shop", "orders", "on-order")
			if info.Stopped != tc.stops {
				t.Errorf("List: stopped %v, want %v", info.Stopped, tc.stops)
			}
			logs := logsOf(t, st, "x-1")
			if tc.wantLogs != (len(logs) == 1) || tc.wantLogs && !strings.Contains(logs[0], "stopped") {
				t.Errorf("the ended execution's log: %q", logs)
			}
		})
	}
}

func TestStopAfterEachTriggerType(t *testing.T) {
	stopEnd := func(flowID, triggerID, typ string) statemachine.ExecutionFinished {
		e := fin(flowID+"-failed", "team", flowID, statemachine.ExecFailed)
		e.Origin = &statemachine.Origin{TriggerID: triggerID, Type: typ}
		return e
	}
	for _, tc := range []struct {
		name    string
		source  string
		trigger string
		typ     string
		fire    func(t *testing.T, st Store, c *clock, r *Router, rec *recorder, n int) int // how many it started
	}{
		{"flow trigger", flowYAML("team", "down", "", `  - id: after-a
    type: flow
    stopAfter: [FAILED]
    conditions:
      - {type: condition.execution_flow, namespace: team, flowId: a}
`), "after-a", "flow", func(t *testing.T, st Store, c *clock, r *Router, rec *recorder, n int) int {
			handle(t, r, finishedEvent(t, fin(fmt.Sprintf("a-%d", n), "team", "a", statemachine.ExecSuccess), c.Now()))
			return len(rec.take())
		}},
		{"flow trigger with preconditions", flowYAML("team", "down", "", `  - id: after-a
    type: flow
    stopAfter: [FAILED]
    preconditions:
      flows:
        - {namespace: team, flowId: a}
`), "after-a", "flow", func(t *testing.T, st Store, c *clock, r *Router, rec *recorder, n int) int {
			handle(t, r, finishedEvent(t, fin(fmt.Sprintf("a-%d", n), "team", "a", statemachine.ExecSuccess), c.Now()))
			return len(rec.take())
		}},
		{"schedule", flowYAML("team", "down", "", `  - id: every-minute
    type: schedule
    cron: "* * * * *"
    stopAfter: [FAILED]
`), "every-minute", "schedule", func(t *testing.T, st Store, c *clock, r *Router, rec *recorder, n int) int {
			// A tick now (the first one plans the schedule from now), then
			// one a minute later, when the next time is due.
			s := NewScheduler(SchedulerConfig{Store: st, Bus: rec, Now: c.Now})
			started := 0
			for range 2 {
				n, err := s.Tick(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				started += n
				c.Set(c.Now().Add(time.Minute))
			}
			if len(rec.take()) != started {
				t.Errorf("Tick reported %d", started)
			}
			return started
		}},
		{"webhook", flowYAML("team", "down", "", `  - id: hook
    type: webhook
    key: a-long-secret
    stopAfter: [FAILED]
`), "hook", "webhook", func(t *testing.T, st Store, c *clock, r *Router, rec *recorder, n int) int {
			_, _, err := Webhook(t.Context(), st, rec, nil, nil, "team", "down", "a-long-secret", nil, c.Now())
			if err != nil && !errors.Is(err, ErrNoWebhook) {
				t.Fatal(err)
			}
			return len(rec.take())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore(t)
			c := newClock(t0)
			deploy(t, st, flowA, t0)
			deploy(t, st, tc.source, t0)
			r, rec := newRouter(t, st, c)
			if n := tc.fire(t, st, c, r, rec, 1); n != 1 {
				t.Fatalf("before the failure: started %d, want 1", n)
			}
			handle(t, r, finishedEvent(t, stopEnd("down", tc.trigger, tc.typ), c.Now()))
			rec.take()
			if n := tc.fire(t, st, c, r, rec, 2); n != 0 {
				t.Fatalf("after the failure: started %d, want 0", n)
			}
			info := listInfo(t, st, c.Now(), "team", "down", tc.trigger)
			if !info.Stopped || !info.Next.IsZero() {
				t.Errorf("List: %+v, want stopped and no next time", info)
			}
		})
	}
}

func TestRouterEventWithoutIndexedTrigger(t *testing.T) {
	// No flow at all: events and ends are consumed without error.
	st := newStore(t)
	r, rec := newRouter(t, st, newClock(t0))
	handle(t, r, externalEvent(t, "ev-1", "com.acme.x", "/x", "not json", t0))
	handle(t, r, finishedEvent(t, fin("a-1", "team", "a", statemachine.ExecSuccess), t0))
	if got := rec.all(); len(got) != 0 {
		t.Fatalf("started %v", flowsOf(got))
	}
}
