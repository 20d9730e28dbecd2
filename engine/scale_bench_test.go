package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/infra/embedded"
	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/tasks"
)

// scaleEngine is the embedded engine as `relay run` configures it: the
// bbolt store with a disk sync per transaction, the in-process bus, eight
// workers, executions kept in memory while they run. ended receives each
// execution that ends.
func scaleEngine(b *testing.B) (*engine.Engine, <-chan *statemachine.Execution) {
	b.Helper()
	st, err := embedded.OpenStore(filepath.Join(b.TempDir(), "relay.db"))
	if err != nil {
		b.Fatal(err)
	}
	bus := embedded.NewBus()
	reg, err := tasks.Builtin(tasks.Config{})
	if err != nil {
		b.Fatal(err)
	}
	ended := make(chan *statemachine.Execution, 16)
	eng, err := engine.New(engine.Config{Store: st, Bus: bus, Tasks: reg, Workers: 8, Logger: testLogger(), CacheExecutions: 1000,
		OnCommit: func(ex *statemachine.Execution, _ []*statemachine.TaskRun) {
			if ex.State.Terminal() {
				ended <- ex
			}
		}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := eng.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		bus.Close()
		eng.Wait()
		cancel()
		st.Close()
	})
	return eng, ended
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runScale runs one execution of src to its end per iteration and reports
// the wall and CPU time per task run, and the median step (a task run
// finished -> the next one started) of sequential flows.
func runScale(b *testing.B, src string, sequential bool) {
	eng, ended := scaleEngine(b)
	if _, _, err := eng.Deploy(context.Background(), "scale.yaml", []byte(src)); err != nil {
		b.Fatal(err)
	}
	var wall, cpu time.Duration
	runs := 0
	var steps []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := engine.NewID()
		start, startCPU := time.Now(), cpuTime()
		if err := eng.Submit(context.Background(), statemachine.Event{ExecutionID: id, Namespace: "bench", FlowID: "scale"}); err != nil {
			b.Fatal(err)
		}
		var ex *statemachine.Execution
		for ex == nil || ex.ID != id {
			select {
			case ex = <-ended:
			case <-time.After(30 * time.Minute):
				b.Fatal("the execution did not end")
			}
		}
		wall += time.Since(start)
		cpu += cpuTime() - startCPU
		if ex.State != statemachine.ExecSuccess {
			b.Fatalf("execution ended %s", ex.State)
		}
		runs += len(ex.TaskRuns)
		if sequential {
			for k := 1; k < len(ex.TaskRuns); k++ {
				steps = append(steps, ex.TaskRuns[k].StartDate.Sub(ex.TaskRuns[k-1].EndDate))
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(wall.Microseconds())/float64(runs), "µs/taskrun")
	b.ReportMetric(float64(cpu.Microseconds())/float64(runs), "cpu-µs/taskrun")
	b.ReportMetric(float64(runs)/wall.Seconds(), "taskruns/s")
	if len(steps) > 0 {
		sort.Slice(steps, func(i, j int) bool { return steps[i] < steps[j] })
		b.ReportMetric(float64(steps[len(steps)/2].Microseconds()), "p50-step-µs")
	}
}

// BenchmarkScale_forEach runs a ForEach of n `debug.return` items, ten at
// a time, on the embedded engine: the cost per task run must not grow with
// n (docs/benchmarks.md).
func BenchmarkScale_forEach(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("items=%d", n), func(b *testing.B) {
			src := fmt.Sprintf("id: scale\nnamespace: bench\ntasks:\n  - id: each\n    type: io.kestra.plugin.core.flow.ForEach\n    values: \"{{ range(1, %d) }}\"\n    concurrencyLimit: 10\n    tasks:\n      - id: ret\n        type: io.kestra.plugin.core.debug.Return\n        format: \"{{ taskrun.value }}\"\n", n)
			runScale(b, src, false)
		})
	}
}

// BenchmarkScale_sequential runs a flow of n `debug.return` tasks one after
// the other.
func BenchmarkScale_sequential(b *testing.B) {
	for _, n := range []int{20, 100, 1000, 10000} {
		b.Run(fmt.Sprintf("tasks=%d", n), func(b *testing.B) {
			var src strings.Builder
			src.WriteString("id: scale\nnamespace: bench\ntasks:\n")
			for i := 0; i < n; i++ {
				fmt.Fprintf(&src, "  - {id: s%05d, type: debug.return, format: \"%d\"}\n", i, i)
			}
			runScale(b, src.String(), true)
		})
	}
}
