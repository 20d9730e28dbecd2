package statemachine

import (
	"fmt"
	"strings"
	"time"

	"github.com/relayflow/relay/statemachine/flow"
)

// Restart and replay run an execution's flow again over task runs that
// already exist. The flow's blocks start from the top as usual; a task
// whose run already ended well (SUCCESS, WARNING or SKIPPED) is not run
// again: its run ends at once with its state and outputs. Any other run
// (FAILED, KILLED, or inside an `errors` or `finally` block, which run
// again when reached) is run again: it goes back to CREATED and its
// attempts go on from the last one. Only restarted and replayed
// executions look for existing runs.

var zeroTime time.Time

// RestartedLabel is the label a restart sets, as Kestra's.
const RestartedLabel = "system.restarted"

// CorrelationLabel is Kestra's system.correlationId: the id of the first
// execution of a chain of subflows, set on each of them.
const CorrelationLabel = "system.correlationId"

// restart runs a FAILED or KILLED execution again, in place (Kestra's
// restart, Prefect's retry of a failed flow run). The execution's task
// runs are read once here; later events cost what they always do.
func (m *machine) restart() error {
	switch m.ex.State {
	case ExecFailed, ExecKilled:
	default:
		return fmt.Errorf("only a FAILED or KILLED execution can be restarted, this one is %s: %w", m.ex.State, ErrInvalidTransition)
	}
	m.reopen()
	m.log("", "INFO", "execution restarted (restart %d): its failed task runs run again", m.ex.Restarts)
	if m.ev.OverLimit != "" {
		// The flow's concurrency limit is reached: whatever its behavior,
		// a restart waits for a slot rather than be lost.
		m.setExec(ExecQueued)
		return nil
	}
	m.begin()
	return nil
}

// reopen resets an ended execution so its flow runs again.
func (m *machine) reopen() {
	ex := m.ex
	ex.Restarts++
	setLabel(&ex.Labels, RestartedLabel, "true")
	ex.EndDate, ex.Error, ex.Outputs = zeroTime, "", nil
	ex.Phase, ex.Failed, ex.Warned = PhaseMain, false, false
	ex.Frames, ex.Deferred = map[string]*Frame{}, nil
	ex.EndAs, ex.SLAViolated = "", nil
}

func setLabel(labels *[]flow.Label, key, value string) {
	for i, l := range *labels {
		if l.Key == key {
			(*labels)[i].Value = value
			return
		}
	}
	*labels = append(*labels, flow.Label{Key: key, Value: value})
}

// reruns reports whether startTask must look for an existing run: only in
// restarted and replayed executions.
func (m *machine) reruns() bool { return m.ex.Restarts > 0 || m.ex.OriginalID != "" }

// existingRun handles the start of task t in fr when its run already
// exists: it reuses a run that ended well, or prepares another to run
// again. It reports whether the run was reused (then nothing more is to
// be done).
func (m *machine) existingRun(r *TaskRun, fr *Frame) (reused bool) {
	good := r.State == RunSuccess || r.State == RunWarning || r.State == RunSkipped
	if good && !m.inHandlers(fr) {
		r.Frame = fr.ID
		fr.Running++
		m.touch(r)
		m.ended(r)
		return true
	}
	m.setRun(r, RunCreated)
	r.Frame = fr.ID
	r.EndDate = zeroTime
	r.Error, r.Outputs, r.Branch = nil, nil, ""
	r.NextItem, r.Active, r.ChildFail, r.ChildWarn, r.InErrors, r.Cached = 0, 0, false, false, false, false
	// Iteration goes on counting: a restarted WaitFor starts its next
	// iteration, whose task runs are new.
	fr.Running++
	m.touch(r)
	return false
}

// inHandlers reports whether a frame is an `errors` or `finally` block or
// inside one, walking up the enclosing runs (the nesting depth, not the
// execution's size).
func (m *machine) inHandlers(fr *Frame) bool {
	for fr != nil {
		if fr.Role == PhaseErrors || fr.Role == PhaseFinally {
			return true
		}
		if fr.Owner == "" {
			return false
		}
		owner, ok := m.ex.Run(fr.Owner)
		if !ok {
			return false
		}
		fr = m.ex.Frames[owner.Frame]
	}
	return false
}

// Replay is what a replayed execution starts from: an earlier execution
// of the same flow revision and the task run to run again from.
type Replay struct {
	ExecutionID string `json:"executionId"`
	// From is a task run id, or a task id (its first run).
	From string `json:"from"`
}

// replayFrom copies into a new execution the runs of src that ended well
// before the run named by from (Kestra's replay): they are not run again.
// The run from, the runs after it, its enclosing runs and the runs of
// `errors` and `finally` blocks run again. src's runs are read once, here.
func (m *machine) replayFrom(src *Execution, from string) error {
	if src == nil {
		return fmt.Errorf("replaying: the execution to replay was not given")
	}
	if src.Namespace != m.f.Namespace || src.FlowID != m.f.ID || src.Revision != m.f.Revision {
		return fmt.Errorf("replaying %s: it ran %s/%s revision %d, not %s/%s revision %d", src.ID, src.Namespace, src.FlowID, src.Revision, m.f.Namespace, m.f.ID, m.f.Revision)
	}
	pos, ok := src.Position(from)
	if !ok {
		pos = -1
		for i, r := range src.TaskRuns {
			if r.TaskID == from {
				pos = i
				break
			}
		}
		if pos < 0 {
			return fmt.Errorf("replaying %s: it has no task run or task %q", src.ID, from)
		}
	}
	start := src.TaskRuns[pos]
	enclosing := map[string]bool{}
	for id := start.ParentID; id != ""; {
		enclosing[id] = true
		p, ok := src.Run(id)
		if !ok {
			break
		}
		id = p.ParentID
	}
	handlers := map[string]bool{} // runs in errors or finally blocks
	for _, r := range src.TaskRuns[:pos] {
		if handlers[r.ParentID] || handlerFrame(r.Frame) {
			handlers[r.ID] = true
			continue
		}
		if enclosing[r.ID] || r.State != RunSuccess && r.State != RunWarning && r.State != RunSkipped {
			continue
		}
		c := *r
		c.Attempts = append([]Attempt(nil), r.Attempts...)
		m.ex.addRun(&c)
		m.touch(&c)
		if c.Items != nil {
			m.items = append(m.items, &c)
		}
	}
	m.ex.OriginalID = src.OriginalID
	if m.ex.OriginalID == "" {
		m.ex.OriginalID = src.ID
	}
	return nil
}

// handlerFrame reports whether a frame id names an `errors` or `finally`
// block (the flow's, or a flowable task's).
func handlerFrame(id string) bool {
	return id == PhaseErrors || id == PhaseFinally || strings.HasSuffix(id, "/errors")
}
