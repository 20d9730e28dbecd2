package firing

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/triggers"
)

var flowHook = flowYAML("team", "w", "  - {id: name, type: STRING, required: false}\n", `  - id: hook
    type: webhook
    key: s3cret-key-42
    inputs:
      name: "{{ trigger.body.name }}"
  - id: old-hook
    type: webhook
    key: retired-key-99
    disabled: true
`)

func TestWebhook(t *testing.T) {
	st := newStore(t)
	deploy(t, st, flowHook, t0)
	deploy(t, st, flowA, t0) // a flow without webhooks
	rec := newRecorder(t)
	vars := triggers.WebhookVars(map[string]any{"name": "Ada", "n": 2},
		map[string][]string{"Content-Type": {"application/json"}, "X-Trace": {"a", "b"}},
		map[string][]string{"dry": {"1"}})

	id, rev, err := Webhook(t.Context(), st, rec, nil, nil, "team", "w", "s3cret-key-42", vars, t0)
	if err != nil {
		t.Fatalf("Webhook: %v", err)
	}
	if rev != 1 {
		t.Errorf("revision %d, want 1", rev)
	}
	got := rec.take()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1", len(got))
	}
	p := got[0]
	checkRequest(t, p)
	ev := p.Ev
	if ev.ExecutionID != id || ev.Namespace != "team" || ev.FlowID != "w" || ev.Depth != 0 {
		t.Errorf("request %+v, want execution %s of team/w", ev, id)
	}
	if ev.Origin == nil || ev.Origin.TriggerID != "hook" || ev.Origin.Type != "webhook" {
		t.Errorf("origin %+v", ev.Origin)
	}
	body, _ := ev.Trigger["body"].(map[string]any)
	headers, _ := ev.Trigger["headers"].(map[string]any)
	params, _ := ev.Trigger["parameters"].(map[string]any)
	if body["name"] != "Ada" || body["n"] != 2.0 {
		t.Errorf("trigger.body %#v", ev.Trigger["body"])
	}
	if !slices.Equal(headers["x-trace"].([]any), []any{"a", "b"}) || !slices.Equal(headers["content-type"].([]any), []any{"application/json"}) {
		t.Errorf("trigger.headers %#v", ev.Trigger["headers"])
	}
	if !slices.Equal(params["dry"].([]any), []any{"1"}) {
		t.Errorf("trigger.parameters %#v", ev.Trigger["parameters"])
	}
	if ev.Inputs["name"] != "Ada" {
		t.Errorf("inputs %#v", ev.Inputs)
	}
	if info := listInfo(t, st, t0, "team", "w", "hook"); !info.Last.Equal(t0) {
		t.Errorf("List: last %s, want %s", info.Last, t0)
	}

	// Each call starts an execution of its own.
	id2, _, err := Webhook(t.Context(), st, rec, nil, nil, "team", "w", "s3cret-key-42", vars, t0)
	if err != nil || id2 == id {
		t.Errorf("second call: %s, %v; want another execution than %s", id2, err, id)
	}
	rec.take()

	var msg string
	for _, tc := range []struct{ name, ns, flowID, key string }{
		{"wrong key", "team", "w", "s3cret-key-43"},
		{"empty key", "team", "w", ""},
		{"key of another flow's form", "team", "w", "s3cret-key-4"},
		{"disabled trigger's key", "team", "w", "retired-key-99"},
		{"unknown flow", "team", "nope", "s3cret-key-42"},
		{"unknown namespace", "nope", "w", "s3cret-key-42"},
		{"flow without webhooks", "team", "a", "s3cret-key-42"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, rev, err := Webhook(t.Context(), st, rec, nil, nil, tc.ns, tc.flowID, tc.key, vars, t0)
			if !errors.Is(err, ErrNoWebhook) || !errors.Is(err, engine.ErrNotFound) {
				t.Fatalf("error %v, want ErrNoWebhook wrapping engine.ErrNotFound", err)
			}
			if msg == "" {
				msg = err.Error()
			} else if err.Error() != msg {
				t.Errorf("message %q, want the same as for every other miss, %q", err, msg)
			}
			if id != "" || rev != 0 {
				t.Errorf("returned %q, %d", id, rev)
			}
			if got := rec.take(); len(got) != 0 {
				t.Errorf("started %v", flowsOf(got))
			}
		})
	}

	// A later revision without the webhook: its key no longer works.
	deploy(t, st, flowYAML("team", "w", "", ""), t0)
	if _, _, err := Webhook(t.Context(), st, rec, nil, nil, "team", "w", "s3cret-key-42", vars, t0); !errors.Is(err, ErrNoWebhook) {
		t.Errorf("after the webhook was removed: %v", err)
	}
}

func TestWebhookBusFailure(t *testing.T) {
	st := newStore(t)
	deploy(t, st, flowHook, t0)
	rec := newRecorder(t)
	rec.err = errBus
	_, _, err := Webhook(t.Context(), st, rec, nil, nil, "team", "w", "s3cret-key-42", nil, t0)
	if err == nil || errors.Is(err, ErrNoWebhook) || !strings.Contains(err.Error(), errBus.Error()) {
		t.Fatalf("error %v, want the bus's", err)
	}
	if info := listInfo(t, st, t0, "team", "w", "hook"); !info.Last.IsZero() {
		t.Errorf("a call that started nothing recorded last %s", info.Last)
	}
}

func TestList(t *testing.T) {
	st := newStore(t)
	deployAt := at(10, 0, 30)
	c := newClock(deployAt)
	deploy(t, st, flowA, deployAt)
	deploy(t, st, flowB, deployAt)
	deploy(t, st, flowCreated, deployAt)
	deploy(t, st, flowEU, deployAt)
	deploy(t, st, flowHook, deployAt)
	deploy(t, st, every5, deployAt)
	deploy(t, st, flowYAML("team", "paris", "", `  - id: nine
    type: schedule
    cron: "0 9 * * *"
    timezone: Europe/Paris
  - id: by-namespace
    type: flow
    conditions:
      - {type: condition.execution_namespace, namespace: team}
  - id: any-end
    type: flow
    disabled: true
`), deployAt)

	type row struct {
		typ, on  string
		disabled bool
	}
	want := map[string]row{
		"team/b/after-a":          {"flow", "end of team/a", false},
		"shop/created/on-created": {"cloudevents.trigger", "event com.acme.order.created", false},
		"shop/eu/from-eu":         {"cloudevents.trigger", "events matching filters", false},
		"team/w/hook":             {"webhook", "POST /webhooks/team/w/<key>", false},
		"team/w/old-hook":         {"webhook", "POST /webhooks/team/w/<key>", true},
		"team/s/every-5":          {"schedule", "*/5 * * * *", false},
		"team/paris/nine":         {"schedule", "0 9 * * * (Europe/Paris)", false},
		"team/paris/by-namespace": {"flow", "end of team", false},
		"team/paris/any-end":      {"flow", "", true}, // On not checked: see TestListOnOfDisabledTriggers
	}
	check := func(now time.Time, extra func(key string, i Info)) {
		t.Helper()
		infos, err := List(t.Context(), st, now)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, i := range infos {
			key := i.Namespace + "/" + i.FlowID + "/" + i.ID
			w, ok := want[key]
			if !ok {
				t.Errorf("unexpected trigger %s: %+v", key, i)
				continue
			}
			seen[key] = true
			if i.Type != w.typ || i.Disabled != w.disabled || i.Revision != 1 || i.Stopped {
				t.Errorf("%s: %+v, want type %s, disabled %v", key, i, w.typ, w.disabled)
			}
			if w.on != "" && i.On != w.on {
				t.Errorf("%s: on %q, want %q", key, i.On, w.on)
			}
			if i.Type != "schedule" && !i.Next.IsZero() {
				t.Errorf("%s: next %s for a trigger that is not a schedule", key, i.Next)
			}
			extra(key, i)
		}
		if len(seen) != len(want) {
			t.Errorf("List has %d triggers, want %d", len(seen), len(want))
		}
	}
	// Before anything fired: no Last; schedules' Next from now.
	check(deployAt, func(key string, i Info) {
		if !i.Last.IsZero() {
			t.Errorf("%s: last %s before anything fired", key, i.Last)
		}
		switch key {
		case "team/s/every-5":
			if !i.Next.Equal(at(10, 5, 0)) {
				t.Errorf("%s: next %s, want 10:05", key, i.Next)
			}
		case "team/paris/nine":
			if !i.Next.Equal(time.Date(2025, 6, 3, 7, 0, 0, 0, time.UTC)) { // 09:00 CEST tomorrow
				t.Errorf("%s: next %s, want 2025-06-03T07:00Z", key, i.Next)
			}
		}
	})

	// Fire some of them.
	r, _ := newRouter(t, st, c)
	s, _ := newScheduler(t, st, c)
	tick(t, s)
	c.Set(at(10, 5, 0))
	tick(t, s)
	c.Set(at(10, 6, 0))
	handle(t, r, finishedEvent(t, fin("a-1", "team", "a", statemachine.ExecSuccess), c.Now()))
	c.Set(at(10, 7, 0))
	handle(t, r, externalEvent(t, "ev-1", "com.acme.order.created", "/shop/us", map[string]any{"id": "o"}, c.Now()))
	if _, _, err := Webhook(t.Context(), st, newRecorder(t), nil, nil, "team", "w", "s3cret-key-42", nil, at(10, 8, 0)); err != nil {
		t.Fatal(err)
	}
	lastWant := map[string]time.Time{
		"team/s/every-5":          at(10, 5, 0), // the schedule time
		"team/b/after-a":          at(10, 6, 0),
		"team/paris/by-namespace": at(10, 6, 0),
		"shop/created/on-created": at(10, 7, 0),
		"team/w/hook":             at(10, 8, 0),
	}
	check(at(10, 9, 0), func(key string, i Info) {
		if !i.Last.Equal(lastWant[key]) {
			t.Errorf("%s: last %s, want %s", key, i.Last, lastWant[key])
		}
		if key == "team/s/every-5" && !i.Next.Equal(at(10, 10, 0)) {
			t.Errorf("%s: next %s, want 10:10", key, i.Next)
		}
	})
}

// TestListOnOfDisabledTriggers: what fires a trigger is described whether
// or not it is disabled.
func TestListOnOfDisabledTriggers(t *testing.T) {
	st := newStore(t)
	deploy(t, st, flowYAML("team", "x", "", `  - id: f
    type: flow
    disabled: true
    conditions:
      - {type: condition.execution_flow, namespace: team, flowId: a}
  - id: e
    type: cloudevents.trigger
    disabled: true
    filters:
      - exact: {type: com.acme.order.created}
`), t0)
	if i := listInfo(t, st, t0, "team", "x", "f"); i.On != "end of team/a" {
		t.Errorf("disabled flow trigger: on %q, want %q", i.On, "end of team/a")
	}
	if i := listInfo(t, st, t0, "team", "x", "e"); i.On != "event com.acme.order.created" {
		t.Errorf("disabled event trigger: on %q, want %q", i.On, "event com.acme.order.created")
	}
}

// A webhook key may be an expression (Kestra's `{{ secret('KEY') }}`),
// rendered for each call (issue 18, item 12).
func TestWebhook_keyAsExpression(t *testing.T) {
	secrets := map[string]string{"HOOK": "from-a-secret-1", "SHORT": "abc"}
	secret := func(name string) (string, error) {
		if v, ok := secrets[name]; ok {
			return v, nil
		}
		return "", errors.New("secret " + name + " is not set")
	}
	tests := []struct {
		key, call string
		secret    func(string) (string, error)
		ok        bool
	}{
		{`"{{ secret('HOOK') }}"`, "from-a-secret-1", secret, true},
		{`"{{ secret('HOOK') }}"`, "from-a-secret-2", secret, false},
		{`"{{ flow.namespace }}-{{ flow.id }}-hook"`, "team-x-hook", nil, true},
		{`"{{ secret('HOOK') }}"`, "from-a-secret-1", nil, false}, // no secrets here
		{`"{{ secret('SHORT') }}"`, "abc", secret, false},         // too short
		{`"{{ secret('MISSING') }}"`, "", secret, false},          // does not render
	}
	for _, tt := range tests {
		t.Run(tt.key+" "+tt.call, func(t *testing.T) {
			st := newStore(t)
			deploy(t, st, "id: x\nnamespace: team\ntasks:\n  - {id: a, type: log, message: hi}\ntriggers:\n  - id: hook\n    type: webhook\n    key: "+tt.key+"\n", t0)
			rec := newRecorder(t)
			_, _, err := Webhook(t.Context(), st, rec, nil, tt.secret, "team", "x", tt.call, nil, t0)
			if (err == nil) != tt.ok {
				t.Fatalf("error %v, want ok=%v", err, tt.ok)
			}
			if !tt.ok && !errors.Is(err, ErrNoWebhook) {
				t.Errorf("error %v, want ErrNoWebhook", err)
			}
			rec.take()
		})
	}
}
