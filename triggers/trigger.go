// Package triggers is the pure logic of Relay's triggers: which flows an
// event starts, when schedules fire, and what variables and inputs the
// started executions get. It does no I/O and reads no clock: the router,
// the scheduler and the webhook handler (package firing) feed it events,
// stored trigger state and the time, and carry out what it decides.
//
// Trigger types (declared in flows, see docs/reference.md):
//   - schedule: a cron expression in a time zone (Plan);
//   - flow: the end of an upstream execution (MatchUpstream), optionally
//     with preconditions over several upstream flows in a time window
//     (Preconditions.Observe);
//   - cloudevents.trigger: a CloudEvent matching subscription filters
//     (MatchEvent);
//   - webhook: a POST to the flow's webhook URL with the right key.
//
// Every started execution's id is derived from the trigger and its cause
// (ExecutionID), so a cause seen twice (a redelivered event, two
// schedulers) requests the same execution twice, and the executor starts
// it once.
package triggers

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/statemachine/expr"
	"github.com/relayflow/relay/statemachine/flow"
	"github.com/relayflow/relay/statemachine/inputs"
)

// Trigger is a trigger of one flow revision, compiled for matching.
type Trigger struct {
	Namespace string
	FlowID    string
	Revision  int
	ID        string
	// Type is the canonical type name (flow.TriggerSchedule, ...).
	Type     string
	Disabled bool
	// StopAfter: the trigger stops firing once an execution it started
	// ends in one of these states.
	StopAfter []statemachine.ExecState

	Schedule      *Schedule      // schedule triggers
	States        []string       // flow triggers: upstream end states
	Preconditions *Preconditions // flow triggers, optional
	Filter        Filter         // event triggers
	WebhookKey    string         // webhook triggers
	// WebhookKeyExpr is a webhook key given as an expression, rendered
	// for each call (see RenderWebhookKey); WebhookKey is then empty.
	WebhookKeyExpr *flow.Property

	decl *flow.Trigger
}

// Key names the trigger across flows: namespace/flowId/triggerId.
func (t *Trigger) Key() string { return Key(t.Namespace, t.FlowID, t.ID) }

// Key names a trigger across flows.
func Key(namespace, flowID, triggerID string) string {
	return namespace + "/" + flowID + "/" + triggerID
}

// Origin is what an execution the trigger starts records about it.
func (t *Trigger) Origin() *statemachine.Origin {
	return &statemachine.Origin{TriggerID: t.ID, Type: t.Type}
}

// terminal lists the end states a flow trigger fires on by default.
var terminal = []string{"SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED"}

// Compile compiles the triggers of a parsed flow. Errors are diagnostics
// that point at the flow document (flow.Diagnostics).
func Compile(file string, f *flow.Flow) ([]*Trigger, error) {
	var diags flow.Diagnostics
	fail := func(pos flow.Pos, path, format string, args ...any) {
		diags = append(diags, flow.Diagnostic{File: file, Pos: pos, Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	var out []*Trigger
	for i, d := range f.Triggers {
		if d.Type == nil {
			continue // flow.Parse reported it
		}
		path := fmt.Sprintf("triggers[%d]", i)
		t := &Trigger{Namespace: f.Namespace, FlowID: f.ID, Revision: f.Revision, ID: d.ID, Type: d.Type.Name, Disabled: d.Disabled, decl: d}
		for _, s := range stringList(d.Props["stopAfter"]) {
			t.StopAfter = append(t.StopAfter, statemachine.ExecState(s))
		}
		for _, c := range d.Conditions {
			if c.Type != nil && c.Type.Name != flow.ConditionExpression && t.Type != flow.TriggerFlow {
				fail(c.Pos, path+".conditions", "condition `%s` reads the upstream execution: it applies to flow triggers only", c.TypeName)
			}
		}
		switch t.Type {
		case flow.TriggerSchedule:
			s, pos, err := compileSchedule(d.Props)
			if err != nil {
				fail(pos, path, "%v", err)
			}
			t.Schedule = s
		case flow.TriggerFlow:
			t.States = stringList(d.Props["states"])
			if len(t.States) == 0 {
				t.States = terminal
			}
			if p := d.Props["preconditions"]; p != nil {
				pc, err := compilePreconditions(p)
				if err != nil {
					fail(p.Pos, p.Path, "%v", err)
				}
				pc.triggerKey = t.Key()
				t.Preconditions = pc
			}
		case flow.TriggerEvent:
			p := d.Props["filters"]
			filter, err := ParseFilters(p.Literal(), path+".filters")
			if err != nil {
				fail(p.Pos, path+".filters", "%v", err)
			}
			t.Filter = filter
		case flow.TriggerWebhook:
			if p := d.Props["key"]; p.IsDynamic() {
				t.WebhookKeyExpr = p
			} else {
				t.WebhookKey = p.String()
				if len(t.WebhookKey) < 8 {
					fail(d.Pos, path+".key", "a webhook key is a secret in a URL: use at least 8 characters")
				}
			}
		}
		out = append(out, t)
	}
	if len(diags) > 0 {
		return nil, diags
	}
	return out, nil
}

func stringList(p *flow.Property) []string {
	var out []string
	for _, e := range p.Items() {
		out = append(out, e.String())
	}
	return out
}

// Index keys: where the trigger index files a trigger, and where an
// incoming event looks. Matching reads the triggers under the keys of the
// event only, never every trigger.
const (
	indexUpstream   = "flow:"   // + namespace/flowId of the upstream flow
	indexUpstreamNS = "flowns:" // + namespace of the upstream flow
	indexEventType  = "event:"  // + CloudEvent type
	indexAny        = "*"
)

// IndexKeys returns the keys the trigger index files the trigger under.
// Schedules and webhooks are not indexed: the scheduler finds schedules by
// due time, and a webhook names its flow.
func (t *Trigger) IndexKeys() []string {
	if t.Disabled {
		return nil
	}
	return t.indexKeys()
}

// Keys returns the index keys of the trigger, disabled or not
// (for descriptions).
func (t *Trigger) Keys() []string { return t.indexKeys() }

func (t *Trigger) indexKeys() []string {
	switch t.Type {
	case flow.TriggerFlow:
		var keys []string
		if pc := t.Preconditions; pc != nil && len(pc.Flows) > 0 {
			for _, u := range pc.Flows {
				keys = append(keys, indexUpstream+u.Namespace+"/"+u.FlowID)
			}
		}
		for _, c := range t.decl.Conditions {
			if c.Type == nil || len(keys) > 0 {
				continue
			}
			switch c.Type.Name {
			case flow.ConditionExecutionFlow:
				keys = append(keys, indexUpstream+c.Props["namespace"].String()+"/"+c.Props["flowId"].String())
			case flow.ConditionExecutionNamespace:
				if cmp := c.Props["comparison"].String(); (cmp == "" || cmp == "EQUALS") && !isTrue(c.Props["prefix"]) {
					keys = append(keys, indexUpstreamNS+c.Props["namespace"].String())
				}
			}
		}
		if len(keys) == 0 {
			keys = append(keys, indexUpstream+indexAny)
		}
		slices.Sort(keys)
		return slices.Compact(keys)
	case flow.TriggerEvent:
		if typ, ok := t.Filter.exactType(); ok {
			return []string{indexEventType + typ}
		}
		return []string{indexEventType + indexAny}
	}
	return nil
}

// UpstreamKeys returns the index keys under which the triggers an upstream
// execution may fire are filed.
func UpstreamKeys(namespace, flowID string) []string {
	return []string{indexUpstream + namespace + "/" + flowID, indexUpstreamNS + namespace, indexUpstream + indexAny}
}

// EventKeys returns the index keys under which the triggers an event of
// this type may fire are filed.
func EventKeys(eventType string) []string {
	return []string{indexEventType + eventType, indexEventType + indexAny}
}

func isTrue(p *flow.Property) bool { b, _ := p.Literal().(bool); return b }

// MinWebhookKey is the shortest webhook key.
const MinWebhookKey = 8

// RenderWebhookKey returns the key of a webhook trigger: as written, or
// its expression rendered with `flow` and secret() (Kestra's usual
// `{{ secret('WEBHOOK_KEY') }}`). A rendered key shorter than
// MinWebhookKey is an error: it would let anyone in.
func (t *Trigger) RenderWebhookKey(secret func(string) (string, error), now time.Time) (string, error) {
	if t.WebhookKeyExpr == nil {
		return t.WebhookKey, nil
	}
	vars := map[string]any{"flow": map[string]any{"id": t.FlowID, "namespace": t.Namespace, "revision": int64(t.Revision)}}
	v, err := t.WebhookKeyExpr.Render(&expr.Env{Vars: vars, Now: now, Secret: secret})
	if err != nil {
		return "", fmt.Errorf("rendering the key of webhook trigger %s: %w", t.Key(), err)
	}
	key := expr.Stringify(v)
	if len(key) < MinWebhookKey {
		return "", fmt.Errorf("the key of webhook trigger %s renders to %d characters; a webhook key needs at least %d", t.Key(), len(key), MinWebhookKey)
	}
	return key, nil
}

// ExecutionID derives the id of the execution a trigger starts for a
// cause (an upstream execution id, an event's source and id, a schedule
// time): the same cause always gives the same id.
func ExecutionID(triggerKey, cause string) string {
	sum := sha256.Sum256([]byte(triggerKey + "\x00" + cause))
	return "t" + hex.EncodeToString(sum[:12])
}

// Request builds the execution.requested event that starts the trigger's
// flow for a cause, with the trigger variables vars. depth is the new
// execution's place in its chain; a flow trigger passes its upstream's
// depth plus one.
func (t *Trigger) Request(cause string, vars map[string]any, depth int, now time.Time) (statemachine.Event, error) {
	in, err := t.Inputs(vars, now)
	if err != nil {
		return statemachine.Event{}, err
	}
	id := ExecutionID(t.Key(), cause)
	return statemachine.Event{
		ID: id + "/requested", Type: statemachine.EvExecutionRequested, ExecutionID: id,
		Namespace: t.Namespace, FlowID: t.FlowID, Revision: t.Revision, Inputs: in, Trigger: vars, Origin: t.Origin(), Depth: depth,
	}, nil
}

// Inputs renders the trigger's `inputs` with the trigger variables.
func (t *Trigger) Inputs(vars map[string]any, now time.Time) (map[string]any, error) {
	p := t.decl.Props["inputs"]
	if p == nil {
		return nil, nil
	}
	v, err := p.Render(env(vars, now))
	if err != nil {
		return nil, fmt.Errorf("trigger %s: %w", t.Key(), err)
	}
	m, _ := v.(map[string]any)
	return m, nil
}

// checkConditions evaluates the trigger's conditions against the trigger
// variables (and, for flow triggers, the upstream execution).
func (t *Trigger) checkConditions(vars map[string]any, up *Upstream, now time.Time) (bool, error) {
	for _, c := range t.decl.Conditions {
		ok, err := condition(c, vars, up, now)
		if err != nil {
			return false, fmt.Errorf("trigger %s, condition %s: %w", t.Key(), c.TypeName, err)
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

func condition(c *flow.Condition, vars map[string]any, up *Upstream, now time.Time) (bool, error) {
	switch c.Type.Name {
	case flow.ConditionExpression:
		v, err := c.Props["expression"].Render(env(vars, now))
		if err != nil {
			return false, err
		}
		return expr.Truthy(v), nil
	case flow.ConditionExecutionFlow:
		return up != nil && up.Namespace == c.Props["namespace"].String() && up.FlowID == c.Props["flowId"].String(), nil
	case flow.ConditionExecutionStatus:
		if up == nil {
			return false, nil
		}
		in, notIn := stringList(c.Props["in"]), stringList(c.Props["notIn"])
		state := string(up.State)
		return (len(in) == 0 || slices.Contains(in, state)) && !slices.Contains(notIn, state), nil
	case flow.ConditionExecutionNamespace:
		if up == nil {
			return false, nil
		}
		ns := c.Props["namespace"].String()
		cmp := c.Props["comparison"].String()
		if isTrue(c.Props["prefix"]) {
			cmp = "PREFIX"
		}
		switch cmp {
		case "PREFIX":
			return up.Namespace == ns || strings.HasPrefix(up.Namespace, ns+"."), nil
		case "SUFFIX":
			return strings.HasSuffix(up.Namespace, ns), nil
		}
		return up.Namespace == ns, nil
	}
	return false, fmt.Errorf("condition type %s is not supported", c.TypeName)
}

// env is the expression environment of trigger inputs and conditions.
func env(vars map[string]any, now time.Time) *expr.Env {
	return &expr.Env{Vars: map[string]any{"trigger": vars}, Now: now}
}

// ErrStopped is returned by matching functions for a trigger that stopped
// (see StopAfter); callers skip such triggers.
var ErrStopped = errors.New("the trigger stopped (stopAfter)")

// Stops reports whether an execution the trigger started, ending in
// state, stops the trigger.
func (t *Trigger) Stops(state statemachine.ExecState) bool {
	return slices.Contains(t.StopAfter, state)
}

func parseDuration(p *flow.Property, def time.Duration) (time.Duration, error) {
	s := p.String()
	if s == "" {
		return def, nil
	}
	d, err := inputs.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", p.Path, err)
	}
	return d, nil
}
