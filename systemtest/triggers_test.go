package systemtest

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/relayflow/relay/api"
	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/internal/testnet"
	"github.com/relayflow/relay/statemachine"
)

// The trigger scenarios of the triggers work, run through the HTTP API and
// `relay emit` against two systems: `relay dev` (every role, on Kafka and
// DynamoDB Local) and `relay server` (one process, embedded store and bus).

const triggerFlows = `
id: a
namespace: trig
inputs:
  - {id: fail, type: BOOLEAN, defaults: false}
tasks:
  - id: work
    type: io.kestra.plugin.core.flow.If
    condition: "{{ inputs.fail }}"
    then:
      - {id: boom, type: io.kestra.plugin.core.execution.Fail, errorMessage: asked to fail}
outputs:
  - {id: rows, type: INT, value: 42}
---
id: b
namespace: trig
inputs:
  - {id: rows, type: INT}
tasks:
  - {id: log, type: io.kestra.plugin.core.log.Log, message: "rows {{ inputs.rows }}"}
triggers:
  - id: after-a
    type: io.kestra.plugin.core.trigger.Flow
    states: [SUCCESS]
    inputs: {rows: "{{ trigger.outputs.rows }}"}
    conditions:
      - {type: io.kestra.plugin.core.condition.ExecutionFlow, namespace: trig, flowId: a}
---
id: c
namespace: trig
tasks:
  - {id: log, type: io.kestra.plugin.core.log.Log, message: "a failed"}
triggers:
  - id: a-failed
    type: io.kestra.plugin.core.trigger.Flow
    states: [FAILED]
    conditions:
      - {type: io.kestra.plugin.core.condition.ExecutionFlow, namespace: trig, flowId: a}
---
id: d
namespace: trig
tasks:
  - {id: log, type: io.kestra.plugin.core.log.Log, message: "a and b"}
triggers:
  - id: a-and-b
    type: io.kestra.plugin.core.trigger.Flow
    preconditions:
      id: both
      flows:
        - {namespace: trig, flowId: a}
        - {namespace: trig, flowId: b}
      timeWindow: {type: SLIDING_WINDOW, window: PT1H}
---
id: orders
namespace: trig
tasks:
  - {id: log, type: io.kestra.plugin.core.log.Log, message: "order {{ trigger.event.subject }}"}
triggers:
  - id: created
    type: cloudevents.trigger
    filters:
      - exact: {type: com.acme.order.created}
---
id: refunds
namespace: trig
tasks:
  - {id: log, type: io.kestra.plugin.core.log.Log, message: "refund"}
triggers:
  - id: cancelled
    type: cloudevents.trigger
    filters:
      - exact: {type: com.acme.order.cancelled}
---
id: hook
namespace: trig
tasks:
  - {id: log, type: io.kestra.plugin.core.log.Log, message: "body {{ trigger.body.n }}"}
triggers:
  - {id: call, type: io.kestra.plugin.core.trigger.Webhook, key: test-key-123}
---
id: limited
namespace: trig
concurrency: {limit: 2, behavior: QUEUE}
tasks:
  - {id: nap, type: io.kestra.plugin.scripts.shell.Commands, commands: ["sleep 0.3"]}
`

// system is a running Relay reached through its HTTP API.
type system struct {
	url       string
	c         *api.Client
	redeliver func(t *testing.T)  // hands the router every relay.events event again
	emitted   []cloudevents.Event // the events the scenarios emitted, for repostEvents
}

func TestTriggers_relayDev(t *testing.T) {
	d := newDeployment(t)
	port := testnet.Port(t)
	p := d.startArgs("dev", "dev", "--role", "all", "--consumers", "1", "--create-table=false", "--addr", fmt.Sprintf("127.0.0.1:%d", port))
	sys := &system{url: fmt.Sprintf("http://127.0.0.1:%d", port)}
	sys.redeliver = func(t *testing.T) { republishEvents(t, d) }
	waitAPI(t, sys, p)
	runTriggerScenarios(t, sys)
}

func TestTriggers_relayServer(t *testing.T) {
	port := testnet.Port(t)
	dir := t.TempDir()
	cmd := exec.Command(relayBinary(t), "server", "--data-dir", dir, "--port", fmt.Sprint(port))
	p := startProc(t, "server", cmd)
	sys := &system{url: fmt.Sprintf("http://127.0.0.1:%d", port)}
	sys.redeliver = func(t *testing.T) { repostEvents(t, sys) }
	waitAPI(t, sys, p)
	runTriggerScenarios(t, sys)
}

func runTriggerScenarios(t *testing.T, sys *system) {
	ctx := context.Background()
	for _, doc := range strings.Split(triggerFlows, "---") {
		if _, err := sys.c.DeployFlow(ctx, "flow.yaml", []byte(doc)); err != nil {
			t.Fatal(err)
		}
	}

	// A succeeds: B starts with A's outputs, then D (A and B succeeded);
	// C does not.
	ok, err := sys.c.Start(ctx, "trig", "a", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, sys, ok.ID, "SUCCESS")
	b := waitTriggered(t, sys, "b", 1)[0]
	if b.Trigger["executionId"] != ok.ID || fmt.Sprint(b.Inputs["rows"]) != "42" || b.Origin == nil || b.Origin.TriggerID != "after-a" || b.Depth != 1 {
		t.Fatalf("b: trigger %v, inputs %v, origin %+v, depth %d", b.Trigger, b.Inputs, b.Origin, b.Depth)
	}
	waitState(t, sys, b.ID, "SUCCESS")
	waitTriggered(t, sys, "d", 1)

	// A fails: C starts; B and D do not.
	failed, err := sys.c.Start(ctx, "trig", "a", map[string]any{"fail": true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, sys, failed.ID, "FAILED")
	cs := waitTriggered(t, sys, "c", 1)
	if cs[0].Trigger["executionId"] != failed.ID || cs[0].Trigger["state"] != "FAILED" {
		t.Fatalf("c: trigger %v", cs[0].Trigger)
	}

	// An emitted CloudEvent starts the flow whose filters match, not the
	// other one.
	out, err := exec.Command(relayBinary(t), "emit", "--api", sys.url, "--type", "com.acme.order.created", "--source", "/shop", "--subject", "order-7", "--id", "evt-order-7", "--data", `{"total": 12}`).CombinedOutput()
	if err != nil {
		t.Fatalf("relay emit: %v\n%s", err, out)
	}
	ev := cloudevents.New()
	ev.SetID("evt-order-7")
	ev.SetType("com.acme.order.created")
	ev.SetSource("/shop")
	ev.SetSubject("order-7")
	sys.emitted = append(sys.emitted, ev)
	o := waitTriggered(t, sys, "orders", 1)[0]
	if o.Trigger["event"].(map[string]any)["subject"] != "order-7" {
		t.Fatalf("orders: trigger %v", o.Trigger)
	}

	// A webhook starts its flow; a wrong key is a 404.
	resp, err := http.Post(sys.url+"/webhooks/trig/hook/test-key-123", "application/json", strings.NewReader(`{"n": 5}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("webhook: status %d", resp.StatusCode)
	}
	h := waitTriggered(t, sys, "hook", 1)[0]
	waitState(t, sys, h.ID, "SUCCESS")
	for _, path := range []string{"/webhooks/trig/hook/wrong-key-12", "/webhooks/trig/nosuchflow/test-key-123"} {
		resp, err := http.Post(sys.url+path, "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%s: status %d, want 404", path, resp.StatusCode)
		}
	}

	// Every event of relay.events handed to the router again starts
	// nothing new.
	counts := map[string]int{}
	for _, f := range []string{"b", "c", "d", "orders", "refunds", "hook"} {
		counts[f] = len(executionsOf(t, sys, f))
	}
	want := map[string]int{"b": 1, "c": 1, "d": 1, "orders": 1, "refunds": 0, "hook": 1}
	for f, n := range want {
		if counts[f] != n {
			t.Fatalf("%d executions of %s, want %d (all: %v)", counts[f], f, n, counts)
		}
	}
	sys.redeliver(t)
	time.Sleep(3 * time.Second)
	for f, n := range counts {
		if got := len(executionsOf(t, sys, f)); got != n {
			t.Fatalf("after redelivery: %d executions of %s, want %d", got, f, n)
		}
	}

	// concurrency.limit 2: never more than two running while 20 are
	// requested; all of them end.
	var ids []string
	for range 20 {
		st, err := sys.c.Start(ctx, "trig", "limited", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, st.ID)
	}
	deadline := time.Now().Add(90 * time.Second)
	maxRunning := 0
	for {
		list := executionsOf(t, sys, "limited")
		running, ended := 0, 0
		for _, ex := range list {
			switch ex.State {
			case "RUNNING", "CREATED", "PAUSED", "KILLING":
				running++
			case "SUCCESS":
				ended++
			case "QUEUED":
			default:
				t.Fatalf("execution %s of limited ended %s", ex.ID, ex.State)
			}
		}
		maxRunning = max(maxRunning, running)
		if running > 2 {
			t.Fatalf("%d executions of limited running at once, limit 2", running)
		}
		if ended == len(ids) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d executions of limited ended after 90s", ended, len(ids))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if maxRunning != 2 {
		t.Errorf("at most %d running at once; the limit 2 was never reached", maxRunning)
	}
}

// waitTriggered waits for n executions of a flow and returns them, then
// checks for a while that no more come.
func waitTriggered(t *testing.T, sys *system, flowID string, n int) []engine.ExecutionDoc {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		list := executionsOf(t, sys, flowID)
		if len(list) >= n {
			if len(list) > n {
				t.Fatalf("%d executions of %s, want %d", len(list), flowID, n)
			}
			return list
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d executions of %s after 60s, want %d", len(list), flowID, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func executionsOf(t *testing.T, sys *system, flowID string) []engine.ExecutionDoc {
	t.Helper()
	list, err := sys.c.Executions(context.Background(), engine.ExecutionFilter{Namespace: "trig", FlowID: flowID})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func waitState(t *testing.T, sys *system, id, want string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ex, err := sys.c.Execution(context.Background(), id)
		if err == nil && statemachine.ExecState(ex.State).Terminal() {
			if ex.State != want {
				t.Fatalf("execution %s of %s ended %s, want %s (%s)", id, ex.FlowID, ex.State, want, ex.Error)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution %s not ended after 60s (%v)", id, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// republishEvents copies every record of the deployment's relay.events
// onto it again, as a redelivery would hand them to the router.
func republishEvents(t *testing.T, d *deployment) {
	t.Helper()
	topic := d.rt.Config.TopicPrefix + engine.TopicEvents
	records := recordsSince(t, d, topic, map[int]int64{})
	if len(records) == 0 {
		t.Fatal("relay.events is empty: nothing to redeliver")
	}
	again := make([]kafkago.Message, len(records))
	for i, m := range records {
		again[i] = kafkago.Message{Key: m.Key, Value: m.Value, Headers: m.Headers}
	}
	if err := d.writeRecords(context.Background(), topic, again...); err != nil {
		t.Fatal(err)
	}
}

// repostEvents hands a `relay server`'s router its events again through
// POST /events: the CloudEvents the scenarios emitted, and the
// execution.finished event of every execution, rebuilt with its id.
func repostEvents(t *testing.T, sys *system) {
	t.Helper()
	ctx := context.Background()
	for _, ev := range sys.emitted {
		if err := sys.c.PublishEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	list, err := sys.c.Executions(ctx, engine.ExecutionFilter{Namespace: "trig"})
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range list {
		end := time.Time{}
		if doc.EndDate != nil {
			end = *doc.EndDate
		}
		fin := statemachine.ExecutionFinished{ExecutionID: doc.ID, Namespace: doc.Namespace, FlowID: doc.FlowID, State: statemachine.ExecState(doc.State),
			Outputs: doc.Outputs, Origin: doc.Origin, Depth: doc.Depth, StartDate: doc.StartDate, EndDate: end}
		ev, err := engine.NewEvent(doc.ID+"/finished", engine.TypeExecutionFinished, "relay/executor", doc.ID, end, fin)
		if err != nil {
			t.Fatal(err)
		}
		if err := sys.c.PublishEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
}

func waitAPI(t *testing.T, sys *system, p *proc) {
	t.Helper()
	c, err := api.NewClient(sys.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	sys.c = c
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := c.Flows(context.Background()); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API at %s did not answer within 60s:\n%s", sys.url, p.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
