package statemachine

import (
	"errors"
	"fmt"
)

// ErrInvalidTransition is wrapped by every error about a move the state
// tables do not allow. Such an event changes nothing.
var ErrInvalidTransition = errors.New("invalid transition")

// ExecState is the state of an execution.
type ExecState string

// Execution states.
const (
	ExecCreated   ExecState = "CREATED"
	ExecQueued    ExecState = "QUEUED"
	ExecRunning   ExecState = "RUNNING"
	ExecPaused    ExecState = "PAUSED"
	ExecKilling   ExecState = "KILLING"
	ExecSuccess   ExecState = "SUCCESS"
	ExecWarning   ExecState = "WARNING"
	ExecFailed    ExecState = "FAILED"
	ExecKilled    ExecState = "KILLED"
	ExecCancelled ExecState = "CANCELLED"
	ExecRetrying  ExecState = "RETRYING" // failed, to run again after its retry policy's delay
)

// Terminal reports whether nothing more happens to an execution in s,
// unless it is restarted (FAILED and KILLED executions can be).
func (s ExecState) Terminal() bool {
	switch s {
	case ExecSuccess, ExecWarning, ExecFailed, ExecKilled, ExecCancelled:
		return true
	}
	return false
}

// RunState is the state of a task run and of its attempts.
type RunState string

// Task-run states.
const (
	RunCreated   RunState = "CREATED"
	RunSubmitted RunState = "SUBMITTED" // an attempt is scheduled on a worker
	RunRunning   RunState = "RUNNING"
	RunRetrying  RunState = "RETRYING" // waiting for the timer of a delayed retry
	RunPaused    RunState = "PAUSED"
	RunSuccess   RunState = "SUCCESS"
	RunWarning   RunState = "WARNING"
	RunFailed    RunState = "FAILED"
	RunSkipped   RunState = "SKIPPED"
	RunKilled    RunState = "KILLED"
	RunCrashed   RunState = "CRASHED" // its worker died or the OS killed its process (Prefect's Crashed)
)

// Terminal reports whether nothing more happens to a task run in s.
func (s RunState) Terminal() bool {
	switch s {
	case RunSuccess, RunWarning, RunFailed, RunSkipped, RunKilled, RunCrashed:
		return true
	}
	return false
}

// Transition is one allowed move: from any of From to To, and why.
type Transition[S comparable] struct {
	From []S
	To   S
	On   string
}

// ExecTransitions is every move an execution may make.
var ExecTransitions = []Transition[ExecState]{
	{[]ExecState{ExecCreated}, ExecQueued, "concurrency limit reached (QUEUE)"},
	{[]ExecState{ExecCreated, ExecQueued}, ExecRunning, "started"},
	{[]ExecState{ExecCreated, ExecQueued}, ExecCancelled, "concurrency limit reached (CANCEL), or killed while queued"},
	{[]ExecState{ExecCreated}, ExecFailed, "invalid inputs, or concurrency limit reached (FAIL)"},
	{[]ExecState{ExecRunning}, ExecPaused, "a flow.pause started"},
	{[]ExecState{ExecPaused}, ExecRunning, "resumed, by a user or the pause's delay"},
	{[]ExecState{ExecRunning, ExecPaused}, ExecKilling, "kill requested while attempts run, or an SLA or a pause's behavior stops the execution (see below)"},
	{[]ExecState{ExecRunning, ExecPaused, ExecKilling}, ExecKilled, "kill requested; no attempt left running"},
	{[]ExecState{ExecRunning}, ExecSuccess, "every task ended well"},
	{[]ExecState{ExecRunning}, ExecWarning, "ended with a task in WARNING"},
	{[]ExecState{ExecRunning, ExecPaused}, ExecFailed, "a task failed, or a pause timed out, or an SLA with behavior FAIL was violated"},
	{[]ExecState{ExecRunning, ExecPaused}, ExecCancelled, "an SLA with behavior CANCEL was violated, or a pause with behavior CANCEL was not resumed within its delay"},
	{[]ExecState{ExecKilling}, ExecFailed, "stopped by an SLA with behavior FAIL; no attempt left running"},
	{[]ExecState{ExecKilling}, ExecCancelled, "stopped by an SLA or a pause with behavior CANCEL; no attempt left running"},
	{[]ExecState{ExecFailed, ExecKilled}, ExecRunning, "restarted: its failed and killed task runs run again, in the same execution (relay executions restart)"},
	{[]ExecState{ExecFailed, ExecKilled}, ExecQueued, "restarted while its flow's concurrency limit is reached"},
	{[]ExecState{ExecRunning}, ExecRetrying, "a task failed under a retry policy with behavior CREATE_NEW_EXECUTION that allows another execution attempt"},
	{[]ExecState{ExecRetrying}, ExecRunning, "the retry policy's delay passed: the execution runs again, in place"},
	{[]ExecState{ExecRetrying}, ExecKilled, "killed while waiting to run again"},
}

// RunTransitions is every move a task run may make.
var RunTransitions = []Transition[RunState]{
	{[]RunState{RunCreated, RunRetrying}, RunSubmitted, "an attempt is scheduled on a worker"},
	{[]RunState{RunCreated, RunSubmitted, RunPaused}, RunRunning, "the attempt started, or a flowable began its children, or a pause was resumed"},
	{[]RunState{RunRunning}, RunPaused, "a flow.pause is waiting"},
	{[]RunState{RunSubmitted, RunRunning}, RunRetrying, "the attempt failed and the retry policy allows another after a delay"},
	{[]RunState{RunCreated, RunSubmitted, RunRunning, RunPaused}, RunSuccess, "ended well"},
	{[]RunState{RunCreated, RunSubmitted, RunRunning}, RunWarning, "ended with a warning, or failed with allowFailure"},
	{[]RunState{RunCreated, RunSubmitted, RunRunning, RunPaused, RunRetrying}, RunFailed, "failed, timed out with no retry left, or a pause timed out"},
	{[]RunState{RunCreated}, RunSkipped, "runIf rendered false"},
	{[]RunState{RunCreated, RunSubmitted, RunRunning, RunPaused, RunRetrying}, RunKilled, "the execution was killed"},
	{[]RunState{RunSubmitted, RunRunning}, RunCrashed, "its worker died (its lease on the attempt expired) or the OS killed its process, and the retry policy allows no other attempt"},
	{[]RunState{RunFailed, RunKilled, RunCrashed, RunSuccess, RunWarning, RunSkipped}, RunCreated, "the execution was restarted or replayed and the run runs again (a failed or killed run, or one in an `errors` or `finally` block); its attempts go on"},
}

type table[S comparable] map[S]map[S]bool

func buildTable[S comparable](ts []Transition[S]) table[S] {
	t := table[S]{}
	for _, tr := range ts {
		for _, f := range tr.From {
			if t[f] == nil {
				t[f] = map[S]bool{}
			}
			t[f][tr.To] = true
		}
	}
	return t
}

var (
	execTable = buildTable(ExecTransitions)
	runTable  = buildTable(RunTransitions)
)

// CanExec reports whether an execution may move from one state to another.
func CanExec(from, to ExecState) bool { return execTable[from][to] }

// CanRun reports whether a task run may move from one state to another.
func CanRun(from, to RunState) bool { return runTable[from][to] }

func checkExec(from, to ExecState) error {
	if !CanExec(from, to) {
		return fmt.Errorf("execution %s -> %s: %w", from, to, ErrInvalidTransition)
	}
	return nil
}

func checkRun(id string, from, to RunState) error {
	if !CanRun(from, to) {
		return fmt.Errorf("task run %s %s -> %s: %w", id, from, to, ErrInvalidTransition)
	}
	return nil
}
