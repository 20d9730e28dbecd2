package api_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/relayflow/relay/api"
	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/statemachine/flow"
)

// memFlows is a FlowSource over parsed flows, counting its reads.
type memFlows struct {
	flows map[string]*flow.Flow
	reads map[string]int
	err   error
}

func newMemFlows(t *testing.T, sources ...string) *memFlows {
	t.Helper()
	m := &memFlows{flows: map[string]*flow.Flow{}, reads: map[string]int{}}
	for i, src := range sources {
		f, err := engine.ParseFlow(fmt.Sprintf("flow%d.yaml", i), []byte(src))
		if err != nil {
			t.Fatalf("parsing flow %d: %v", i, err)
		}
		f.Revision = 1
		m.flows[f.Namespace+"/"+f.ID] = f
	}
	return m
}

func (m *memFlows) get(_ context.Context, ns, id string, rev int) (*flow.Flow, error) {
	m.reads[ns+"/"+id]++
	if m.err != nil {
		return nil, m.err
	}
	f, ok := m.flows[ns+"/"+id]
	if !ok || (rev != 0 && rev != f.Revision) {
		return nil, fmt.Errorf("flow %s/%s: %w", ns, id, engine.ErrNotFound)
	}
	return f, nil
}

func subflowYAML(id string, tasks ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "id: %s\nnamespace: sub\ntasks:\n  - id: %s_log\n    type: log\n    message: hi\n", id, id)
	for _, t := range tasks {
		name, target, _ := strings.Cut(t, ">")
		fmt.Fprintf(&b, "  - id: %s\n    type: io.kestra.plugin.core.flow.Subflow\n    namespace: sub\n    flowId: %s\n", name, target)
	}
	return b.String()
}

// taskByID finds a task among blocks, not looking into subflows.
func taskByID(blocks []api.BlockView, id string) *api.TaskView {
	for _, b := range blocks {
		for i := range b.Tasks {
			if b.Tasks[i].ID == id {
				return &b.Tasks[i]
			}
			if t := taskByID(b.Tasks[i].Blocks, id); t != nil {
				return t
			}
		}
	}
	return nil
}

func taskIDs(blocks []api.BlockView) string {
	var ids []string
	for _, b := range blocks {
		for _, t := range b.Tasks {
			ids = append(ids, t.ID)
		}
	}
	return strings.Join(ids, " ")
}

// A subflow task holds the tasks of the flow it starts, nested to
// MaxSubflowDepth levels; a missing flow, a flow that starts itself and a
// flow nested too deep are marked instead of failing the graph.
func TestGraphWithSubflows_nestsChildFlowsAndMarksWhatItCannotDraw(t *testing.T) {
	src := newMemFlows(t,
		subflowYAML("parent", "child>child", "again>child", "nope>missing", "self>parent"),
		`id: child
namespace: sub
tasks:
  - id: fan
    type: flow.parallel
    tasks:
      - id: left
        type: log
        message: l
      - id: right
        type: log
        message: r
  - id: back
    type: flow.subflow
    namespace: sub
    flowId: parent
  - id: down
    type: flow.subflow
    namespace: sub
    flowId: level2
errors:
  - id: oops
    type: log
    message: o
`,
		subflowYAML("level2", "down>level3"),
		subflowYAML("level3", "down>level4"),
		subflowYAML("level4"),
	)
	g, err := api.GraphWithSubflows(context.Background(), src.flows["sub/parent"], src.get)
	if err != nil {
		t.Fatal(err)
	}
	child := taskByID(g.Blocks, "child").Subflow
	if child == nil || child.Status != "" || child.Revision != 1 || child.Namespace != "sub" || child.ID != "child" {
		t.Fatalf("child subflow: %+v", child)
	}
	if got := taskIDs(child.Blocks); got != "fan back down oops" {
		t.Errorf("child's tasks %q", got)
	}
	if fan := taskByID(child.Blocks, "fan"); fan == nil || taskIDs(fan.Blocks) != "left right" {
		t.Errorf("child's parallel: %+v", fan)
	}
	if len(child.Blocks) != 2 || child.Blocks[1].Name != "errors" {
		t.Errorf("child's blocks: %+v", child.Blocks)
	}
	if again := taskByID(g.Blocks, "again").Subflow; again.Status != "" || taskIDs(again.Blocks) != "fan back down oops" {
		t.Errorf("the same flow started twice: %+v", again)
	}
	if src.reads["sub/child"] != 1 {
		t.Errorf("read the child %d times, want once", src.reads["sub/child"])
	}
	for _, c := range []struct {
		name   string
		sub    *api.SubflowView
		status string
	}{
		{"a flow that is not deployed", taskByID(g.Blocks, "nope").Subflow, api.SubflowNotFound},
		{"a flow that starts itself", taskByID(g.Blocks, "self").Subflow, api.SubflowCycle},
		{"a child that starts its parent", taskByID(child.Blocks, "back").Subflow, api.SubflowCycle},
	} {
		if c.sub == nil || c.sub.Status != c.status || len(c.sub.Blocks) != 0 {
			t.Errorf("%s: %+v, want status %s", c.name, c.sub, c.status)
		}
	}
	// parent > child > level2 > level3 are drawn; level4 is a fourth level.
	l2 := taskByID(child.Blocks, "down").Subflow
	l3 := taskByID(l2.Blocks, "down").Subflow
	if l2.Status != "" || l3.Status != "" || taskIDs(l3.Blocks) != "level3_log down" {
		t.Fatalf("levels 2 and 3: %+v %+v", l2, l3)
	}
	if l4 := taskByID(l3.Blocks, "down").Subflow; l4.Status != api.SubflowTooDeep || len(l4.Blocks) != 0 {
		t.Errorf("level 4: %+v, want %s", l4, api.SubflowTooDeep)
	}
	if src.reads["sub/level4"] != 0 {
		t.Errorf("read a flow nested too deep to draw")
	}
}

// A subflow task naming a revision is drawn with that revision; one that
// is not deployed is not found.
func TestGraphWithSubflows_drawsTheRevisionTheTaskNames(t *testing.T) {
	parent := subflowYAML("p", "kid>k") + "    revision: 1\n" + "  - id: other\n    type: flow.subflow\n    namespace: sub\n    flowId: k\n    revision: 7\n"
	src := newMemFlows(t, parent, subflowYAML("k"))
	g, err := api.GraphWithSubflows(context.Background(), src.flows["sub/p"], src.get)
	if err != nil {
		t.Fatal(err)
	}
	if kid := taskByID(g.Blocks, "kid").Subflow; kid.Status != "" || kid.Revision != 1 || taskIDs(kid.Blocks) != "k_log" {
		t.Errorf("revision 1: %+v", kid)
	}
	if other := taskByID(g.Blocks, "other").Subflow; other.Status != api.SubflowNotFound || other.Revision != 7 {
		t.Errorf("revision 7: %+v", other)
	}
}

// A store that fails fails the graph, rather than drawing the subflow as
// missing; a graph built without a store names subflows only.
func TestGraphWithSubflows_storeErrorsFailAndNoStoreExpandsNothing(t *testing.T) {
	src := newMemFlows(t, subflowYAML("p", "kid>k"), subflowYAML("k"))
	boom := errors.New("store down")
	f := src.flows["sub/p"]
	src.err = boom
	if _, err := api.GraphWithSubflows(context.Background(), f, src.get); !errors.Is(err, boom) {
		t.Errorf("store error: %v", err)
	}
	if kid := taskByID(api.Graph(f).Blocks, "kid").Subflow; kid.Status != api.SubflowNotExpanded || kid.ID != "k" || len(kid.Blocks) != 0 {
		t.Errorf("without a store: %+v", kid)
	}
}

// A graph holds at most MaxSubflows subflows however many tasks start
// them; the ones beyond are marked, and the flow is read once.
func TestGraphWithSubflows_boundsHowManySubflowsItDraws(t *testing.T) {
	var calls []string
	for i := range api.MaxSubflows + 2 {
		calls = append(calls, fmt.Sprintf("c%d>k", i))
	}
	src := newMemFlows(t, subflowYAML("p", calls...), subflowYAML("k"))
	g, err := api.GraphWithSubflows(context.Background(), src.flows["sub/p"], src.get)
	if err != nil {
		t.Fatal(err)
	}
	var drawn, tooMany int
	for _, tv := range g.Blocks[0].Tasks {
		switch {
		case tv.Subflow == nil:
		case tv.Subflow.Status == "" && taskIDs(tv.Subflow.Blocks) == "k_log":
			drawn++
		case tv.Subflow.Status == api.SubflowTooMany:
			tooMany++
		}
	}
	if drawn != api.MaxSubflows || tooMany != 2 || src.reads["sub/k"] != 1 {
		t.Errorf("drew %d, marked %d too many, read k %d times; want %d, 2, 1", drawn, tooMany, src.reads["sub/k"], api.MaxSubflows)
	}
}
