package statemachine

import (
	"fmt"
	"time"

	"github.com/relayflow/relay/statemachine/expr"
	"github.com/relayflow/relay/statemachine/flow"
)

// env gives a template of task t, run r, its variables. r and t are nil for
// flow-level templates (inputs defaults, variables, flow outputs). Variables
// are built only when a template reads them, so a render costs what the
// template uses, never the execution's size.
func (m *machine) env(r *TaskRun, t *flow.Task, ctx []Iter) *expr.Env {
	sc := &scope{m: m, r: r, t: t, ctx: ctx}
	return &expr.Env{Lookup: sc.lookup, Now: m.now, Secret: m.opts.Secret, UUID: m.uuid}
}

// scope resolves the root variables of one render.
type scope struct {
	m       *machine
	r       *TaskRun
	t       *flow.Task
	ctx     []Iter
	parents []any
	built   bool
	attempt int // the attempt being scheduled (0: none)
}

func (sc *scope) lookup(name string) (any, bool) {
	ex := sc.m.ex
	switch name {
	case "flow":
		f := sc.m.f
		return map[string]any{"id": f.ID, "namespace": f.Namespace, "revision": int64(f.Revision)}, true
	case "labels":
		labels := make(map[string]any, len(ex.Labels))
		for _, l := range ex.Labels {
			labels[l.Key] = l.Value
		}
		return labels, true
	case "inputs":
		return ex.Inputs, true
	case "outputs":
		return sc.m.outputsIndex(), true
	case "vars":
		return ex.Vars, true
	case "execution":
		return map[string]any{"id": ex.ID, "startDate": formatTime(ex.StartDate), "state": string(ex.State)}, true
	case "trigger":
		return ex.Trigger, ex.Trigger != nil
	case "task":
		if sc.t == nil {
			return nil, false
		}
		return map[string]any{"id": sc.t.ID, "type": sc.t.TypeName}, true
	case "taskrun":
		return sc.taskrun()
	case "parents":
		sc.buildParents()
		return sc.parents, sc.parents != nil
	case "parent":
		sc.buildParents()
		if len(sc.parents) == 0 {
			return nil, false
		}
		return sc.parents[0], true
	}
	return nil, false
}

func (sc *scope) taskrun() (any, bool) {
	r := sc.r
	if r == nil {
		return nil, false
	}
	tr := map[string]any{"id": r.ID, "attemptsCount": int64(len(r.Attempts)), "parentId": r.ParentID}
	if sc.attempt > 0 {
		tr["attemptKey"] = AttemptKey(sc.m.ex.ID, r.ID, sc.attempt)
	}
	if !r.StartDate.IsZero() {
		tr["startDate"] = formatTime(r.StartDate)
	}
	var last any
	for _, it := range sc.ctx {
		if it.Loop {
			tr["iteration"] = int64(it.Index)
			continue
		}
		last = it.Value
		tr["value"] = last
	}
	return tr, true
}

// buildParents lists the enclosing ForEach values, closest first, as
// Kestra's parents[i].taskrun.value.
func (sc *scope) buildParents() {
	if sc.built || sc.r == nil {
		return
	}
	sc.built = true
	var values []any
	for _, it := range sc.ctx {
		if !it.Loop {
			values = append(values, it.Value)
		}
	}
	if len(values) == 0 {
		return
	}
	sc.parents = make([]any, 0, len(values)-1)
	for i := len(values) - 2; i >= 0; i-- {
		sc.parents = append(sc.parents, map[string]any{"taskrun": map[string]any{"value": values[i]}})
	}
}

// uuid draws from the event-seeded generator, so it is the same every time
// the event is applied.
func (m *machine) uuid() string {
	b := [16]byte{}
	for i := range b {
		b[i] = byte(m.rng().UintN(256))
	}
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// outputsIndex returns task outputs by task id; outputs of tasks inside a
// ForEach are keyed by the text of each iteration value, as in Kestra. It is
// built once per loaded execution and kept up to date as runs end.
func (m *machine) outputsIndex() map[string]any {
	if m.ex.outputs == nil {
		m.ex.outputs = map[string]any{}
		for _, r := range m.ex.TaskRuns {
			if r.State == RunSuccess || r.State == RunWarning {
				m.indexOutputs(r)
			}
		}
	}
	return m.ex.outputs
}

func (m *machine) indexOutputs(r *TaskRun) {
	if r.Outputs == nil || m.ex.outputs == nil {
		return // the index is built lazily from the runs
	}
	keys := r.Keys
	if len(keys) == 0 {
		m.ex.outputs[r.TaskID] = r.Outputs
		return
	}
	node, _ := m.ex.outputs[r.TaskID].(map[string]any)
	if node == nil {
		node = map[string]any{}
		m.ex.outputs[r.TaskID] = node
	}
	for _, k := range keys[:len(keys)-1] {
		next, _ := node[k].(map[string]any)
		if next == nil {
			next = map[string]any{}
			node[k] = next
		}
		node = next
	}
	node[keys[len(keys)-1]] = r.Outputs
}
