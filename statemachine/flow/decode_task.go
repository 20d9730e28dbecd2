package flow

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// commonTaskProps is computed once: tasks are decoded by the thousand.
var commonTaskProps = CommonTaskProps()

func (d *decoder) taskList(n *yaml.Node, path string, parent *Task, depth int) []*Task {
	if !d.expectList(n, path, "`"+path[strings.LastIndex(path, ".")+1:]+"`") {
		return nil
	}
	out := make([]*Task, 0, len(n.Content))
	for i, e := range n.Content {
		if e = d.resolve(e); e == nil {
			break
		}
		if t := d.task(e, index(path, i), parent, depth); t != nil {
			out = append(out, t)
		}
	}
	return out
}

func (d *decoder) task(n *yaml.Node, path string, parent *Task, depth int) *Task {
	if n == nil {
		return nil
	}
	if depth >= maxDepth {
		d.errorf(nodePos(n), path, "tasks are nested more than %d levels deep", maxDepth)
		return nil
	}
	if !d.expectMapping(n, path, "a task") {
		return nil
	}
	entries := d.pairs(n, path)
	t := &Task{Pos: nodePos(n), Parent: parent}
	// Name the task by its id in messages: `fetch.retry.interval` is easier
	// to find than `tasks[3].tasks[1].retry.interval`.
	for _, p := range entries {
		if p.key == "id" && p.v.Kind == yaml.ScalarNode && p.v.Value != "" {
			t.ID = p.v.Value
		}
	}
	t.Path = path
	if t.ID != "" {
		t.Path = t.ID
	}
	def, name := d.typeOf(entries, CategoryTask, t.Pos, t.Path)
	t.Type, t.TypeName = def, name
	defs := commonTaskProps
	if def != nil {
		defs = append(append([]*PropDef(nil), commonTaskProps...), def.Props...)
	}
	props := d.props(entries, defs, t.Path, func(p pair, pd *PropDef) bool {
		return d.taskBlock(t, p, pd, depth)
	}, func(p pair) {
		if def != nil {
			d.unknownKey(p, t.Path, fmt.Sprintf("for task type `%s`", name), propNames(defs), def.Unsupported)
		}
	})
	d.missing(t.Pos, t.Path, "the task", entries, defs)
	if v := props["id"]; v != nil {
		d.taskID(t, v)
	}
	t.Description = props["description"].String()
	t.Disabled, _ = props["disabled"].Literal().(bool)
	t.AllowFailure, _ = props["allowFailure"].Literal().(bool)
	t.AllowWarning, _ = props["allowWarning"].Literal().(bool)
	t.LogLevel = props["logLevel"].String()
	t.RunIf = props["runIf"]
	if def != nil && def.Name == TypeSubflow {
		d.uncheck(props["outputs"]) // rendered in the child execution
	}
	if v := props["logToFile"]; v != nil {
		if on, _ := v.Literal().(bool); on {
			d.notef(v.Pos, v.Path, "`logToFile` is ignored: Relay keeps every log line in its log store, readable with `relay logs ID` and log.fetch")
		}
	}
	if v := props["taskCache"]; v != nil {
		if on, _ := v.Get("enabled").Literal().(bool); on {
			ttl, _ := parseDuration(v.Get("ttl").String())
			switch {
			case ttl <= 0:
				d.errorf(v.Pos, v.Path, "an enabled taskCache needs a `ttl` longer than zero: how long a run's outputs are reused")
			case def != nil && def.Flowable:
				d.errorf(v.Pos, v.Path, "taskCache applies to runnable tasks; `%s` runs other tasks", name)
			}
			t.Cache = &TaskCache{TTL: ttl}
		}
	}
	if v := props["timeout"]; v != nil {
		t.Timeout, _ = parseDuration(v.String())
		if t.Timeout <= 0 {
			d.errorf(v.Pos, v.Path, "timeout must be longer than zero")
		}
	}
	if v := props["retry"]; v != nil {
		t.Retry = d.retry(v)
	}
	for _, c := range commonTaskProps {
		delete(props, c.Name)
	}
	d.materializeDefaults(def, name, props, t.Pos, t.Path)
	t.Props = props
	return t
}

func (d *decoder) taskID(t *Task, v *Property) {
	id := v.String()
	switch {
	case len(id) > 100:
		d.errorf(v.Pos, v.Path, "task id is %d characters long; the limit is 100", len(id))
	case !idPattern.MatchString(id):
		d.errorf(v.Pos, v.Path, "task id `%s` must match %s", id, idPattern)
	}
	if first, dup := d.ids[id]; dup {
		d.errorf(v.Pos, v.Path, "duplicate task id `%s` (first at %s); task ids are unique across the whole flow", id, first.Pos)
		return
	}
	d.ids[id] = t
}

// taskBlock decodes the properties that hold tasks; it reports whether pd
// was one of them.
func (d *decoder) taskBlock(t *Task, p pair, pd *PropDef, depth int) bool {
	path := join(t.Path, p.key)
	switch pd.Spec.Kind {
	case KindTasks:
		list := d.taskList(p.v, path, t, depth+1)
		if pd.Spec.MinItems > 0 && emptyList(p.v) {
			d.errorf(nodePos(p.v), path, "`%s` needs at least one task", pd.Name)
		}
		switch pd.Name {
		case "tasks":
			t.Tasks = list
		case "then":
			t.Then = list
		case "else":
			t.Else = list
		case "defaults":
			t.Defaults = list
		case "errors":
			t.Errors = list
		}
	case KindCases:
		if !d.expectMapping(p.v, path, "`cases`") {
			return true
		}
		entries := d.pairs(p.v, path)
		if len(entries) == 0 {
			d.errorf(nodePos(p.v), path, "`cases` needs at least one case")
		}
		for _, c := range entries {
			list := d.taskList(c.v, join(path, c.key), t, depth+1)
			if emptyList(c.v) {
				d.errorf(nodePos(c.v), join(path, c.key), "case `%s` needs at least one task", c.key)
			}
			t.Cases = append(t.Cases, Case{Value: c.key, Tasks: list})
		}
	case KindDag:
		if !d.expectList(p.v, path, "`tasks`") {
			return true
		}
		if emptyList(p.v) {
			d.errorf(nodePos(p.v), path, "`tasks` needs at least one task")
		}
		for i, e := range p.v.Content {
			npath := index(path, i)
			if e = d.resolve(e); e == nil || !d.expectMapping(e, npath, "a Dag node") {
				continue
			}
			var node DagNode
			for _, f := range d.pairs(e, npath) {
				switch f.key {
				case "task":
					node.Task = d.task(d.resolve(f.v), join(npath, "task"), t, depth+1)
				case "dependsOn":
					if v := d.value(f.v, &Spec{Kind: KindList, Elem: stringSpec}, false, join(npath, "dependsOn")); v != nil {
						for _, dep := range v.Items() {
							node.DependsOn = append(node.DependsOn, dep.String())
						}
					}
				default:
					d.unknownKey(f, npath, "in a Dag node", []string{"task", "dependsOn"}, nil)
				}
			}
			if node.Task == nil {
				d.errorf(nodePos(e), npath, "a Dag node needs a `task`")
				continue
			}
			t.Dag = append(t.Dag, node)
		}
	case KindInputs:
		t.OnResume, t.OnResumeDefaults = d.inputDecls(p.v, path)
	default:
		return false
	}
	return true
}

// emptyList is true for `[]` and for a key with no value.
func emptyList(n *yaml.Node) bool {
	return n.Kind == yaml.SequenceNode && len(n.Content) == 0 || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}
