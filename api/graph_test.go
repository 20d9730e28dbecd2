package api_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/relayflow/relay/api"
	"github.com/relayflow/relay/engine"
)

// The graph of a flow nests every flowable task's blocks, names a Dag's
// dependencies and a subflow's flow, and carries the typed inputs a start
// form needs and the onResume inputs of a pause.
func TestFlowGraph_nestsBlocksAndDescribesInputs(t *testing.T) {
	s := start(t)
	ctx := context.Background()
	deploy(t, s.client, "testdata/shapes.yaml")
	g, err := s.client.FlowGraph(ctx, "ui.test", "shapes", 0)
	if err != nil {
		t.Fatal(err)
	}
	if g.Revision != 1 || len(g.Blocks) != 2 || g.Blocks[0].Name != "tasks" || g.Blocks[1].Name != "errors" {
		t.Fatalf("graph %+v", g)
	}
	tasks := map[string]api.TaskView{}
	for _, tv := range g.Blocks[0].Tasks {
		tasks[tv.ID] = tv
	}
	blocks := func(id string) string {
		var names []string
		for _, b := range tasks[id].Blocks {
			n := b.Name
			if b.Value != "" {
				n += "=" + b.Value
			}
			for _, c := range b.Tasks {
				n += " " + c.ID
			}
			names = append(names, n)
		}
		return strings.Join(names, "; ")
	}
	for id, want := range map[string]string{
		"fan":    "tasks left right",
		"choose": "then many; else one",
		"route":  "case=eu to_eu; defaults elsewhere",
		"each":   "tasks item",
		"graph":  "dag a b",
	} {
		if got := blocks(id); got != want {
			t.Errorf("%s: blocks %q, want %q", id, got, want)
		}
	}
	if tasks["fan"].Type != "flow.parallel" || tasks["fan"].TypeName != "io.kestra.plugin.core.flow.Parallel" || !tasks["fan"].Flowable {
		t.Errorf("fan: %+v", tasks["fan"])
	}
	if dag := tasks["graph"].Blocks[0].Tasks; len(dag[1].DependsOn) != 1 || dag[1].DependsOn[0] != "a" {
		t.Errorf("dag dependencies: %+v", dag)
	}
	if sub := tasks["child"].Subflow; sub == nil || sub.Namespace != "ui.test" || sub.ID != "other" || sub.Status != api.SubflowNotFound {
		t.Errorf("subflow: %+v", tasks["child"])
	}
	if on := tasks["approve"].OnResume; len(on) != 1 || on[0].ID != "ok" || on[0].Type != "BOOLEAN" {
		t.Errorf("onResume: %+v", on)
	}
	if len(g.Inputs) != 2 || g.Inputs[0].Type != "SELECT" || len(g.Inputs[0].Values) != 2 || g.Inputs[0].Required || g.Inputs[0].Default != "eu" ||
		g.Inputs[1].Type != "INT" || !g.Inputs[1].Required {
		t.Errorf("inputs: %+v", g.Inputs)
	}
	if len(g.Triggers) != 2 || g.Triggers[0].WebhookKey != "s3cr3t-k3y-42" || g.Triggers[1].Type != "schedule" {
		t.Errorf("triggers: %+v", g.Triggers)
	}
	if _, err := s.client.FlowGraph(ctx, "ui.test", "missing", 0); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("a missing flow's graph: %v", err)
	}
}

// Validating reports every problem with its line and column and stores
// nothing; a valid document comes back with its graph.
func TestValidateFlow_reportsDiagnosticsAndStoresNothing(t *testing.T) {
	s := start(t)
	ctx := context.Background()
	bad := "id: v\nnamespace: ui.test\ntasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Logs\n    message: hi\n"
	v, err := s.client.ValidateFlow(ctx, "bad.yaml", []byte(bad))
	if err != nil {
		t.Fatal(err)
	}
	if v.Valid || len(v.Diagnostics) != 1 || v.Diagnostics[0].Pos.Line != 5 || v.Diagnostics[0].Pos.Col != 11 || v.Diagnostics[0].File != "bad.yaml" {
		t.Fatalf("diagnostics of a bad type: %+v", v)
	}
	v, err = s.client.ValidateFlow(ctx, "bad.yaml", []byte("id: [\n"))
	if err != nil || v.Valid || len(v.Diagnostics) == 0 || v.Diagnostics[0].Pos.Line == 0 {
		t.Fatalf("YAML that does not parse: %+v %v", v, err)
	}
	good, err := os.ReadFile("testdata/shapes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	v, err = s.client.ValidateFlow(ctx, "shapes.yaml", good)
	if err != nil || !v.Valid || len(v.Diagnostics) != 0 || v.Flow == nil || v.Flow.ID != "shapes" {
		t.Fatalf("a valid flow: %+v %v", v, err)
	}
	if list, err := s.client.Flows(ctx); err != nil || len(list) != 0 {
		t.Errorf("validating stored %v (%v)", list, err)
	}
}
