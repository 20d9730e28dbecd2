package statemachine

import (
	"fmt"
	"strings"
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
	env := &expr.Env{Lookup: sc.lookup, Now: m.now, Secret: m.secretRef, Read: m.opts.Read, UUID: m.uuid, Rand: m.randUint64, ErrorLogs: m.errorLogs}
	if m.opts.KV != nil {
		env.KV = m.opts.KV
	}
	if m.opts.FileSize != nil {
		env.FileSize = m.opts.FileSize
	}
	if r != nil {
		env.Loop = noLoop
		for _, it := range ctx {
			if !it.Loop {
				if len(env.Loop) == 0 {
					env.Loop = make([]any, 0, len(ctx))
				}
				env.Loop = append(env.Loop, it.Value)
			}
		}
	}
	return env
}

// noLoop is the Loop of a render outside any ForEach (not nil: see
// expr.Env.Loop).
var noLoop = []any{}

// randUint64 draws from the event's generator, made on first use.
func (m *machine) randUint64() uint64 { return m.rng().Uint64() }

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
		return nestedLabels(ex.Labels), true
	case "envs":
		return mapOrEmpty(sc.m.opts.Envs), true
	case "globals":
		return mapOrEmpty(sc.m.opts.Globals), true
	case "inputs":
		return ex.Inputs, true
	case "outputs":
		return sc.m.outputsIndex(), true
	case "vars":
		return ex.Vars, true
	case "execution":
		state := string(ex.State)
		if ex.Phase == PhaseErrors {
			// The outcome is decided: errors handlers never rescue an
			// execution. (Kestra reads RUNNING there, its execution not
			// having ended yet; Prefect's failure hooks see Failed.)
			state = string(ExecFailed)
		}
		original := ex.OriginalID
		if original == "" {
			original = ex.ID
		}
		return map[string]any{"id": ex.ID, "startDate": formatTime(ex.StartDate), "state": state, "originalId": original}, true
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
		if sc.r == nil {
			return nil, false
		}
		sc.buildParents()
		return sc.parents, true
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
	tr := map[string]any{"id": r.ID, "attemptsCount": int64(len(r.Attempts))}
	if r.ParentID != "" {
		tr["parentId"] = r.ParentID
	}
	if sc.attempt > 0 {
		tr["attemptKey"] = AttemptKey(sc.m.ex.ID, r.ID, sc.attempt)
	}
	// Kestra's taskrun.startDate is when the task run was created: a run
	// rendered for its first attempt has not started yet, and was created
	// by this very event.
	start := r.StartDate
	if start.IsZero() {
		start = sc.m.now
	}
	tr["startDate"] = formatTime(start)
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

// buildParents lists the flowable task runs the run is nested in, closest
// first, as Kestra's parents: {task: {id}, taskrun: {value}}, the value
// only for a run that is a direct child of a ForEach iteration. The walk
// follows parent ids, so it costs the nesting depth, not the execution's
// size.
func (sc *scope) buildParents() {
	if sc.built || sc.r == nil {
		return
	}
	sc.built = true
	sc.parents = []any{}
	for id := sc.r.ParentID; id != ""; {
		p, ok := sc.m.ex.Run(id)
		if !ok {
			break
		}
		entry := map[string]any{"task": map[string]any{"id": p.TaskID}}
		if v, ok := sc.m.iterationValue(p); ok {
			entry["taskrun"] = map[string]any{"value": v}
		}
		sc.parents = append(sc.parents, entry)
		id = p.ParentID
	}
}

// iterationValue is the ForEach value of a run that is a direct child of
// a ForEach iteration (Kestra's task-run value).
func (m *machine) iterationValue(r *TaskRun) (any, bool) {
	if r.ParentID == "" || len(r.Keys) == 0 {
		return nil, false
	}
	owner, ok := m.ex.Run(r.ParentID)
	if !ok || m.task(owner).Type.Name != flow.TypeForEach || !strings.Contains(r.Frame, "/iter/") {
		return nil, false
	}
	return r.Value, true
}

// nestedLabels is the labels variable: dotted keys are also nested, as
// Kestra reads `labels.system.correlationId`.
func nestedLabels(labels []flow.Label) map[string]any {
	out := make(map[string]any, len(labels))
	for _, l := range labels {
		out[l.Key] = l.Value
	}
	for _, l := range labels {
		parts := strings.Split(l.Key, ".")
		if len(parts) < 2 {
			continue
		}
		node := out
		for _, p := range parts[:len(parts)-1] {
			next, ok := node[p].(map[string]any)
			if !ok {
				if _, taken := node[p]; taken {
					node = nil // a label of that name already holds a value
					break
				}
				next = map[string]any{}
				node[p] = next
			}
			node = next
		}
		if node != nil {
			if _, taken := node[parts[len(parts)-1]]; !taken {
				node[parts[len(parts)-1]] = l.Value
			}
		}
	}
	return out
}

func mapOrEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
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

// formatTime prints a date of the execution as Kestra does: microseconds
// at most (Java's clock), fraction digits in groups of three.
func formatTime(t time.Time) string { return expr.FormatDate(t.UTC().Truncate(time.Microsecond)) }

// outputsIndex returns task outputs by task id; outputs of tasks inside a
// ForEach are keyed by the text of each iteration value, as in Kestra. It is
// built once per loaded execution and kept up to date as runs end.
func (m *machine) outputsIndex() map[string]any {
	if m.ex.outputs == nil {
		m.ex.outputs = map[string]any{}
		for _, r := range m.ex.TaskRuns {
			// A running WaitFor holds its iterationCount already, a
			// resumed Pause its onResume; a running runnable task may
			// hold a failed attempt's outputs, which are not its own yet.
			if r.State == RunSuccess || r.State == RunWarning || r.State == RunRunning && m.task(r).Type.Flowable {
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
