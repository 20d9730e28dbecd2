package firing

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/statemachine/flow"
	"github.com/relayflow/relay/triggers"
)

// Flows of the flow-trigger tests: A is the upstream; B starts when A
// ends (any end), C when A fails.
var (
	flowA = flowYAML("team", "a", "", "")
	flowB = flowYAML("team", "b", "  - {id: x, type: STRING, required: false}\n", `  - id: after-a
    type: io.kestra.plugin.core.trigger.Flow
    inputs:
      x: "{{ trigger.outputs.n }}"
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionFlow
        namespace: team
        flowId: a
`)
	flowC = flowYAML("team", "c", "", `  - id: a-failed
    type: flow
    states: [FAILED]
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionFlowCondition
        namespace: team
        flowId: a
`)
)

func TestRouterFlowTriggers(t *testing.T) {
	for _, tc := range []struct {
		name     string
		upstream statemachine.ExecutionFinished
		want     []string // flows started, in the order the index lists them
	}{
		{"A succeeds: B only", fin("a-1", "team", "a", statemachine.ExecSuccess), []string{"team/b"}},
		{"A warns: B only", fin("a-1", "team", "a", statemachine.ExecWarning), []string{"team/b"}},
		{"A fails: B and C", fin("a-1", "team", "a", statemachine.ExecFailed), []string{"team/b", "team/c"}},
		{"A is killed: B only", fin("a-1", "team", "a", statemachine.ExecKilled), []string{"team/b"}},
		{"another flow of the namespace: nothing", fin("z-1", "team", "z", statemachine.ExecFailed), nil},
		{"A of another namespace: nothing", fin("a-1", "other", "a", statemachine.ExecFailed), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore(t)
			c := newClock(t0)
			for _, src := range []string{flowA, flowB, flowC} {
				deploy(t, st, src, t0)
			}
			r, rec := newRouter(t, st, c)
			handle(t, r, finishedEvent(t, tc.upstream, t0))
			got := rec.all()
			gotFlows := flowsOf(got)
			slices.Sort(gotFlows)
			if !slices.Equal(gotFlows, tc.want) {
				t.Fatalf("started %v, want %v", gotFlows, tc.want)
			}
			for _, p := range got {
				checkRequest(t, p)
			}
		})
	}
}

func TestRouterFlowTriggerRequest(t *testing.T) {
	st := newStore(t)
	c := newClock(t0)
	for _, src := range []string{flowA, flowB, flowC} {
		deploy(t, st, src, t0)
	}
	r, rec := newRouter(t, st, c)
	up := fin("a-42", "team", "a", statemachine.ExecSuccess)
	up.Outputs = map[string]any{"n": "seven", "count": 3}
	up.Depth = 2
	end := t0.Add(-time.Second)
	up.EndDate = end
	c.Set(t0.Add(time.Second))
	handle(t, r, finishedEvent(t, up, t0))

	got := rec.all()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1: %v", len(got), flowsOf(got))
	}
	p := got[0]
	checkRequest(t, p)
	ev := p.Ev
	if ev.Namespace != "team" || ev.FlowID != "b" {
		t.Errorf("started %s/%s, want team/b", ev.Namespace, ev.FlowID)
	}
	if want := triggers.ExecutionID("team/b/after-a", triggers.UpstreamCause(triggers.Upstream{ExecutionID: "a-42"})); ev.ExecutionID != want {
		t.Errorf("execution id %s, want %s (derived from the trigger and the upstream execution)", ev.ExecutionID, want)
	}
	if ev.Origin == nil || ev.Origin.TriggerID != "after-a" || ev.Origin.Type != "flow" {
		t.Errorf("origin %+v, want trigger after-a of type flow", ev.Origin)
	}
	if ev.Depth != 3 {
		t.Errorf("depth %d, want the upstream's 2 plus one", ev.Depth)
	}
	for k, want := range map[string]any{"executionId": "a-42", "namespace": "team", "flowId": "a", "state": "SUCCESS", "date": end.Format(time.RFC3339Nano)} {
		if ev.Trigger[k] != want {
			t.Errorf("trigger.%s = %#v, want %#v", k, ev.Trigger[k], want)
		}
	}
	outs, _ := ev.Trigger["outputs"].(map[string]any)
	if outs["n"] != "seven" || fmt.Sprint(outs["count"]) != "3" {
		t.Errorf("trigger.outputs = %#v, want the upstream's outputs", ev.Trigger["outputs"])
	}
	if ev.Inputs["x"] != "seven" || len(ev.Inputs) != 1 {
		t.Errorf("inputs %#v, want x rendered from trigger.outputs.n", ev.Inputs)
	}
	// When it last fired is recorded, for `relay triggers list`.
	if info := listInfo(t, st, c.Now(), "team", "b", "after-a"); !info.Last.Equal(c.Now()) {
		t.Errorf("List: last %s, want %s", info.Last, c.Now())
	}
}

func TestRouterFlowTriggerInputsThatDoNotRender(t *testing.T) {
	// An input expression that fails: the execution is requested anyway,
	// without inputs, so that it fails on its inputs where the user sees it.
	st := newStore(t)
	c := newClock(t0)
	deploy(t, st, flowA, t0)
	deploy(t, st, flowYAML("team", "d", "", `  - id: after-a
    type: flow
    inputs:
      x: "{{ trigger.outputs.missing.deeper }}"
    conditions:
      - {type: condition.execution_flow, namespace: team, flowId: a}
`), t0)
	r, rec := newRouter(t, st, c)
	handle(t, r, finishedEvent(t, fin("a-1", "team", "a", statemachine.ExecSuccess), t0))
	got := rec.all()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1", len(got))
	}
	checkRequest(t, got[0])
	if len(got[0].Ev.Inputs) != 0 || got[0].Ev.Trigger["executionId"] != "a-1" || got[0].Ev.Origin == nil {
		t.Errorf("request %+v", got[0].Ev)
	}
}

func TestRouterRedelivery(t *testing.T) {
	st := newStore(t)
	c := newClock(t0)
	for _, src := range []string{flowA, flowB} {
		deploy(t, st, src, t0)
	}
	r, rec := newRouter(t, st, c)
	// A second router on the same store (another process) sees the same
	// event: it requests the same execution.
	r2, rec2 := newRouter(t, st, c)

	ev := finishedEvent(t, fin("a-1", "team", "a", statemachine.ExecSuccess), t0)
	handle(t, r, ev)
	c.Set(t0.Add(time.Minute))
	handle(t, r, ev)
	handle(t, r2, ev)
	handle(t, r, finishedEvent(t, fin("a-2", "team", "a", statemachine.ExecSuccess), t0))

	got := append(rec.all(), rec2.all()...)
	if len(got) != 4 {
		t.Fatalf("%d requests, want 4 (the executor, not the router, drops duplicates)", len(got))
	}
	first, again, other, other2 := got[0].Ev, got[1].Ev, got[2].Ev, got[3].Ev
	if first.ExecutionID != again.ExecutionID || first.ExecutionID != other2.ExecutionID {
		t.Errorf("the same upstream end requested %s, %s and %s: want one execution id", first.ExecutionID, again.ExecutionID, other2.ExecutionID)
	}
	if first.ID != again.ID {
		t.Errorf("event ids %s and %s differ", first.ID, again.ID)
	}
	if other.ExecutionID == first.ExecutionID {
		t.Errorf("another upstream execution requested the same execution %s", other.ExecutionID)
	}
}

func TestRouterPublishFailureAsksForRedelivery(t *testing.T) {
	st := newStore(t)
	c := newClock(t0)
	for _, src := range []string{flowA, flowB} {
		deploy(t, st, src, t0)
	}
	r, rec := newRouter(t, st, c)
	rec.err = errBus
	ev := finishedEvent(t, fin("a-1", "team", "a", statemachine.ExecSuccess), t0)
	if err := r.Handle(t.Context(), ev); err == nil || !strings.Contains(err.Error(), errBus.Error()) {
		t.Fatalf("Handle with the bus down: %v, want the bus's error (redelivery)", err)
	}
	if info := listInfo(t, st, t0, "team", "b", "after-a"); !info.Last.IsZero() {
		t.Errorf("a firing that was not published recorded last %s", info.Last)
	}
	rec.err = nil
	handle(t, r, ev)
	if got := rec.all(); len(got) != 1 {
		t.Fatalf("after the redelivery: %d requests, want 1", len(got))
	}
}

func TestIndexReplacesRevisions(t *testing.T) {
	disabled := strings.Replace(flowB, "    type: io.kestra.plugin.core.trigger.Flow\n", "    type: io.kestra.plugin.core.trigger.Flow\n    disabled: true\n", 1)
	noTrigger := flowYAML("team", "b", "  - {id: x, type: STRING, required: false}\n", "")
	otherUpstream := strings.Replace(flowB, "flowId: a", "flowId: z", 1)
	steps := []struct {
		name   string
		source string
		starts bool     // A's end starts B
		keys   []string // records under tix:flow:team/a
	}{
		{"revision 1 with the trigger", flowB, true, []string{"team/b/after-a"}},
		{"revision 2 without it", noTrigger, false, nil},
		{"revision 3 with it back", flowB + "description: back\n", true, []string{"team/b/after-a"}},
		{"revision 4 with it disabled", disabled, false, nil},
		{"revision 5 enabled again", flowB + "description: again\n", true, []string{"team/b/after-a"}},
		{"revision 6 on another upstream", otherUpstream, false, nil},
	}
	st := newStore(t)
	c := newClock(t0)
	deploy(t, st, flowA, t0)
	r, rec := newRouter(t, st, c)
	var last *flow.Flow
	for i, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			f := deploy(t, st, s.source, t0)
			if f.Revision != i+1 {
				t.Fatalf("revision %d, want %d", f.Revision, i+1)
			}
			last = f
			if got := recordKeys(t, st, "tix:flow:team/a"); !slices.Equal(got, s.keys) {
				t.Errorf("index under flow:team/a: %v, want %v", got, s.keys)
			}
			handle(t, r, finishedEvent(t, fin(fmt.Sprintf("a-%d", i), "team", "a", statemachine.ExecSuccess), t0))
			got := rec.take()
			if s.starts != (len(got) == 1) || len(got) > 1 {
				t.Errorf("A's end started %v, want starts=%v", flowsOf(got), s.starts)
			}
			for _, p := range got {
				checkRequest(t, p)
			}
		})
	}
	if got := recordKeys(t, st, "tix:flow:team/z"); !slices.Equal(got, []string{"team/b/after-a"}) {
		t.Errorf("index under flow:team/z: %v", got)
	}
	handle(t, r, finishedEvent(t, fin("z-1", "team", "z", statemachine.ExecSuccess), t0))
	if got := rec.take(); len(got) != 1 {
		t.Errorf("Z's end started %v, want B", flowsOf(got))
	}

	// Indexing the same revision again changes nothing; indexing an older
	// one once a later one is indexed changes nothing either.
	if err := Index(t.Context(), st, last, t0); err != nil {
		t.Fatal(err)
	}
	rec1, err := st.Flow(t.Context(), "team", "b", 1)
	if err != nil {
		t.Fatal(err)
	}
	f1, err := flow.Parse("b.yaml", rec1.Source)
	if err != nil {
		t.Fatal(err)
	}
	f1.Revision = 1
	if err := Index(t.Context(), st, f1, t0); err != nil {
		t.Fatal(err)
	}
	if got := recordKeys(t, st, "tix:flow:team/a"); len(got) != 0 {
		t.Errorf("an older revision indexed late filed %v", got)
	}
	if got := recordKeys(t, st, "tix:flow:team/z"); !slices.Equal(got, []string{"team/b/after-a"}) {
		t.Errorf("index under flow:team/z after indexing again: %v", got)
	}
}

func TestRouterIgnoresDeletedFlow(t *testing.T) {
	// An index entry whose flow revision cannot be read (the flow is gone)
	// is skipped, not an error that would stall the topic.
	st := newStore(t)
	c := newClock(t0)
	deploy(t, st, flowA, t0)
	if _, err := st.PutRecord(t.Context(), engineRecord("tix:flow:team/a", "team/gone/after-a", `{"revision":1}`), -1); err != nil {
		t.Fatal(err)
	}
	deploy(t, st, flowB, t0)
	r, rec := newRouter(t, st, c)
	handle(t, r, finishedEvent(t, fin("a-1", "team", "a", statemachine.ExecSuccess), t0))
	if got := flowsOf(rec.all()); !slices.Equal(got, []string{"team/b"}) {
		t.Errorf("started %v, want team/b", got)
	}
}

func TestRouterUndecodableFinishedEventCannotApply(t *testing.T) {
	st := newStore(t)
	c := newClock(t0)
	deploy(t, st, flowA, t0)
	deploy(t, st, flowB, t0)
	r, rec := newRouter(t, st, c)
	ce := finishedEvent(t, fin("", "team", "a", statemachine.ExecSuccess), t0)
	if err := r.Handle(t.Context(), ce); !errors.Is(err, engine.ErrCannotApply) {
		t.Fatalf("an execution.finished event without an execution id: %v, want ErrCannotApply (dead-lettered)", err)
	}
	if got := rec.all(); len(got) != 0 {
		t.Errorf("started %v", flowsOf(got))
	}
}

func TestRouterDepthLimit(t *testing.T) {
	for _, tc := range []struct {
		name      string
		depth     int
		maxDepth  int // 0: the default
		wantDepth int // 0: nothing starts
	}{
		{"first in its chain", 0, 0, 1},
		{"just below the limit", statemachine.MaxDepth - 1, 0, statemachine.MaxDepth},
		{"at the limit", statemachine.MaxDepth, 0, 0},
		{"far past the limit", statemachine.MaxDepth + 5, 0, 0},
		{"a lower limit", 3, 3, 0},
		{"a lower limit, below it", 2, 3, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore(t)
			c := newClock(t0)
			deploy(t, st, flowA, t0)
			deploy(t, st, flowB, t0)
			r, rec := newRouter(t, st, c)
			limit := statemachine.MaxDepth
			if tc.maxDepth > 0 {
				r.MaxDepth, limit = tc.maxDepth, tc.maxDepth
			}
			up := fin("a-deep", "team", "a", statemachine.ExecSuccess)
			up.Depth = tc.depth
			handle(t, r, finishedEvent(t, up, t0))
			got := rec.all()
			logs := logsOf(t, st, "a-deep")
			if tc.wantDepth == 0 {
				if len(got) != 0 {
					t.Fatalf("started %v at depth %d", flowsOf(got), got[0].Ev.Depth)
				}
				if len(logs) != 1 || !strings.HasPrefix(logs[0], "ERROR ") || !strings.Contains(logs[0], fmt.Sprintf("more than %d deep", limit)) || !strings.Contains(logs[0], "team/b") {
					t.Fatalf("upstream's log %q, want one ERROR line naming the depth limit and team/b", logs)
				}
				return
			}
			if len(got) != 1 || got[0].Ev.Depth != tc.wantDepth {
				t.Fatalf("requests %+v, want one at depth %d", got, tc.wantDepth)
			}
			if len(logs) != 0 {
				t.Errorf("upstream's log %q, want none", logs)
			}
		})
	}
}

// flowD waits for A and B to succeed (default window: a fixed day).
var flowD = flowYAML("team", "d", "", `  - id: a-and-b
    type: flow
    inputs:
      fromA: "{{ trigger.executions['team/a'].outputs.n }}"
    preconditions:
      id: both
      flows:
        - {namespace: team, flowId: a}
        - {namespace: team, flowId: b}
`)

func TestRouterPreconditions(t *testing.T) {
	type step struct {
		end  statemachine.ExecutionFinished
		fire bool
	}
	a := func(id string, s statemachine.ExecState) statemachine.ExecutionFinished {
		f := fin(id, "team", "a", s)
		f.Outputs = map[string]any{"n": id}
		return f
	}
	b := func(id string, s statemachine.ExecState) statemachine.ExecutionFinished {
		return fin(id, "team", "b", s)
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"A then B", []step{{a("a-1", "SUCCESS"), false}, {b("b-1", "SUCCESS"), true}}},
		{"B then A", []step{{b("b-1", "SUCCESS"), false}, {a("a-1", "SUCCESS"), true}}},
		{"A alone, twice", []step{{a("a-1", "SUCCESS"), false}, {a("a-2", "SUCCESS"), false}}},
		{"B redelivered after the firing", []step{{a("a-1", "SUCCESS"), false}, {b("b-1", "SUCCESS"), true}, {b("b-1", "SUCCESS"), false}}},
		{"A redelivered before B", []step{{a("a-1", "SUCCESS"), false}, {a("a-1", "SUCCESS"), false}, {b("b-1", "SUCCESS"), true}}},
		{"a failed B does not count", []step{{a("a-1", "SUCCESS"), false}, {b("b-1", "FAILED"), false}, {b("b-2", "SUCCESS"), true}}},
		{"reset on success: both again", []step{{a("a-1", "SUCCESS"), false}, {b("b-1", "SUCCESS"), true}, {b("b-2", "SUCCESS"), false}, {a("a-2", "SUCCESS"), true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore(t)
			c := newClock(t0)
			for _, src := range []string{flowA, flowYAML("team", "b", "", ""), flowD} {
				deploy(t, st, src, t0)
			}
			r, rec := newRouter(t, st, c)
			ids := map[string]bool{}
			for i, s := range tc.steps {
				now := t0.Add(time.Duration(i) * time.Minute)
				c.Set(now)
				s.end.EndDate = now
				handle(t, r, finishedEvent(t, s.end, now))
				got := rec.take()
				if !s.fire {
					if len(got) != 0 {
						t.Fatalf("step %d (%s %s): started %v, want nothing", i, s.end.ExecutionID, s.end.State, flowsOf(got))
					}
					continue
				}
				if len(got) != 1 || got[0].Ev.FlowID != "d" {
					t.Fatalf("step %d (%s %s): started %v, want exactly team/d", i, s.end.ExecutionID, s.end.State, flowsOf(got))
				}
				p := got[0]
				checkRequest(t, p)
				if ids[p.Ev.ExecutionID] {
					t.Errorf("step %d: execution id %s requested again", i, p.Ev.ExecutionID)
				}
				ids[p.Ev.ExecutionID] = true
				if p.Ev.Trigger["executionId"] != s.end.ExecutionID {
					t.Errorf("trigger.executionId %v, want the end that completed the set, %s", p.Ev.Trigger["executionId"], s.end.ExecutionID)
				}
				execs, _ := p.Ev.Trigger["executions"].(map[string]any)
				if len(execs) != 2 || execs["team/a"] == nil || execs["team/b"] == nil {
					t.Fatalf("trigger.executions %#v, want team/a and team/b", p.Ev.Trigger["executions"])
				}
				ea := execs["team/a"].(map[string]any)
				if ea["state"] != "SUCCESS" || p.Ev.Inputs["fromA"] != ea["executionId"] {
					t.Errorf("trigger.executions[team/a] %#v, inputs %#v", ea, p.Ev.Inputs)
				}
				if p.Ev.Depth != 1 || p.Ev.Origin == nil || p.Ev.Origin.TriggerID != "a-and-b" {
					t.Errorf("depth %d, origin %+v", p.Ev.Depth, p.Ev.Origin)
				}
				if info := listInfo(t, st, now, "team", "d", "a-and-b"); !info.Last.Equal(now) || info.On != "end of team/a, team/b (preconditions)" {
					t.Errorf("List: %+v", info)
				}
			}
		})
	}
}

func TestRouterPreconditionsWindow(t *testing.T) {
	// The default window is a fixed day (UTC): A yesterday and B today do
	// not make a set.
	st := newStore(t)
	c := newClock(t0)
	for _, src := range []string{flowA, flowYAML("team", "b", "", ""), flowD} {
		deploy(t, st, src, t0)
	}
	r, rec := newRouter(t, st, c)
	yesterday := t0.Add(-24 * time.Hour)
	c.Set(yesterday)
	a1 := fin("a-1", "team", "a", statemachine.ExecSuccess)
	a1.EndDate = yesterday
	handle(t, r, finishedEvent(t, a1, yesterday))
	c.Set(t0)
	handle(t, r, finishedEvent(t, fin("b-1", "team", "b", statemachine.ExecSuccess), t0))
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("A yesterday and B today started %v", flowsOf(got))
	}
	handle(t, r, finishedEvent(t, fin("a-2", "team", "a", statemachine.ExecSuccess), t0))
	if got := rec.take(); len(got) != 1 {
		t.Fatalf("A and B today started %v, want team/d", flowsOf(got))
	}
}

func TestRouterPreconditionsDepthLimit(t *testing.T) {
	st := newStore(t)
	c := newClock(t0)
	for _, src := range []string{flowA, flowYAML("team", "b", "", ""), flowD} {
		deploy(t, st, src, t0)
	}
	r, rec := newRouter(t, st, c)
	handle(t, r, finishedEvent(t, fin("a-1", "team", "a", statemachine.ExecSuccess), t0))
	deep := fin("b-1", "team", "b", statemachine.ExecSuccess)
	deep.Depth = statemachine.MaxDepth
	handle(t, r, finishedEvent(t, deep, t0))
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("an upstream at the depth limit completed the set: started %v", flowsOf(got))
	}
	if logs := logsOf(t, st, "b-1"); len(logs) != 1 || !strings.Contains(logs[0], "deep") {
		t.Errorf("upstream's log %q", logs)
	}
}
