package statemachine

import (
	"fmt"
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
	EvRestart  EventType = "execution.restarted"
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
	// reached: the flow's behavior (QUEUE, CANCEL or FAIL) applies (also
	// execution.restarted, which then waits in QUEUED).
	OverLimit string `json:"overLimit,omitempty"`
	// Replay asks for a new execution that replays an earlier one from a
	// task run (Kestra's replay); the engine gives the state machine that
	// execution (Options.ReplaySource).
	Replay *Replay `json:"replay,omitempty"`

	// taskrun.started, taskrun.finished, timer.fired, subflow.finished
	TaskRunID string `json:"taskRunId,omitempty"`
	Attempt   int    `json:"attempt,omitempty"`

	// taskrun.finished
	State   RunState       `json:"state,omitempty"` // SUCCESS, WARNING or FAILED
	Outputs map[string]any `json:"outputs,omitempty"`
	Error   *TaskError     `json:"error,omitempty"`
	// Metrics are what the attempt measured (a script's metrics).
	Metrics []Metric `json:"metrics,omitempty"`
	// StartDate (taskrun.started, taskrun.finished) is when the attempt
	// started on its worker. A worker reports the start of short attempts
	// only with their end (a
	// taskrun.started event would cost a write for nothing); missing or
	// later than the event's application, the executor's clock is used.
	StartDate time.Time `json:"startDate,omitzero"`
	// ErrorLogs are the ERROR lines the attempt logged (at most
	// ErrorLogsPerAttempt, each at most ErrorLogLength long), for
	// errorLogs().
	ErrorLogs []LogLine `json:"errorLogs,omitempty"`
	// CachedFrom, when set, says the outputs come from the task cache:
	// the execution whose run produced them. The attempt did not run.
	CachedFrom string `json:"cachedFrom,omitempty"`

	// timer.fired
	Timer TimerKind `json:"timer,omitempty"`

	// subflow.finished
	ChildExecutionID string         `json:"childExecutionId,omitempty"`
	ChildState       ExecState      `json:"childState,omitempty"`
	ChildOutputs     map[string]any `json:"childOutputs,omitempty"`
}

// LogLine is a line a task logged.
type LogLine struct {
	Time    time.Time `json:"time"`
	Message string    `json:"message"`
}

// ErrorLogsPerAttempt bounds the ERROR lines a finished event carries.
const ErrorLogsPerAttempt = 20

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
	TimerRestart      TimerKind = "restart"       // run a RETRYING execution again
)

// Command is a side effect the state machine asks for. Commands are data:
// the edges (embedded engine, Lambda functions) carry them out after the
// execution that produced them is saved.
type Command interface{ command() }

// ScheduleTaskRun runs one attempt of a runnable task on a worker.
type ScheduleTaskRun struct {
	ExecutionID string `json:"executionId"`
	// Namespace and FlowID name the execution's flow: the worker opens the
	// secret markers of Props for that namespace alone, and files what the
	// attempt stores (output files) under it.
	Namespace string         `json:"namespace,omitempty"`
	FlowID    string         `json:"flowId,omitempty"`
	TaskRunID string         `json:"taskRunId"`
	TaskID    string         `json:"taskId"`
	Type      string         `json:"type"`
	Attempt   int            `json:"attempt"`
	Props     map[string]any `json:"props"`
	Deadline  time.Time      `json:"deadline,omitzero"`
	// Position is the task run's position in the execution (its key in
	// the store), so a worker can read that run alone.
	Position int `json:"position"`
	// Cache, for a task with taskCache enabled, is the entry of the task
	// cache the attempt may reuse, or that its success fills.
	Cache *CacheEntry `json:"cache,omitempty"`
	// LogLevel is the task's logLevel: the attempt's log lines below it
	// are not kept.
	LogLevel string `json:"logLevel,omitempty"`
}

// CacheEntry names an entry of the task cache: the SHA-256 of the flow
// revision, the task and its rendered properties, and how long a
// successful run's outputs are reused.
type CacheEntry struct {
	Key string        `json:"key"`
	TTL time.Duration `json:"ttl"`
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
	// Restart, when not 0, restarts the child ExecutionID, which failed,
	// instead of creating it: the parent's restart number Restart runs the
	// task again (the Subflow's restartBehavior RETRY_FAILED).
	Restart int `json:"restart,omitempty"`
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
	// Restarts is how many times the execution was restarted before this
	// end: each end of a restarted execution is announced anew.
	Restarts int `json:"restarts,omitempty"`
	// ParentOutputs, when the Subflow task that started the execution has
	// `outputs`, are those rendered in this execution: the outputs its
	// parent sees instead of the flow outputs.
	ParentOutputs map[string]any `json:"parentOutputs,omitempty"`
}

// ChildOutputs are the outputs the parent's Subflow task sees.
func (c ExecutionFinished) ChildOutputs() map[string]any {
	if c.ParentOutputs != nil {
		return c.ParentOutputs
	}
	return c.Outputs
}

// FinishedID is the id of the events announcing an execution's end (the
// execution.finished event, the parent's subflow.finished): the same for
// every redelivery of one end, new for each end of a restarted execution.
func (c ExecutionFinished) FinishedID() string {
	if c.Restarts == 0 {
		return c.ExecutionID + "/finished"
	}
	return fmt.Sprintf("%s/finished/%d", c.ExecutionID, c.Restarts)
}

// Log is a line the state machine writes to an execution's log (a skipped
// task, a retry, a flow.fail message).
type Log struct {
	ExecutionID string `json:"executionId"`
	TaskRunID   string `json:"taskRunId,omitempty"`
	TaskID      string `json:"taskId,omitempty"`
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
// "<execution id>/<task run id>/<attempt number>": the same for every
// delivery of the attempt and whatever repeats a call within it (the
// SDK's retries of a Lambda invocation), different for each retry (a
// CRASHED attempt's too), so a task can pass it to what it calls as an
// idempotency key. Expressions read it as `taskrun.attemptKey`.
func AttemptKey(executionID, taskRunID string, attempt int) string {
	return executionID + "/" + taskRunID + "/" + strconv.Itoa(attempt)
}
