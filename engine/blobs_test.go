package engine_test

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/infra/blob"
	"github.com/relayflow/relay/infra/embedded"
	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/tasks"
	"github.com/relayflow/relay/tasks/builtin"
)

// bigFlow renders a ~108 KB string of random ids (so that it does not
// compress), returns it from one task, reads it from the next one and
// from the flow's outputs.
const bigFlow = `
id: big
namespace: blobs
tasks:
  - id: big
    type: debug.return
    format: "{% for i in range(1, 3000) %}{{ uuid() }}{% endfor %}"
  - id: check
    type: output.values
    values:
      length: "{{ outputs.big.value | length }}"
      head: "{{ outputs.big.value | slice(0, 36) }}"
outputs:
  - id: big
    type: STRING
    value: "{{ outputs.big.value }}"
`

// blobEngine returns an engine, not started, on an embedded store and
// bus, that keeps event data over threshold in a blob folder; all are
// closed when the test ends.
func blobEngine(t *testing.T, threshold int) (*engine.Engine, *embedded.Store, *embedded.Bus) {
	dir := t.TempDir()
	blobs, err := blob.NewDir(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := embedded.OpenStore(filepath.Join(dir, "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	bus := embedded.NewBus()
	reg, err := builtin.Registry(builtin.Config{Tasks: tasks.Config{Emitter: engine.BusEmitter{Bus: bus}}})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Config{Store: st, Bus: bus, Tasks: reg, TimerPoll: 5 * time.Millisecond, Logger: testLogger(),
		Blobs: blobs, BlobThreshold: threshold})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bus.Close(); eng.Wait(); st.Close() })
	return eng, st, bus
}

// seenEvent is what a spy subscription saw of one event.
type seenEvent struct {
	topic, typ, ref string
	size            int
}

// TestBlobs_largeValuesTravelAsReferences runs a flow whose task returns
// more than the threshold: every event on the bus stays within it (the
// scheduled attempt's properties, the task's outputs and the execution's
// outputs travel as blob references) and the flow reads the real values.
func TestBlobs_largeValuesTravelAsReferences(t *testing.T) {
	const threshold = 16 << 10
	eng, st, bus := blobEngine(t, threshold)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var mu sync.Mutex
	var seen []seenEvent
	for _, topic := range []string{engine.TopicExecutions, engine.TopicTaskRuns, engine.TopicEvents} {
		go bus.Subscribe(ctx, topic, "spy", func(_ context.Context, ev cloudevents.Event) error {
			ref, _ := ev.Extensions()[engine.ExtensionDataRef].(string)
			mu.Lock()
			seen = append(seen, seenEvent{topic: topic, typ: ev.Type(), ref: ref, size: len(ev.Data())})
			mu.Unlock()
			return nil
		})
		for bus.Subscribers(topic, "spy") == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	_, f, err := eng.Deploy(ctx, "big.yaml", []byte(bigFlow))
	if err != nil {
		t.Fatal(err)
	}
	id := engine.NewID()
	if err := eng.Submit(ctx, statemachine.Event{ExecutionID: id, Namespace: f.Namespace, FlowID: f.ID}); err != nil {
		t.Fatal(err)
	}
	var ex *statemachine.Execution
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if ex, err = st.Execution(ctx, id); err == nil && ex.State.Terminal() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution %s did not end: %v", id, err)
		}
	}
	if ex.State != statemachine.ExecSuccess {
		t.Fatalf("execution ended %s: %s", ex.State, ex.Error)
	}
	big, _ := ex.Outputs["big"].(string)
	if len(big) != 3000*36 {
		t.Fatalf("the flow output is %d bytes, want %d", len(big), 3000*36)
	}
	check, _ := ex.Run(ex.TaskRuns[1].ID)
	values, _ := check.Outputs["values"].(map[string]any)
	if got := values["length"]; got != int64(len(big)) {
		t.Errorf("the next task read a length of %v (%T), want %d", got, got, len(big))
	}
	if got := values["head"]; got != big[:36] {
		t.Errorf("the next task read %q as the head, want %q", got, big[:36])
	}

	// Wait for execution.finished, published after the last commit.
	want := map[string]bool{
		engine.TopicTaskRuns + " " + engine.TypeTaskRunScheduled:                                  true, // the properties of big
		engine.TopicExecutions + " " + engine.TypePrefix + string(statemachine.EvTaskRunFinished): true, // the outputs of big
		engine.TopicEvents + " " + engine.TypeExecutionFinished:                                   true, // the flow's outputs
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		for _, s := range seen {
			if s.ref != "" {
				delete(want, s.topic+" "+s.typ)
			}
		}
		mu.Unlock()
		if len(want) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no blob reference seen on: %v", want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, s := range seen {
		if s.size > threshold {
			t.Errorf("%s event %s carried %d bytes of data, over the %d threshold", s.topic, s.typ, s.size, threshold)
		}
		if s.ref != "" && s.size != 0 {
			t.Errorf("%s event %s has a blob reference and %d bytes of data", s.topic, s.typ, s.size)
		}
		if s.ref != "" && !strings.HasPrefix(s.ref, "file://") {
			t.Errorf("reference %q is not a file:// URL", s.ref)
		}
	}
}

// TestBlobs_publishOffloadsLargeInputs publishes an execution request
// with large inputs through Engine.Publish, as the HTTP API does: the
// record refers to a blob and the execution sees the inputs.
func TestBlobs_publishOffloadsLargeInputs(t *testing.T) {
	eng, st, bus := blobEngine(t, 1<<10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	refs := make(chan string, 16)
	go bus.Subscribe(ctx, engine.TopicExecutions, "spy", func(_ context.Context, ev cloudevents.Event) error {
		ref, _ := ev.Extensions()[engine.ExtensionDataRef].(string)
		refs <- ref
		return nil
	})
	for bus.Subscribers(engine.TopicExecutions, "spy") == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	_, f, err := eng.Deploy(ctx, "in.yaml", []byte("id: in\nnamespace: blobs\ninputs:\n  - id: text\n    type: STRING\ntasks:\n  - id: n\n    type: debug.return\n    format: \"{{ inputs.text | length }}\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Repeat("abc", 2000)
	id := engine.NewID()
	ce, err := engine.MachineEvent(statemachine.Event{ID: id + "/requested", Type: statemachine.EvExecutionRequested, ExecutionID: id,
		Namespace: f.Namespace, FlowID: f.ID, Inputs: map[string]any{"text": text}}, "relay/api", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Publish(ctx, engine.TopicExecutions, id, ce); err != nil {
		t.Fatal(err)
	}
	if ref := <-refs; !strings.HasPrefix(ref, "file://") {
		t.Errorf("the request travelled with reference %q, want a file:// blob", ref)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		ex, err := st.Execution(ctx, id)
		if err == nil && ex.State.Terminal() {
			if v := ex.TaskRuns[0].Outputs["value"]; v != strconv.Itoa(len(text)) {
				t.Errorf("the task read an input of length %v, want %d", v, len(text))
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution %s did not end: %v", id, err)
		}
	}
}

// TestBlobs_unreadableReferenceIsAnError hands the executor and the worker
// events whose data is in a blob they cannot read: the handler fails (the
// bus redelivers, then dead-letters) with an error naming the reference.
func TestBlobs_unreadableReferenceIsAnError(t *testing.T) {
	dir := t.TempDir()
	blobs, err := blob.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	missing := "file://" + filepath.ToSlash(dir) + "/executions/x/missing.json"
	tests := []struct {
		name    string
		blobs   engine.Blobs
		typ     string
		handler func(*engine.Engine) engine.Handler
		want    []string
	}{
		{"executorMissingBlob", blobs, engine.TypePrefix + string(statemachine.EvTaskRunFinished), (*engine.Engine).ExecutorHandler, []string{missing, "not found"}},
		{"workerMissingBlob", blobs, engine.TypeTaskRunScheduled, (*engine.Engine).WorkerHandler, []string{missing, "not found"}},
		{"executorWithoutBlobs", nil, engine.TypePrefix + string(statemachine.EvTaskRunFinished), (*engine.Engine).ExecutorHandler, []string{missing, "no blob store"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := embedded.OpenStore(filepath.Join(t.TempDir(), "relay.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			bus := embedded.NewBus()
			defer bus.Close()
			reg, _ := builtin.Registry(builtin.Config{Tasks: tasks.Config{}})
			eng, err := engine.New(engine.Config{Store: st, Bus: bus, Tasks: reg, Blobs: tc.blobs})
			if err != nil {
				t.Fatal(err)
			}
			ev := cloudevents.New()
			ev.SetID("x/run/1/finished")
			ev.SetType(tc.typ)
			ev.SetSource("relay/engine")
			ev.SetSubject("x")
			ev.SetDataContentType(cloudevents.ApplicationJSON)
			ev.SetExtension(engine.ExtensionDataRef, missing)
			err = tc.handler(eng)(context.Background(), ev)
			if err == nil {
				t.Fatal("the handler accepted an event whose data it cannot read")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestBlobKey checks the layout of blob keys: one folder per execution,
// named so that no id escapes it, and the content's hash.
func TestBlobKey(t *testing.T) {
	const hashOfEmpty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	tests := []struct{ execID, want string }{
		{"mwqc4b40ffab480d", "executions/mwqc4b40ffab480d/" + hashOfEmpty + ".json"},
		{"parent.child_run", "executions/parent.child_run/" + hashOfEmpty + ".json"},
		{"a/b", "executions/a%2Fb/" + hashOfEmpty + ".json"},
		{"..", "executions/%2E%2E/" + hashOfEmpty + ".json"},
		{"", "executions/_/" + hashOfEmpty + ".json"},
	}
	for _, tc := range tests {
		if got := engine.BlobKey(tc.execID, nil); got != tc.want {
			t.Errorf("BlobKey(%q) = %s, want %s", tc.execID, got, tc.want)
		}
	}
}
