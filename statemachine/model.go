package statemachine

import (
	"time"

	"github.com/relayflow/relay/statemachine/flow"
)

// Execution is the durable state of one run of a flow. Apply changes it in
// place; stores persist it (and the task runs Apply reports as changed)
// before carrying out the commands Apply returns.
type Execution struct {
	ID        string         `json:"id"`
	Namespace string         `json:"namespace"`
	FlowID    string         `json:"flowId"`
	Revision  int            `json:"revision"`
	State     ExecState      `json:"state"`
	Inputs    map[string]any `json:"inputs"`
	Outputs   map[string]any `json:"outputs,omitempty"`
	Vars      map[string]any `json:"vars,omitempty"`
	Labels    []flow.Label   `json:"labels,omitempty"`
	Trigger   map[string]any `json:"trigger,omitempty"`
	Parent    *ParentRef     `json:"parent,omitempty"`
	// Origin names the trigger of the flow that started the execution.
	Origin *Origin `json:"origin,omitempty"`
	// Depth counts the executions before this one in its chain: parents
	// of a subflow, upstream executions of a flow trigger. Chains that
	// would grow without end are cut at a limit.
	Depth     int       `json:"depth,omitempty"`
	StartDate time.Time `json:"startDate"`
	EndDate   time.Time `json:"endDate,omitzero"`
	// Error says why the execution failed, when it did.
	Error string `json:"error,omitempty"`
	// OriginalID is the execution a replay started from (the first of a
	// chain of replays), read as execution.originalId.
	OriginalID string `json:"originalId,omitempty"`
	// Restarts counts the times the execution was restarted (by a user or
	// its retry policy); its current attempt is Restarts+1.
	Restarts int `json:"restarts,omitempty"`
	// EndAs is the state a stopping execution ends in when not KILLED: an
	// SLA violated with behavior FAIL or CANCEL, or a pause's behavior
	// CANCEL, stops it as a kill does.
	EndAs ExecState `json:"endAs,omitempty"`
	// SLAViolated lists the SLAs the execution violated, by id: each is
	// applied once.
	SLAViolated []string `json:"slaViolated,omitempty"`
	// RetryPolicyOf names the task whose retry policy, of behavior
	// CREATE_NEW_EXECUTION, runs the execution again if it fails.
	RetryPolicyOf string `json:"retryPolicyOf,omitempty"`
	// ErrorLogs are the last ErrorLogLimit ERROR log lines of the
	// execution, for errorLogs(): the tasks' own and why each failed task
	// run failed.
	ErrorLogs []ErrorLog `json:"errorLogs,omitempty"`

	// TaskRuns are every task run, in creation order. Stores keep them as
	// records of their own (a run's position in this list is its key), so
	// that a commit writes only the runs an event changed.
	TaskRuns []*TaskRun `json:"taskRuns"`
	// RunCounts counts the task runs by state, kept up to date by Apply:
	// summaries read it instead of every run, and stores keep it with the
	// execution, whose own record then says how far it has got without
	// its runs.
	RunCounts map[RunState]int `json:"runCounts,omitempty"`
	// TaskCounts counts them by task id, then state, kept alike: a view of
	// the flow's tasks (the UI's topology) shows where an execution of any
	// size has got from its head alone. Its size grows with the flow, not
	// with the execution.
	TaskCounts map[string]map[RunState]int `json:"taskCounts,omitempty"`

	// Bookkeeping of the state machine.
	Phase  string            `json:"phase"` // main, errors, finally, done
	Failed bool              `json:"failed,omitempty"`
	Warned bool              `json:"warned,omitempty"`
	Frames map[string]*Frame `json:"frames,omitempty"`
	// Deferred lists the blocks ("f:" and a frame id) and ForEach runs
	// ("r:" and a run id) where an event left task runs to start for an
	// execution.continued event (see MaxStartsPerEvent).
	Deferred []string `json:"deferred,omitempty"`
	// Seen remembers the ids of the last applied events, so a redelivered
	// event changes nothing. It is bounded by SeenLimit.
	Seen     []string `json:"seen,omitempty"`
	SeenNext int      `json:"seenNext,omitempty"` // next slot of the ring to overwrite
	// Version is incremented by every Apply that changes the execution;
	// stores use it for conditional writes.
	Version int64 `json:"version"`

	index   map[string]int // position in TaskRuns by task-run id
	outputs map[string]any // task outputs by task id, ForEach outputs keyed by value
	seenSet map[string]struct{}
}

// ErrorLog is one ERROR log line kept for errorLogs().
type ErrorLog struct {
	TaskID    string    `json:"taskId,omitempty"`
	TaskRunID string    `json:"taskRunId,omitempty"`
	Attempt   int       `json:"attempt,omitempty"`
	Message   string    `json:"message"`
	Time      time.Time `json:"timestamp"`
}

// ErrorLogLimit bounds the ERROR lines an execution keeps, and
// ErrorLogLength each line.
const (
	ErrorLogLimit  = 100
	ErrorLogLength = 2048
)

// Phases of an execution.
const (
	PhaseMain     = "main"
	PhaseErrors   = "errors"
	PhaseFinally  = "finally"
	PhaseDone     = "done"
	PhaseRetrying = "retrying" // failed; waits to run again (retry behavior CREATE_NEW_EXECUTION)
)

// What one event may start, so that the work of an event and what its
// commit writes stay bounded whatever the flow: an event starts at most
// MaxStartsPerEvent task runs (a wide Parallel or ForEach goes on in
// execution.continued events), and a ForEach without a concurrency limit
// runs at most MaxOpenIterations iterations at once.
const (
	MaxStartsPerEvent = 24
	MaxOpenIterations = 256
)

// SeenLimit is how many event ids an execution remembers. Every event is
// also checked against the state it applies to (an attempt that is no
// longer current, a timer that no longer applies, a kill of an execution
// being killed), which the property test shows is enough alone; the ring
// catches what a batch redelivers at once, and says which event was applied
// last (LastEvent). It is written with the execution at every event, so it
// is kept short.
const SeenLimit = 64

// ParentRef links a subflow execution to the task run that started it.
type ParentRef struct {
	ExecutionID string `json:"executionId"`
	TaskRunID   string `json:"taskRunId"`
	Namespace   string `json:"namespace"`
	FlowID      string `json:"flowId"`
	Depth       int    `json:"depth"`
	// Outputs are the `outputs` of the Subflow task (Kestra's legacy
	// Subflow outputs): templates the child renders when it ends.
	Outputs map[string]string `json:"outputs,omitempty"`
}

// MaxDepth is the default longest chain of executions (subflows and flow
// triggers) before the next one is refused: a cycle would otherwise start
// executions without end.
const MaxDepth = 10

// Origin is the trigger that started an execution.
type Origin struct {
	TriggerID string `json:"triggerId"`
	// Type is the trigger's type: schedule, flow, cloudevents.trigger or
	// webhook.
	Type string `json:"type"`
}

// TaskRun is one run of a task: a task inside a ForEach has one per value.
type TaskRun struct {
	ID       string `json:"id"`
	TaskID   string `json:"taskId"`
	ParentID string `json:"parentId,omitempty"`
	Frame    string `json:"frame,omitempty"`
	Value    any    `json:"value,omitempty"`
	// Keys are the texts of the ForEach values the run is nested in,
	// outermost first: its outputs are read as outputs[task][k1][k2].
	Keys      []string       `json:"keys,omitempty"`
	State     RunState       `json:"state"`
	Attempts  []Attempt      `json:"attempts,omitempty"`
	Outputs   map[string]any `json:"outputs,omitempty"`
	StartDate time.Time      `json:"startDate,omitzero"`
	EndDate   time.Time      `json:"endDate,omitzero"`
	Error     *TaskError     `json:"error,omitempty"`
	// Metrics are what its last attempt measured (Kestra's counters and
	// timers, from a script's `::{"metrics": [...]}::` lines).
	Metrics []Metric `json:"metrics,omitempty"`

	// Bookkeeping of flowable tasks.
	Branch string `json:"branch,omitempty"` // the branch an If or Switch chose
	// Items are the values of a ForEach. They are set once, when the run
	// starts (Result.NewItems), and never change: stores write them apart
	// from the run, once, since the run itself changes with every
	// iteration.
	Items     []any `json:"items,omitempty"`
	NextItem  int   `json:"nextItem,omitempty"`  // next ForEach value to start
	Active    int   `json:"active,omitempty"`    // ForEach iterations running
	Iteration int   `json:"iteration,omitempty"` // WaitFor iterations started
	ChildFail bool  `json:"childFail,omitempty"` // a child block failed
	ChildWarn bool  `json:"childWarn,omitempty"` // a child ended in WARNING
	InErrors  bool  `json:"inErrors,omitempty"`  // running its local errors
	// Cached says the run's outputs came from the task cache (Prefect's
	// Cached state; Kestra keeps SUCCESS, as Relay does).
	Cached    bool   `json:"cached,omitempty"`
	ChildExec string `json:"childExec,omitempty"` // subflow execution id
}

// Attempt is one try of a task run.
type Attempt struct {
	Number    int        `json:"number"`
	State     RunState   `json:"state"`
	StartDate time.Time  `json:"startDate,omitzero"`
	EndDate   time.Time  `json:"endDate,omitzero"`
	Deadline  time.Time  `json:"deadline,omitzero"`
	Error     *TaskError `json:"error,omitempty"`
}

// TaskError is why an attempt failed.
type TaskError struct {
	Kind    string `json:"kind"` // retryable, fatal, timeout, crashed
	Type    string `json:"type,omitempty"`
	Message string `json:"message"`
}

// Metric is one measurement a task reported, as Kestra has them: a
// counter (a number) or a timer (a duration in seconds), with tags.
type Metric struct {
	Name  string            `json:"name"`
	Type  string            `json:"type"` // counter or timer
	Value float64           `json:"value"`
	Tags  map[string]string `json:"tags,omitempty"`
}

// Error kinds.
const (
	KindRetryable = "retryable"
	KindFatal     = "fatal"
	KindTimeout   = "timeout"
	KindCrashed   = "crashed" // the worker died or the OS killed the task's process
)

// Iter is one level of ForEach (or WaitFor) iteration a block runs in.
type Iter struct {
	Index int  `json:"index"`
	Value any  `json:"value,omitempty"`
	Loop  bool `json:"loop,omitempty"` // a WaitFor iteration: not part of outputs keys
}

// Frame is a block of tasks being run: the flow's tasks, errors or finally,
// or the children of a flowable task run. Counters make the cost of an event
// independent of the size of the execution.
type Frame struct {
	ID      string `json:"id"`
	Owner   string `json:"owner,omitempty"` // owning task run; empty for the flow's own blocks
	Role    string `json:"role"`            // main, errors, finally, tasks, then, else, case, defaults, iter
	Ctx     []Iter `json:"ctx,omitempty"`
	Next    int    `json:"next"`
	Running int    `json:"running"`
	Failed  bool   `json:"failed,omitempty"`
	Warned  bool   `json:"warned,omitempty"`
	// Started lists the tasks started in a Dag frame.
	Started map[string]bool `json:"started,omitempty"`
}

// Run returns the task run with the given id.
func (e *Execution) Run(id string) (*TaskRun, bool) {
	i, ok := e.Position(id)
	if !ok {
		return nil, false
	}
	return e.TaskRuns[i], true
}

// Position returns the index in TaskRuns of the task run with the given
// id: runs are only ever appended, so it is stable, and stores use it to
// keep creation order.
func (e *Execution) Position(id string) (int, bool) {
	i, ok := e.index[id]
	if e.index == nil || !ok && len(e.index) != len(e.TaskRuns) { // not built, or built before runs were appended from outside
		e.index = make(map[string]int, len(e.TaskRuns))
		for i, r := range e.TaskRuns {
			e.index[r.ID] = i
		}
		i, ok = e.index[id]
	}
	return i, ok
}

func (e *Execution) addRun(r *TaskRun) {
	e.Position("") // build the index
	e.TaskRuns = append(e.TaskRuns, r)
	e.index[r.ID] = len(e.TaskRuns) - 1
	e.count(r.TaskID, r.State, 1)
}

// count adds n to the number of runs of task in state st.
func (e *Execution) count(task string, st RunState, n int) {
	if e.RunCounts == nil {
		e.RunCounts = map[RunState]int{}
	}
	if e.RunCounts[st] += n; e.RunCounts[st] == 0 {
		delete(e.RunCounts, st)
	}
	if e.TaskCounts == nil {
		e.TaskCounts = map[string]map[RunState]int{}
	}
	tc := e.TaskCounts[task]
	if tc == nil {
		tc = map[RunState]int{}
		e.TaskCounts[task] = tc
	}
	if tc[st] += n; tc[st] == 0 {
		delete(tc, st)
	}
}

// CountRuns sets RunCounts and TaskCounts from TaskRuns, for executions
// stored before Apply kept them.
func (e *Execution) CountRuns() {
	e.RunCounts, e.TaskCounts = nil, nil
	for _, r := range e.TaskRuns {
		e.count(r.TaskID, r.State, 1)
	}
}

// Unfinished is how many task runs have not reached a terminal state.
func (e *Execution) Unfinished() int {
	n := 0
	for st, c := range e.RunCounts {
		if !st.Terminal() {
			n += c
		}
	}
	return n
}

// CurrentAttempt returns the last attempt, or nil.
func (r *TaskRun) CurrentAttempt() *Attempt {
	if len(r.Attempts) == 0 {
		return nil
	}
	return &r.Attempts[len(r.Attempts)-1]
}

// LastEvent is the id of the last event applied to the execution.
func (e *Execution) LastEvent() string {
	switch n := len(e.Seen); {
	case n == 0:
		return ""
	case n < SeenLimit:
		return e.Seen[n-1]
	}
	return e.Seen[(e.SeenNext+SeenLimit-1)%SeenLimit] // a full ring: SeenNext is the oldest
}

func (e *Execution) seen(id string) bool {
	if e.seenSet == nil {
		e.seenSet = make(map[string]struct{}, len(e.Seen))
		for _, s := range e.Seen {
			e.seenSet[s] = struct{}{}
		}
	}
	_, ok := e.seenSet[id]
	return ok
}

// remember records an event id in the ring of the last SeenLimit ids.
func (e *Execution) remember(id string) {
	if id == "" {
		return
	}
	e.seen(id) // build the set
	if len(e.Seen) < SeenLimit {
		e.Seen = append(e.Seen, id)
	} else {
		delete(e.seenSet, e.Seen[e.SeenNext])
		e.Seen[e.SeenNext] = id
		e.SeenNext = (e.SeenNext + 1) % SeenLimit
	}
	e.seenSet[id] = struct{}{}
}
