package serverless

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/infra/embedded"
	"github.com/relayflow/relay/infra/kafka"
	"github.com/relayflow/relay/internal/servicetest"
	"github.com/relayflow/relay/internal/testnet"
	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/tasks"
	"github.com/relayflow/relay/tasks/builtin"
)

// requireServices skips the test without Kafka and DynamoDB, or fails it
// when RELAY_REQUIRE_SERVICES=1 (as in `make test`).

// startDev runs what `relay dev` runs, in this process, on a table and
// topics of its own: the executor and worker handlers behind EventSources.
// Large values go to a folder of the test.
func startDev(t *testing.T) *Runtime {
	t.Helper()
	return startDevWith(t, func(c *Config) { c.Bucket, c.BlobDir = "", t.TempDir() })
}

// startDevWith is startDev with the configuration changed by configure.
func startDevWith(t *testing.T, configure func(*Config)) *Runtime {
	t.Helper()
	servicetest.Require(t, EnvBrokers, "AWS_ENDPOINT_URL")
	name := fmt.Sprintf("t%d", time.Now().UnixNano())
	cfg, err := ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Table, cfg.TopicPrefix = "relay-"+name, name+"."
	configure(&cfg)
	ctx, cancel := context.WithCancel(context.Background())
	rt, err := Open(ctx, cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Store.CreateTable(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go rt.Engine.RunTimers(ctx)
	roles := []Role{RoleExecutor, RoleWorker}
	for _, role := range roles {
		src, err := rt.EventSource(role, rt.Log)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			defer func() { done <- struct{}{} }()
			if err := src.Run(ctx); err != nil {
				t.Errorf("%s: %v", role, err)
			}
		}()
	}
	t.Cleanup(func() {
		cancel()
		for range roles {
			<-done
		}
		rt.Close()
		rt.Store.DeleteTable(context.Background())
	})
	return rt
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

// waitEnded polls the store until the execution ends.
func waitEnded(t *testing.T, st engine.Store, id string, timeout time.Duration) *statemachine.Execution {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ex, err := st.Execution(context.Background(), id)
		if err == nil && ex.State.Terminal() {
			return ex
		}
		if time.Now().After(deadline) {
			state := "not created"
			if ex != nil {
				state = string(ex.State)
			}
			t.Fatalf("execution %s still %s after %s (%v)", id, state, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestExamples_sameResultOnDevAsEmbedded runs every example flow on the
// embedded engine and through the serverless handlers on Kafka and
// DynamoDB Local, and compares final states, outputs and task runs.
func TestExamples_sameResultOnDevAsEmbedded(t *testing.T) {
	rt := startDev(t)
	api := testnet.Server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok": true}`))
	}))
	defer api.Close()

	st, err := embedded.OpenStore(filepath.Join(t.TempDir(), "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	bus := embedded.NewBus()
	reg, _ := builtin.Registry(builtin.Config{Tasks: tasks.Config{Emitter: engine.BusEmitter{Bus: bus}}})
	local, err := engine.New(engine.Config{Store: st, Bus: bus, Tasks: reg, TimerPoll: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { bus.Close(); local.Wait(); cancel(); st.Close() }()
	if err := local.Start(ctx); err != nil {
		t.Fatal(err)
	}

	files, _ := filepath.Glob("../examples/flows/*.yaml")
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, eng := range []*engine.Engine{local, rt.Engine} {
			if _, _, err := eng.Deploy(ctx, file, src); err != nil {
				t.Fatal(err)
			}
		}
	}
	requests := map[string]statemachine.Event{
		"resilient":           {Inputs: map[string]any{"api_url": api.URL}},
		"switch":              {Inputs: map[string]any{"environment": "sandbox"}},
		"parameterized":       {Inputs: map[string]any{"processing_mode": "hybrid"}},
		"data_loading":        {Inputs: map[string]any{"rows": []any{1, 2}}},
		"data_transformation": {Inputs: map[string]any{"rows": []any{3, 1, 2}}},
		"event_driven":        {Trigger: map[string]any{"namespace": "data_processing", "flowId": "scheduled_etl"}},
	}
	skip := map[string]string{"pause": "waits for a person; covered by the pause tests"}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			if why, ok := skip[name]; ok {
				t.Skip(why)
			}
			src, _ := os.ReadFile(file)
			_, f, err := local.Deploy(ctx, file, src)
			if err != nil {
				t.Fatal(err)
			}
			var got [2]*statemachine.Execution
			for i, run := range []struct {
				eng   *engine.Engine
				store engine.Store
			}{{local, st}, {rt.Engine, rt.Store}} {
				ev := requests[name]
				ev.ExecutionID, ev.Namespace, ev.FlowID = engine.NewID(), f.Namespace, f.ID
				if err := run.eng.Submit(ctx, ev); err != nil {
					t.Fatal(err)
				}
				got[i] = waitEnded(t, run.store, ev.ExecutionID, 60*time.Second)
			}
			if a, b := summary(got[0]), summary(got[1]); a != b {
				t.Errorf("embedded and dev differ:\nembedded: %s\n     dev: %s", a, b)
			}
		})
	}
}

// summary is what must match between two runs of one flow: the final
// state, the outputs and each task run's state and attempts.
func summary(ex *statemachine.Execution) string {
	var b strings.Builder
	out, _ := json.Marshal(ex.Outputs)
	fmt.Fprintf(&b, "%s outputs=%s runs:", ex.State, out)
	for _, r := range ex.TaskRuns {
		fmt.Fprintf(&b, " %s=%s/%d", r.ID, r.State, len(r.Attempts))
	}
	return b.String()
}

// TestPoisonRecord_goesToTheDLQAndOthersGoOn writes a record that is not a
// CloudEvent to relay.executions: it lands in relay.dlq with its reason,
// and an execution requested after it still runs to its end.
func TestPoisonRecord_goesToTheDLQAndOthersGoOn(t *testing.T) {
	rt := startDev(t)
	ctx := context.Background()
	w := &kafkago.Writer{Addr: kafkago.TCP(rt.Config.Brokers...), BatchTimeout: time.Millisecond, RequiredAcks: kafkago.RequireAll}
	defer w.Close()
	topic := rt.Config.TopicPrefix + RoleExecutor.Topic()
	if err := w.WriteMessages(ctx, kafkago.Message{Topic: topic, Key: []byte("poison"), Value: []byte("not an event")}); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("../examples/flows/hello.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, f, err := rt.Engine.Deploy(ctx, "hello.yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	id := engine.NewID()
	if err := rt.Engine.Submit(ctx, statemachine.Event{ExecutionID: id, Namespace: f.Namespace, FlowID: f.ID}); err != nil {
		t.Fatal(err)
	}
	if ex := waitEnded(t, rt.Store, id, time.Minute); ex.State != statemachine.ExecSuccess {
		t.Errorf("execution after the poison record ended %s", ex.State)
	}
	// A group reader reads every partition (the record's key picks one).
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: rt.Config.Brokers, Topic: rt.Config.TopicPrefix + engine.TopicDLQ, GroupID: "dlq-reader",
		StartOffset: kafkago.FirstOffset, MaxWait: 100 * time.Millisecond, HeartbeatInterval: 500 * time.Millisecond, JoinGroupBackoff: 200 * time.Millisecond})
	defer r.Close()
	readCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		m, err := r.ReadMessage(readCtx)
		if err != nil {
			t.Fatalf("no poison record in the DLQ: %v", err)
		}
		if string(m.Value) != "not an event" {
			continue
		}
		reason := ""
		for _, h := range m.Headers {
			if h.Key == kafka.HeaderError {
				reason = string(h.Value)
			}
		}
		if reason == "" || string(m.Key) != "poison" {
			t.Errorf("dead letter key %q, relay_error %q", m.Key, reason)
		}
		return
	}
}

// A webhook key written with secret() is rendered by relay dev's API (and
// the api function's) with the deployment's named secrets: the right key
// starts the flow, the expression itself and a wrong key do not.
func TestWebhook_keyFromASecretOnDev(t *testing.T) {
	t.Setenv("RELAY_SECRET_WEBHOOK_KEY", "k3y-from-secret")
	rt := startDev(t)
	svc := rt.API()
	ctx := t.Context()
	src := "id: hook\nnamespace: t\ntasks:\n  - {id: a, type: log, message: \"{{ trigger.body.n }}\"}\ntriggers:\n  - {id: h, type: io.kestra.plugin.core.trigger.Webhook, key: \"{{ secret('WEBHOOK_KEY') }}\"}\n"
	if _, err := svc.DeployFlow(ctx, "hook.yaml", []byte(src)); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"{{ secret('WEBHOOK_KEY') }}", "wrong-key-123"} {
		if _, err := svc.Webhook(ctx, "t", "hook", key, map[string]any{"body": map[string]any{"n": 1}}); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("key %q: %v, want not found", key, err)
		}
	}
	st, err := svc.Webhook(ctx, "t", "hook", "k3y-from-secret", map[string]any{"body": map[string]any{"n": 1}})
	if err != nil {
		t.Fatalf("the key from the secret: %v", err)
	}
	if ex := waitEnded(t, rt.Store, st.ID, 60*time.Second); ex.State != statemachine.ExecSuccess {
		t.Errorf("the webhook's execution ended %s", ex.State)
	}
}
