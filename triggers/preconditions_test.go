package triggers

import (
	"fmt"
	"testing"
	"time"

	"github.com/relayflow/relay/statemachine"
)

// end is an upstream execution that ended at a time.
type end struct {
	id, flow string
	state    statemachine.ExecState
	at       time.Time
}

func (e end) upstream() Upstream {
	return Upstream{ExecutionID: e.id, Namespace: "team", FlowID: e.flow, State: e.state, EndDate: e.at, Outputs: map[string]any{"by": e.id}}
}

func preconditionsTrigger(t *testing.T, window string) *Trigger {
	t.Helper()
	return one(t, `  - id: both
    type: flow
    preconditions:
      id: a-and-b
      flows:
        - {namespace: team, flowId: a}
        - {namespace: team, flowId: b, states: [SUCCESS, WARNING]}
`+window)
}

// feed observes ends in order and returns the ids of the ends that fired.
func feed(t *testing.T, tr *Trigger, ends []end) []string {
	t.Helper()
	var st PreconditionState
	var fired []string
	for _, e := range ends {
		up := e.upstream()
		ok, err := tr.MatchUpstream(up, e.at)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			continue
		}
		next, fire, sat, err := tr.Preconditions.Observe(st, up, e.at)
		if err != nil {
			t.Fatal(err)
		}
		st = next
		if fire {
			if len(sat) != len(tr.Preconditions.Flows) {
				t.Fatalf("fired with %d ends, want %d", len(sat), len(tr.Preconditions.Flows))
			}
			fired = append(fired, e.id)
		}
	}
	return fired
}

func TestPreconditions(t *testing.T) {
	day := time.Date(2025, 6, 2, 0, 0, 0, 0, time.UTC)
	at := func(h, m int) time.Time { return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	ok, failed, warned := statemachine.ExecSuccess, statemachine.ExecFailed, statemachine.ExecWarning
	for _, tc := range []struct {
		name, window string
		ends         []end
		want         []string
	}{
		{"both succeed: fires once, on the second", "", []end{{"a1", "a", ok, at(1, 0)}, {"b1", "b", ok, at(2, 0)}}, []string{"b1"}},
		{"order does not matter", "", []end{{"b1", "b", warned, at(1, 0)}, {"a1", "a", ok, at(2, 0)}}, []string{"a1"}},
		{"a failure does not count", "", []end{{"a1", "a", failed, at(1, 0)}, {"b1", "b", ok, at(2, 0)}}, nil},
		{"the same end twice counts once", "", []end{{"a1", "a", ok, at(1, 0)}, {"a1", "a", ok, at(1, 0)}, {"b1", "b", ok, at(2, 0)}, {"b1", "b", ok, at(2, 0)}}, []string{"b1"}},
		{"reset on success: both must end again", "", []end{{"a1", "a", ok, at(1, 0)}, {"b1", "b", ok, at(2, 0)}, {"b2", "b", ok, at(3, 0)}, {"a2", "a", ok, at(4, 0)}}, []string{"b1", "a2"}},
		{"without reset every later end fires", "      resetOnSuccess: false\n", []end{{"a1", "a", ok, at(1, 0)}, {"b1", "b", ok, at(2, 0)}, {"b2", "b", ok, at(3, 0)}}, []string{"b1", "b2"}},
		{"duration window: not across windows", "      timeWindow:\n        type: DURATION_WINDOW\n        window: PT1H\n", []end{{"a1", "a", ok, at(1, 50)}, {"b1", "b", ok, at(2, 10)}}, nil},
		{"duration window: within one", "      timeWindow:\n        type: DURATION_WINDOW\n        window: PT1H\n", []end{{"a1", "a", ok, at(2, 5)}, {"b1", "b", ok, at(2, 55)}}, []string{"b1"}},
		{"duration window advanced", "      timeWindow:\n        type: DURATION_WINDOW\n        window: PT1H\n        windowAdvance: PT30M\n", []end{{"a1", "a", ok, at(1, 50)}, {"b1", "b", ok, at(2, 10)}}, []string{"b1"}},
		{"sliding window: within", "      timeWindow:\n        type: SLIDING_WINDOW\n        window: PT1H\n", []end{{"a1", "a", ok, at(1, 50)}, {"b1", "b", ok, at(2, 10)}}, []string{"b1"}},
		{"sliding window: too far apart", "      timeWindow:\n        type: SLIDING_WINDOW\n        window: PT1H\n", []end{{"a1", "a", ok, at(1, 0)}, {"b1", "b", ok, at(2, 10)}}, nil},
		{"daily window: outside hours do not count", "      timeWindow:\n        type: DAILY_TIME_WINDOW\n        startTime: \"08:00:00\"\n        endTime: \"12:00:00\"\n", []end{{"a1", "a", ok, at(7, 0)}, {"b1", "b", ok, at(9, 0)}, {"a2", "a", ok, at(10, 0)}}, []string{"a2"}},
		{"daily window: not across days", "      timeWindow:\n        type: DAILY_TIME_WINDOW\n        startTime: \"08:00\"\n        endTime: \"12:00\"\n", []end{{"a1", "a", ok, at(9, 0)}, {"b1", "b", ok, at(24+9, 0)}}, nil},
		{"daily deadline", "      timeWindow:\n        type: DAILY_TIME_DEADLINE\n        deadline: \"09:00:00\"\n", []end{{"a1", "a", ok, at(8, 0)}, {"b1", "b", ok, at(9, 30)}, {"b2", "b", ok, at(24+8, 0)}, {"a2", "a", ok, at(24+8, 30)}}, []string{"a2"}},
		{"default window is 24 hours from midnight UTC", "", []end{{"a1", "a", ok, at(23, 0)}, {"b1", "b", ok, at(25, 0)}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := feed(t, preconditionsTrigger(t, tc.window), tc.ends)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("fired on %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPreconditionsWhere(t *testing.T) {
	tr := one(t, `  - id: big
    type: flow
    preconditions:
      where:
        - id: big-loads
          filters:
            - {field: FLOW_ID, type: STARTS_WITH, value: load_}
            - {field: EXPRESSION, type: IS_TRUE, value: "{{ trigger.outputs.rows > 1000 }}"}
`)
	up := Upstream{ExecutionID: "x", Namespace: "team", FlowID: "load_orders", State: statemachine.ExecSuccess, Outputs: map[string]any{"rows": int64(5000)}, EndDate: noon}
	_, fire, _, err := tr.Preconditions.Observe(PreconditionState{}, up, noon)
	if err != nil || !fire {
		t.Fatalf("big load: fire = %v, %v", fire, err)
	}
	up.ExecutionID, up.Outputs = "y", map[string]any{"rows": int64(10)}
	if _, fire, _, err := tr.Preconditions.Observe(PreconditionState{}, up, noon); fire || err != nil {
		t.Fatalf("small load: fire = %v, %v", fire, err)
	}
	up.ExecutionID, up.FlowID = "z", "report"
	if _, fire, _, _ := tr.Preconditions.Observe(PreconditionState{}, up, noon); fire {
		t.Fatal("another flow fired")
	}
}

func TestPreconditionVarsAndCause(t *testing.T) {
	tr := preconditionsTrigger(t, "")
	a := end{"a1", "a", statemachine.ExecSuccess, noon}.upstream()
	b := end{"b1", "b", statemachine.ExecSuccess, noon.Add(time.Minute)}.upstream()
	st, _, _, _ := tr.Preconditions.Observe(PreconditionState{}, a, noon)
	_, fire, ends, _ := tr.Preconditions.Observe(st, b, noon)
	if !fire {
		t.Fatal("did not fire")
	}
	vars := PreconditionVars(b, ends)
	all := vars["executions"].(map[string]any)
	if vars["executionId"] != "b1" || all["team/a"].(map[string]any)["executionId"] != "a1" {
		t.Errorf("vars %v", vars)
	}
	if PreconditionCause(b) == UpstreamCause(b) {
		t.Error("a precondition firing and a plain one share a cause")
	}
}
