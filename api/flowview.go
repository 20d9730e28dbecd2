package api

import (
	"context"
	"errors"
	"fmt"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/statemachine/flow"
	"github.com/relayflow/relay/statemachine/inputs"
)

// FlowGraph is a flow revision as the parsed flow sees it: its tasks as a
// tree of blocks (what a topology graph draws), its typed inputs (what a
// start form asks for) and its triggers. Clients get it from the same
// decoder as the executor, so Kestra aliases, defaults and nesting mean
// the same to them.
type FlowGraph struct {
	Namespace   string       `json:"namespace"`
	ID          string       `json:"id"`
	Revision    int          `json:"revision"`
	Description string       `json:"description,omitempty"`
	Labels      []flow.Label `json:"labels"`
	Disabled    bool         `json:"disabled,omitempty"`
	Inputs      []InputView  `json:"inputs"`
	// Blocks are the flow's own blocks: tasks, then errors and finally
	// when it has them.
	Blocks   []BlockView   `json:"blocks"`
	Triggers []TriggerView `json:"triggers"`
	Outputs  []string      `json:"outputs"`
}

// BlockView is a list of tasks run together: a flow's tasks, a flowable
// task's children, a branch of an If or a Switch, a Dag.
type BlockView struct {
	// Name is tasks, errors, finally, then, else, case, defaults or dag.
	Name string `json:"name"`
	// Value is the case value of a Switch's case block.
	Value string     `json:"value,omitempty"`
	Tasks []TaskView `json:"tasks"`
}

// TaskView is one task of a FlowGraph.
type TaskView struct {
	ID string `json:"id"`
	// Type is the canonical type name, TypeName the one written.
	Type        string `json:"type"`
	TypeName    string `json:"typeName"`
	Description string `json:"description,omitempty"`
	Disabled    bool   `json:"disabled,omitempty"`
	// Flowable tasks run their blocks; a Dag's tasks name what they
	// depend on.
	Flowable  bool        `json:"flowable,omitempty"`
	Blocks    []BlockView `json:"blocks,omitempty"`
	DependsOn []string    `json:"dependsOn,omitempty"`
	// Subflow names the flow a flow.subflow starts, when it is written
	// as text rather than an expression.
	Subflow *FlowRef `json:"subflow,omitempty"`
	// OnResume are the inputs a flow.pause asks for when resumed.
	OnResume []InputView `json:"onResume,omitempty"`
	Line     int         `json:"line"`
}

// FlowRef names a flow.
type FlowRef struct {
	Namespace string `json:"namespace"`
	ID        string `json:"id"`
}

// InputView is an input declaration, as a form needs it.
type InputView struct {
	ID               string   `json:"id"`
	Type             string   `json:"type"`
	Description      string   `json:"description,omitempty"`
	Required         bool     `json:"required"`
	Default          any      `json:"default,omitempty"`
	Validator        string   `json:"validator,omitempty"`
	Min              any      `json:"min,omitempty"`
	Max              any      `json:"max,omitempty"`
	After            string   `json:"after,omitempty"`
	Before           string   `json:"before,omitempty"`
	Values           []string `json:"values,omitempty"`
	AllowCustomValue bool     `json:"allowCustomValue,omitempty"`
	ItemType         string   `json:"itemType,omitempty"`
}

// TriggerView is a trigger declaration.
type TriggerView struct {
	ID          string `json:"id"`
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
	Disabled    bool   `json:"disabled,omitempty"`
	// WebhookKey is a webhook trigger's key: the secret part of its URL,
	// which is in the flow's source too.
	WebhookKey string `json:"webhookKey,omitempty"`
	Line       int    `json:"line"`
}

// Graph describes a parsed flow.
func Graph(f *flow.Flow) FlowGraph {
	g := FlowGraph{Namespace: f.Namespace, ID: f.ID, Revision: f.Revision, Description: f.Description, Disabled: f.Disabled,
		Labels: f.Labels, Inputs: inputViews(f.Inputs), Triggers: []TriggerView{}, Outputs: []string{}}
	if g.Labels == nil {
		g.Labels = []flow.Label{}
	}
	g.Blocks = append(g.Blocks, block("tasks", "", f.Tasks))
	if len(f.Errors) > 0 {
		g.Blocks = append(g.Blocks, block("errors", "", f.Errors))
	}
	if len(f.Finally) > 0 {
		g.Blocks = append(g.Blocks, block("finally", "", f.Finally))
	}
	for _, t := range f.Triggers {
		tv := TriggerView{ID: t.ID, Type: t.Type.Name, Description: t.Description, Disabled: t.Disabled, Line: t.Pos.Line}
		if t.Type.Name == flow.TriggerWebhook {
			tv.WebhookKey, _ = t.Props["key"].Literal().(string)
		}
		g.Triggers = append(g.Triggers, tv)
	}
	for _, o := range f.Outputs {
		g.Outputs = append(g.Outputs, o.ID)
	}
	return g
}

func block(name, value string, tasks []*flow.Task) BlockView {
	b := BlockView{Name: name, Value: value, Tasks: make([]TaskView, 0, len(tasks))}
	for _, t := range tasks {
		b.Tasks = append(b.Tasks, taskView(t))
	}
	return b
}

func taskView(t *flow.Task) TaskView {
	v := TaskView{ID: t.ID, Type: t.Type.Name, TypeName: t.TypeName, Description: t.Description, Disabled: t.Disabled,
		Flowable: t.Type.Flowable, Line: t.Pos.Line, OnResume: inputViews(t.OnResume)}
	if len(v.OnResume) == 0 {
		v.OnResume = nil
	}
	add := func(name, value string, tasks []*flow.Task) {
		if len(tasks) > 0 {
			v.Blocks = append(v.Blocks, block(name, value, tasks))
		}
	}
	add("tasks", "", t.Tasks)
	add("then", "", t.Then)
	add("else", "", t.Else)
	for _, c := range t.Cases {
		add("case", c.Value, c.Tasks)
	}
	add("defaults", "", t.Defaults)
	if len(t.Dag) > 0 {
		b := BlockView{Name: "dag"}
		for _, n := range t.Dag {
			tv := taskView(n.Task)
			tv.DependsOn = n.DependsOn
			b.Tasks = append(b.Tasks, tv)
		}
		v.Blocks = append(v.Blocks, b)
	}
	add("errors", "", t.Errors)
	if t.Type.Name == flow.TypeSubflow {
		ns, _ := literalString(t.Prop("namespace"))
		id, _ := literalString(t.Prop("flowId"))
		if ns != "" && id != "" {
			v.Subflow = &FlowRef{Namespace: ns, ID: id}
		}
	}
	return v
}

func literalString(p *flow.Property) (string, bool) {
	if p == nil || p.IsDynamic() {
		return "", false
	}
	s, ok := p.Literal().(string)
	return s, ok
}

func inputViews(decls []*inputs.Decl) []InputView {
	out := make([]InputView, 0, len(decls))
	for _, d := range decls {
		out = append(out, InputView{ID: d.ID, Type: string(d.Type), Description: d.Description, Required: d.Required, Default: d.Defaults,
			Validator: d.Validator, Min: d.Min, Max: d.Max, After: d.After, Before: d.Before, Values: d.Values,
			AllowCustomValue: d.AllowCustomValue, ItemType: string(d.ItemType)})
	}
	return out
}

// FlowGraph returns a revision (0: the latest) of a flow as a FlowGraph.
func (s *Service) FlowGraph(ctx context.Context, namespace, id string, revision int) (FlowGraph, error) {
	f, err := s.flows.Get(ctx, namespace, id, revision)
	if err != nil {
		return FlowGraph{}, fmt.Errorf("reading flow %s/%s: %w", namespace, id, err)
	}
	return Graph(f), nil
}

// Validation is what POST /flows/validate answers: the diagnostics of a
// flow document (none when it is valid) and, when it is, its graph.
type Validation struct {
	Valid       bool             `json:"valid"`
	Diagnostics flow.Diagnostics `json:"diagnostics"`
	Flow        *FlowGraph       `json:"flow,omitempty"`
}

// ValidateFlow checks a flow document as `relay validate` and deploying
// do, and stores nothing.
func (s *Service) ValidateFlow(file string, source []byte) Validation {
	f, err := engine.ParseFlow(file, source)
	var diags flow.Diagnostics
	var diag flow.Diagnostic
	switch {
	case errors.As(err, &diags):
		return Validation{Diagnostics: diags}
	case errors.As(err, &diag):
		return Validation{Diagnostics: flow.Diagnostics{diag}}
	case err != nil:
		return Validation{Diagnostics: flow.Diagnostics{{File: file, Pos: flow.Pos{Line: 1, Col: 1}, Msg: err.Error()}}}
	}
	g := Graph(f)
	return Validation{Valid: true, Diagnostics: flow.Diagnostics{}, Flow: &g}
}
