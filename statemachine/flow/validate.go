package flow

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/relayflow/relay/statemachine/expr"
)

// ExprRoots are the variables expressions may read, with the attributes that
// are checked statically (nil: not checked here).
var ExprRoots = map[string][]string{
	"inputs":    nil,
	"outputs":   nil,
	"vars":      nil,
	"flow":      {"id", "namespace", "revision"},
	"execution": {"id", "startDate", "state", "originalId"},
	"task":      {"id", "type"},
	"taskrun":   {"id", "value", "attemptsCount", "attemptKey", "startDate", "parentId", "iteration"},
	"parents":   nil,
	"parent":    nil,
	"trigger":   nil,
	"labels":    nil,
	"envs":      nil,
	"globals":   nil,
}

// rootHints help with variables Kestra users sometimes write.
var rootHints = map[string]string{
	"taskRun":   "the variable is `taskrun`, all lowercase",
	"variables": "variables are read as `vars.<name>`",
	"tasks":     "Kestra's `tasks` variable is not supported by Relay: it would read every task run of the execution at each render; use errorLogs() or the outputs of the tasks",
	"kestra":    "Kestra's `kestra` variable (its configuration) is not supported by Relay; use `globals`",
	"item":      "Kestra 2's Loop task and its `item` variable do not exist in Relay; inside a ForEach read `taskrun.value`",
	"namespace": "the flow's namespace is `flow.namespace`; Kestra Enterprise's namespace variables do not exist in Relay, use `globals`",
}

// validate runs the checks that need the whole flow: expression references
// and Dag dependencies.
func (d *decoder) validate(f *Flow) {
	f.tasks = d.ids
	f.indexBlocks()
	for _, p := range d.templates {
		if p.tmpl == nil || d.unchecked[p] {
			continue
		}
		refs := p.tmpl.References()
		for _, ref := range refs {
			if afterHyphen(p.tmpl.Source(), ref.Offset) {
				// `outputs.transform-data` reads as a subtraction; the
				// reference on the left already says what to write.
				continue
			}
			if guarded(ref, refs) {
				// `inputs.x ?? 'none'`, `inputs.x is defined`: the read
				// may be undefined on purpose.
				continue
			}
			d.checkRef(f, p, ref.Path, p.PosOf(ref.Offset))
		}
	}
	for _, t := range f.AllTasks() {
		if len(t.Dag) > 0 {
			d.checkDag(t)
		}
	}
}

// guarded reports whether a reference may be undefined on purpose: it is
// itself guarded (left of ??, operand of `is defined`, input of default),
// or the template guards the same path elsewhere, as in
// `{{ inputs.x is defined ? inputs.x : 'none' }}`.
func guarded(ref expr.Ref, refs []expr.Ref) bool {
	if ref.Guarded {
		return true
	}
	for _, o := range refs {
		if o.Guarded && len(o.Path) <= len(ref.Path) && slices.Equal(o.Path, ref.Path[:len(o.Path)]) && len(o.Path) > 1 {
			return true
		}
	}
	return false
}

func (d *decoder) checkRef(f *Flow, p *Property, path []string, pos Pos) {
	if len(path) == 0 {
		return
	}
	root := path[0]
	attrs, known := ExprRoots[root]
	if !known {
		hint := rootHints[root]
		if hint == "" {
			if s := suggest(root, sortedKeys(ExprRoots)); s != "" {
				hint = fmt.Sprintf("did you mean `%s`?", s)
			}
		}
		d.add(pos, p.Path, hint, "unknown variable `%s`; expressions can read %s", root, strings.Join(sortedKeys(ExprRoots), ", "))
		return
	}
	if len(path) < 2 {
		return
	}
	name := path[1]
	switch root {
	case "inputs":
		if _, ok := f.Input(name); !ok {
			var ids []string
			for _, in := range f.Inputs {
				ids = append(ids, in.ID)
			}
			d.unknownName(pos, p.Path, "input", "inputs."+name, name, ids)
		}
	case "vars":
		if _, ok := f.Variables[name]; !ok {
			d.unknownName(pos, p.Path, "variable", "vars."+name, name, sortedKeys(f.Variables))
		}
	case "outputs":
		d.checkOutputRef(f, p, path, pos)
	default:
		if attrs != nil && !contains(attrs, name) {
			d.unknownName(pos, p.Path, root+" attribute", root+"."+name, name, attrs)
		}
	}
}

func (d *decoder) unknownName(pos Pos, path, what, written, name string, known []string) {
	hint := ""
	if s := suggest(name, known); s != "" {
		hint = fmt.Sprintf("did you mean `%s`?", s)
	}
	d.add(pos, path, hint, "`%s` refers to an unknown %s `%s`", written, what, name)
}

func (d *decoder) checkOutputRef(f *Flow, p *Property, path []string, pos Pos) {
	id := path[1]
	t, ok := f.tasks[id]
	if !ok {
		ids := sortedKeys(f.tasks)
		for _, other := range ids {
			if strings.HasPrefix(other, id+"-") {
				d.add(pos, p.Path, fmt.Sprintf("ids with `-` must be written with brackets: outputs['%s']", other),
					"`outputs.%s` refers to an unknown task `%s`", id, id)
				return
			}
		}
		d.unknownName(pos, p.Path, "task", "outputs."+id, id, ids)
		return
	}
	if len(path) < 3 || t.Type == nil || t.InsideForEach() {
		// Outputs of tasks inside a ForEach are keyed by iteration value first.
		return
	}
	if len(t.Type.Outputs) == 0 {
		d.errorf(pos, p.Path, "task `%s` (%s) has no outputs", id, t.Type.Name)
		return
	}
	if out := path[2]; !contains(t.Type.OutputNames(), out) {
		hint := ""
		if s := suggest(out, t.Type.OutputNames()); s != "" {
			hint = fmt.Sprintf("did you mean `%s`?", s)
		}
		d.add(pos, p.Path, hint, "task `%s` (%s) has no output `%s`; its outputs are %s", id, t.Type.Name, out, strings.Join(t.Type.OutputNames(), ", "))
	}
}

// checkDag reports unknown dependencies and cycles of a flow.dag.
func (d *decoder) checkDag(t *Task) {
	deps := map[string][]string{}
	var order []string
	for _, n := range t.Dag {
		deps[n.Task.ID] = n.DependsOn
		order = append(order, n.Task.ID)
	}
	for _, n := range t.Dag {
		for _, dep := range n.DependsOn {
			if _, ok := deps[dep]; !ok {
				hint := ""
				if s := suggest(dep, order); s != "" {
					hint = fmt.Sprintf("did you mean `%s`?", s)
				}
				d.add(n.Task.Pos, n.Task.Path+".dependsOn", hint, "`%s` is not a task of this Dag", dep)
			}
		}
	}
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(id string) bool
	visit = func(id string) bool {
		switch state[id] {
		case visiting:
			i := len(stack) - 1
			for i > 0 && stack[i] != id {
				i--
			}
			cycle := append(append([]string(nil), stack[i:]...), id)
			d.errorf(t.Pos, t.Path, "the Dag has a cycle: %s", strings.Join(cycle, " → "))
			return false
		case done:
			return true
		}
		state[id] = visiting
		stack = append(stack, id)
		for _, dep := range deps[id] {
			if _, ok := deps[dep]; ok && !visit(dep) {
				return false
			}
		}
		stack = stack[:len(stack)-1]
		state[id] = done
		return true
	}
	for _, id := range order {
		if state[id] == unvisited && !visit(id) {
			return
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// afterHyphen reports whether the reference at offset directly follows a `-`
// that itself follows a name, as in `outputs.transform-data`.
func afterHyphen(src string, offset int) bool {
	if offset < 2 || offset > len(src) || src[offset-1] != '-' {
		return false
	}
	c := src[offset-2]
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
