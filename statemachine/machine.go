// Package statemachine is Relay's deterministic core: Apply takes a flow,
// an execution, one event and the current time, and returns the execution
// changed in place and the commands to carry out. It never does I/O, never
// reads the clock, starts no goroutines and draws randomness (retry jitter,
// uuid()) only from a generator seeded by the event's id, so the same inputs
// always give the same outputs. The embedded engine, `relay dev` and the
// Lambda functions all drive this one function.
//
// The cost of applying an event does not grow with the size of the
// execution: blocks of tasks keep counters (Frame), task runs are found by
// id, and task outputs are indexed incrementally. Only kill and resume look
// at every task run.
package statemachine

import (
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/relayflow/relay/secrets"
	"github.com/relayflow/relay/statemachine/expr"
	"github.com/relayflow/relay/statemachine/flow"
	"github.com/relayflow/relay/statemachine/inputs"
)

// Options carry what the core may not fetch itself.
type Options struct {
	// Secrets seals secrets into markers (package secrets): secret('NAME')
	// renders to the marker of the name, and SECRET inputs are stored as
	// markers holding their value, encrypted. The state machine never sees
	// a secret in clear; only the worker opens markers. Nil makes
	// secret() and SECRET inputs given in clear an error.
	Secrets Sealer
	// Read returns the content of a file of internal storage for
	// read(uri) in expressions; nil makes read() an error. Files never
	// change once stored, so rendering stays deterministic.
	Read func(uri string) (string, error)
	// FileSize reads the size of a file of internal storage for
	// fileExists(), fileSize() and isFileEmpty(); nil makes them errors.
	FileSize func(uri string) (size int64, found bool, err error)
	// MaxSubflowDepth cuts chains of subflows that would start without end
	// (default MaxDepth). Subflows count the depth of the chain of triggers
	// that started their parent too.
	MaxSubflowDepth int
	// KillGrace is how long a kill waits for running attempts to stop
	// before they are marked KILLED anyway (default 30s).
	KillGrace time.Duration
	// AttemptTimeout is the timeout of attempts of tasks that set none (0:
	// none): an attempt not finished by then fails with a timeout and its
	// retry policy applies.
	AttemptTimeout time.Duration
	// KV reads the KV store for kv('key'); nil makes kv() an error. It is
	// read when a template asks, so a value changed between
	// two deliveries of an event may render differently.
	KV func(namespace, key string) (any, bool, error)
	// Envs and Globals are the `envs` and `globals` variables (Kestra's
	// environment variables prefixed ENV_, and its global variables).
	Envs, Globals map[string]any
	// ReplaySource is the execution an execution.requested event with
	// Replay replays (read by the engine, as the flow is).
	ReplaySource *Execution
}

// Sealer turns secrets into markers; *secrets.Keyring is one. Both
// methods must be deterministic: the same arguments give the same marker,
// so that applying an event again gives the same execution.
type Sealer interface {
	// Ref returns the marker of the secret called name in namespace.
	Ref(namespace, name string) (string, error)
	// Seal returns the marker holding value, or value itself when it
	// already is a marker.
	Seal(namespace, value string) (string, error)
}

// errNoSealer is why secret() and SECRET inputs fail without Options.Secrets.
var errNoSealer = errors.New("secrets are not available: no secret key is configured")

// Result is what applying one event produced.
type Result struct {
	Execution *Execution
	Commands  []Command
	// Changed lists the task runs created or changed, in the order they
	// changed, so stores write only those.
	Changed []*TaskRun
	// NewItems lists the ForEach runs of Changed whose Items this event
	// set: stores write a run's items once, apart from the run.
	NewItems []*TaskRun
	// Ignored says why the event changed nothing (a duplicate, a stale
	// attempt); the execution is then unchanged.
	Ignored string
}

// EventError is an event Apply refused. Its message names the event, for
// logs; Err says why in words for the person who asked (Reason).
type EventError struct {
	Type        EventType
	EventID     string
	ExecutionID string
	Err         error
}

func (e *EventError) Error() string {
	return fmt.Sprintf("applying %s %s to execution %s: %v", e.Type, e.EventID, e.ExecutionID, e.Err)
}

func (e *EventError) Unwrap() error { return e.Err }

// Reason returns why Apply refused an event, without the event's type and
// id: what a CLI or an API shows the person who resumed or killed.
func Reason(err error) error {
	var ee *EventError
	if errors.As(err, &ee) {
		return ee.Err
	}
	return err
}

// ErrUnknownExecution is returned for an event about an execution that does
// not exist (other than execution.requested).
var ErrUnknownExecution = errors.New("unknown execution")

// ErrInternal reports a broken invariant of the state machine.
var ErrInternal = errors.New("internal error in the state machine")

// Apply applies one event. It returns an error, and changes nothing, for an
// event that is impossible in the execution's state (wrapping
// ErrInvalidTransition) or malformed; it returns Result.Ignored, and changes
// nothing, for a duplicate or stale event. f must be the revision the
// execution runs.
func Apply(f *flow.Flow, ex *Execution, ev Event, now time.Time, opts Options) (res Result, err error) {
	defer func() {
		// A broken invariant is a bug, not bad input; report it rather than
		// take the process down with every redelivery of the event.
		if p := recover(); p != nil {
			res, err = Result{Execution: ex}, fmt.Errorf("applying %s %s: %w: %v (reload the execution: it may be partly changed)", ev.Type, ev.ID, ErrInternal, p)
		}
	}()
	if opts.MaxSubflowDepth == 0 {
		opts.MaxSubflowDepth = MaxDepth
	}
	if opts.KillGrace == 0 {
		opts.KillGrace = 30 * time.Second
	}
	if ev.ID == "" {
		return Result{Execution: ex}, fmt.Errorf("applying %s: the event has no id", ev.Type)
	}
	if ev.Type == EvExecutionRequested {
		if ex != nil {
			return Result{Execution: ex, Ignored: "the execution already exists"}, nil
		}
		m := newMachine(f, nil, ev, now, opts)
		m.request()
		m.checkAssertions()
		return m.result(), nil
	}
	if ex == nil {
		return Result{}, fmt.Errorf("applying %s to %s: %w", ev.Type, ev.ExecutionID, ErrUnknownExecution)
	}
	if ex.seen(ev.ID) {
		return Result{Execution: ex, Ignored: "duplicate event " + ev.ID}, nil
	}
	if (ex.RunCounts == nil || ex.TaskCounts == nil) && len(ex.TaskRuns) > 0 {
		ex.CountRuns() // stored before executions kept their counts (by task)
	}
	m := newMachine(f, ex, ev, now, opts)
	switch ev.Type {
	case EvTaskRunStarted:
		err = m.started()
	case EvTaskRunFinished:
		err = m.finished()
	case EvTimerFired:
		err = m.timer()
	case EvResume:
		err = m.resume()
	case EvKill:
		err = m.kill()
	case EvSubflowFinished:
		err = m.subflowFinished()
	case EvDequeued:
		err = m.dequeued()
	case EvContinue:
		m.continued()
	case EvRestart:
		err = m.restart()
	default:
		err = fmt.Errorf("unknown event type %q", ev.Type)
	}
	if err != nil {
		return Result{Execution: ex}, &EventError{Type: ev.Type, EventID: ev.ID, ExecutionID: ex.ID, Err: err}
	}
	if m.ignored != "" {
		return Result{Execution: ex, Ignored: m.ignored}, nil
	}
	m.drain()
	m.checkAssertions()
	return m.result(), nil
}

type machine struct {
	f       *flow.Flow
	ex      *Execution
	ev      Event
	now     time.Time
	opts    Options
	rand    *rand.Rand
	cmds    []Command
	changed []*TaskRun
	touched map[*TaskRun]bool // the runs of changed, once there are many
	items   []*TaskRun        // runs whose Items were set
	starts  int               // task runs and iterations started by this event
	waiting bool              // Deferred held entries before this event
	pending []string          // frames to advance
	ignored string
}

func newMachine(f *flow.Flow, ex *Execution, ev Event, now time.Time, opts Options) *machine {
	m := &machine{f: f, ex: ex, ev: ev, now: now.UTC(), opts: opts}
	m.waiting = ex != nil && len(ex.Deferred) > 0 && ev.Type != EvContinue
	return m
}

// rng is seeded by the event id, so retry jitter and uuid() are the same
// every time the event is applied.
func (m *machine) rng() *rand.Rand {
	if m.rand == nil {
		h := fnv.New64a()
		h.Write([]byte(m.ev.ID))
		seed := h.Sum64()
		m.rand = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	}
	return m.rand
}

func (m *machine) result() Result {
	if len(m.ex.Deferred) > 0 && !m.waiting && !m.ex.State.Terminal() {
		// One execution.continued at a time: an event that finds some in
		// flight leaves the deferred work to it.
		m.emit(Continue{ExecutionID: m.ex.ID, EventID: fmt.Sprintf("%s/continue/%d", m.ex.ID, m.ex.Version+1)})
	}
	m.ex.remember(m.ev.ID)
	m.ex.Version++
	return Result{Execution: m.ex, Commands: m.cmds, Changed: m.changed, NewItems: m.items}
}

func (m *machine) emit(c Command) { m.cmds = append(m.cmds, c) }

// touch records a changed run. Most events change few runs, for which a
// scan is cheaper than a set; one that starts many (a wide Parallel or
// ForEach) switches to a set.
func (m *machine) touch(r *TaskRun) {
	if m.touched == nil {
		for _, c := range m.changed {
			if c == r {
				return
			}
		}
		if len(m.changed) < 32 {
			m.changed = append(m.changed, r)
			return
		}
		m.touched = make(map[*TaskRun]bool, 2*len(m.changed))
		for _, c := range m.changed {
			m.touched[c] = true
		}
	}
	if !m.touched[r] {
		m.touched[r] = true
		m.changed = append(m.changed, r)
	}
}

func (m *machine) log(runID, level, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	taskID := ""
	if r, ok := m.ex.Run(runID); ok {
		taskID = r.TaskID
	}
	if t, ok := m.f.Task(taskID); !ok || !flow.LevelBelow(level, t.LogLevel) {
		m.emit(Log{ExecutionID: m.ex.ID, TaskRunID: runID, TaskID: taskID, Level: level, Message: msg})
	}
	if level == "ERROR" {
		m.keepErrorLog(ErrorLog{TaskID: taskID, TaskRunID: runID, Message: msg, Time: m.now})
	}
}

// keepErrorLog adds a line to the execution's bounded errorLogs().
func (m *machine) keepErrorLog(l ErrorLog) {
	if len(l.Message) > ErrorLogLength {
		l.Message = l.Message[:ErrorLogLength] + "…"
	}
	if len(m.ex.ErrorLogs) >= ErrorLogLimit {
		m.ex.ErrorLogs = append(m.ex.ErrorLogs[:0:0], m.ex.ErrorLogs[len(m.ex.ErrorLogs)-ErrorLogLimit+1:]...)
	}
	m.ex.ErrorLogs = append(m.ex.ErrorLogs, l)
}

// errorLogs is errorLogs(): the kept ERROR lines, as Kestra's log entries.
func (m *machine) errorLogs() []any {
	out := make([]any, len(m.ex.ErrorLogs))
	for i, l := range m.ex.ErrorLogs {
		e := map[string]any{"executionId": m.ex.ID, "namespace": m.ex.Namespace, "flowId": m.ex.FlowID,
			"level": "ERROR", "message": l.Message, "timestamp": formatTime(l.Time)}
		if l.TaskID != "" {
			e["taskId"], e["taskRunId"], e["attemptNumber"] = l.TaskID, l.TaskRunID, int64(l.Attempt)
		}
		out[i] = e
	}
	return out
}

// setExec moves the execution, checking the table.
func (m *machine) setExec(to ExecState) {
	if m.ex.State == to {
		return
	}
	if err := checkExec(m.ex.State, to); err != nil {
		panic(err) // a bug in the machine, not bad input: handlers validate first
	}
	m.ex.State = to
}

// setRun moves a task run, checking the table.
func (m *machine) setRun(r *TaskRun, to RunState) {
	if r.State == to {
		return
	}
	if err := checkRun(r.ID, r.State, to); err != nil {
		panic(err)
	}
	m.ex.count(r.TaskID, r.State, -1)
	m.ex.count(r.TaskID, to, 1)
	r.State = to
	if to == RunRunning && r.StartDate.IsZero() {
		r.StartDate = m.now
	}
	if to.Terminal() {
		r.EndDate = m.now
		if r.StartDate.IsZero() && to != RunSkipped {
			r.StartDate = m.now // ended without running: flow.fail, a render error
		}
	}
	m.touch(r)
}

// request creates the execution and starts its first tasks.
func (m *machine) request() {
	ev := m.ev
	labels := append(append([]flow.Label(nil), m.f.Labels...), ev.Labels...)
	if !slices.ContainsFunc(labels, func(l flow.Label) bool { return l.Key == CorrelationLabel }) {
		// Kestra's system.correlationId: the first execution of a chain of
		// subflows names it; children inherit their parent's.
		labels = append(labels, flow.Label{Key: CorrelationLabel, Value: ev.ExecutionID})
	}
	m.ex = &Execution{
		ID: ev.ExecutionID, Namespace: m.f.Namespace, FlowID: m.f.ID, Revision: m.f.Revision,
		State: ExecCreated, Labels: labels, Trigger: ev.Trigger, Parent: ev.Parent, Origin: ev.Origin, Depth: ev.Depth,
		StartDate: m.now, Phase: PhaseMain, Frames: map[string]*Frame{}, Inputs: map[string]any{},
	}
	if m.f.Disabled {
		m.failExecution("flow %s/%s is disabled", m.f.Namespace, m.f.ID)
		return
	}
	if ev.Parent != nil {
		m.ex.Depth = ev.Parent.Depth
	}
	if p := ev.Parent; p != nil && p.Depth > m.opts.MaxSubflowDepth {
		m.failExecution("subflows are nested more than %d deep (%s/%s started by %s)", m.opts.MaxSubflowDepth, m.f.Namespace, m.f.ID, p.ExecutionID)
		return
	}
	if ev.Replay != nil {
		// A replay runs with the inputs of the execution it replays, as
		// they were resolved then.
		if src := m.opts.ReplaySource; src != nil {
			ev.Inputs = src.Inputs
			m.ex.Labels, m.ex.Trigger = append([]flow.Label(nil), src.Labels...), src.Trigger
		}
		if err := m.replayFrom(m.opts.ReplaySource, ev.Replay.From); err != nil {
			m.failExecution("%v", err)
			return
		}
	}
	in, err := m.f.ResolveInputs(ev.Inputs, m.env(nil, nil, nil))
	if err != nil {
		m.failExecution("invalid inputs: %v", err)
		return
	}
	if err := m.sealSecrets(m.f.Inputs, in); err != nil {
		m.failExecution("invalid inputs: %v", err)
		return
	}
	m.ex.Inputs = in
	vars := map[string]any{}
	for name, p := range m.f.Variables {
		v, err := p.Render(m.env(nil, nil, nil))
		if err != nil {
			m.failExecution("rendering variable %s: %v", name, err)
			return
		}
		vars[name] = v
	}
	m.ex.Vars = vars
	if c := m.f.Concurrency; c != nil && ev.OverLimit != "" {
		switch ev.OverLimit {
		case flow.BehaviorQueue:
			m.setExec(ExecQueued)
			m.log("", "INFO", "queued: %d execution(s) of %s/%s already running (concurrency limit)", c.Limit, m.f.Namespace, m.f.ID)
			return
		case flow.BehaviorCancel:
			m.ex.Error = fmt.Sprintf("cancelled: %d execution(s) of %s/%s already running (concurrency limit)", c.Limit, m.f.Namespace, m.f.ID)
			m.setExec(ExecCancelled)
			m.ex.EndDate, m.ex.Phase = m.now, PhaseDone
			m.log("", "WARN", "%s", m.ex.Error)
			m.emitFinished()
			return
		default:
			m.failExecution("%d execution(s) of %s/%s already running (concurrency limit)", c.Limit, m.f.Namespace, m.f.ID)
			return
		}
	}
	m.begin()
}

// begin starts the flow's tasks.
func (m *machine) begin() {
	m.setExec(ExecRunning)
	m.startSLATimers()
	m.openFrame(PhaseMain, "", PhaseMain, nil)
	m.drain()
}

// dequeued starts a QUEUED execution: a concurrency slot is free.
func (m *machine) dequeued() error {
	if m.ex.State != ExecQueued {
		return fmt.Errorf("only a QUEUED execution can be dequeued, this one is %s: %w", m.ex.State, ErrInvalidTransition)
	}
	m.begin()
	return nil
}

func (m *machine) failExecution(format string, args ...any) {
	m.ex.Error = fmt.Sprintf(format, args...)
	m.setExec(ExecFailed)
	m.ex.EndDate = m.now
	m.ex.Phase = PhaseDone
	m.log("", "ERROR", "%s", m.ex.Error)
	m.emitFinished()
}

func (m *machine) emitFinished() {
	m.emit(ExecutionFinished{ExecutionID: m.ex.ID, Namespace: m.ex.Namespace, FlowID: m.ex.FlowID, State: m.ex.State, Outputs: m.ex.Outputs, Parent: m.ex.Parent,
		Origin: m.ex.Origin, Depth: m.ex.Depth, Labels: m.ex.Labels, StartDate: m.ex.StartDate, EndDate: m.ex.EndDate, Restarts: m.ex.Restarts,
		ParentOutputs: m.parentOutputs()})
}

// parentOutputs renders the `outputs` of the Subflow task that started
// this execution (Kestra's legacy Subflow outputs), in this execution's
// context: they become the outputs the parent's task sees. A value that
// does not render is null, with a warning in this execution's logs.
func (m *machine) parentOutputs() map[string]any {
	p := m.ex.Parent
	if p == nil || p.Outputs == nil {
		return nil
	}
	env := m.env(nil, nil, nil)
	out := make(map[string]any, len(p.Outputs))
	for _, k := range slices.Sorted(maps.Keys(p.Outputs)) {
		tm, err := expr.Parse(p.Outputs[k])
		var v any
		if err == nil {
			v, err = tm.Render(env)
		}
		if err != nil {
			m.log("", "WARN", "subflow output %s for %s: %v", k, p.ExecutionID, err)
		}
		out[k] = v
	}
	return out
}

// currentRun finds the event's task run and checks that the event is about
// its current, unfinished attempt. A stale event sets m.ignored.
func (m *machine) currentRun() (*TaskRun, *Attempt, error) {
	r, ok := m.ex.Run(m.ev.TaskRunID)
	if !ok {
		return nil, nil, fmt.Errorf("unknown task run %q", m.ev.TaskRunID)
	}
	a := r.CurrentAttempt()
	switch {
	case a == nil || a.Number != m.ev.Attempt:
		m.ignored = fmt.Sprintf("attempt %d of %s is not current", m.ev.Attempt, r.ID)
	case a.State.Terminal() || r.State.Terminal():
		m.ignored = fmt.Sprintf("attempt %d of %s has already ended", a.Number, r.ID)
	}
	return r, a, nil
}

func (m *machine) started() error {
	r, a, err := m.currentRun()
	if err != nil || m.ignored != "" {
		return err
	}
	if a.State == RunRunning {
		m.ignored = fmt.Sprintf("attempt %d of %s is already running", a.Number, r.ID)
		return nil
	}
	if err := checkRun(r.ID, r.State, RunRunning); err != nil {
		return err
	}
	a.State, a.StartDate = RunRunning, m.now
	if s := m.ev.StartDate; !s.IsZero() && s.Before(m.now) {
		a.StartDate = s // the worker's clock: when the task started there
	}
	if r.StartDate.IsZero() {
		r.StartDate = a.StartDate
	}
	m.setRun(r, RunRunning)
	return nil
}

func (m *machine) finished() error {
	r, a, err := m.currentRun()
	if err != nil || m.ignored != "" {
		return err
	}
	switch m.ev.State {
	case RunSuccess, RunWarning, RunFailed, RunKilled, RunCrashed:
	default:
		return fmt.Errorf("a finished attempt ends in SUCCESS, WARNING, FAILED, CRASHED or KILLED, not %q", m.ev.State)
	}
	t := m.task(r)
	for i, l := range m.ev.ErrorLogs {
		if i >= ErrorLogsPerAttempt {
			break
		}
		at := l.Time
		if at.IsZero() || at.After(m.now) {
			at = m.now
		}
		m.keepErrorLog(ErrorLog{TaskID: r.TaskID, TaskRunID: r.ID, Attempt: a.Number, Message: l.Message, Time: at})
	}
	a.EndDate = m.now
	if a.StartDate.IsZero() {
		a.StartDate = m.now
		if s := m.ev.StartDate; !s.IsZero() && s.Before(m.now) {
			a.StartDate = s
		}
		if r.StartDate.IsZero() {
			r.StartDate = a.StartDate
		}
	}
	if m.ex.State == ExecKilling || m.ev.State == RunKilled {
		a.State = RunKilled
		m.setRun(r, RunKilled)
		m.afterKill()
		return nil
	}
	a.Error = m.ev.Error
	r.Metrics = m.ev.Metrics
	if m.ev.State == RunFailed || m.ev.State == RunCrashed {
		a.State = m.ev.State
		switch {
		case m.ev.State == RunCrashed && (a.Error == nil || a.Error.Kind != KindCrashed):
			// Prefect's Crashed: the attempt's infrastructure failed, not
			// the task. The retry policy applies as to a failure.
			msg := "the attempt's worker or process stopped before it ended"
			if a.Error != nil {
				msg = a.Error.Message
			}
			a.Error = &TaskError{Kind: KindCrashed, Type: "Crashed", Message: msg}
		case a.Error == nil:
			a.Error = &TaskError{Kind: KindRetryable, Message: "the task failed"}
		}
		r.Outputs = m.ev.Outputs
		m.failAttempt(r, t, a.Error)
		return nil
	}
	if m.ev.CachedFrom != "" {
		r.Cached = true
		m.log(r.ID, "INFO", "%s: outputs reused from the task cache (a run of execution %s); the task did not run", r.ID, m.ev.CachedFrom)
	}
	a.State = m.ev.State
	state := m.ev.State
	if p := m.retryPolicy(t); p != nil && p.WarningOnRetry && a.Number > 1 {
		state = RunWarning
	}
	m.succeed(r, t, state, m.ev.Outputs)
	return nil
}

// succeed ends a run well; allowWarning turns WARNING into SUCCESS.
func (m *machine) succeed(r *TaskRun, t *flow.Task, state RunState, outputs map[string]any) {
	if state == RunWarning && t.AllowWarning {
		state = RunSuccess
	}
	r.Outputs = outputs
	m.setRun(r, state)
	m.ended(r)
}

// failRun ends a run that failed for good: allowFailure turns the failure
// into WARNING (SUCCESS with allowWarning) and the flow goes on.
func (m *machine) failRun(r *TaskRun, t *flow.Task, e *TaskError) {
	r.Error = e
	m.log(r.ID, "ERROR", "%s failed: %s", r.ID, e.Message)
	switch {
	case t.AllowFailure:
		state := RunWarning
		if t.AllowWarning {
			state = RunSuccess
		}
		m.setRun(r, state)
	case e.Kind == KindCrashed:
		m.setRun(r, RunCrashed)
	default:
		m.setRun(r, RunFailed)
	}
	m.ended(r)
}

func (m *machine) timer() error {
	if m.ev.Timer == TimerSLA {
		return m.slaTimer()
	}
	r, ok := m.ex.Run(m.ev.TaskRunID)
	if !ok {
		switch m.ev.Timer {
		case TimerKillGrace:
			return m.killGrace()
		case TimerRestart:
			return m.restartTimer()
		}
		return fmt.Errorf("unknown task run %q", m.ev.TaskRunID)
	}
	stale := func() error {
		m.ignored = fmt.Sprintf("%s timer of %s no longer applies", m.ev.Timer, r.ID)
		return nil
	}
	t := m.task(r)
	a := r.CurrentAttempt()
	switch m.ev.Timer {
	case TimerRetry:
		if r.State != RunRetrying || a == nil || a.Number != m.ev.Attempt || m.ex.State == ExecKilling {
			return stale()
		}
		m.schedule(r, t, a.Number+1)
	case TimerTimeout:
		if a == nil || a.Number != m.ev.Attempt || a.State.Terminal() || r.State.Terminal() {
			return stale()
		}
		a.State, a.EndDate = RunFailed, m.now
		a.Error = &TaskError{Kind: KindTimeout, Type: "Timeout", Message: fmt.Sprintf("attempt %d did not finish within %s", a.Number, m.timeout(t))}
		m.emit(KillAttempt{ExecutionID: m.ex.ID, TaskRunID: r.ID, Attempt: a.Number})
		if m.ex.State == ExecKilling {
			a.State = RunKilled
			m.setRun(r, RunKilled)
			m.afterKill()
			return nil
		}
		m.failAttempt(r, t, a.Error)
	case TimerSleep:
		if r.State != RunRunning || t.Type.Name != flow.TypeSleep {
			return stale()
		}
		m.succeed(r, t, RunSuccess, nil)
	case TimerPauseDelay, TimerPauseTimeout:
		if r.State != RunPaused {
			return stale()
		}
		if m.ev.Timer == TimerPauseTimeout {
			m.unpause(r)
			m.failRun(r, t, &TaskError{Kind: KindTimeout, Type: "PauseTimeout", Message: fmt.Sprintf("not resumed within %s", t.Timeout)})
			return nil
		}
		switch t.Prop("behavior").String() {
		case flow.PauseFail:
			m.unpause(r)
			m.failRun(r, t, &TaskError{Kind: KindFatal, Type: "PauseElapsed", Message: fmt.Sprintf("not resumed within its delay (behavior %s)", flow.PauseFail)})
			return nil
		case flow.PauseCancel:
			m.log(r.ID, "WARN", "%s: not resumed within its delay; the execution is cancelled (behavior %s)", r.ID, flow.PauseCancel)
			return m.stop(ExecCancelled, "")
		case flow.PauseWarn:
			r.ChildWarn = true
		}
		vals, err := inputs.Resolve(t.OnResume, nil, m.resumeDefaults(r, t))
		if err == nil {
			err = m.sealSecrets(t.OnResume, vals)
		}
		if err != nil {
			m.unpause(r)
			m.failRun(r, t, &TaskError{Kind: KindFatal, Type: "ResumeInputs", Message: err.Error()})
			return nil
		}
		m.unpause(r)
		m.resumed(r, t, map[string]any{"onResume": vals})
	case TimerWaitFor:
		if r.State != RunRunning || t.Type.Name != flow.TypeWaitFor || r.Iteration != m.ev.Attempt {
			return stale()
		}
		m.nextWaitFor(r)
	default:
		return fmt.Errorf("unknown timer kind %q", m.ev.Timer)
	}
	return nil
}

// resume continues a PAUSED execution: every paused task run (or only
// ev.TaskRunID) ends with the onResume inputs given.
func (m *machine) resume() error {
	if err := checkExec(m.ex.State, ExecRunning); err != nil || m.ex.State != ExecPaused {
		return fmt.Errorf("only a PAUSED execution can be resumed, this one is %s: %w", m.ex.State, ErrInvalidTransition)
	}
	var targets []*TaskRun
	for _, r := range m.ex.TaskRuns {
		if r.State == RunPaused && (m.ev.TaskRunID == "" || r.ID == m.ev.TaskRunID) {
			targets = append(targets, r)
		}
	}
	if len(targets) == 0 {
		return fmt.Errorf("no paused task run %q to resume: %w", m.ev.TaskRunID, ErrInvalidTransition)
	}
	// Check every target's inputs before changing anything.
	values := make([]map[string]any, len(targets))
	for i, r := range targets {
		t := m.task(r)
		v, err := inputs.Resolve(t.OnResume, m.ev.Inputs, m.resumeDefaults(r, t))
		if err == nil {
			err = m.sealSecrets(t.OnResume, v)
		}
		if err != nil {
			return fmt.Errorf("resuming %s: %w", r.ID, err)
		}
		values[i] = v
	}
	for i, r := range targets {
		m.unpause(r)
		m.resumed(r, m.task(r), map[string]any{"onResume": values[i]})
	}
	return nil
}

// sealSecrets replaces, in vals, the clear values of SECRET inputs with
// markers.
func (m *machine) sealSecrets(decls []*inputs.Decl, vals map[string]any) error {
	sealed, err := SealInputs(m.opts.Secrets, m.f.Namespace, decls, vals)
	if err != nil {
		return err
	}
	maps.Copy(vals, sealed)
	return nil
}

// SealInputs returns vals with the clear values of the SECRET inputs among
// decls sealed for namespace (values that already are markers stay as
// they are); vals itself is not changed. Without a Sealer, a clear SECRET
// value is an error. The edges that receive inputs (API, CLI) seal them
// before publishing a request, the state machine those that reach it in
// clear (a trigger's or a subflow's inputs).
func SealInputs(s Sealer, namespace string, decls []*inputs.Decl, vals map[string]any) (map[string]any, error) {
	out, copied := vals, false
	for _, d := range decls {
		v, ok := vals[d.ID].(string)
		if d.Type != inputs.TypeSecret || !ok || secrets.IsMarker(v) {
			continue
		}
		if s == nil {
			return nil, fmt.Errorf("input %s: %w", d.ID, errNoSealer)
		}
		sealed, err := s.Seal(namespace, v)
		if err != nil {
			return nil, fmt.Errorf("input %s: sealing the secret: %w", d.ID, err)
		}
		if !copied {
			out, copied = maps.Clone(vals), true
		}
		out[d.ID] = sealed
	}
	return out, nil
}

// secretRef is what secret('NAME') renders to: the name's marker.
func (m *machine) secretRef(name string) (string, error) {
	if m.opts.Secrets == nil {
		return "", errNoSealer
	}
	return m.opts.Secrets.Ref(m.f.Namespace, name)
}

// resumed goes on after a pause: its own tasks, if it has any (Kestra's
// older Pause), run now as a flow.sequential's, and end it; otherwise it
// ends at once (WARNING when its delay elapsed with behavior WARN).
func (m *machine) resumed(r *TaskRun, t *flow.Task, outputs map[string]any) {
	if len(t.Tasks) > 0 {
		r.Outputs = outputs
		m.indexOutputs(r) // its tasks read outputs.<pause>.onResume
		m.touch(r)
		m.openFrame(r.ID+"/tasks", r.ID, "tasks", m.ctxOf(r))
		return
	}
	state := RunSuccess
	if r.ChildWarn {
		state = RunWarning
	}
	m.succeed(r, t, state, outputs)
}

func (m *machine) resumeDefaults(r *TaskRun, t *flow.Task) inputs.ResolveOptions {
	return inputs.ResolveOptions{RenderDefault: func(d *inputs.Decl, _ any) (any, error) {
		return t.OnResumeDefaults[d.ID].Render(m.env(r, t, m.ctxOf(r)))
	}}
}

// unpause moves a paused run back to RUNNING and the execution with it when
// no other run is paused.
func (m *machine) unpause(r *TaskRun) {
	m.setRun(r, RunRunning)
	if m.ex.RunCounts[RunPaused] > 0 {
		return
	}
	if m.ex.State == ExecPaused {
		m.setExec(ExecRunning)
	}
}

// kill stops the execution: nothing new starts, waiting task runs end
// KILLED at once, and running attempts are asked to stop.
func (m *machine) kill() error {
	switch m.ex.State {
	case ExecCreated, ExecQueued:
		m.setExec(ExecCancelled)
		m.ex.EndDate, m.ex.Phase = m.now, PhaseDone
		m.emitFinished()
		return nil
	case ExecKilling:
		m.ignored = "the execution is already being killed"
		return nil
	}
	return m.stop(ExecKilled, "")
}

// stop ends a running execution as a kill does: nothing new starts,
// waiting task runs end KILLED at once, and running attempts are asked to
// stop; the execution then ends in end (KILLED for a kill; FAILED or
// CANCELLED for an SLA or a pause's behavior), with reason as its error.
func (m *machine) stop(end ExecState, reason string) error {
	if err := checkExec(m.ex.State, end); err != nil {
		return err
	}
	if end != ExecKilled {
		m.ex.EndAs = end
	}
	if reason != "" {
		m.ex.Error = reason
	}
	m.ex.Frames = map[string]*Frame{}
	m.ex.Deferred = nil
	m.pending = nil
	running := 0
	for _, r := range m.ex.TaskRuns {
		if r.State.Terminal() {
			continue
		}
		a := r.CurrentAttempt()
		if a != nil && (a.State == RunSubmitted || a.State == RunRunning) && !m.task(r).Type.Flowable {
			m.emit(KillAttempt{ExecutionID: m.ex.ID, TaskRunID: r.ID, Attempt: a.Number})
			running++
			continue
		}
		if a != nil && !a.State.Terminal() {
			a.State, a.EndDate = RunKilled, m.now
		}
		m.setRun(r, RunKilled)
	}
	if running > 0 {
		m.setExec(ExecKilling)
		m.emit(StartTimer{ExecutionID: m.ex.ID, Kind: TimerKillGrace, FireAt: m.now.Add(m.opts.KillGrace)})
		return nil
	}
	m.endKilled()
	return nil
}

// afterKill ends the execution once no killed attempt is still running.
func (m *machine) afterKill() {
	if m.ex.State != ExecKilling || m.ex.Unfinished() > 0 {
		return
	}
	m.endKilled()
}

// killGrace marks attempts that did not stop in time as KILLED.
func (m *machine) killGrace() error {
	if m.ex.State != ExecKilling {
		m.ignored = "the execution is not being killed"
		return nil
	}
	for _, r := range m.ex.TaskRuns {
		if r.State.Terminal() {
			continue
		}
		if a := r.CurrentAttempt(); a != nil && !a.State.Terminal() {
			a.State, a.EndDate = RunKilled, m.now
		}
		m.setRun(r, RunKilled)
	}
	m.endKilled()
	return nil
}

func (m *machine) endKilled() {
	end := ExecKilled
	if m.ex.EndAs != "" {
		end = m.ex.EndAs
	}
	m.setExec(end)
	m.ex.EndDate, m.ex.Phase = m.now, PhaseDone
	m.log("", "WARN", "execution %s", map[ExecState]string{ExecKilled: "killed", ExecFailed: "failed: its running tasks were killed", ExecCancelled: "cancelled"}[end])
	m.emitFinished()
}

func (m *machine) subflowFinished() error {
	r, ok := m.ex.Run(m.ev.TaskRunID)
	if !ok {
		return fmt.Errorf("unknown task run %q", m.ev.TaskRunID)
	}
	t := m.task(r)
	if r.State != RunRunning || t.Type.Name != flow.TypeSubflow || r.ChildExec != m.ev.ChildExecutionID {
		m.ignored = fmt.Sprintf("%s is not waiting for subflow %s", r.ID, m.ev.ChildExecutionID)
		return nil
	}
	out := map[string]any{"executionId": m.ev.ChildExecutionID, "state": string(m.ev.ChildState), "outputs": m.ev.ChildOutputs}
	switch m.ev.ChildState {
	case ExecSuccess:
		m.succeed(r, t, RunSuccess, out)
	case ExecWarning:
		m.succeed(r, t, RunWarning, out)
	default:
		if transmit, _ := t.Prop("transmitFailed").Literal().(bool); transmit {
			r.Outputs = out
			m.failRun(r, t, &TaskError{Kind: KindFatal, Type: "Subflow", Message: fmt.Sprintf("subflow execution %s ended %s", m.ev.ChildExecutionID, m.ev.ChildState)})
			return nil
		}
		m.succeed(r, t, RunWarning, out)
	}
	return nil
}

// task returns the flow task of a run; runs only exist for tasks of f.
func (m *machine) task(r *TaskRun) *flow.Task {
	t, ok := m.f.Task(r.TaskID)
	if !ok {
		panic(fmt.Sprintf("task run %s refers to task %s, which flow %s revision %d does not have", r.ID, r.TaskID, m.f.ID, m.f.Revision))
	}
	return t
}
