package firing

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/infra/embedded"
	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/statemachine/flow"
)

// Test helpers of the trigger runtime: a real embedded store in a temporary
// folder, a Publisher that records what it is given, a simulated clock.

// t0 is the simulated clock's start: 2025-06-02T10:00:00Z.
var t0 = time.Date(2025, 6, 2, 10, 0, 0, 0, time.UTC)

// at returns t0's day at hh:mm:ss (UTC).
func at(h, m, s int) time.Time { return time.Date(2025, 6, 2, h, m, s, 0, time.UTC) }

func newStore(t *testing.T) *embedded.Store {
	t.Helper()
	st, err := embedded.OpenStore(filepath.Join(t.TempDir(), "relay.db"))
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return st
}

// clock is a simulated clock, safe for concurrent use.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock(t time.Time) *clock { return &clock{now: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// published is one Publish call, its event decoded.
type published struct {
	Topic, Key string
	CE         cloudevents.Event
	Ev         statemachine.Event
}

// recorder is a Publisher that records every call. err, when set, fails
// every Publish.
type recorder struct {
	t   *testing.T
	mu  sync.Mutex
	got []published
	err error
}

func newRecorder(t *testing.T) *recorder { return &recorder{t: t} }

func (r *recorder) Publish(_ context.Context, topic, key string, ce cloudevents.Event) error {
	ev, err := engine.DecodeMachineEvent(ce)
	if err != nil {
		r.t.Errorf("published an event that does not decode: %v", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.got = append(r.got, published{Topic: topic, Key: key, CE: ce, Ev: ev})
	return nil
}

// all returns every request so far.
func (r *recorder) all() []published {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// take returns the requests since the last take and forgets them.
func (r *recorder) take() []published {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.got
	r.got = nil
	return out
}

// flows returns the namespace/flowId of each request, in order.
func flowsOf(ps []published) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Ev.Namespace+"/"+p.Ev.FlowID)
	}
	return out
}

// checkRequest checks what every execution.requested event must hold.
func checkRequest(t *testing.T, p published) {
	t.Helper()
	if p.Topic != engine.TopicExecutions {
		t.Errorf("published on %s, want %s", p.Topic, engine.TopicExecutions)
	}
	if p.Ev.Type != statemachine.EvExecutionRequested {
		t.Errorf("event type %s, want %s", p.Ev.Type, statemachine.EvExecutionRequested)
	}
	if p.Key != p.Ev.ExecutionID || p.Ev.ExecutionID == "" {
		t.Errorf("key %q, execution id %q: want the execution id as the key", p.Key, p.Ev.ExecutionID)
	}
	if p.Ev.ID != p.Ev.ExecutionID+"/requested" {
		t.Errorf("event id %q, want %q", p.Ev.ID, p.Ev.ExecutionID+"/requested")
	}
	if p.CE.Subject() != p.Ev.ExecutionID {
		t.Errorf("CloudEvent subject %q, want the execution id", p.CE.Subject())
	}
	if !strings.HasPrefix(p.CE.Source(), "relay/trigger/"+p.Ev.Namespace+"/"+p.Ev.FlowID+"/") {
		t.Errorf("CloudEvent source %q", p.CE.Source())
	}
}

// flowYAML returns a flow document with one Log task and the given
// triggers (YAML list items, indented by two spaces) and optional inputs.
func flowYAML(ns, id, inputs, triggersYAML string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "id: %s\nnamespace: %s\n", id, ns)
	if inputs != "" {
		b.WriteString("inputs:\n" + inputs)
	}
	b.WriteString("tasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n")
	if triggersYAML != "" {
		b.WriteString("triggers:\n" + triggersYAML)
	}
	return b.String()
}

// deploy stores a flow revision and indexes its triggers at now, as the
// API's DeployFlow does.
func deploy(t *testing.T, st Store, source string, now time.Time) *flow.Flow {
	t.Helper()
	es, ok := st.(engine.Store)
	if !ok {
		t.Fatalf("store %T is not an engine.Store", st)
	}
	_, f, err := engine.SaveFlow(t.Context(), es, "flow.yaml", []byte(source))
	if err != nil {
		t.Fatalf("SaveFlow: %v\n%s", err, source)
	}
	if err := Index(t.Context(), st, f, now); err != nil {
		t.Fatalf("Index %s/%s@%d: %v", f.Namespace, f.ID, f.Revision, err)
	}
	return f
}

// finishedEvent builds the execution.finished CloudEvent of an upstream
// execution, as the executor publishes it on relay.events.
func finishedEvent(t *testing.T, fin statemachine.ExecutionFinished, now time.Time) cloudevents.Event {
	t.Helper()
	if fin.EndDate.IsZero() {
		fin.EndDate = now
	}
	ce, err := engine.NewEvent(fin.ExecutionID+"/finished", engine.TypeExecutionFinished, "relay/executor", fin.ExecutionID, now, fin)
	if err != nil {
		t.Fatal(err)
	}
	return ce
}

// fin is a shorthand for an upstream execution's end.
func fin(id, ns, flowID string, state statemachine.ExecState) statemachine.ExecutionFinished {
	return statemachine.ExecutionFinished{ExecutionID: id, Namespace: ns, FlowID: flowID, State: state}
}

// externalEvent builds an external CloudEvent with JSON data.
func externalEvent(t *testing.T, id, typ, source string, data any, now time.Time) cloudevents.Event {
	t.Helper()
	ce := cloudevents.New()
	ce.SetID(id)
	ce.SetType(typ)
	ce.SetSource(source)
	ce.SetTime(now)
	if data != nil {
		if err := ce.SetData("application/json", data); err != nil {
			t.Fatal(err)
		}
	}
	return ce
}

// newRouter returns a Router on st publishing to a new recorder, with the
// clock c.
func newRouter(t *testing.T, st Store, c *clock) (*Router, *recorder) {
	t.Helper()
	rec := newRecorder(t)
	return NewRouter(RouterConfig{Store: st, Bus: rec, Now: c.Now}), rec
}

func handle(t *testing.T, r *Router, ce cloudevents.Event) {
	t.Helper()
	if err := r.Handle(t.Context(), ce); err != nil {
		t.Fatalf("Handle %s (%s): %v", ce.ID(), ce.Type(), err)
	}
}

// commitExecution stores an execution, as the executor does when it
// starts one.
func commitExecution(t *testing.T, st engine.Store, e *statemachine.Execution) {
	t.Helper()
	if e.Version == 0 {
		e.Version = 1
	}
	if err := st.Commit(t.Context(), engine.Commit{Execution: e, Expected: 0}); err != nil {
		t.Fatalf("Commit %s: %v", e.ID, err)
	}
}

// logsOf returns the log lines of an execution, as "LEVEL message".
func logsOf(t *testing.T, st engine.Store, id string) []string {
	t.Helper()
	entries, err := st.Logs(t.Context(), id, 0, 0)
	if err != nil {
		t.Fatalf("Logs %s: %v", id, err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Level+" "+e.Message)
	}
	return out
}

// records returns the keys of the records of a kind.
func recordKeys(t *testing.T, st Store, kind string) []string {
	t.Helper()
	recs, err := st.Records(t.Context(), kind, "")
	if err != nil {
		t.Fatalf("Records %s: %v", kind, err)
	}
	var out []string
	for _, r := range recs {
		out = append(out, r.Key)
	}
	return out
}

// listInfo returns List's entry of a trigger.
func listInfo(t *testing.T, st Store, now time.Time, ns, flowID, id string) Info {
	t.Helper()
	infos, err := List(t.Context(), st, now)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	for _, i := range infos {
		if i.Namespace == ns && i.FlowID == flowID && i.ID == id {
			return i
		}
	}
	t.Fatalf("List has no trigger %s/%s/%s: %+v", ns, flowID, id, infos)
	return Info{}
}

var errBus = errors.New("bus down")

func engineRecord(kind, key, value string) engine.Record {
	return engine.Record{Kind: kind, Key: key, Value: []byte(value)}
}
