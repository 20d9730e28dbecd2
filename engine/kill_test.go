package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/statemachine"
)

// Killing a big execution ends it promptly: the attempts running are
// stopped at once, the ones queued for a worker end KILLED without
// starting, and the execution is saved KILLED, not left RUNNING.
func TestKill_bigExecutionStopsAtOnceAndQueuedAttemptsNeverStart(t *testing.T) {
	h := newHarness(t, t.TempDir())
	defer h.close()
	starts := filepath.Join(t.TempDir(), "starts")
	src := fmt.Sprintf(`id: wide
namespace: kill
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: "{{ range(1, 300) }}"
    concurrencyLimit: 0
    tasks:
      - id: slow
        type: shell.commands
        commands:
          - echo started >> %s
          - sleep 30
`, starts)
	if _, _, err := h.eng.Deploy(context.Background(), "wide.yaml", []byte(src)); err != nil {
		t.Fatal(err)
	}
	id := engine.NewID()
	if err := h.eng.Submit(context.Background(), statemachine.Event{ExecutionID: id, Namespace: "kill", FlowID: "wide"}); err != nil {
		t.Fatal(err)
	}
	running := func(ex *statemachine.Execution) bool { return ex.RunCounts[statemachine.RunRunning] >= 8 }
	h.waitFor(t, id, 30*time.Second, running) // the eight workers are busy, the others queued
	killed := time.Now()
	if err := h.eng.Send(context.Background(), statemachine.Event{ID: id + "/kill", Type: statemachine.EvKill, ExecutionID: id}); err != nil {
		t.Fatal(err)
	}
	ex := h.waitFor(t, id, 10*time.Second, ended)
	took := time.Since(killed)
	if ex.State != statemachine.ExecKilled || len(ex.RunCounts) != 1 || ex.RunCounts[statemachine.RunKilled] < 20 {
		t.Fatalf("execution %s with %v, want KILLED with every run KILLED", ex.State, ex.RunCounts)
	}
	if took > 5*time.Second {
		t.Errorf("the kill took %s, want a few seconds at most (the attempts sleep 30s)", took)
	}
	b, err := os.ReadFile(starts)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "started"); n > 16 {
		t.Errorf("%d attempts started, want the eight running when the kill came (and few more): queued ones must not start", n)
	}
	stored, err := h.store.ExecutionHead(context.Background(), id)
	if err != nil || stored.State != statemachine.ExecKilled {
		t.Errorf("stored execution: %v %v, want KILLED", stored, err)
	}
}
