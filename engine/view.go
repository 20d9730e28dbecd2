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
	Trigger  map[string]any       `json:"trigger,omitempty"`
	Origin   *statemachine.Origin `json:"origin,omitempty"`
	Depth    int                  `json:"depth,omitempty"`
	TaskRuns []TaskRunDoc         `json:"taskRuns"`
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

// Document turns an execution into its documented JSON form.
func Document(ex *statemachine.Execution) ExecutionDoc {
	d := ExecutionDoc{
		ID: ex.ID, Namespace: ex.Namespace, FlowID: ex.FlowID, Revision: ex.Revision, State: string(ex.State),
		Inputs: ex.Inputs, Outputs: ex.Outputs, Labels: map[string]string{}, StartDate: ex.StartDate, EndDate: timePtr(ex.EndDate),
		Error: ex.Error, Parent: ex.Parent, Trigger: ex.Trigger, Origin: ex.Origin, Depth: ex.Depth, TaskRuns: []TaskRunDoc{},
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
	for _, r := range ex.TaskRuns {
		td := TaskRunDoc{ID: r.ID, TaskID: r.TaskID, ParentID: r.ParentID, Value: r.Value, State: string(r.State),
			StartDate: timePtr(r.StartDate), EndDate: timePtr(r.EndDate), Outputs: r.Outputs, Error: r.Error, Attempts: []AttemptDoc{}}
		if td.Outputs == nil {
			td.Outputs = map[string]any{}
		}
		for _, a := range r.Attempts {
			td.Attempts = append(td.Attempts, AttemptDoc{State: string(a.State), StartDate: timePtr(a.StartDate), EndDate: timePtr(a.EndDate), Error: a.Error})
		}
		d.TaskRuns = append(d.TaskRuns, td)
	}
	return d
}
