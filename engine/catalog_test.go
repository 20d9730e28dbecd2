package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/infra/embedded"
	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/tasks"
	"github.com/relayflow/relay/tasks/builtin"
)

// The engine package's tests (engine and engine_test) share one binary, so
// this is the only -update flag they may define.
var update = flag.Bool("update", false, "rewrite docs/events.md and docs/events/*.schema.json")

const (
	eventsDoc       = "../docs/events.md"
	eventSchemasDir = "../docs/events"
	schemaBaseURL   = "https://relayflow.io/schemas/events/"
)

// docs/events.md and docs/events/*.schema.json are generated from the
// catalog; this test fails when the committed files differ, or when a
// schema file is no longer generated.
func TestCatalog_matchesCommittedFiles(t *testing.T) {
	doc, schemas := engine.EventsDoc(), engine.EventSchemas()
	if *update {
		if err := os.MkdirAll(eventSchemasDir, 0o755); err != nil {
			t.Fatal(err)
		}
		stale, _ := filepath.Glob(filepath.Join(eventSchemasDir, "*.schema.json"))
		for _, path := range stale {
			if _, ok := schemas[filepath.Base(path)]; !ok {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := os.WriteFile(eventsDoc, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		for name, b := range schemas {
			if err := os.WriteFile(filepath.Join(eventSchemasDir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	const regenerate = "run `go test ./engine -run Catalog -update` and commit the result"
	if got, err := os.ReadFile(eventsDoc); err != nil || string(got) != doc {
		t.Errorf("%s is out of date: %s (%v)", eventsDoc, regenerate, err)
	}
	for name, b := range schemas {
		path := filepath.Join(eventSchemasDir, name)
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, b) {
			t.Errorf("%s is out of date: %s (%v)", path, regenerate, err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(eventSchemasDir, "*.schema.json"))
	for _, path := range files {
		if _, ok := schemas[filepath.Base(path)]; !ok {
			t.Errorf("%s is no longer generated: %s", path, regenerate)
		}
	}
	if len(schemas) == 0 {
		t.Error("no schema generated")
	}
}

// eventSchema is the compiled schema of one event type's data, with the
// names of its top-level members.
type eventSchema struct {
	*jsonschema.Schema
	members map[string]bool
}

// compileSchemas compiles every generated schema, by event type.
func compileSchemas(t *testing.T) map[string]eventSchema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	out := map[string]eventSchema{}
	members := map[string]map[string]bool{}
	for name, b := range engine.EventSchemas() {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s is not JSON: %v", name, err)
		}
		if err := c.AddResource(schemaBaseURL+name, doc); err != nil {
			t.Fatal(err)
		}
		var raw struct {
			ID         string                     `json:"$id"`
			Properties map[string]json.RawMessage `json:"properties"`
		}
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatal(err)
		}
		if raw.ID != schemaBaseURL+name {
			t.Errorf("%s has $id %q", name, raw.ID)
		}
		members[name] = map[string]bool{}
		for m := range raw.Properties {
			members[name][m] = true
		}
	}
	for name, m := range members {
		s, err := c.Compile(schemaBaseURL + name)
		if err != nil {
			t.Fatalf("%s does not compile: %v", name, err)
		}
		out[strings.TrimSuffix(name, ".schema.json")] = eventSchema{Schema: s, members: m}
	}
	return out
}

// validateData checks data against the schema of its event type, and that
// it holds no member the schema does not list.
func validateData(t *testing.T, s eventSchema, what string, data []byte) {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Errorf("%s: data is not JSON: %v", what, err)
		return
	}
	if err := s.Validate(v); err != nil {
		t.Errorf("%s: data does not match its schema: %v", what, err)
	}
	if obj, ok := v.(map[string]any); ok {
		for m := range obj {
			if !s.members[m] {
				t.Errorf("%s: data has member %q, which the schema does not list", what, m)
			}
		}
	}
}

// Every example in docs/events.md is valid data of its type: the type of a
// section, or the ce_type of the record shown (a dead letter keeps the
// original type). Only user events have no schema.
func TestCatalog_docExamplesMatchTheirSchemas(t *testing.T) {
	schemas := compileSchemas(t)
	checked := map[string]int{}
	var heading, ceType string
	var block []string
	inJSON := false
	for line := range strings.Lines(engine.EventsDoc()) {
		line = strings.TrimSuffix(line, "\n")
		switch {
		case inJSON && line == "```":
			inJSON = false
			typ := ceType
			if typ == "" {
				typ = heading
			}
			s, ok := schemas[typ]
			if !ok {
				if strings.HasPrefix(typ, engine.TypePrefix) {
					t.Errorf("section %q: no schema for the example's type %q", heading, typ)
				}
				continue
			}
			validateData(t, s, "example in section "+heading, []byte(strings.Join(block, "\n")))
			checked[typ]++
		case inJSON:
			block = append(block, line)
		case line == "```json":
			inJSON, block = true, nil
		case strings.HasPrefix(line, "## "):
			heading, ceType = strings.TrimPrefix(line, "## "), ""
		case strings.HasPrefix(line, "  ce_type: "):
			ceType = strings.TrimPrefix(line, "  ce_type: ")
			if strings.HasPrefix(heading, engine.TypePrefix) && ceType != heading {
				t.Errorf("section %q shows a record of type %q", heading, ceType)
			}
		}
	}
	for typ := range schemas {
		if checked[typ] == 0 {
			t.Errorf("%s: the doc shows no example of it", typ)
		}
	}
}

// The example records follow the catalog's own conventions.
func TestCatalog_examplesFollowTheConventions(t *testing.T) {
	schemas := compileSchemas(t)
	for _, s := range engine.Catalog() {
		rec := s.Example()
		if err := rec.Event.Validate(); err != nil {
			t.Errorf("%s: example is not a valid CloudEvent: %v", title(s), err)
		}
		if s.Key == engine.KeyOriginal {
			for _, ext := range []string{"relayerror", "relaytopic"} {
				if _, ok := rec.Event.Extensions()[ext]; !ok {
					t.Errorf("%s: example has no extension %s", title(s), ext)
				}
			}
			continue
		}
		checkRecord(t, s, schemas, s.Topic, rec.Key, rec.Event)
	}
}

// title names a catalog entry in messages.
func title(s engine.EventSpec) string {
	if s.Title != "" {
		return s.Title
	}
	return s.Type
}

// checkRecord checks an event published on topic with key against its
// catalog entry: data, id, topic, key, source and subject.
func checkRecord(t *testing.T, s engine.EventSpec, schemas map[string]eventSchema, topic, key string, ev cloudevents.Event) {
	t.Helper()
	what := fmt.Sprintf("%s %s", ev.Type(), ev.ID())
	var data map[string]any
	if s.Type != "" {
		if err := json.Unmarshal(ev.Data(), &data); err != nil {
			t.Errorf("%s: data is not a JSON object: %v", what, err)
			return
		}
		validateData(t, schemas[s.Type], what, ev.Data())
	}
	if !slices.ContainsFunc(s.IDs, func(form string) bool { return idPattern(t, form, data).MatchString(ev.ID()) }) {
		t.Errorf("%s: the id has none of the forms %q", what, s.IDs)
	}
	if topic != s.Topic {
		t.Errorf("%s: published on %q, catalogued on %q", what, topic, s.Topic)
	}
	if s.Topic == "" {
		return // applied in process: no record, no CloudEvent attributes
	}
	if ct := ev.DataContentType(); ct != "application/json" {
		t.Errorf("%s: content type %q", what, ct)
	}
	if s.Type != "" {
		if ev.Source() != s.Source {
			t.Errorf("%s: source %q, catalogued %q", what, ev.Source(), s.Source)
		}
		if ev.Subject() != data["executionId"] {
			t.Errorf("%s: subject %q is not the data's executionId %v", what, ev.Subject(), data["executionId"])
		}
	}
	var want string
	switch s.Key {
	case engine.KeyExecution:
		want = ev.Subject()
	case engine.KeyTaskRun:
		exec, _ := data["executionId"].(string)
		run, _ := data["taskRunId"].(string)
		want = exec + "/" + run
	case engine.KeyEventID:
		want = ev.ID()
	default:
		t.Errorf("%s: unknown record key %q", what, s.Key)
	}
	if key != want {
		t.Errorf("%s: key %q, the catalog says %s (%q)", what, key, s.Key, want)
	}
}

// idPattern turns a catalogued id form into a regular expression, with
// the placeholders replaced by the data's values.
func idPattern(t *testing.T, form string, data map[string]any) *regexp.Regexp {
	t.Helper()
	str := func(name string) string { s, _ := data[name].(string); return regexp.QuoteMeta(s) }
	var b strings.Builder
	b.WriteString("^")
	for rest := form; rest != ""; {
		i := strings.Index(rest, "<")
		if i < 0 {
			b.WriteString(regexp.QuoteMeta(rest))
			break
		}
		j := strings.Index(rest, ">")
		b.WriteString(regexp.QuoteMeta(rest[:i]))
		switch name := rest[i+1 : j]; name {
		case "execution":
			b.WriteString(str("executionId"))
		case "taskrun":
			b.WriteString(str("taskRunId"))
		case "timer":
			b.WriteString(str("timer"))
		case "child":
			b.WriteString(str("childExecutionId"))
		case "attempt":
			n, _ := data["attempt"].(float64)
			b.WriteString(strconv.Itoa(int(n)))
		case "random":
			b.WriteString("[0-9a-z]+")
		case "version":
			b.WriteString("[0-9]+")
		default:
			t.Fatalf("id form %q: unknown placeholder <%s>", form, name)
		}
		rest = rest[j+1:]
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// eventTypes must follow the EventType constants of statemachine/events.go;
// TestCatalog_coversEveryEventType checks that it does.
var eventTypes = []statemachine.EventType{
	statemachine.EvExecutionRequested,
	statemachine.EvRestart,
	statemachine.EvTaskRunStarted,
	statemachine.EvTaskRunFinished,
	statemachine.EvTimerFired,
	statemachine.EvResume,
	statemachine.EvKill,
	statemachine.EvSubflowFinished,
	statemachine.EvDequeued,
	statemachine.EvContinue,
}

// declaredEventTypes reads the values of the EventType constants declared
// in the statemachine package's source.
func declaredEventTypes(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob("../statemachine/*.go")
	var out []string
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "EventType" {
					continue
				}
				for _, v := range vs.Values {
					lit, ok := v.(*ast.BasicLit)
					if !ok {
						t.Fatalf("%s: an EventType constant that is not a string literal", file)
					}
					s, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					out = append(out, s)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// Adding an event type to the state machine without cataloguing it fails
// here.
func TestCatalog_coversEveryEventType(t *testing.T) {
	listed := make([]string, len(eventTypes))
	for i, et := range eventTypes {
		listed[i] = string(et)
	}
	slices.Sort(listed)
	if declared := declaredEventTypes(t); !slices.Equal(declared, listed) {
		t.Errorf("statemachine declares the event types %q; this test lists %q: update eventTypes", declared, listed)
	}
	byType := map[string]engine.EventSpec{}
	for _, s := range engine.Catalog() {
		if s.Type != "" {
			if _, dup := byType[s.Type]; dup {
				t.Errorf("%s is catalogued twice", s.Type)
			}
			byType[s.Type] = s
		}
	}
	for _, et := range eventTypes {
		s, ok := byType[engine.TypePrefix+string(et)]
		switch {
		case !ok:
			t.Errorf("event type %s is not in the catalog (engine/catalog.go)", et)
		case s.Data != reflect.TypeFor[statemachine.Event]():
			t.Errorf("%s: data is %v, not statemachine.Event", s.Type, s.Data)
		}
	}
	for _, typ := range []string{engine.TypeTaskRunScheduled, engine.TypeExecutionFinished} {
		if _, ok := byType[typ]; !ok {
			t.Errorf("%s is not in the catalog", typ)
		}
	}
}

// Every documented member exists in the data, and every member of the
// data is documented.
func TestCatalog_fieldsAreDocumented(t *testing.T) {
	schemas := engine.EventSchemas()
	for _, s := range engine.Catalog() {
		if s.Type == "" || s.Data == nil {
			continue
		}
		var doc map[string]any
		if err := json.Unmarshal(schemas[engine.SchemaFile(s.Type)], &doc); err != nil {
			t.Fatal(err)
		}
		described := map[string]bool{}
		schemaPaths("", doc, described)
		for path, ok := range described {
			if !ok {
				t.Errorf("%s: member %s has no description", s.Type, path)
			}
		}
		for _, f := range s.Fields {
			if _, ok := described[f.Path]; !ok {
				t.Errorf("%s: documents %s, which its data does not have", s.Type, f.Path)
			}
		}
	}
}

// schemaPaths records the members of a schema by path, and whether each
// has a description.
func schemaPaths(prefix string, s map[string]any, out map[string]bool) {
	if items, ok := s["items"].(map[string]any); ok {
		schemaPaths(prefix+"[]", items, out)
	}
	props, _ := s["properties"].(map[string]any)
	for name, p := range props {
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		ps := p.(map[string]any)
		desc, _ := ps["description"].(string)
		out[path] = desc != ""
		schemaPaths(path, ps, out)
	}
}

// recordingBus is the in-process bus, keeping what is published.
type recordingBus struct {
	*embedded.Bus
	mu  sync.Mutex
	got []publishedEvent
}

type publishedEvent struct {
	topic, key string
	ev         cloudevents.Event
}

func (b *recordingBus) Publish(ctx context.Context, topic, key string, ev cloudevents.Event) error {
	b.mu.Lock()
	b.got = append(b.got, publishedEvent{topic, key, ev.Clone()})
	b.mu.Unlock()
	return b.Bus.Publish(ctx, topic, key, ev)
}

const catalogChild = `id: catalog_child
namespace: catalog.test
tasks:
  - id: greet
    type: debug.return
    format: hello
outputs:
  - id: greeting
    type: STRING
    value: "{{ outputs.greet.value }}"
`

const catalogParent = `id: catalog_parent
namespace: catalog.test
tasks:
  - id: announce
    type: cloudevents.emit
    eventType: com.example.catalog.checked
    data:
      ok: true
  - id: flaky
    type: shell.commands
    allowFailure: true
    timeout: PT30S
    retry:
      type: constant
      interval: 10ms
      maxAttempts: 2
    commands:
      - exit 1
  - id: nap
    type: flow.sleep
    duration: 10ms
  - id: child
    type: flow.subflow
    namespace: catalog.test
    flowId: catalog_child
    wait: true
outputs:
  - id: greeting
    type: STRING
    value: "{{ outputs.child.outputs.greeting }}"
`

// The events the engine actually publishes while running a flow with a
// retry, a sleep, a subflow and a cloudevents.emit task are catalogued,
// on the catalogued topics, keys, sources and ids, with valid data.
func TestCatalog_matchesPublishedEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an engine")
	}
	schemas := compileSchemas(t)
	st, err := embedded.OpenStore(filepath.Join(t.TempDir(), "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	bus := &recordingBus{Bus: embedded.NewBus()}
	reg, err := builtin.Registry(builtin.Config{Tasks: tasks.Config{Emitter: engine.BusEmitter{Bus: bus}}})
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan *statemachine.Execution, 16)
	eng, err := engine.New(engine.Config{Store: st, Bus: bus, Tasks: reg, TimerPoll: 5 * time.Millisecond, Logger: testLogger(),
		OnCommit: func(ex *statemachine.Execution, _ []*statemachine.TaskRun) {
			if ex.State.Terminal() {
				select {
				case ended <- ex:
				default:
				}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() {
		bus.Close()
		eng.Wait()
		cancel()
		st.Close()
	}()
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]string{"child.yaml": catalogChild, "parent.yaml": catalogParent} {
		if _, _, err := eng.Deploy(ctx, name, []byte(src)); err != nil {
			t.Fatal(err)
		}
	}
	id := engine.NewID()
	if err := eng.Submit(ctx, statemachine.Event{ExecutionID: id, Namespace: "catalog.test", FlowID: "catalog_parent"}); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(30 * time.Second)
	for done := false; !done; {
		select {
		case ex := <-ended:
			if ex.ID == id {
				if ex.State != statemachine.ExecWarning { // flaky fails, allowFailure makes it WARNING
					t.Fatalf("execution ended %s: %s", ex.State, ex.Error)
				}
				done = true
			}
		case <-timeout:
			t.Fatal("the execution did not end")
		}
	}

	byType := map[string]engine.EventSpec{}
	var user engine.EventSpec
	for _, s := range engine.Catalog() {
		byType[s.Type] = s
		if s.Type == "" && s.Key == engine.KeyEventID {
			user = s
		}
	}
	bus.mu.Lock()
	got := slices.Clone(bus.got)
	bus.mu.Unlock()
	seen := map[string]bool{}
	for _, p := range got {
		s, ok := byType[p.ev.Type()]
		switch {
		case ok:
		case strings.HasPrefix(p.ev.Type(), engine.TypePrefix):
			t.Errorf("%s %s is published on %s but not catalogued", p.ev.Type(), p.ev.ID(), p.topic)
			continue
		default:
			s = user
		}
		seen[title(s)] = true
		checkRecord(t, s, schemas, p.topic, p.key, p.ev)
	}
	for _, want := range []string{
		engine.TypePrefix + string(statemachine.EvExecutionRequested), engine.TypeTaskRunScheduled,
		engine.TypePrefix + string(statemachine.EvTaskRunStarted), engine.TypePrefix + string(statemachine.EvTaskRunFinished),
		engine.TypePrefix + string(statemachine.EvTimerFired), engine.TypePrefix + string(statemachine.EvSubflowFinished),
		engine.TypeExecutionFinished, title(user),
	} {
		if !seen[want] {
			t.Errorf("no %s was published", want)
		}
	}
}
