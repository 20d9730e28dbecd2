package triggers

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/statemachine/flow"
)

// compile parses a flow whose triggers are given as YAML and compiles them.
func compile(t *testing.T, triggersYAML string) []*Trigger {
	t.Helper()
	trs, err := compileErr(triggersYAML)
	if err != nil {
		t.Fatal(err)
	}
	return trs
}

func compileErr(triggersYAML string) ([]*Trigger, error) {
	src := "id: down\nnamespace: team.data\ntasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: hi\ntriggers:\n" + triggersYAML
	f, err := flow.Parse("down.yaml", []byte(src))
	if err != nil {
		return nil, err
	}
	return Compile("down.yaml", f)
}

func one(t *testing.T, triggersYAML string) *Trigger {
	t.Helper()
	trs := compile(t, triggersYAML)
	if len(trs) != 1 {
		t.Fatalf("got %d triggers, want 1", len(trs))
	}
	return trs[0]
}

func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"cron field", "  - id: s\n    type: schedule\n    cron: \"0 25 * * *\"\n", "down.yaml:10:"},
		{"cron field message", "  - id: s\n    type: schedule\n    cron: \"0 25 * * *\"\n", "hour"},
		{"time zone", "  - id: s\n    type: schedule\n    cron: \"@daily\"\n    timezone: Mars/Olympus\n", "unknown time zone `Mars/Olympus`"},
		{"backfill date", "  - id: s\n    type: schedule\n    cron: \"@daily\"\n    backfill:\n      start: yesterday\n", "not an ISO-8601 date-time"},
		{"backfill order", "  - id: s\n    type: schedule\n    cron: \"@daily\"\n    backfill:\n      start: 2024-02-01T00:00:00Z\n      end: 2024-01-01T00:00:00Z\n", "`end` is before `start`"},
		{"filter dialect", "  - id: e\n    type: cloudevents.trigger\n    filters:\n      - equals: {type: a}\n", "unknown filter dialect `equals`"},
		{"filter sql", "  - id: e\n    type: cloudevents.trigger\n    filters:\n      - sql: \"type = 'a'\"\n", "SQL dialect is not supported"},
		{"filter two dialects", "  - id: e\n    type: cloudevents.trigger\n    filters:\n      - exact: {type: a}\n        prefix: {source: b}\n", "exactly one dialect"},
		{"filter attribute", "  - id: e\n    type: cloudevents.trigger\n    filters:\n      - exact: {\"my-attr\": a}\n", "not a CloudEvents attribute name"},
		{"filter empty prefix", "  - id: e\n    type: cloudevents.trigger\n    filters:\n      - prefix: {type: \"\"}\n", "matches everything"},
		{"webhook key", "  - id: w\n    type: webhook\n    key: abc\n", "at least 8 characters"},
		{"execution condition on schedule", "  - id: s\n    type: schedule\n    cron: \"@daily\"\n    conditions:\n      - type: io.kestra.plugin.core.condition.ExecutionStatus\n        in: [SUCCESS]\n", "applies to flow triggers only"},
		{"daily window", "  - id: f\n    type: flow\n    preconditions:\n      flows:\n        - {namespace: a, flowId: b}\n      timeWindow:\n        type: DAILY_TIME_WINDOW\n        startTime: \"10:00:00\"\n", "needs `endTime`"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := compileErr(tc.yaml)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func attrs(m map[string]string) Attributes {
	return func(name string) (string, bool) { v, ok := m[name]; return v, ok }
}

func TestFilters(t *testing.T) {
	ev := attrs(map[string]string{"type": "com.acme.order.created", "source": "/shop/eu", "subject": "order-42", "tenant": "acme"})
	for _, tc := range []struct {
		filters  string
		match    bool
		pinsType string
	}{
		{`[]`, true, ""},
		{`[{"exact": {"type": "com.acme.order.created"}}]`, true, "com.acme.order.created"},
		{`[{"exact": {"type": "com.acme.order.paid"}}]`, false, "com.acme.order.paid"},
		{`[{"exact": {"TYPE": "com.acme.order.created"}}]`, true, "com.acme.order.created"},
		{`[{"exact": {"type": "com.acme.order.created", "tenant": "acme"}}]`, true, "com.acme.order.created"},
		{`[{"exact": {"tenant": "other"}}]`, false, ""},
		{`[{"exact": {"missing": ""}}]`, false, ""},
		{`[{"prefix": {"type": "com.acme."}}, {"suffix": {"source": "/eu"}}]`, true, ""},
		{`[{"prefix": {"type": "com.acme."}}, {"suffix": {"source": "/us"}}]`, false, ""},
		{`[{"any": [{"exact": {"subject": "order-1"}}, {"exact": {"subject": "order-42"}}]}]`, true, ""},
		{`[{"any": [{"exact": {"type": "a"}}, {"exact": {"type": "a", "source": "x"}}]}]`, false, "a"},
		{`[{"any": [{"exact": {"type": "a"}}, {"exact": {"type": "b"}}]}]`, false, ""},
		{`[{"all": [{"exact": {"type": "com.acme.order.created"}}, {"not": {"exact": {"tenant": "other"}}}]}]`, true, "com.acme.order.created"},
		{`[{"not": {"prefix": {"type": "com.acme."}}}]`, false, ""},
	} {
		t.Run(tc.filters, func(t *testing.T) {
			f, err := ParseFilters(mustJSONValue(t, tc.filters), "filters")
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Match(ev); got != tc.match {
				t.Errorf("match = %v, want %v", got, tc.match)
			}
			typ, ok := f.exactType()
			if ok != (tc.pinsType != "") || typ != tc.pinsType {
				t.Errorf("pinned type = %q %v, want %q", typ, ok, tc.pinsType)
			}
		})
	}
}

func TestIndexKeys(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want []string
	}{
		{"  - id: f\n    type: io.kestra.plugin.core.trigger.Flow\n    conditions:\n      - type: io.kestra.plugin.core.condition.ExecutionFlow\n        namespace: team.a\n        flowId: up\n", []string{"flow:team.a/up"}},
		{"  - id: f\n    type: flow\n    preconditions:\n      flows:\n        - {namespace: team.a, flowId: a}\n        - {namespace: team.b, flowId: b}\n", []string{"flow:team.a/a", "flow:team.b/b"}},
		{"  - id: f\n    type: flow\n    conditions:\n      - type: io.kestra.plugin.core.condition.ExecutionNamespace\n        namespace: team.a\n", []string{"flowns:team.a"}},
		{"  - id: f\n    type: flow\n    conditions:\n      - type: io.kestra.plugin.core.condition.ExecutionNamespace\n        namespace: team\n        prefix: true\n", []string{"flow:*"}},
		{"  - id: f\n    type: flow\n", []string{"flow:*"}},
		{"  - id: f\n    type: flow\n    disabled: true\n", nil},
		{"  - id: e\n    type: cloudevents.trigger\n    filters:\n      - exact: {type: com.acme.x}\n", []string{"event:com.acme.x"}},
		{"  - id: e\n    type: cloudevents.trigger\n    filters:\n      - prefix: {type: com.acme.}\n", []string{"event:*"}},
		{"  - id: s\n    type: schedule\n    cron: \"@hourly\"\n", nil},
		{"  - id: w\n    type: webhook\n    key: s3cr3t-key\n", nil},
	} {
		got := one(t, tc.yaml).IndexKeys()
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: keys %q, want %q", tc.yaml, got, tc.want)
		}
	}
	// Every key an upstream or an event looks under is one a trigger may
	// be filed under.
	if got := UpstreamKeys("team.a", "up"); !slices.Equal(got, []string{"flow:team.a/up", "flowns:team.a", "flow:*"}) {
		t.Errorf("UpstreamKeys = %q", got)
	}
	if got := EventKeys("com.acme.x"); !slices.Equal(got, []string{"event:com.acme.x", "event:*"}) {
		t.Errorf("EventKeys = %q", got)
	}
}

var noon = time.Date(2025, 6, 2, 12, 0, 0, 0, time.UTC)

func TestMatchUpstream(t *testing.T) {
	up := func(ns, id string, state statemachine.ExecState) Upstream {
		return Upstream{ExecutionID: "x1", Namespace: ns, FlowID: id, State: state, Outputs: map[string]any{"rows": int64(3)}, EndDate: noon}
	}
	onA := "  - id: f\n    type: flow\n    conditions:\n      - type: io.kestra.plugin.core.condition.ExecutionFlow\n        namespace: team.a\n        flowId: a\n"
	for _, tc := range []struct {
		name, yaml string
		up         Upstream
		want       bool
	}{
		{"default states: success", onA, up("team.a", "a", statemachine.ExecSuccess), true},
		{"default states: failed", onA, up("team.a", "a", statemachine.ExecFailed), true},
		{"another flow", onA, up("team.a", "b", statemachine.ExecSuccess), false},
		{"states filter", onA + "    states: [FAILED]\n", up("team.a", "a", statemachine.ExecSuccess), false},
		{"states filter match", onA + "    states: [FAILED]\n", up("team.a", "a", statemachine.ExecFailed), true},
		{"status condition", onA + "      - type: io.kestra.plugin.core.condition.ExecutionStatus\n        notIn: [FAILED]\n", up("team.a", "a", statemachine.ExecFailed), false},
		{"namespace prefix", "  - id: f\n    type: flow\n    conditions:\n      - type: io.kestra.plugin.core.condition.ExecutionNamespace\n        namespace: team\n        comparison: PREFIX\n", up("team.a", "a", statemachine.ExecSuccess), true},
		{"namespace prefix is by segment", "  - id: f\n    type: flow\n    conditions:\n      - type: io.kestra.plugin.core.condition.ExecutionNamespace\n        namespace: tea\n        comparison: PREFIX\n", up("team.a", "a", statemachine.ExecSuccess), false},
		{"expression on outputs", "  - id: f\n    type: flow\n    conditions:\n      - type: io.kestra.plugin.core.condition.Expression\n        expression: \"{{ trigger.outputs.rows > 2 and trigger.flowId == 'a' }}\"\n", up("team.a", "a", statemachine.ExecSuccess), true},
		{"expression false", "  - id: f\n    type: flow\n    conditions:\n      - type: io.kestra.plugin.core.condition.Expression\n        expression: \"{{ trigger.outputs.rows > 5 }}\"\n", up("team.a", "a", statemachine.ExecSuccess), false},
		{"not on a running state", "  - id: f\n    type: flow\n", up("team.a", "a", statemachine.ExecRunning), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := one(t, tc.yaml).MatchUpstream(tc.up, noon)
			if err != nil || got != tc.want {
				t.Fatalf("MatchUpstream = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	t.Run("a failing expression is an error", func(t *testing.T) {
		tr := one(t, "  - id: f\n    type: flow\n    conditions:\n      - type: io.kestra.plugin.core.condition.Expression\n        expression: \"{{ fromJson(trigger.flowId) }}\"\n")
		if ok, err := tr.MatchUpstream(up("a", "b", statemachine.ExecSuccess), noon); ok || err == nil || !strings.Contains(err.Error(), "team.data/down/f") {
			t.Fatalf("MatchUpstream = %v, %v; want an error naming the trigger", ok, err)
		}
	})
}

func TestMatchEventAndInputs(t *testing.T) {
	tr := one(t, `  - id: orders
    type: cloudevents.trigger
    filters:
      - exact: {type: com.acme.order.created}
      - prefix: {source: /shop}
    condition: "{{ trigger.event.data.total > 100 }}"
    inputs:
      order: "{{ trigger.event.subject }}"
      total: "{{ trigger.event.data.total }}"
`)
	ev := &Event{ID: "e1", Type: "com.acme.order.created", Source: "/shop/eu", Subject: "order-42", Time: noon, Data: DecodeData("application/json", []byte(`{"total": 250}`))}
	ok, err := tr.MatchEvent(ev, noon)
	if err != nil || !ok {
		t.Fatalf("MatchEvent = %v, %v", ok, err)
	}
	req, err := tr.Request(EventCause(ev), ev.Vars(), 0, noon)
	if err != nil {
		t.Fatal(err)
	}
	if req.Inputs["order"] != "order-42" || fmt.Sprint(req.Inputs["total"]) != "250" {
		t.Errorf("inputs %v", req.Inputs)
	}
	if req.Origin.TriggerID != "orders" || req.Origin.Type != flow.TriggerEvent || req.FlowID != "down" || req.Namespace != "team.data" {
		t.Errorf("request %+v", req)
	}
	// The same event gives the same execution; another event another.
	again, _ := tr.Request(EventCause(ev), ev.Vars(), 0, noon)
	other := *ev
	other.ID = "e2"
	second, _ := tr.Request(EventCause(&other), other.Vars(), 0, noon)
	if again.ExecutionID != req.ExecutionID || second.ExecutionID == req.ExecutionID {
		t.Errorf("ids %s %s %s: want the first two equal, the third different", req.ExecutionID, again.ExecutionID, second.ExecutionID)
	}
	small := *ev
	small.Data = DecodeData("", []byte(`{"total": 5}`))
	if ok, err := tr.MatchEvent(&small, noon); ok || err != nil {
		t.Errorf("condition false: MatchEvent = %v, %v", ok, err)
	}
	wrong := *ev
	wrong.Source = "/crm"
	if ok, _ := tr.MatchEvent(&wrong, noon); ok {
		t.Error("prefix filter on source should not match /crm")
	}
}

func mustJSONValue(t *testing.T, s string) any {
	t.Helper()
	v := DecodeData("application/json", []byte(s))
	if _, ok := v.(string); ok {
		t.Fatalf("not JSON: %s", s)
	}
	return v
}
