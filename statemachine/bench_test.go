package statemachine_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	sm "github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/statemachine/flow"
)

// drive runs an execution of f to its end with workers that succeed at
// once, answering commands in FIFO order, and returns the events applied.
func drive(tb testing.TB, f *flow.Flow, id string) (*sm.Execution, int) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	queue := []sm.Event{{ID: "req", Type: sm.EvExecutionRequested, ExecutionID: id}}
	var ex *sm.Execution
	n := 0
	for len(queue) > 0 {
		ev := queue[0]
		queue = queue[1:]
		res, err := sm.Apply(f, ex, ev, now, sm.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		n++
		ex = res.Execution
		for _, c := range res.Commands {
			if c, ok := c.(sm.Continue); ok {
				queue = append(queue, sm.Event{ID: c.EventID, Type: sm.EvContinue, ExecutionID: id})
			}
			if c, ok := c.(sm.ScheduleTaskRun); ok {
				base := fmt.Sprintf("%s/%d", c.TaskRunID, c.Attempt)
				queue = append(queue,
					sm.Event{ID: base + "/s", Type: sm.EvTaskRunStarted, ExecutionID: id, TaskRunID: c.TaskRunID, Attempt: c.Attempt},
					sm.Event{ID: base + "/f", Type: sm.EvTaskRunFinished, ExecutionID: id, TaskRunID: c.TaskRunID, Attempt: c.Attempt, State: sm.RunSuccess, Outputs: map[string]any{"value": c.Props["format"]}})
			}
		}
	}
	if ex.State != sm.ExecSuccess {
		tb.Fatalf("execution ended %s: %s", ex.State, ex.Error)
	}
	return ex, n
}

// BenchmarkApply_10TaskFlow measures events applied per second by the pure
// state machine on a 10-task flow with expressions.
func BenchmarkApply_10TaskFlow(b *testing.B) {
	var src strings.Builder
	src.WriteString("id: ten\nnamespace: bench\ninputs:\n  - {id: name, type: STRING, defaults: relay}\ntasks:\n")
	for i := 0; i < 10; i++ {
		fmt.Fprintf(&src, "  - id: t%d\n    type: debug.return\n    format: \"step %d of {{ inputs.name | upper }} at {{ execution.startDate }}\"\n", i, i)
	}
	f := parseFlow(b, src.String())
	events := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, n := drive(b, f, "e")
		events += n
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events), "ns/event")
}

// BenchmarkForEach compares 1,000 and 10,000 items: the time per item must
// stay close to constant (Kestra's executor slows down on large ForEach).
func BenchmarkForEach(b *testing.B) {
	for _, items := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("items=%d", items), func(b *testing.B) {
			f := parseFlow(b, fmt.Sprintf(`
id: each
namespace: bench
tasks:
  - id: loop
    type: flow.foreach
    values: "{{ range(1, %d) }}"
    concurrencyLimit: 10
    tasks:
      - id: item
        type: debug.return
        format: "{{ taskrun.value }}"
`, items))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ex, _ := drive(b, f, "e")
				if len(ex.TaskRuns) != items+1 {
					b.Fatalf("%d task runs", len(ex.TaskRuns))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*items), "ns/item")
		})
	}
}

// BenchmarkSequential runs flows of n tasks one after the other: the cost
// of an event must not grow with the flow's length (docs/benchmarks.md).
func BenchmarkSequential(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("tasks=%d", n), func(b *testing.B) {
			var src strings.Builder
			src.WriteString("id: seq\nnamespace: bench\ntasks:\n")
			for i := range n {
				fmt.Fprintf(&src, "  - {id: t%05d, type: debug.return, format: \"%d\"}\n", i, i)
			}
			f := parseFlow(b, src.String())
			events := 0
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				_, k := drive(b, f, "e")
				events += k
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events), "ns/event")
		})
	}
}
