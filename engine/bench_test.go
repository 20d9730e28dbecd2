package engine_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/statemachine"
)

// BenchmarkEngine_1000Executions runs 1,000 executions of a 3-task no-op
// flow on the durable embedded store and reports task runs per second and
// the step-to-step overhead (a task run finished -> the next one started).
func BenchmarkEngine_1000Executions(b *testing.B) {
	const n = 1000
	src := []byte("id: noop\nnamespace: bench\ntasks:\n  - {id: a, type: debug.return, format: a}\n  - {id: b, type: debug.return, format: b}\n  - {id: c, type: debug.return, format: c}\n")
	var gaps []time.Duration
	taskRuns := 0
	var elapsed time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		h := newHarness(b, b.TempDir())
		if _, _, err := h.eng.Deploy(context.Background(), "noop.yaml", src); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		for j := 0; j < n; j++ {
			if err := h.eng.Submit(context.Background(), statemachine.Event{ExecutionID: engine.NewID(), Namespace: "bench", FlowID: "noop"}); err != nil {
				b.Fatal(err)
			}
		}
		done := map[string]*statemachine.Execution{}
		for deadline := time.Now().Add(5 * time.Minute); len(done) < n; {
			if time.Now().After(deadline) {
				b.Fatalf("only %d of %d executions ended", len(done), n)
			}
			<-h.wake
			h.mu.Lock()
			for id, ex := range h.last {
				if ex.State.Terminal() {
					done[id] = ex
				}
			}
			h.mu.Unlock()
		}
		elapsed += time.Since(start)
		b.StopTimer()
		for _, ex := range done {
			if ex.State != statemachine.ExecSuccess {
				b.Fatalf("execution %s ended %s", ex.ID, ex.State)
			}
			for k := 1; k < len(ex.TaskRuns); k++ {
				gaps = append(gaps, ex.TaskRuns[k].StartDate.Sub(ex.TaskRuns[k-1].EndDate))
			}
			taskRuns += len(ex.TaskRuns)
		}
		h.close()
	}
	sort.Slice(gaps, func(i, j int) bool { return gaps[i] < gaps[j] })
	b.ReportMetric(float64(taskRuns)/elapsed.Seconds(), "taskruns/s")
	// Under this load a step mostly waits its turn behind 1,000 executions.
	b.ReportMetric(float64(gaps[len(gaps)/2].Microseconds()), "p50-loaded-step-µs")
}

// BenchmarkEngine_stepOverhead measures the engine's own cost between two
// steps (a task run finished -> the next one started, commit and bus hops
// included) on an otherwise idle engine: executions of a 20-step linear
// flow, one at a time.
func BenchmarkEngine_stepOverhead(b *testing.B) {
	var src strings.Builder
	src.WriteString("id: linear\nnamespace: bench\ntasks:\n")
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&src, "  - {id: s%02d, type: debug.return, format: \"%d\"}\n", i, i)
	}
	h := newHarness(b, b.TempDir())
	if _, _, err := h.eng.Deploy(context.Background(), "linear.yaml", []byte(src.String())); err != nil {
		b.Fatal(err)
	}
	var gaps []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := engine.NewID()
		if err := h.eng.Submit(context.Background(), statemachine.Event{ExecutionID: id, Namespace: "bench", FlowID: "linear"}); err != nil {
			b.Fatal(err)
		}
		ex := h.waitFor(b, id, time.Minute, ended)
		if ex.State != statemachine.ExecSuccess {
			b.Fatalf("state %s", ex.State)
		}
		for k := 1; k < len(ex.TaskRuns); k++ {
			gaps = append(gaps, ex.TaskRuns[k].StartDate.Sub(ex.TaskRuns[k-1].EndDate))
		}
	}
	sort.Slice(gaps, func(i, j int) bool { return gaps[i] < gaps[j] })
	b.ReportMetric(float64(gaps[len(gaps)/2].Microseconds()), "p50-step-µs")
	b.ReportMetric(float64(gaps[len(gaps)*99/100].Microseconds()), "p99-step-µs")
}

// BenchmarkEngine_scriptTaskOverhead measures what a one-task execution
// costs end to end on the embedded engine (what `relay run` runs), by the
// task's type: debug.return (no process), shell.commands (`echo`), and a
// Python Script printing one output (`::{"outputs": ...}::`): the child
// process, the interpreter's start, the working directory, the protocol.
// One execution at a time; the p50 of the execution's duration.
func BenchmarkEngine_scriptTaskOverhead(b *testing.B) {
	flows := map[string]string{
		"debug.return":   `{id: t, type: debug.return, format: "1"}`,
		"shell.commands": `{id: t, type: shell.commands, commands: ["echo 1"]}`,
		"python.script":  `{id: t, type: io.kestra.plugin.scripts.python.Script, script: "print('::{\"outputs\": {\"n\": 1}}::')"}`,
	}
	for _, name := range []string{"debug.return", "shell.commands", "python.script"} {
		b.Run(name, func(b *testing.B) {
			if name == "python.script" {
				// The interpreter itself first on PATH: a launcher (pyenv's
				// shims) would add its own start to every run.
				exe, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
				if err != nil {
					b.Skip("no python3")
				}
				b.Setenv("PATH", filepath.Dir(strings.TrimSpace(string(exe)))+string(os.PathListSeparator)+os.Getenv("PATH"))
			}
			h := newHarness(b, b.TempDir())
			src := "id: one\nnamespace: bench\ntasks:\n  - " + flows[name] + "\n"
			if _, _, err := h.eng.Deploy(context.Background(), "one.yaml", []byte(src)); err != nil {
				b.Fatal(err)
			}
			var took []time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				id := engine.NewID()
				if err := h.eng.Submit(context.Background(), statemachine.Event{ExecutionID: id, Namespace: "bench", FlowID: "one"}); err != nil {
					b.Fatal(err)
				}
				ex := h.waitFor(b, id, time.Minute, ended)
				if ex.State != statemachine.ExecSuccess {
					b.Fatalf("state %s: %v", ex.State, ex.TaskRuns[0].Error)
				}
				took = append(took, ex.EndDate.Sub(ex.StartDate))
			}
			sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
		})
	}
}
