package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/secrets"
	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/tasks"
)

const secretsFlow = `
id: s
namespace: shop
inputs:
  - {id: pw, type: SECRET}
tasks:
  - id: log
    type: log
    message: "pw={{ inputs.pw }} token={{ secret('TOKEN') }}"
  - id: values
    type: output.values
    values:
      auth: "Bearer {{ secret('TOKEN') }}"
  - id: fail
    type: shell.commands
    env: {PW: "{{ inputs.pw }}"}
    commands:
      - echo "stdout $PW"
      - echo "stderr $PW" >&2
      - exit 3
`

func withSecrets(lookup secrets.Lookup) func(*engine.Config) {
	return func(c *engine.Config) {
		k, err := secrets.NewKeyring([]byte("engine test key, 32 bytes at least"))
		if err != nil {
			panic(err)
		}
		c.Secrets, c.SecretLookup = k, lookup
	}
}

func startSource(t *testing.T, h *harness, src string, inputs map[string]any) string {
	t.Helper()
	_, f, err := h.eng.Deploy(context.Background(), "s.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	id := engine.NewID()
	if err := h.eng.Submit(context.Background(), statemachine.Event{ExecutionID: id, Namespace: f.Namespace, FlowID: f.ID, Inputs: inputs}); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestWorker_resolvesSecretsForTheTaskAndMasksWhatItLogsAndReturns(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, dir, withSecrets(func(_ context.Context, ns, name string) (string, error) {
		if ns == "shop" && name == "TOKEN" {
			return "tok-9f8e7d", nil
		}
		return "", secrets.ErrNotFound
	}))
	id := startSource(t, h, secretsFlow, map[string]any{"pw": "hunter2-abc"})
	ex := h.waitFor(t, id, 10*time.Second, ended)
	if ex.State != statemachine.ExecFailed {
		t.Fatalf("state %s (%s)", ex.State, ex.Error)
	}
	h.mu.Lock()
	var lines []string
	for _, l := range h.logs {
		lines = append(lines, l.Message)
	}
	h.mu.Unlock()
	all := strings.Join(lines, "\n")
	for _, want := range []string{"pw=****** token=******", "stdout ******", "stderr ******"} {
		if !strings.Contains(all, want) {
			t.Errorf("logs lack %q:\n%s", want, all)
		}
	}
	doc := engine.Document(ex)
	raw, _ := json.Marshal(doc)
	if !strings.Contains(string(raw), `"auth":"Bearer ******"`) || !strings.Contains(string(raw), `"pw":"******"`) {
		t.Errorf("document: %s", raw)
	}
	h.close()
	for _, secret := range []string{"hunter2-abc", "tok-9f8e7d"} {
		if strings.Contains(all, secret) || strings.Contains(string(raw), secret) {
			t.Errorf("%s is in the logs or the document", secret)
		}
		db, err := os.ReadFile(filepath.Join(dir, "relay.db"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(db), secret) {
			t.Errorf("%s is in clear in the store file", secret)
		}
	}
}

func TestWorker_aMissingSecretFailsTheTaskNamingItAndNotRetried(t *testing.T) {
	h := newHarness(t, t.TempDir(), withSecrets(func(context.Context, string, string) (string, error) {
		return "", errors.Join(errors.New("set RELAY_SECRET_TOKEN"), secrets.ErrNotFound)
	}))
	id := startSource(t, h, `
id: m
namespace: shop
tasks:
  - id: a
    type: log
    message: "{{ secret('TOKEN') }}"
    retry: {type: constant, interval: PT0.01S, maxAttempts: 3}
`, nil)
	ex := h.waitFor(t, id, 10*time.Second, ended)
	r := ex.TaskRuns[0]
	if ex.State != statemachine.ExecFailed || r.Error == nil || !strings.Contains(r.Error.Message, "secret TOKEN of namespace shop") || len(r.Attempts) != 1 {
		t.Fatalf("state %s, run %+v, error %+v", ex.State, r, r.Error)
	}
}

func TestWorker_withoutAKeyAFlowThatUsesSecretsFailsSayingSo(t *testing.T) {
	h := newHarness(t, t.TempDir())
	id := startSource(t, h, secretsFlow, map[string]any{"pw": "x"})
	ex := h.waitFor(t, id, 10*time.Second, ended)
	if ex.State != statemachine.ExecFailed || !strings.Contains(ex.Error, "no secret key") {
		t.Fatalf("state %s, error %q", ex.State, ex.Error)
	}
}

func TestMaskResult_hidesSecretsInOutputsAndMetricsAndKeepsKinds(t *testing.T) {
	m := secrets.NewMasker("tok-9f8e7d")
	in := tasks.Result{
		Outputs: map[string]any{"vars": map[string]any{"auth": "Bearer tok-9f8e7d", "rows": int64(3)}},
		Metrics: []tasks.Metric{{Name: "calls tok-9f8e7d", Type: tasks.MetricCounter, Value: 1, Tags: map[string]string{"token": "tok-9f8e7d", "table": "orders"}}},
	}
	out := engine.MaskResult(m, in)
	vars := out.Outputs["vars"].(map[string]any)
	if vars["auth"] != "Bearer ******" || vars["rows"] != int64(3) {
		t.Errorf("vars %#v: want the secret masked and rows an int64", vars)
	}
	if mt := out.Metrics[0]; mt.Name != "calls ******" || mt.Tags["token"] != "******" || mt.Tags["table"] != "orders" {
		t.Errorf("metric %+v", mt)
	}
	if in.Metrics[0].Tags["token"] != "tok-9f8e7d" || in.Outputs["vars"].(map[string]any)["auth"] != "Bearer tok-9f8e7d" {
		t.Error("MaskResult changed its input")
	}
	if got := engine.MaskResult(nil, in); got.Metrics[0].Tags["token"] != "tok-9f8e7d" {
		t.Error("no masker: the result should come back as it is")
	}
}

// A task's log line keeps its attributes, after the message as key=value
// (quoted when they hold spaces), and a secret among them is masked; a
// shell line's text replaces the fixed message.
func TestTaskLogger_keepsAttributesAndMasksThem(t *testing.T) {
	var got []string
	log := engine.NewTaskLogger(func(_ context.Context, ls []engine.LogEntry) error {
		for _, l := range ls {
			got = append(got, l.Message)
		}
		return nil
	}, engine.LogEntry{ExecutionID: "e"}, secrets.NewMasker("tok-9f8e7d"), "")
	log.Info("outputFiles: no file matches the glob", "glob", "*.csv")
	log.With("url", "https://x/?t=tok-9f8e7d").Warn("request failed", "error", "timed out")
	log.Info("stdout", "line", "hello tok-9f8e7d")
	want := []string{
		"outputFiles: no file matches the glob glob=*.csv",
		`request failed url="https://x/?t=******" error="timed out"`,
		"hello ******",
	}
	if !slices.Equal(got, want) {
		t.Errorf("log lines:\n%q\nwant\n%q", got, want)
	}
}
