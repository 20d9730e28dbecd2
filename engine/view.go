package engine

import (
	"time"

	"github.com/relayflow/relay/statemachine"
)

// ExecutionDoc is the documented JSON form of an execution (docs/execution.md):
// what `relay run --output json` prints and the HTTP API returns. It leaves
// out the state machine's bookkeeping.
type ExecutionDoc struct {
	ID        string                  `json:"id"`
	Namespace string                  `json:"namespace"`
	FlowID    string                  `json:"flowId"`
	Revision  int                     `json:"revision"`
	State     string                  `json:"state"`
	Inputs    map[string]any          `json:"inputs"`
	Outputs   map[string]any          `json:"outputs"`
	Labels    map[string]string       `json:"labels"`
	StartDate time.Time               `json:"startDate"`
	EndDate   *time.Time              `json:"endDate"`
	Error     string                  `json:"error,omitempty"`
	Parent    *statemachine.ParentRef `json:"parent,omitempty"`
	// Trigger holds the variables of the trigger that started the
	// execution (`trigger.*` in expressions), Origin names it, and Depth is
	// the execution's place in its chain of triggered executions.
	Trigger map[string]any       `json:"trigger,omitempty"`
	Origin  *statemachine.Origin `json:"origin,omitempty"`
	Depth   int                  `json:"depth,omitempty"`
	// OriginalID is the execution a replay replays (the first of a chain
	// of replays); Restarts counts the restarts of this execution.
	OriginalID string `json:"originalId,omitempty"`
	Restarts   int    `json:"restarts,omitempty"`
	// TaskRuns are the task runs in creation order: all of them, or a page
	// (see NextCursor).
	TaskRuns []TaskRunDoc `json:"taskRuns"`
	// TaskRunCount is how many task runs the execution has, and
	// TaskRunCounts how many are in each state.
	TaskRunCount  int            `json:"taskRunCount"`
	TaskRunCounts map[string]int `json:"taskRunCounts"`
	// TaskRunCountsByTask counts them by task id, then state (absent for
	// executions stored before they were kept).
	TaskRunCountsByTask map[string]map[string]int `json:"taskRunCountsByTask,omitempty"`
	// NextCursor, when TaskRuns is a page that others follow, is the
	// cursor of the next page; absent on the last one.
	NextCursor string `json:"nextCursor,omitempty"`
}

// TaskRunDoc is one task run in ExecutionDoc.
type TaskRunDoc struct {
	ID        string                  `json:"id"`
	TaskID    string                  `json:"taskId"`
	ParentID  string                  `json:"parentId,omitempty"`
	Value     any                     `json:"value,omitempty"`
	State     string                  `json:"state"`
	StartDate *time.Time              `json:"startDate"`
	EndDate   *time.Time              `json:"endDate"`
	Attempts  []AttemptDoc            `json:"attempts"`
	Outputs   map[string]any          `json:"outputs"`
	Error     *statemachine.TaskError `json:"error,omitempty"`
	Metrics   []statemachine.Metric   `json:"metrics,omitempty"`
	// Cached says the outputs came from the task cache: the task did not
	// run.
	Cached bool `json:"cached,omitempty"`
	// ChildExecutionID is the execution a flow.subflow run started.
	ChildExecutionID string `json:"childExecutionId,omitempty"`
}

// AttemptDoc is one attempt of a task run.
type AttemptDoc struct {
	State     string                  `json:"state"`
	StartDate *time.Time              `json:"startDate"`
	EndDate   *time.Time              `json:"endDate"`
	Error     *statemachine.TaskError `json:"error,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// Document turns an execution into its documented JSON form, with all its
// task runs.
func Document(ex *statemachine.Execution) ExecutionDoc {
	return DocumentPage(ex, ex.TaskRuns, "")
}

// DocumentPage is the documented form of an execution's head with a page
// of its task runs, and the cursor of the next page ("" for none).
func DocumentPage(ex *statemachine.Execution, runs []*statemachine.TaskRun, next string) ExecutionDoc {
	d := ExecutionDoc{
		ID: ex.ID, Namespace: ex.Namespace, FlowID: ex.FlowID, Revision: ex.Revision, State: string(ex.State),
		Inputs: ex.Inputs, Outputs: ex.Outputs, Labels: map[string]string{}, StartDate: ex.StartDate, EndDate: timePtr(ex.EndDate),
		Error: ex.Error, Parent: ex.Parent, Trigger: ex.Trigger, Origin: ex.Origin, Depth: ex.Depth, TaskRuns: []TaskRunDoc{},
		TaskRunCounts: map[string]int{}, NextCursor: next, OriginalID: ex.OriginalID, Restarts: ex.Restarts,
	}
	counts := ex.RunCounts
	if counts == nil && len(ex.TaskRuns) > 0 { // stored before executions kept their counts
		c := *ex
		c.CountRuns()
		counts = c.RunCounts
	}
	for st, n := range counts {
		d.TaskRunCounts[string(st)] = n
		d.TaskRunCount += n
	}
	byTask := ex.TaskCounts
	if byTask == nil && len(ex.TaskRuns) > 0 {
		c := *ex
		c.CountRuns()
		byTask = c.TaskCounts
	}
	if len(byTask) > 0 {
		d.TaskRunCountsByTask = make(map[string]map[string]int, len(byTask))
		for task, counts := range byTask {
			m := make(map[string]int, len(counts))
			for st, n := range counts {
				m[string(st)] = n
			}
			d.TaskRunCountsByTask[task] = m
		}
	}
	if d.Inputs == nil {
		d.Inputs = map[string]any{}
	}
	if d.Outputs == nil {
		d.Outputs = map[string]any{}
	}
	for _, l := range ex.Labels {
		d.Labels[l.Key] = l.Value
	}
	for _, r := range runs {
		td := TaskRunDoc{ID: r.ID, TaskID: r.TaskID, ParentID: r.ParentID, Value: r.Value, State: string(r.State),
			StartDate: timePtr(r.StartDate), EndDate: timePtr(r.EndDate), Outputs: r.Outputs, Error: r.Error, Metrics: r.Metrics, Attempts: []AttemptDoc{}, Cached: r.Cached,
			ChildExecutionID: r.ChildExec}
		if td.Outputs == nil {
			td.Outputs = map[string]any{}
		}
		for _, a := range r.Attempts {
			td.Attempts = append(td.Attempts, AttemptDoc{State: string(a.State), StartDate: timePtr(a.StartDate), EndDate: timePtr(a.EndDate), Error: a.Error})
		}
		d.TaskRuns = append(d.TaskRuns, td)
	}
	return maskDocument(d)
}
