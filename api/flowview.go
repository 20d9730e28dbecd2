package api

import (
	"context"
	"errors"
	"fmt"
	"slices"

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
	// as text rather than an expression, and, in a graph read from the
	// store, holds that flow's blocks.
	Subflow *SubflowView `json:"subflow,omitempty"`
	// OnResume are the inputs a flow.pause asks for when resumed.
	OnResume []InputView `json:"onResume,omitempty"`
	Line     int         `json:"line"`
}

// SubflowView is the flow a flow.subflow starts: its name and, when it
// was drawn, the revision drawn and its blocks (tasks, errors, finally).
// Status says why there are no blocks.
type SubflowView struct {
	Namespace string `json:"namespace"`
	ID        string `json:"id"`
	// Revision is the revision drawn: the one the task names, otherwise
	// the latest.
	Revision int         `json:"revision,omitempty"`
	Blocks   []BlockView `json:"blocks,omitempty"`
	// Status is empty when Blocks hold the flow, otherwise one of the
	// Subflow* constants.
	Status string `json:"status,omitempty"`
}

// Why a SubflowView holds no blocks.
const (
	// SubflowNotExpanded: the graph was not read from the store (a flow
	// being validated).
	SubflowNotExpanded = "not-expanded"
	// SubflowNotFound: no such flow (or revision) is deployed.
	SubflowNotFound = "not-found"
	// SubflowCycle: the flow is already drawn around this task (a flow
	// that starts itself, directly or through others).
	SubflowCycle = "cycle"
	// SubflowTooDeep: the task is MaxSubflowDepth subflows deep.
	SubflowTooDeep = "too-deep"
	// SubflowTooMany: the graph already holds MaxSubflows subflows.
	SubflowTooMany = "too-many"
)

// A graph nests subflows this many levels deep, and holds at most
// MaxSubflows of them, so that a flow whose subflows start subflows in
// turn gives a graph of bounded size.
const (
	MaxSubflowDepth = 3
	MaxSubflows     = 100
)

// FlowSource returns a revision (0: the latest) of a deployed flow, or an
// error wrapping engine.ErrNotFound when there is none.
type FlowSource func(ctx context.Context, namespace, id string, revision int) (*flow.Flow, error)

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

// Graph describes a parsed flow. Its subflows name the flows they start
// but do not hold them (SubflowNotExpanded).
func Graph(f *flow.Flow) FlowGraph {
	b := &grapher{}
	g, _ := b.graph(context.Background(), f)
	return g
}

// GraphWithSubflows is Graph with the blocks of the flow each subflow task
// starts, read from src, nested under the task, to MaxSubflowDepth levels.
// A subflow that is not deployed, that starts a flow drawn around it, or
// that is nested too deep is marked by its Status; an error of src other
// than engine.ErrNotFound is returned.
func GraphWithSubflows(ctx context.Context, f *flow.Flow, src FlowSource) (FlowGraph, error) {
	b := &grapher{src: src, cache: map[subflowKey]*flow.Flow{}}
	return b.graph(ctx, f)
}

// grapher builds a FlowGraph, expanding subflows when it has a source.
// It reads each (flow, revision) once, however often it is started.
type grapher struct {
	src   FlowSource
	cache map[subflowKey]*flow.Flow
	// path holds the flows drawn around the task being described, the
	// top one first.
	path     []subflowKey
	expanded int
}

type subflowKey struct {
	namespace, id string
	revision      int
}

func (b *grapher) graph(ctx context.Context, f *flow.Flow) (FlowGraph, error) {
	b.path = append(b.path, subflowKey{f.Namespace, f.ID, 0})
	blocks, err := b.flowBlocks(ctx, f)
	if err != nil {
		return FlowGraph{}, err
	}
	g := FlowGraph{Blocks: blocks, Namespace: f.Namespace, ID: f.ID, Revision: f.Revision, Description: f.Description, Disabled: f.Disabled,
		Labels: f.Labels, Inputs: inputViews(f.Inputs), Triggers: []TriggerView{}, Outputs: []string{}}
	if g.Labels == nil {
		g.Labels = []flow.Label{}
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
	return g, nil
}

// flowBlocks describes a flow's tasks, then its errors and finally blocks
// when it has them.
func (b *grapher) flowBlocks(ctx context.Context, f *flow.Flow) ([]BlockView, error) {
	var out []BlockView
	for _, part := range []struct {
		name  string
		tasks []*flow.Task
	}{{"tasks", f.Tasks}, {"errors", f.Errors}, {"finally", f.Finally}} {
		if part.name != "tasks" && len(part.tasks) == 0 {
			continue
		}
		bv, err := b.block(ctx, part.name, "", part.tasks)
		if err != nil {
			return nil, err
		}
		out = append(out, bv)
	}
	return out, nil
}

func (b *grapher) block(ctx context.Context, name, value string, tasks []*flow.Task) (BlockView, error) {
	bv := BlockView{Name: name, Value: value, Tasks: make([]TaskView, 0, len(tasks))}
	for _, t := range tasks {
		tv, err := b.taskView(ctx, t)
		if err != nil {
			return BlockView{}, err
		}
		bv.Tasks = append(bv.Tasks, tv)
	}
	return bv, nil
}

func (b *grapher) taskView(ctx context.Context, t *flow.Task) (TaskView, error) {
	v := TaskView{ID: t.ID, Type: t.Type.Name, TypeName: t.TypeName, Description: t.Description, Disabled: t.Disabled,
		Flowable: t.Type.Flowable, Line: t.Pos.Line, OnResume: inputViews(t.OnResume)}
	if len(v.OnResume) == 0 {
		v.OnResume = nil
	}
	var err error
	add := func(name, value string, tasks []*flow.Task) {
		if len(tasks) > 0 && err == nil {
			var bv BlockView
			if bv, err = b.block(ctx, name, value, tasks); err == nil {
				v.Blocks = append(v.Blocks, bv)
			}
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
		dag := BlockView{Name: "dag"}
		for _, n := range t.Dag {
			tv, terr := b.taskView(ctx, n.Task)
			if terr != nil {
				return TaskView{}, terr
			}
			tv.DependsOn = n.DependsOn
			dag.Tasks = append(dag.Tasks, tv)
		}
		v.Blocks = append(v.Blocks, dag)
	}
	add("errors", "", t.Errors)
	if err != nil {
		return TaskView{}, err
	}
	if t.Type.Name == flow.TypeSubflow {
		ns, _ := literalString(t.Prop("namespace"))
		id, _ := literalString(t.Prop("flowId"))
		if ns != "" && id != "" {
			rev, _ := t.Prop("revision").Literal().(int64)
			if v.Subflow, err = b.subflow(ctx, ns, id, int(rev)); err != nil {
				return TaskView{}, err
			}
		}
	}
	return v, nil
}

// subflow describes the flow a subflow task starts, with its blocks when
// it can be drawn under the task.
func (b *grapher) subflow(ctx context.Context, namespace, id string, revision int) (*SubflowView, error) {
	v := &SubflowView{Namespace: namespace, ID: id, Revision: revision}
	switch {
	case b.src == nil:
		v.Status = SubflowNotExpanded
		return v, nil
	case slices.ContainsFunc(b.path, func(k subflowKey) bool { return k.namespace == namespace && k.id == id }):
		v.Status = SubflowCycle
		return v, nil
	case len(b.path) > MaxSubflowDepth:
		v.Status = SubflowTooDeep
		return v, nil
	case b.expanded >= MaxSubflows:
		v.Status = SubflowTooMany
		return v, nil
	}
	key := subflowKey{namespace, id, revision}
	f, ok := b.cache[key]
	if !ok {
		var err error
		f, err = b.src(ctx, namespace, id, revision)
		switch {
		case errors.Is(err, engine.ErrNotFound):
			f = nil
		case err != nil:
			return nil, fmt.Errorf("reading subflow %s/%s: %w", namespace, id, err)
		}
		b.cache[key] = f
	}
	if f == nil {
		v.Status = SubflowNotFound
		return v, nil
	}
	b.expanded++
	v.Revision = f.Revision
	b.path = append(b.path, key)
	blocks, err := b.flowBlocks(ctx, f)
	b.path = b.path[:len(b.path)-1]
	if err != nil {
		return nil, err
	}
	v.Blocks = blocks
	return v, nil
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
	return GraphWithSubflows(ctx, f, s.flows.Get)
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
