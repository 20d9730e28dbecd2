package statemachine

import (
	"fmt"
	"sort"
	"time"

	"github.com/relayflow/relay/statemachine/expr"
	"github.com/relayflow/relay/statemachine/flow"
)

// env builds the variables a template of task t, run r, sees. r and t are
// nil for flow-level templates (inputs defaults, variables, flow outputs).
// Building it costs the depth of ForEach nesting, not the execution's size.
func (m *machine) env(r *TaskRun, t *flow.Task, ctx []Iter) *expr.Env {
	ex := m.ex
	if m.base == nil {
		labels := make(map[string]any, len(ex.Labels))
		for _, l := range ex.Labels {
			labels[l.Key] = l.Value
		}
		m.base = map[string]any{
			"flow":   map[string]any{"id": m.f.ID, "namespace": m.f.Namespace, "revision": int64(m.f.Revision)},
			"labels": labels,
		}
	}
	vars := make(map[string]any, 12)
	for k, v := range m.base {
		vars[k] = v
	}
	vars["inputs"] = ex.Inputs
	vars["outputs"] = m.outputsIndex()
	vars["vars"] = ex.Vars
	vars["execution"] = map[string]any{"id": ex.ID, "startDate": formatTime(ex.StartDate), "state": string(ex.State)}
	if ex.Trigger != nil {
		vars["trigger"] = ex.Trigger
	}
	if t != nil {
		vars["task"] = map[string]any{"id": t.ID, "type": t.TypeName}
	}
	if r != nil {
		tr := map[string]any{"id": r.ID, "attemptsCount": int64(len(r.Attempts)), "parentId": r.ParentID}
		if !r.StartDate.IsZero() {
			tr["startDate"] = formatTime(r.StartDate)
		}
		var values []any
		for _, it := range ctx {
			if it.Loop {
				tr["iteration"] = int64(it.Index)
				continue
			}
			values = append(values, it.Value)
		}
		if len(values) > 0 {
			tr["value"] = values[len(values)-1]
			parents := make([]any, 0, len(values)-1)
			for i := len(values) - 2; i >= 0; i-- {
				parents = append(parents, map[string]any{"taskrun": map[string]any{"value": values[i]}})
			}
			vars["parents"] = parents
			if len(parents) > 0 {
				vars["parent"] = parents[0]
			}
		}
		vars["taskrun"] = tr
	}
	env := &expr.Env{Vars: vars, Now: m.now, Secret: m.opts.Secret}
	env.UUID = func() string {
		b := [16]byte{}
		for i := range b {
			b[i] = byte(m.rng().UintN(256))
		}
		b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
		return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
	}
	return env
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

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
