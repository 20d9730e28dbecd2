package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/relayflow/relay/api"
	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/statemachine/flow"
)

type sseEvent struct{ name, id, data string }

// readEvents reads Server-Sent Events from url until the stream ends or
// stop says so, and returns them.
func readEvents(t *testing.T, url string, header http.Header, stop func(sseEvent) bool) []sseEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET %s: %s %s", url, res.Status, res.Header.Get("Content-Type"))
	}
	var out []sseEvent
	var ev sseEvent
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.name != "" {
				out = append(out, ev)
				if stop(ev) {
					return out
				}
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, "event: "):
			ev.name = line[len("event: "):]
		case strings.HasPrefix(line, "id: "):
			ev.id = line[len("id: "):]
		case strings.HasPrefix(line, "data: "):
			ev.data += line[len("data: "):]
		}
	}
	return out
}

// An execution's stream sends its head each time it changes, its log
// lines as they come, and an end once it ended; reconnecting with
// Last-Event-ID sends only the lines after it.
func TestExecutionStream_sendsChangesLogsAndEnd(t *testing.T) {
	s := start(t)
	ctx := context.Background()
	src := `id: slow
namespace: ui.test
tasks:
  - id: first
    type: log
    message: one
  - id: nap
    type: flow.sleep
    duration: PT0.4S
  - id: last
    type: log
    message: two
`
	if _, err := s.client.DeployFlow(ctx, "slow.yaml", []byte(src)); err != nil {
		t.Fatal(err)
	}
	st, err := s.client.Start(ctx, "ui.test", "slow", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, s.client, st.ID, "RUNNING")
	evs := readEvents(t, s.url+"/executions/"+st.ID+"/stream", nil, func(sseEvent) bool { return false })
	var states, messages []string
	lastID := ""
	for _, ev := range evs {
		switch ev.name {
		case "execution":
			var doc engine.ExecutionDoc
			if err := json.Unmarshal([]byte(ev.data), &doc); err != nil {
				t.Fatal(err)
			}
			if len(doc.TaskRuns) != 0 {
				t.Errorf("a stream's execution event lists %d task runs, want none (it carries counts)", len(doc.TaskRuns))
			}
			states = append(states, doc.State)
		case "logs":
			var lines []engine.LogEntry
			if err := json.Unmarshal([]byte(ev.data), &lines); err != nil {
				t.Fatal(err)
			}
			for _, l := range lines {
				messages = append(messages, l.Message)
			}
			lastID = ev.id
		}
	}
	if len(evs) == 0 || evs[len(evs)-1].name != "end" {
		t.Fatalf("the stream did not end with an end event: %+v", evs)
	}
	if len(states) < 2 || states[0] != "RUNNING" || states[len(states)-1] != "SUCCESS" {
		t.Errorf("states streamed %v, want RUNNING ... SUCCESS", states)
	}
	if strings.Join(messages, ",") != "one,two" {
		t.Errorf("log lines streamed %v, want one,two", messages)
	}
	again := readEvents(t, s.url+"/executions/"+st.ID+"/stream", http.Header{"Last-Event-ID": {lastID}}, func(sseEvent) bool { return false })
	for _, ev := range again {
		if ev.name == "logs" {
			t.Errorf("reconnecting after the last line sent lines again: %s", ev.data)
		}
	}
	res, err := http.Get(s.url + "/executions/nope/stream")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("the stream of a missing execution: %s, want 404", res.Status)
	}
}

// The list's stream sends the list again when an execution is added.
func TestExecutionsStream_sendsTheListWhenItChanges(t *testing.T) {
	s := start(t)
	ctx := context.Background()
	deploy(t, s.client, "../examples/flows/hello.yaml")
	first, err := s.client.Start(ctx, "getting_started", "hello_world", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, s.client, first.ID, "SUCCESS")
	var second api.Started
	evs := readEvents(t, s.url+"/executions/stream?namespace=getting_started&limit=5", nil, func(ev sseEvent) bool {
		var list []engine.ExecutionDoc
		if err := json.Unmarshal([]byte(ev.data), &list); err != nil {
			t.Fatal(err)
		}
		if second.ID == "" {
			if second, err = s.client.Start(ctx, "getting_started", "hello_world", nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		return len(list) == 2 && list[0].ID == second.ID
	})
	if len(evs) < 2 {
		t.Fatalf("events %+v, want the list of one, then of two", evs)
	}
}

// Behind API Gateway a response cannot be streamed: the stream routes say
// so with a 501, and GET routes answer 304 to an If-None-Match that names
// the body's ETag, which is what a poller sends.
func TestPolling_streamsRefusedBehindLambdaAndETagsAnswer304(t *testing.T) {
	s := start(t)
	ctx := context.Background()
	deploy(t, s.client, "../examples/flows/hello.yaml")
	st, err := s.client.Start(ctx, "getting_started", "hello_world", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, s.client, st.ID, "SUCCESS")
	lambda := api.LambdaHandler(api.Handler(api.NewService(s.store, s.bus), nil))
	get := func(path string, headers map[string]string) events.APIGatewayV2HTTPResponse {
		ev := events.APIGatewayV2HTTPRequest{RawPath: path, Headers: headers}
		ev.RequestContext.HTTP.Method = http.MethodGet
		res, err := lambda(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	for _, path := range []string{"/executions/" + st.ID + "/stream", "/executions/stream"} {
		if res := get(path, nil); res.StatusCode != http.StatusNotImplemented || !strings.Contains(res.Body, "poll") {
			t.Errorf("GET %s in Lambda: %d %s, want 501 saying to poll", path, res.StatusCode, res.Body)
		}
	}
	res := get("/executions/"+st.ID, nil)
	tag := res.Headers["Etag"]
	if res.StatusCode != http.StatusOK || tag == "" {
		t.Fatalf("GET an execution: %d, ETag %q", res.StatusCode, tag)
	}
	if again := get("/executions/"+st.ID, map[string]string{"If-None-Match": tag}); again.StatusCode != http.StatusNotModified || again.Body != "" {
		t.Errorf("GET with the same ETag: %d %q, want 304 without a body", again.StatusCode, again.Body)
	}
	if _, err := s.client.Start(ctx, "getting_started", "hello_world", nil, nil); err != nil {
		t.Fatal(err)
	}
	list := get("/executions", nil)
	deadline := time.Now().Add(10 * time.Second)
	for {
		res := get("/executions", map[string]string{"If-None-Match": list.Headers["Etag"]})
		if res.StatusCode == http.StatusOK {
			break
		}
		if res.StatusCode != http.StatusNotModified || time.Now().After(deadline) {
			t.Fatalf("the list after a start: %d, want 200 with a new body once it is stored", res.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A trigger disabled from the API gets a new revision of its flow, which
// the trigger list reads; enabling it again makes another.
func TestTriggers_disableAndEnableDeployRevisions(t *testing.T) {
	s := start(t)
	ctx := context.Background()
	deploy(t, s.client, "testdata/shapes.yaml")
	rec, err := s.client.SetTriggerDisabled(ctx, "ui.test", "shapes", "hook", true)
	if err != nil || rec.Revision != 2 {
		t.Fatalf("disabling: %+v %v", rec, err)
	}
	disabled := func(id string) bool {
		list, err := s.client.Triggers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range list {
			if tr.ID == id {
				return tr.Disabled
			}
		}
		t.Fatalf("no trigger %s in %+v", id, list)
		return false
	}
	if !disabled("hook") || disabled("nightly") {
		t.Errorf("after disabling hook: hook %v, nightly %v", disabled("hook"), disabled("nightly"))
	}
	if rec, err = s.client.SetTriggerDisabled(ctx, "ui.test", "shapes", "hook", false); err != nil || rec.Revision != 3 || disabled("hook") {
		t.Errorf("enabling again: %+v %v", rec, err)
	}
	if _, err := s.client.SetTriggerDisabled(ctx, "ui.test", "shapes", "nope", true); err == nil || !strings.Contains(err.Error(), "no trigger nope") {
		t.Errorf("disabling a missing trigger: %v", err)
	}
}

// Labels and start times filter the list.
func TestExecutions_filterByLabelsAndTime(t *testing.T) {
	s := start(t)
	ctx := context.Background()
	deploy(t, s.client, "../examples/flows/hello.yaml")
	var ids []string
	for _, team := range []string{"red", "blue", "red"} {
		st, err := s.client.Start(ctx, "getting_started", "hello_world", nil, []flow.Label{{Key: "team", Value: team}})
		if err != nil {
			t.Fatal(err)
		}
		waitState(t, s.client, st.ID, "SUCCESS")
		ids = append(ids, st.ID)
	}
	red, err := s.client.FindExecutions(ctx, api.ExecutionQuery{ExecutionFilter: engine.ExecutionFilter{Limit: 10}, Labels: []flow.Label{{Key: "team", Value: "red"}}})
	if err != nil || len(red) != 2 || red[0].ID != ids[2] || red[1].ID != ids[0] {
		t.Errorf("team red: %v %v", err, red)
	}
	one, err := s.client.FindExecutions(ctx, api.ExecutionQuery{ExecutionFilter: engine.ExecutionFilter{Limit: 1}, Labels: []flow.Label{{Key: "team", Value: "red"}}})
	if err != nil || len(one) != 1 || one[0].ID != ids[2] {
		t.Errorf("team red, limit 1: %v %v", err, one)
	}
	all, err := s.client.FindExecutions(ctx, api.ExecutionQuery{ExecutionFilter: engine.ExecutionFilter{Limit: 10}})
	if err != nil || len(all) != 3 {
		t.Fatal(err, all)
	}
	middle := all[1].StartDate
	since, err := s.client.FindExecutions(ctx, api.ExecutionQuery{ExecutionFilter: engine.ExecutionFilter{Limit: 10}, After: middle})
	if err != nil || len(since) != 2 {
		t.Errorf("started at or after the second: %v %v", err, since)
	}
	before, err := s.client.FindExecutions(ctx, api.ExecutionQuery{ExecutionFilter: engine.ExecutionFilter{Limit: 10}, Before: middle})
	if err != nil || len(before) != 1 || before[0].ID != ids[0] {
		t.Errorf("started before the second: %v %v", err, before)
	}
	res, err := http.Get(s.url + "/executions?after=yesterday")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("?after=yesterday: %s, want 400", res.Status)
	}
}

// startedBy lists the subflow executions an execution started, and its
// subflow task run names the child.
func TestExecutions_startedByListsSubflows(t *testing.T) {
	s := start(t)
	ctx := context.Background()
	for _, src := range []string{
		"id: child\nnamespace: ui.test\ntasks:\n  - id: hi\n    type: log\n    message: hi\n",
		"id: parent\nnamespace: ui.test\ntasks:\n  - id: call\n    type: flow.subflow\n    namespace: ui.test\n    flowId: child\n",
	} {
		if _, err := s.client.DeployFlow(ctx, "f.yaml", []byte(src)); err != nil {
			t.Fatal(err)
		}
	}
	other, err := s.client.Start(ctx, "ui.test", "child", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.client.Start(ctx, "ui.test", "parent", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	doc := waitState(t, s.client, st.ID, "SUCCESS")
	waitState(t, s.client, other.ID, "SUCCESS")
	child := doc.TaskRuns[0].ChildExecutionID
	if child == "" {
		t.Fatalf("the subflow run names no child: %+v", doc.TaskRuns[0])
	}
	list, err := s.client.FindExecutions(ctx, api.ExecutionQuery{ExecutionFilter: engine.ExecutionFilter{Limit: 10}, StartedBy: st.ID})
	if err != nil || len(list) != 1 || list[0].ID != child {
		t.Errorf("started by %s: %v %+v, want only %s", st.ID, err, list, child)
	}
}
