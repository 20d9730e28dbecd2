package statemachine_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/relayflow/relay/secrets"
	sm "github.com/relayflow/relay/statemachine"
)

const secretFlow = `
id: s
namespace: shop
inputs:
  - {id: pw, type: SECRET, validator: "[a-z0-9]+"}
  - {id: user, type: STRING}
tasks:
  - id: call
    type: log
    message: "user={{ inputs.user }} pw={{ inputs.pw }} token={{ secret('TOKEN') }}"
  - id: sub
    type: output.values
    values:
      both: "{{ [inputs.pw, secret('TOKEN')] | join(',') }}"
      direct: "{{ secret('TOKEN') }}"
`

func TestSecrets_areRenderedAsMarkersNeverInClear(t *testing.T) {
	f := parseFlow(t, secretFlow)
	s := newSim(t, f)
	id := s.start(f, map[string]any{"pw": "hunter2", "user": "ann"})
	s.run()
	ex := s.exec(id)
	if ex.State != sm.ExecSuccess {
		t.Fatalf("state %s (%s)", ex.State, ex.Error)
	}
	pw, _ := ex.Inputs["pw"].(string)
	if !secrets.IsMarker(pw) {
		t.Fatalf("stored input pw = %q, want a marker", pw)
	}
	if o, err := testKeyring.Open("shop", pw); err != nil || o.Value != "hunter2" {
		t.Fatalf("the marker opens to %+v, %v", o, err)
	}
	msg := s.schedule[0].Props["message"].(string)
	if secrets.MaskText(msg) != "user=ann pw=****** token=******" {
		t.Errorf("message rendered as %q", msg)
	}
	if s.schedule[0].Namespace != "shop" {
		t.Errorf("the scheduled attempt names namespace %q", s.schedule[0].Namespace)
	}
	raw, _ := json.Marshal(map[string]any{"ex": ex, "cmds": s.schedule, "logs": s.logs})
	if strings.Contains(string(raw), "hunter2") {
		t.Fatal("the clear value of the SECRET input is in the execution or its commands")
	}
}

func TestSecrets_aTemplateThatReadsASecretFailsTheTaskClearly(t *testing.T) {
	for _, tmpl := range []string{
		"{{ secret('TOKEN') | upper }}",
		"{{ inputs.pw == 'hunter2' }}",
		"{{ inputs.pw | length }}",
	} {
		f := parseFlow(t, `
id: s
namespace: shop
inputs:
  - {id: pw, type: SECRET}
tasks:
  - {id: a, type: log, message: "`+tmpl+`"}
`)
		s := newSim(t, f)
		id := s.start(f, map[string]any{"pw": "hunter2"})
		s.run()
		ex := s.exec(id)
		if ex.State != sm.ExecFailed || len(ex.TaskRuns) != 1 || ex.TaskRuns[0].Error == nil ||
			!strings.Contains(ex.TaskRuns[0].Error.Message, "a secret can only be inserted into text as it is") {
			t.Errorf("%s: state %s, runs %+v", tmpl, ex.State, ex.TaskRuns)
		}
	}
}

func TestSecrets_withoutASealerSecretInputsAndSecretFail(t *testing.T) {
	f := parseFlow(t, secretFlow)
	res, err := sm.Apply(f, nil, sm.Event{ID: "r", Type: sm.EvExecutionRequested, ExecutionID: "x", Inputs: map[string]any{"pw": "hunter2", "user": "u"}}, time.Unix(0, 0), sm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Execution.State != sm.ExecFailed || !strings.Contains(res.Execution.Error, "no secret key") || strings.Contains(res.Execution.Error, "hunter2") {
		t.Fatalf("state %s, error %q", res.Execution.State, res.Execution.Error)
	}
}
