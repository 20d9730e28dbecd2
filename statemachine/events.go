package statemachine

import (
	"strconv"
	"time"

	"github.com/relayflow/relay/statemachine/flow"
)

// EventType names what happened.
type EventType string

// Events the state machine accepts.
const (
	EvExecutionRequested EventType = "execution.requested"
	EvTaskRunStarted     EventType = "taskrun.started"
	EvTaskRunFinished    EventType = "taskrun.finished"
	EvTimerFired         EventType = "timer.fired"
	EvResume             EventType = "execution.resumed"
	EvKill               EventType = "execution.killed"
	EvSubflowFinished    EventType = "subflow.finished"
	EvDequeued           EventType = "execution.dequeued"
	// EvContinue goes on with work an event left for later: it started
	// MaxStartsPerEvent task runs, and more could start (see Continue).
	EvContinue EventType = "execution.continued"
)

// Event is one input of the state machine. ID must be unique per
// execution and stable across redelivery: an event applied twice changes
// nothing the second time.
type Event struct {
	ID          string    `json:"id"`
	Type        EventType `json:"type"`
	ExecutionID string    `json:"executionId"`

	// execution.requested
	Namespace string `json:"namespace,omitempty"`
	FlowID    string `json:"flowId,omitempty"`
	// Revision is the flow revision to run (0: the latest): a trigger's
	// own, or a subflow's pinned one. The executor then reads no flow.
	Revision int            `json:"revision,omitempty"`
	Inputs   map[string]any `json:"inputs,omitempty"` // also execution.resumed (onResume inputs)
	Labels   []flow.Label   `json:"labels,omitempty"`
	Trigger  map[string]any `json:"trigger,omitempty"`
	Parent   *ParentRef     `json:"parent,omitempty"`
	Origin   *Origin        `json:"origin,omitempty"`
	// Depth is the new execution's place in its chain (see
	// Execution.Depth); a subflow's is its Parent's.
	Depth int `json:"depth,omitempty"`
	// OverLimit is set by the engine when the flow's concurrency limit is
	// reached: the flow's behavior (QUEUE, CANCEL or FAIL) applies.
	OverLimit string `json:"overLimit,omitempty"`

	// taskrun.started, taskrun.finished, timer.fired, subflow.finished
	TaskRunID string `json:"taskRunId,omitempty"`
	Attempt   int    `json:"attempt,omitempty"`

	// taskrun.finished
	State   RunState       `json:"state,omitempty"` // SUCCESS, WARNING or FAILED
	Outputs map[string]any `json:"outputs,omitempty"`
	Error   *TaskError     `json:"error,omitempty"`
	// StartDate is when the attempt started on its worker. A worker
	// reports the start of short attempts only with their end (a
	// taskrun.started event would cost a write for nothing); missing or
	// later than the event's application, the executor's clock is used.
	StartDate time.Time `json:"startDate,omitzero"`

	// timer.fired
	Timer TimerKind `json:"timer,omitempty"`

	// subflow.finished
	ChildExecutionID string         `json:"childExecutionId,omitempty"`
	ChildState       ExecState      `json:"childState,omitempty"`
	ChildOutputs     map[string]any `json:"childOutputs,omitempty"`
}

// TimerKind says what a timer is for.
type TimerKind string

// Timers the state machine starts.
const (
	TimerRetry        TimerKind = "retry"         // start the next attempt
	TimerTimeout      TimerKind = "timeout"       // fail the attempt if still running
	TimerSleep        TimerKind = "sleep"         // end a flow.sleep
	TimerPauseDelay   TimerKind = "pause.delay"   // resume a flow.pause by itself
	TimerPauseTimeout TimerKind = "pause.timeout" // fail a flow.pause not resumed in time
	TimerWaitFor      TimerKind = "waitfor"       // start the next flow.waitfor iteration
	TimerKillGrace    TimerKind = "kill.grace"    // end a kill whose attempts did not stop
)

// Command is a side effect the state machine asks for. Commands are data:
// the edges (embedded engine, Lambda functions) carry them out after the
// execution that produced them is saved.
type Command interface{ command() }

// ScheduleTaskRun runs one attempt of a runnable task on a worker.
type ScheduleTaskRun struct {
	ExecutionID string         `json:"executionId"`
	TaskRunID   string         `json:"taskRunId"`
	TaskID      string         `json:"taskId"`
	Type        string         `json:"type"`
	Attempt     int            `json:"attempt"`
	Props       map[string]any `json:"props"`
	Deadline    time.Time      `json:"deadline,omitzero"`
	// Position is the task run's position in the execution (its key in
	// the store), so a worker can read that run alone.
	Position int `json:"position"`
}

// StartTimer asks for a timer.fired event at FireAt.
type StartTimer struct {
	ExecutionID string    `json:"executionId"`
	TaskRunID   string    `json:"taskRunId"`
	Attempt     int       `json:"attempt"`
	Kind        TimerKind `json:"kind"`
	FireAt      time.Time `json:"fireAt"`
}

// KillAttempt asks the worker running an attempt to stop it.
type KillAttempt struct {
	ExecutionID string `json:"executionId"`
	TaskRunID   string `json:"taskRunId"`
	Attempt     int    `json:"attempt"`
}

// StartSubflow starts a child execution; with Wait, the parent expects a
// subflow.finished event when it ends.
type StartSubflow struct {
	ExecutionID string         `json:"executionId"` // the child's id, derived from the parent's
	Namespace   string         `json:"namespace"`
	FlowID      string         `json:"flowId"`
	Revision    int            `json:"revision,omitempty"`
	Inputs      map[string]any `json:"inputs,omitempty"`
	Labels      []flow.Label   `json:"labels,omitempty"`
	Parent      ParentRef      `json:"parent"`
	Wait        bool           `json:"wait"`
}

// ExecutionFinished announces the end of an execution: downstream flow
// triggers and waiting parents listen for it.
type ExecutionFinished struct {
	ExecutionID string         `json:"executionId"`
	Namespace   string         `json:"namespace"`
	FlowID      string         `json:"flowId"`
	State       ExecState      `json:"state"`
	Outputs     map[string]any `json:"outputs,omitempty"`
	Parent      *ParentRef     `json:"parent,omitempty"`
	Origin      *Origin        `json:"origin,omitempty"`
	Depth       int            `json:"depth,omitempty"`
	Labels      []flow.Label   `json:"labels,omitempty"`
	StartDate   time.Time      `json:"startDate,omitzero"`
	EndDate     time.Time      `json:"endDate,omitzero"`
}

// Log is a line the state machine writes to an execution's log (a skipped
// task, a retry, a flow.fail message).
type Log struct {
	ExecutionID string `json:"executionId"`
	TaskRunID   string `json:"taskRunId,omitempty"`
	Level       string `json:"level"`
	Message     string `json:"message"`
}

// Continue asks for an execution.continued event: an event started as
// many task runs as one may (MaxStartsPerEvent) and more could start. The
// event id is EventID.
type Continue struct {
	ExecutionID string `json:"executionId"`
	EventID     string `json:"eventId"`
}

func (Continue) command()          {}
func (ScheduleTaskRun) command()   {}
func (StartTimer) command()        {}
func (KillAttempt) command()       {}
func (StartSubflow) command()      {}
func (ExecutionFinished) command() {}
func (Log) command()               {}

// AttemptKey is the stable key of one attempt of a task run:
// "<execution id>/<task run id>/<attempt number>". It is the same however
// often the attempt runs (side effects are at least once: a worker that
// died mid-attempt is replaced by another that runs the attempt again) and
// differs for each retry, so a task can pass it to what it calls as an
// idempotency key. Expressions read it as `taskrun.attemptKey`.
func AttemptKey(executionID, taskRunID string, attempt int) string {
	return executionID + "/" + taskRunID + "/" + strconv.Itoa(attempt)
}
