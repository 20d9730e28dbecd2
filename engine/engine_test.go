package engine_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/infra/embedded"
	"github.com/relayflow/relay/internal/testnet"
	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/tasks"
	"github.com/relayflow/relay/tasks/builtin"
)

const examples = "../examples/flows"

// harness is an engine on the embedded store and bus in a directory.
type harness struct {
	t      testing.TB
	eng    *engine.Engine
	store  *embedded.Store
	cancel context.CancelFunc
	bus    *embedded.Bus

	mu      sync.Mutex
	last    map[string]*statemachine.Execution
	changes []string // "<run id> <state>" of every task run each commit changed
	logs    []engine.LogEntry
	wake    chan struct{}
}

func newHarness(t testing.TB, dir string, opts ...func(*engine.Config)) *harness {
	t.Helper()
	st, err := embedded.OpenStore(filepath.Join(dir, "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	bus := embedded.NewBus()
	reg, err := builtin.Registry(builtin.Config{Tasks: tasks.Config{Emitter: engine.BusEmitter{Bus: bus}}})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, store: st, bus: bus, last: map[string]*statemachine.Execution{}, wake: make(chan struct{}, 1)}
	cfg := engine.Config{Store: st, Bus: bus, Tasks: reg, Workers: 8, TimerPoll: 5 * time.Millisecond, Logger: testLogger(),
		OnCommit: func(ex *statemachine.Execution, changed []*statemachine.TaskRun) {
			h.mu.Lock()
			h.last[ex.ID] = ex
			for _, r := range changed {
				h.changes = append(h.changes, r.ID+" "+string(r.State))
			}
			h.mu.Unlock()
			select {
			case h.wake <- struct{}{}:
			default:
			}
		},
		OnLog: func(l engine.LogEntry) {
			h.mu.Lock()
			h.logs = append(h.logs, l)
			h.mu.Unlock()
		},
	}
	for _, o := range opts {
		o(&cfg)
	}
	h.eng, err = engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	if err := h.eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.close)
	return h
}

func (h *harness) close() {
	h.bus.Close()
	h.eng.Wait()
	h.cancel()
	h.store.Close()
}

func (h *harness) deploy(files ...string) {
	h.t.Helper()
	for _, f := range files {
		src, err := os.ReadFile(filepath.Join(examples, f))
		if err != nil {
			h.t.Fatal(err)
		}
		if _, _, err := h.eng.Deploy(context.Background(), f, src); err != nil {
			h.t.Fatal(err)
		}
	}
}

// start deploys file and requests an execution of it.
func (h *harness) start(file string, ev statemachine.Event) string {
	h.t.Helper()
	src, err := os.ReadFile(filepath.Join(examples, file))
	if err != nil {
		h.t.Fatal(err)
	}
	_, f, err := h.eng.Deploy(context.Background(), file, src)
	if err != nil {
		h.t.Fatal(err)
	}
	ev.ExecutionID, ev.Namespace, ev.FlowID = engine.NewID(), f.Namespace, f.ID
	if err := h.eng.Submit(context.Background(), ev); err != nil {
		h.t.Fatal(err)
	}
	return ev.ExecutionID
}

// waitFor waits until the execution satisfies done.
func (h *harness) waitFor(t testing.TB, id string, timeout time.Duration, done func(*statemachine.Execution) bool) *statemachine.Execution {
	t.Helper()
	deadline := time.After(timeout)
	for {
		h.mu.Lock()
		ex := h.last[id]
		h.mu.Unlock()
		if ex != nil && done(ex) {
			return ex
		}
		select {
		case <-h.wake:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			state := "not created"
			if ex != nil {
				state = string(ex.State)
			}
			t.Fatalf("execution %s: still %s after %s", id, state, timeout)
		}
	}
}

func ended(ex *statemachine.Execution) bool { return ex.State.Terminal() }

func TestExamples_runToTheirExpectedState(t *testing.T) {
	api := testnet.Server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok": true}`))
	}))
	defer api.Close()
	tests := []struct {
		file   string
		deploy []string
		ev     statemachine.Event
		want   statemachine.ExecState
		check  func(t *testing.T, ex *statemachine.Execution)
	}{
		{file: "hello.yaml", want: statemachine.ExecSuccess},
		{file: "parameterized.yaml", ev: statemachine.Event{Inputs: map[string]any{"processing_mode": "hybrid"}}, want: statemachine.ExecSuccess,
			check: func(t *testing.T, ex *statemachine.Execution) {
				if ex.Outputs["processingMode"] != "hybrid" {
					t.Errorf("outputs %v", ex.Outputs)
				}
			}},
		{file: "resilient.yaml", deploy: []string{"enable_fallback_flow.yaml"}, ev: statemachine.Event{Inputs: map[string]any{"api_url": api.URL}}, want: statemachine.ExecSuccess,
			check: func(t *testing.T, ex *statemachine.Execution) {
				if r, ok := ex.Run("success_log"); !ok || r.State != statemachine.RunSuccess {
					t.Error("the else branch did not run")
				}
			}},
		{file: "parallel.yaml", want: statemachine.ExecSuccess,
			check: func(t *testing.T, ex *statemachine.Execution) {
				if r, _ := ex.Run("process_item[100]"); r == nil || !strings.Contains(r.Outputs["stdout"].(string), "处理项目: 100") {
					t.Errorf("process_item[100] = %+v", r)
				}
			}},
		{file: "if_else.yaml", want: statemachine.ExecSuccess},
		{file: "switch.yaml", ev: statemachine.Event{Inputs: map[string]any{"environment": "sandbox"}}, want: statemachine.ExecSuccess},
		{file: "main_pipeline.yaml", deploy: []string{"data_extraction.yaml", "data_transformation.yaml", "data_loading.yaml"}, want: statemachine.ExecSuccess,
			check: func(t *testing.T, ex *statemachine.Execution) {
				if ex.Outputs["loaded"] != int64(3) {
					t.Errorf("outputs %v", ex.Outputs)
				}
			}},
		{file: "nested_foreach.yaml", want: statemachine.ExecSuccess},
		{file: "dag.yaml", want: statemachine.ExecSuccess},
		{file: "scheduled_etl.yaml", want: statemachine.ExecSuccess},
		{file: "event_driven.yaml", ev: statemachine.Event{Trigger: map[string]any{"namespace": "data_processing", "flowId": "scheduled_etl"}}, want: statemachine.ExecSuccess},
		{file: "error_handling.yaml", want: statemachine.ExecFailed,
			check: func(t *testing.T, ex *statemachine.Execution) {
				for id, st := range map[string]statemachine.RunState{"flaky": statemachine.RunFailed, "local_cleanup": statemachine.RunSuccess, "alert": statemachine.RunSuccess, "always": statemachine.RunSuccess} {
					if r, _ := ex.Run(id); r == nil || r.State != st {
						t.Errorf("%s = %+v, want %s", id, r, st)
					}
				}
				if r, _ := ex.Run("flaky"); len(r.Attempts) != 3 || r.Attempts[0].Error == nil || r.Attempts[0].Error.Type != "ExitCode" {
					t.Errorf("flaky attempts %+v", r.Attempts)
				}
			}},
	}
	h := newHarness(t, t.TempDir())
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			h.deploy(tt.deploy...)
			id := h.start(tt.file, tt.ev)
			ex := h.waitFor(t, id, 30*time.Second, ended)
			if ex.State != tt.want {
				t.Fatalf("state %s (%s), want %s", ex.State, ex.Error, tt.want)
			}
			if tt.check != nil {
				t.Run("check", func(t *testing.T) { tt.check(t, ex) })
			}
			stored, err := h.store.Execution(context.Background(), id)
			if err != nil || stored.State != tt.want || stored.Version != ex.Version {
				t.Errorf("stored execution %v, %v", stored, err)
			}
		})
	}
}

func TestPause_resumedByASecondProcess(t *testing.T) {
	dir := t.TempDir()
	h1 := newHarness(t, dir)
	id := h1.start("pause.yaml", statemachine.Event{})
	h1.waitFor(t, id, 10*time.Second, func(ex *statemachine.Execution) bool { return ex.State == statemachine.ExecPaused })
	h1.close()

	h2 := newHarness(t, dir)
	if err := h2.eng.Send(context.Background(), statemachine.Event{ID: "resume-1", Type: statemachine.EvResume, ExecutionID: id, Inputs: map[string]any{"approved": "yes", "reason": "ship it"}}); err != nil {
		t.Fatal(err)
	}
	ex := h2.waitFor(t, id, 10*time.Second, ended)
	if ex.State != statemachine.ExecSuccess {
		t.Fatalf("state %s: %s", ex.State, ex.Error)
	}
	logs, err := h2.store.Logs(context.Background(), id, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, l := range logs {
		all = append(all, l.Message)
	}
	text := strings.Join(all, "\n")
	if !strings.Contains(text, "approved=true (ship it)") || strings.Count(text, "release ready for approval") != 1 || strings.Count(text, "execution paused") != 1 {
		t.Errorf("logs of both processes (each line once):\n%s", text)
	}
}

func TestTimeoutAndKill_stopRunningShellCommands(t *testing.T) {
	dir := t.TempDir()
	flowFile := filepath.Join(dir, "slow.yaml")
	os.WriteFile(flowFile, []byte("id: slow\nnamespace: t\ntasks:\n  - id: sleepy\n    type: shell.commands\n    timeout: PT1S\n    commands: [sleep 30]\n"), 0o644)
	killFile := filepath.Join(dir, "kill.yaml")
	os.WriteFile(killFile, []byte("id: killme\nnamespace: t\ntasks:\n  - id: sleepy\n    type: shell.commands\n    commands: [sleep 30]\n  - id: never\n    type: log\n    message: x\n"), 0o644)
	h := newHarness(t, t.TempDir())
	run := func(path string) string {
		src, _ := os.ReadFile(path)
		_, f, err := h.eng.Deploy(context.Background(), path, src)
		if err != nil {
			t.Fatal(err)
		}
		id := engine.NewID()
		if err := h.eng.Submit(context.Background(), statemachine.Event{ExecutionID: id, Namespace: f.Namespace, FlowID: f.ID}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	start := time.Now()
	id := run(flowFile)
	ex := h.waitFor(t, id, 10*time.Second, ended)
	r, _ := ex.Run("sleepy")
	if ex.State != statemachine.ExecFailed || r.Attempts[0].Error == nil || r.Attempts[0].Error.Kind != statemachine.KindTimeout {
		t.Errorf("timeout: state %s, attempts %+v", ex.State, r.Attempts)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the timeout took %s", d)
	}

	id = run(killFile)
	h.waitFor(t, id, 10*time.Second, func(ex *statemachine.Execution) bool {
		r, ok := ex.Run("sleepy")
		return ok && r.State == statemachine.RunRunning
	})
	start = time.Now()
	if err := h.eng.Send(context.Background(), statemachine.Event{ID: id + "/kill", Type: statemachine.EvKill, ExecutionID: id}); err != nil {
		t.Fatal(err)
	}
	ex = h.waitFor(t, id, 10*time.Second, ended)
	if ex.State != statemachine.ExecKilled {
		t.Errorf("kill: state %s", ex.State)
	}
	if _, ok := ex.Run("never"); ok {
		t.Error("a task started after the kill")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the kill took %s", d)
	}
}

// A flow with `concurrency: {limit: 2}` never has more than two executions
// running while 20 are requested; the others queue and all end.
func TestConcurrency_limitHoldsAndQueueDrains(t *testing.T) {
	h := newHarness(t, t.TempDir())
	src := []byte("id: limited\nnamespace: t\nconcurrency: {limit: 2, behavior: QUEUE}\ntasks:\n  - {id: work, type: shell.commands, commands: [sleep 0.05]}\n")
	if _, _, err := h.eng.Deploy(context.Background(), "limited.yaml", src); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := 0; i < 20; i++ {
		id := engine.NewID()
		ids = append(ids, id)
		if err := h.eng.Submit(context.Background(), statemachine.Event{ExecutionID: id, Namespace: "t", FlowID: "limited"}); err != nil {
			t.Fatal(err)
		}
	}
	maxRunning := 0
	deadline := time.Now().Add(30 * time.Second)
	for {
		h.mu.Lock()
		running, finished := 0, 0
		for _, id := range ids {
			if ex := h.last[id]; ex != nil {
				switch {
				case ex.State == statemachine.ExecRunning:
					running++
				case ex.State.Terminal():
					finished++
				}
			}
		}
		h.mu.Unlock()
		maxRunning = max(maxRunning, running)
		if finished == len(ids) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d executions ended", finished, len(ids))
		}
		time.Sleep(2 * time.Millisecond)
	}
	if maxRunning > 2 || maxRunning == 0 {
		t.Errorf("at most %d executions ran at once, want 2", maxRunning)
	}
	for _, id := range ids {
		if ex, _ := h.store.Execution(context.Background(), id); ex.State != statemachine.ExecSuccess {
			t.Errorf("%s ended %s", id, ex.State)
		}
	}
}

// With StartedAfter, a worker reports the start of an attempt only once it
// has run that long: a short attempt goes from SUBMITTED to SUCCESS in one
// state change, with the worker's start date; a long one shows RUNNING.
func TestStartedAfter_onlyLongAttemptsReportTheirStart(t *testing.T) {
	h := newHarness(t, t.TempDir(), func(c *engine.Config) { c.StartedAfter = 300 * time.Millisecond })
	src := []byte(`id: started
namespace: t
tasks:
  - {id: quick, type: io.kestra.plugin.core.debug.Return, format: x}
  - id: slow
    type: io.kestra.plugin.scripts.shell.Commands
    commands: [sleep 1]
`)
	if _, _, err := h.eng.Deploy(context.Background(), "started.yaml", src); err != nil {
		t.Fatal(err)
	}
	id := engine.NewID()
	if err := h.eng.Submit(context.Background(), statemachine.Event{ExecutionID: id, Namespace: "t", FlowID: "started"}); err != nil {
		t.Fatal(err)
	}
	ex := h.waitFor(t, id, 20*time.Second, ended)
	h.mu.Lock()
	got := strings.Join(h.changes, ", ")
	h.mu.Unlock()
	if want := "quick SUBMITTED, quick SUCCESS, slow SUBMITTED, slow RUNNING, slow SUCCESS"; ex.State != statemachine.ExecSuccess || got != want {
		t.Fatalf("execution %s, task runs changed: %s\nwant %s", ex.State, got, want)
	}
	for _, r := range ex.TaskRuns {
		if r.StartDate.IsZero() || !r.EndDate.After(r.StartDate) {
			t.Errorf("%s: from %v to %v", r.ID, r.StartDate, r.EndDate)
		}
	}
}

func testLogger() *slog.Logger {
	if os.Getenv("RELAY_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestSubflow_runsThePinnedRevision: a subflow task with `revision` runs
// that revision of the child, not the latest.
func TestSubflow_runsThePinnedRevision(t *testing.T) {
	h := newHarness(t, t.TempDir())
	ctx := context.Background()
	child := func(word string) []byte {
		return []byte("id: child\nnamespace: pin\ntasks:\n  - {id: say, type: io.kestra.plugin.core.debug.Return, format: " + word + "}\n" +
			"outputs:\n  - {id: word, type: STRING, value: \"{{ outputs.say.value }}\"}\n")
	}
	for _, word := range []string{"first", "second"} {
		if _, _, err := h.eng.Deploy(ctx, "child.yaml", child(word)); err != nil {
			t.Fatal(err)
		}
	}
	parent := []byte("id: parent\nnamespace: pin\ntasks:\n" +
		"  - {id: pinned, type: io.kestra.plugin.core.flow.Subflow, namespace: pin, flowId: child, revision: 1, wait: true}\n" +
		"  - {id: latest, type: io.kestra.plugin.core.flow.Subflow, namespace: pin, flowId: child, wait: true}\n")
	if _, _, err := h.eng.Deploy(ctx, "parent.yaml", parent); err != nil {
		t.Fatal(err)
	}
	id := engine.NewID()
	if err := h.eng.Submit(ctx, statemachine.Event{ExecutionID: id, Namespace: "pin", FlowID: "parent"}); err != nil {
		t.Fatal(err)
	}
	ex := h.waitFor(t, id, 10*time.Second, ended)
	if ex.State != statemachine.ExecSuccess {
		t.Fatalf("state %s: %s", ex.State, ex.Error)
	}
	want := map[string]string{"pinned": "first", "latest": "second"}
	for _, r := range ex.TaskRuns {
		w, ok := want[r.TaskID]
		if !ok {
			continue
		}
		delete(want, r.TaskID)
		if out, _ := json.Marshal(r.Outputs); !strings.Contains(string(out), w) {
			t.Errorf("subflow task %s: outputs %s, want the child revision that returns %q", r.TaskID, out, w)
		}
	}
	if len(want) > 0 {
		t.Errorf("no task runs of %v", want)
	}
}
