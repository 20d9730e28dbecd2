package functions_test

import (
	"fmt"
	"maps"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/relayflow/relay/serverless"
	"github.com/relayflow/relay/statemachine"
)

// BenchmarkRunner_scriptStep measures one Python script attempt on AWS's
// two possible paths, under the local Runtime API with the real runtime
// interface client, from the Kafka batch's delivery to the end of the
// invocation (taskrun.finished is published before it returns):
//
//   - workerInvokesRunner: the worker's bootstrap gets the batch, leases
//     the attempt and invokes the Python runner (through a local Lambda
//     Invoke endpoint), which runs the script: template.yaml's path.
//   - runnerConsumes: the Python runner gets the batch itself, as it would
//     with an event source mapping of its own, and runs the whole worker.
//
// The local Invoke endpoint costs a loopback HTTP call where AWS's costs
// a network round trip and its own overhead: these figures leave that out
// (docs/benchmarks.md). Run with -benchtime=20x:
//
//	RELAY_BENCH_RUNNERS=1 services/with-services.sh go test -run '^$' -bench BenchmarkRunner -benchtime=20x ./functions/
func BenchmarkRunner_scriptStep(b *testing.B) {
	if os.Getenv("RELAY_BENCH_RUNNERS") == "" {
		b.Skip("set RELAY_BENCH_RUNNERS=1: builds the functions and needs Kafka, DynamoDB Local and S3")
	}
	dir := bootstraps(b)
	rdir := runnerDir(b)
	d := newDeployment(b)
	script := map[string]any{"script": "print('::{\"outputs\": {\"n\": 1}}::')\n"}

	b.Run("workerInvokesRunner", func(b *testing.B) {
		worker, _ := workerWithRunner(b, dir, rdir, d)
		measureSteps(b, d, worker, script)
	})
	b.Run("runnerConsumes", func(b *testing.B) {
		fn := pythonRunnerFn
		fn.command = ricCommand(b, serverless.RolePythonRunner)
		fn.role = serverless.RoleWorker // it does the worker's work: its calls are the worker's
		env := maps.Clone(d.env)
		env["PATH"] = os.Getenv("PATH")
		runner := startFunction(b, rdir, fn, env)
		runner.waitReady(b)
		measureSteps(b, d, runner, script)
	})
}

// measureSteps runs b.N attempts through fn, timing each invocation, and
// reports the median and the slowest in milliseconds.
func measureSteps(b *testing.B, d *deployment, fn *function, props map[string]any) {
	var took []time.Duration
	for i := range b.N + 1 { // the first warms the runtime up
		b.StopTimer()
		execID := fmt.Sprintf("exec-b%d-%d", time.Now().UnixNano(), i)
		rec := d.scheduleAttempt(b, execID, "python.script", props)
		ev := d.kafkaEvent(b, rec)
		b.StartTimer()
		start := time.Now()
		res, err := fn.rt.Invoke(testCtx(b), ev, time.Now().Add(fn.timeout))
		elapsed := time.Since(start)
		b.StopTimer()
		if err != nil || res.Error != nil {
			b.Fatalf("invocation: %v %+v", err, res.Error)
		}
		if fin := d.finished(b, execID); fin.State != statemachine.RunSuccess {
			b.Fatalf("attempt ended %s: %+v", fin.State, fin.Error)
		}
		if i > 0 {
			took = append(took, elapsed)
		}
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(took[len(took)/2]), "p50-ms")
	b.ReportMetric(ms(took[len(took)-1]), "max-ms")
}
