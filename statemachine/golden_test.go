package statemachine_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/tabwriter"

	sm "github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/statemachine/flow"
)

// TestExamples_goldenExecutions runs every example flow, with its default
// inputs and workers that succeed, through the simulator and compares the
// whole execution with testdata/executions/NAME.golden: each event applied,
// the task runs it changed, the commands it produced, then the final state,
// outputs and task runs. `go test ./statemachine -run goldenExecutions -update`
// rewrites the files; review the diff like code.
func TestExamples_goldenExecutions(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "examples", "flows", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no example flows (%v)", err)
	}
	flows := map[string]*flow.Flow{}
	var all []*flow.Flow
	for _, file := range files {
		f := exampleFlow(t, filepath.Base(file))
		flows[file] = f
		all = append(all, f)
	}
	// What a flow needs that its defaults do not give: subflows' required
	// inputs, and the trigger variables of a flow started by a trigger.
	requests := map[string]sm.Event{
		"data_loading":        {Inputs: map[string]any{"rows": []any{int64(1), int64(2)}}},
		"data_pipeline":       {Inputs: map[string]any{"raw_data": "relay:///production/data-pipeline/executions/exec-1/inputs/raw_data/orders.csv"}},
		"data_transformation": {Inputs: map[string]any{"rows": []any{int64(3), int64(1), int64(2)}}},
		"event_driven": {Trigger: map[string]any{"namespace": "data_processing", "flowId": "scheduled_etl",
			"executionId": "upstream-1", "state": "SUCCESS", "outputs": map[string]any{}}},
		"on_order": {Trigger: map[string]any{"event": map[string]any{"id": "order-42-created", "type": "com.acme.order.created",
			"source": "/shop/eu", "subject": "order-42", "data": map[string]any{"id": int64(42), "total": 99.5}}}},
	}
	// What scripts print, for flows that read it.
	workers := map[string]worker{
		"data_pipeline": func(c sm.ScheduleTaskRun) outcome {
			o := defaultOutcome(c)
			switch c.TaskID {
			case "transform-data":
				o.outputs["vars"] = map[string]any{"rowCount": int64(5), "dropped": int64(3)}
			case "load-data":
				o.outputs["vars"] = map[string]any{"revenue": 521.7, "topCustomer": "globex"}
			}
			return o
		},
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			s := newSim(t, all...)
			s.trace = &b
			s.work = workers[name]
			s.opts.Read = func(uri string) (string, error) { return "customer,orders,revenue\nglobex,1,249.0\n", nil }
			f, req := flows[file], requests[name]
			id := "exec-1"
			s.push(s.now, sm.Event{Type: sm.EvExecutionRequested, ExecutionID: id, Namespace: f.Namespace, FlowID: f.ID, Inputs: req.Inputs, Trigger: req.Trigger})
			s.run()
			ex := s.exec(id)
			fmt.Fprintf(&b, "\nfinal: %s %s", ex.State, ex.Error)
			outputs, err := json.Marshal(ex.Outputs)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "\noutputs: %s\n\n", outputs)
			tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "TASK RUN\tPARENT\tSTATE\tATTEMPTS\tSTART\tEND")
			for _, r := range ex.TaskRuns {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", r.ID, r.ParentID, r.State, len(r.Attempts), s.elapsed(r.StartDate), s.elapsed(r.EndDate))
			}
			tw.Flush()
			golden := filepath.Join("testdata", "executions", name+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Errorf("execution of %s differs from %s (run with -update and review the diff):\n%s", file, golden, firstDifference(b.String(), string(want)))
			}
		})
	}
}

// firstDifference shows the first line where got and want part.
func firstDifference(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n got: %s\nwant: %s", i+1, gl, wl)
		}
	}
	return ""
}
