package systemtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relayflow/relay/statemachine"
)

const chainFlow = `
id: chain
namespace: systemtest
tasks:
  - {id: one, type: io.kestra.plugin.core.log.Log, message: "one {{ execution.id }}"}
  - {id: two, type: io.kestra.plugin.core.log.Log, message: "two {{ execution.id }}"}
  - {id: three, type: io.kestra.plugin.core.log.Log, message: "three {{ execution.id }}"}
  - {id: four, type: io.kestra.plugin.core.log.Log, message: "four {{ execution.id }}"}
`

// checkOnce asserts that every execution succeeded with each task run
// attempted once and each task's log line written once: nothing ran twice.
func checkOnce(t *testing.T, d *deployment, runs []*statemachine.Execution, tasks ...string) {
	t.Helper()
	for _, ex := range runs {
		if ex.State != statemachine.ExecSuccess {
			t.Errorf("execution %s ended %s: %s", ex.ID, ex.State, ex.Error)
		}
		if len(ex.TaskRuns) != len(tasks) {
			t.Errorf("execution %s has %d task runs, want %d", ex.ID, len(ex.TaskRuns), len(tasks))
		}
		for _, r := range ex.TaskRuns {
			if len(r.Attempts) != 1 {
				t.Errorf("execution %s: %s has %d attempts, want 1", ex.ID, r.ID, len(r.Attempts))
			}
		}
		logs := d.logCounts(ex.ID)
		for _, task := range tasks {
			if n := logs[task+" "+ex.ID]; n != 1 {
				t.Errorf("execution %s: task %s logged %d times, want once", ex.ID, task, n)
			}
		}
	}
}

// The executor is killed with SIGKILL after it wrote a state change and
// before it published the commands: the restarted executor is handed the
// event again (its offset was never committed), recognises it as the
// execution's last applied event and carries out the commands the state
// change kept; every execution finishes, and no task runs twice.
func TestCrash_executorBetweenCommitAndPublish(t *testing.T) {
	d := newDeployment(t)
	d.deploy(chainFlow)
	d.start("worker", "worker")
	first := d.start("executor", "executor", "RELAY_FAULT=after-commit:9")
	ids := d.submit("systemtest", "chain", 6)
	first.waitOutput("relay fault: after-commit 9", 60*time.Second)
	first.kill()
	// The commit is durable and its commands are not published: the
	// executions are stuck until an executor comes back.
	d.start("executor-2", "executor")
	checkOnce(t, d, d.waitEnded(ids, 90*time.Second), "one", "two", "three", "four")
}

// A worker is killed with SIGKILL while an attempt of a task with a
// timeout runs. The attempt times out (a durable timer) and its retry, on
// another worker, succeeds; the redelivered first attempt is recognised as
// over and dropped.
func TestCrash_workerMidTask(t *testing.T) {
	_, ex := killWorkerMidTask(t, `
    timeout: PT4S
    retry: {type: constant, interval: PT1S, maxAttempts: 3}`)
	r, _ := ex.Run("slow")
	if ex.State != statemachine.ExecSuccess || r == nil || len(r.Attempts) != 2 {
		t.Fatalf("execution %s: %+v", ex.State, r)
	}
	if e := r.Attempts[0].Error; e == nil || e.Kind != statemachine.KindTimeout || !strings.Contains(e.Message, "did not finish within 4s") {
		t.Errorf("first attempt: %+v, want a timeout", r.Attempts[0])
	}
}

// A worker is killed with SIGKILL while an attempt of a task without a
// timeout runs: zombie detection by lease. Its record, never committed, is
// delivered to the next worker, which waits for the dead worker's lease
// to lapse and reports the attempt CRASHED (Prefect's meaning); the
// task's retry policy runs a second attempt, which succeeds, and the log
// says what happened.
func TestCrash_workerMidTaskWithoutTimeout(t *testing.T) {
	d, ex := killWorkerMidTask(t, `
    retry: {type: constant, interval: PT1S, maxAttempts: 2}`, "RELAY_ATTEMPT_LEASE=3s")
	r, _ := ex.Run("slow")
	if ex.State != statemachine.ExecSuccess || r == nil || len(r.Attempts) != 2 {
		t.Fatalf("execution %s: %+v", ex.State, r)
	}
	if a := r.Attempts[0]; a.State != statemachine.RunCrashed || a.Error == nil || a.Error.Kind != statemachine.KindCrashed {
		t.Errorf("first attempt %s (%+v), want CRASHED", a.State, a.Error)
	}
	var warned bool
	logs := d.logCounts(ex.ID)
	for line := range logs {
		warned = warned || strings.Contains(line, "its worker stopped renewing its lease")
	}
	if !warned {
		t.Errorf("no log line says the attempt was taken over: %v", logs)
	}
}

// killWorkerMidTask runs a flow of one shell task `slow` (with the extra
// task properties given, YAML indented by 4) that succeeds at once when it
// runs a second time: the first attempt starts on a worker, which is
// killed with SIGKILL after a second; a second worker starts. It returns
// the deployment and the ended execution.
func killWorkerMidTask(t *testing.T, props string, workerEnv ...string) (*deployment, *statemachine.Execution) {
	d := newDeployment(t)
	mark := filepath.Join(t.TempDir(), "started")
	d.deploy(fmt.Sprintf(`
id: zombie
namespace: systemtest
tasks:
  - id: slow
    type: io.kestra.plugin.scripts.shell.Commands%[2]s
    commands:
      - test -f %[1]s && exit 0
      - touch %[1]s
      - sleep 600
`, mark, props))
	d.start("executor", "executor")
	d.start("scheduler", "scheduler") // the timeout and the retry delay are durable timers
	worker := d.start("worker", "worker", workerEnv...)
	ids := d.submit("systemtest", "zombie", 1)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(mark); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first attempt never started:\n%s", worker.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(time.Second) // running, its lease renewed when it is short
	worker.kill()
	d.start("worker-2", "worker", workerEnv...)
	return d, d.waitEnded(ids, 90*time.Second)[0]
}
