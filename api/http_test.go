package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	cloudevents "github.com/cloudevents/sdk-go/v2/event"

	"github.com/relayflow/relay/api"
	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/infra/blob"
	"github.com/relayflow/relay/infra/embedded"
	"github.com/relayflow/relay/internal/testnet"
	"github.com/relayflow/relay/statemachine/flow"
	"github.com/relayflow/relay/storage"
	"github.com/relayflow/relay/tasks"
	"github.com/relayflow/relay/tasks/builtin"
)

// system is an engine on the embedded store and bus, with the API served
// over HTTP in front of it.
type system struct {
	store  *embedded.Store
	bus    *embedded.Bus
	client *api.Client
	url    string
}

func start(t *testing.T) *system { return startWith(t, nil) }

// startWith is start with a secret resolver for webhook keys.
func startWith(t *testing.T, secret func(string) (string, error)) *system {
	t.Helper()
	st, err := embedded.OpenStore(filepath.Join(t.TempDir(), "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	bus := embedded.NewBus()
	dir, err := blob.NewDir(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	files := storage.New(dir)
	reg, err := builtin.Registry(builtin.Config{Tasks: tasks.Config{Emitter: engine.BusEmitter{Bus: bus}}, Files: files})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Config{Store: st, Bus: bus, Tasks: reg, Files: files})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	opts := []api.Option{api.WithFiles(files)}
	if secret != nil {
		opts = append(opts, api.WithSecretLookup(func(_ context.Context, _, name string) (string, error) { return secret(name) }))
	}
	srv := testnet.Server(t, api.Handler(api.NewService(st, bus, opts...), nil))
	t.Cleanup(func() {
		srv.Close()
		eng.Wait()
		bus.Close()
		eng.Wait()
		cancel()
		st.Close()
	})
	c, err := api.NewClient(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &system{store: st, bus: bus, client: c, url: srv.URL}
}

func deploy(t *testing.T, c *api.Client, file string) engine.FlowRecord {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := c.DeployFlow(context.Background(), file, src)
	if err != nil {
		t.Fatalf("deploying %s: %v", file, err)
	}
	return rec
}

// waitState polls the API until the execution reaches state.
func waitState(t *testing.T, c *api.Client, id, state string) engine.ExecutionDoc {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		doc, err := c.Execution(context.Background(), id)
		if err == nil && doc.State == state {
			return doc
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution %s: want %s, got %q (%v)", id, state, doc.State, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAPI_deployStartShowLogs(t *testing.T) {
	s := start(t)
	ctx := context.Background()
	rec := deploy(t, s.client, "../examples/flows/parameterized.yaml")
	if rec.Namespace != "advanced_demo" || rec.ID != "parameterized_flow" || rec.Revision != 1 {
		t.Fatalf("deployed %+v", rec)
	}
	if again := deploy(t, s.client, "../examples/flows/parameterized.yaml"); again.Revision != 1 {
		t.Errorf("the same source again: revision %d, want 1", again.Revision)
	}
	got, err := s.client.Flow(ctx, "advanced_demo", "parameterized_flow", 0)
	if err != nil || !strings.Contains(string(got.Source), "processing_mode") {
		t.Fatalf("GET flow: %v %q", err, got.Source)
	}

	st, err := s.client.Start(ctx, "advanced_demo", "parameterized_flow", map[string]any{"processing_mode": "streaming"}, []flow.Label{{Key: "team", Value: "data"}})
	if err != nil {
		t.Fatal(err)
	}
	doc := waitState(t, s.client, st.ID, "SUCCESS")
	if doc.Outputs["processingMode"] != "streaming" || doc.Labels["team"] != "data" || len(doc.TaskRuns) != 1 {
		t.Errorf("execution: outputs %v labels %v task runs %d", doc.Outputs, doc.Labels, len(doc.TaskRuns))
	}
	lines, err := s.client.Logs(ctx, st.ID, 0, 0)
	if err != nil || len(lines) == 0 || !strings.Contains(lines[0].Message, "streaming") {
		t.Errorf("logs: %v %+v", err, lines)
	}
	if more, err := s.client.Logs(ctx, st.ID, lines[len(lines)-1].Seq, 0); err != nil || len(more) != 0 {
		t.Errorf("logs after the last seq: %v %+v", err, more)
	}
	list, err := s.client.Executions(ctx, engine.ExecutionFilter{Namespace: "advanced_demo", State: "success", Limit: 10})
	if err != nil || len(list) != 1 || list[0].ID != st.ID {
		t.Errorf("list: %v %+v", err, list)
	}
}

func TestAPI_pauseResumeKill(t *testing.T) {
	s := start(t)
	ctx := context.Background()
	deploy(t, s.client, "../examples/flows/pause.yaml")
	st, err := s.client.Start(ctx, "examples.human", "approval", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, s.client, st.ID, "PAUSED")
	if err := s.client.Resume(ctx, st.ID, map[string]any{"approved": "maybe"}); !errors.Is(err, api.ErrInvalid) || !strings.Contains(err.Error(), "approved") {
		t.Errorf("resume with a bad BOOLEAN: %v, want ErrInvalid naming the input", err)
	}
	if err := s.client.Resume(ctx, st.ID, map[string]any{"approved": true}); err != nil {
		t.Fatal(err)
	}
	doc := waitState(t, s.client, st.ID, "SUCCESS")
	if out := doc.TaskRuns[1].Outputs["onResume"]; out == nil {
		t.Errorf("onResume outputs missing: %+v", doc.TaskRuns[1])
	}
	if err := s.client.Resume(ctx, st.ID, nil); !errors.Is(err, api.ErrState) {
		t.Errorf("resuming a finished execution: %v, want ErrState", err)
	}
	if err := s.client.Kill(ctx, st.ID); !errors.Is(err, api.ErrState) {
		t.Errorf("killing a finished execution: %v, want ErrState", err)
	}

	second, err := s.client.Start(ctx, "examples.human", "approval", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, s.client, second.ID, "PAUSED")
	if err := s.client.Kill(ctx, second.ID); err != nil {
		t.Fatal(err)
	}
	waitState(t, s.client, second.ID, "KILLED")
}

func TestAPI_errors(t *testing.T) {
	s := start(t)
	ctx := context.Background()
	deploy(t, s.client, "../examples/flows/parameterized.yaml")

	_, err := s.client.DeployFlow(ctx, "bad.yaml", []byte("id: x\nnamespace: n\ntasks:\n  - id: a\n    type: no.such.Task\n"))
	var diags flow.Diagnostics
	if !errors.Is(err, api.ErrInvalid) || !errors.As(err, &diags) || diags[0].File != "bad.yaml" || diags[0].Pos.Line != 5 {
		t.Errorf("invalid flow: %v (%+v), want diagnostics for bad.yaml line 5", err, diags)
	}
	if _, err := s.client.Start(ctx, "advanced_demo", "parameterized_flow", map[string]any{"processing_mode": "weekly"}, nil); !errors.Is(err, api.ErrInvalid) || !strings.Contains(err.Error(), "processing_mode") {
		t.Errorf("bad ENUM input: %v", err)
	}
	var bad *api.Error
	if _, err := s.client.Start(ctx, "advanced_demo", "parameterized_flow", map[string]any{"processing_mode": "weekly", "nope": 1}, nil); !errors.As(err, &bad) ||
		len(bad.Inputs) != 2 || bad.Inputs[0].ID == bad.Inputs[1].ID || bad.Inputs[0].Message == "" {
		t.Errorf("two bad inputs: %v, want a problem for each by its id (%+v)", err, bad)
	}
	if _, err := s.client.Start(ctx, "advanced_demo", "nope", nil, nil); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("unknown flow: %v", err)
	}
	if _, err := s.client.Execution(ctx, "nope"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("unknown execution: %v", err)
	}

	for _, tc := range []struct {
		name, method, path, ctype, body string
		want                            int
	}{
		{"unknown route", "GET", "/nope", "", "", 404},
		{"inputs not an object", "POST", "/executions/advanced_demo/parameterized_flow", "application/json", "[1]", 400},
		{"bad limit", "GET", "/executions?limit=x", "", "", 400},
		{"oversized flow", "POST", "/flows", "application/yaml", strings.Repeat("#", api.MaxBody+1), 413},
		{"not a CloudEvent", "POST", "/events", "application/json", `{"a":1}`, 400},
		{"file input", "POST", "/executions/advanced_demo/parameterized_flow", "multipart/form-data; boundary=b",
			"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\r\nx\r\n--b--\r\n", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, s.url+tc.path, strings.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var body api.ErrorBody
			if err := json.NewDecoder(res.Body).Decode(&body); err != nil || body.Error == "" {
				t.Errorf("error body: %v %+v", err, body)
			}
			if res.StatusCode != tc.want {
				t.Errorf("status %d, want %d (%s)", res.StatusCode, tc.want, body.Error)
			}
		})
	}
}

func TestAPI_formInputs(t *testing.T) {
	s := start(t)
	deploy(t, s.client, "../examples/flows/parameterized.yaml")
	res, err := http.PostForm(s.url+"/executions/advanced_demo/parameterized_flow", map[string][]string{"processing_mode": {"hybrid"}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var st api.Started
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("status %d: %v", res.StatusCode, err)
	}
	if loc := res.Header.Get("Location"); loc != "/executions/"+st.ID {
		t.Errorf("Location %q", loc)
	}
	if doc := waitState(t, s.client, st.ID, "SUCCESS"); doc.Outputs["processingMode"] != "hybrid" {
		t.Errorf("outputs %v", doc.Outputs)
	}
}

func TestAPI_publishEvent(t *testing.T) {
	s := start(t)
	got := make(chan cloudevents.Event, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.bus.Subscribe(ctx, engine.TopicEvents, "test", func(_ context.Context, ev cloudevents.Event) error { got <- ev; return nil })
	for s.bus.Subscribers(engine.TopicEvents, "test") == 0 {
		time.Sleep(time.Millisecond)
	}
	ev := cloudevents.New()
	ev.SetID("order-1")
	ev.SetType("com.example.order.created")
	ev.SetSource("shop")
	ev.SetSubject("orders/1")
	ev.SetExtension("tenant", "acme")
	if err := ev.SetData("application/json", map[string]any{"total": 42}); err != nil {
		t.Fatal(err)
	}
	if err := s.client.PublishEvent(ctx, ev); err != nil {
		t.Fatal(err)
	}
	// Structured mode, as curl would send it.
	res, err := http.Post(s.url+"/events", "application/cloudevents+json",
		strings.NewReader(`{"specversion":"1.0","id":"order-2","type":"com.example.order.created","source":"shop","data":{"total":7}}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("structured mode: status %d", res.StatusCode)
	}
	// The two events have different keys (a subject, an id): the bus keeps
	// the order of each key's events, not across keys.
	byID := map[string]cloudevents.Event{}
	for len(byID) < 2 {
		select {
		case e := <-got:
			byID[e.ID()] = e
		case <-time.After(5 * time.Second):
			t.Fatalf("got %d events on %s, want order-1 and order-2", len(byID), engine.TopicEvents)
		}
	}
	for _, id := range []string{"order-1", "order-2"} {
		if e, ok := byID[id]; !ok || e.Type() != "com.example.order.created" {
			t.Errorf("event %s: %v", id, e)
		}
	}
	if e := byID["order-1"]; e.Extensions()["tenant"] != "acme" || !strings.Contains(string(e.Data()), "42") {
		t.Errorf("binary mode lost extensions or data: %v %s", e.Extensions(), e.Data())
	}
}

func TestAPI_publishEventRefusesDataThatIsNotWhatItsContentTypeSays(t *testing.T) {
	s := start(t)
	req, _ := http.NewRequest(http.MethodPost, s.url+"/events", strings.NewReader("total=42, not JSON"))
	for k, v := range map[string]string{"ce-specversion": "1.0", "ce-id": "bad-1", "ce-source": "shop", "ce-type": "com.example.order.created", "Content-Type": "application/json"} {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "not valid JSON") {
		t.Errorf("status %d: %s", res.StatusCode, body)
	}
}

// TestLambdaHandler hands an API Gateway HTTP API (payload 2.0) event, as
// API Gateway sends it, to the Lambda handler.
func TestLambdaHandler(t *testing.T) {
	s := start(t)
	h := api.LambdaHandler(api.Handler(api.NewService(s.store, s.bus), nil))
	deploy(t, s.client, "../examples/flows/hello.yaml")
	raw, err := os.ReadFile("testdata/apigw-v2-start.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	res, err := h(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusCreated || res.Headers["Content-Type"] != "application/json" {
		t.Fatalf("response %d %v: %s", res.StatusCode, res.Headers, res.Body)
	}
	var st api.Started
	if err := json.Unmarshal([]byte(res.Body), &st); err != nil || st.FlowID != "hello_world" {
		t.Fatalf("body %s: %v", res.Body, err)
	}
	if doc := waitState(t, s.client, st.ID, "SUCCESS"); doc.Labels["source"] != "apigw" {
		t.Errorf("labels from the raw query string: %v", doc.Labels)
	}

	ev.RawPath, ev.RequestContext.HTTP.Method, ev.Body, ev.IsBase64Encoded = "/prod/executions/"+st.ID, "GET", "", false
	if res, _ = h(context.Background(), ev); res.StatusCode != http.StatusOK || !strings.Contains(res.Body, `"state": "SUCCESS"`) {
		t.Errorf("GET execution through the stage path: %d %s", res.StatusCode, res.Body)
	}
}

func TestAPI_fileInputsAsMultipart(t *testing.T) {
	s := start(t)
	ctx := context.Background()
	deploy(t, s.client, "../examples/flows/data_pipeline.yaml")
	csv, err := os.Open("../examples/data/orders.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer csv.Close()
	st, err := s.client.StartWith(ctx, "production", "data-pipeline", nil, nil, api.StartOptions{Files: map[string]api.File{"raw_data": {Filename: "orders.csv", Body: csv, Size: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	doc := waitState(t, s.client, st.ID, "SUCCESS")
	if want := "relay:///production/data-pipeline/executions/" + st.ID + "/inputs/raw_data/orders.csv"; doc.Inputs["raw_data"] != want {
		t.Errorf("input raw_data = %v, want %s", doc.Inputs["raw_data"], want)
	}

	t.Run("a file for an input that is not FILE is refused", func(t *testing.T) {
		deploy(t, s.client, "../examples/flows/parameterized.yaml")
		_, err := s.client.StartWith(ctx, "advanced_demo", "parameterized_flow", nil, nil, api.StartOptions{Files: map[string]api.File{"data_source": {Filename: "x", Body: strings.NewReader("x"), Size: 1}}})
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Status != 400 || !strings.Contains(ae.Error(), "declares no FILE input data_source") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("a body past the upload limit is 413", func(t *testing.T) {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		w, _ := mw.CreateFormFile("raw_data", "big.csv")
		w.Write(bytes.Repeat([]byte("x"), api.MaxUpload+1))
		mw.Close()
		res, err := http.Post(s.url+"/executions/production/data-pipeline", mw.FormDataContentType(), &body)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d, want 413", res.StatusCode)
		}
	})
}

// A webhook key given as an expression is rendered for each call: a
// Kestra flow's `{{ secret('WEBHOOK_KEY') }}` (issue 18, item 12).
func TestAPI_webhookKeyFromASecret(t *testing.T) {
	s := startWith(t, func(name string) (string, error) {
		if name == "WEBHOOK_KEY" {
			return "k3y-from-secret", nil
		}
		return "", errors.New("no secret " + name)
	})
	src := "id: hook\nnamespace: t\ntasks:\n  - {id: a, type: log, message: \"{{ trigger.body.n }}\"}\ntriggers:\n  - {id: h, type: io.kestra.plugin.core.trigger.Webhook, key: \"{{ secret('WEBHOOK_KEY') }}\"}\n"
	if _, err := s.client.DeployFlow(context.Background(), "hook.yaml", []byte(src)); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]int{"k3y-from-secret": http.StatusCreated, "{{ secret('WEBHOOK_KEY') }}": http.StatusNotFound, "wrong-key-123": http.StatusNotFound} {
		resp, err := http.Post(s.url+"/webhooks/t/hook/"+url.PathEscape(key), "application/json", strings.NewReader(`{"n": 1}`))
		if err != nil {
			t.Fatal(err)
		}
		var started api.Started
		json.NewDecoder(resp.Body).Decode(&started)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("key %q: status %d, want %d", key, resp.StatusCode, want)
		}
		if want == http.StatusCreated {
			waitState(t, s.client, started.ID, "SUCCESS")
		}
	}
}
