package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"

	"github.com/relayflow/relay/internal/health"
	"github.com/relayflow/relay/secrets"
	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/statemachine/flow"
	"github.com/relayflow/relay/tasks"
)

// DefaultAttemptLease is how long a worker's lease on an attempt lasts
// without renewal (see Config.AttemptLease).
const DefaultAttemptLease = 30 * time.Second

// InvocationMargin is kept free at the end of a handler whose context has a
// deadline (a Lambda invocation): the attempt is stopped that long before,
// so that its failure is reported while the invocation still runs, and its
// retry policy applies at once rather than at the attempt's timeout.
const InvocationMargin = 5 * time.Second

// attemptDeadline is when an attempt must stop: its own deadline, or the
// invocation's less InvocationMargin, whichever is first (far in the future
// when neither is set).
func attemptDeadline(ctx context.Context, own time.Time) time.Time {
	d := own
	if inv, ok := ctx.Deadline(); ok && (d.IsZero() || inv.Add(-InvocationMargin).Before(d)) {
		d = inv.Add(-InvocationMargin)
	}
	if d.IsZero() {
		d = time.Now().Add(100 * 365 * 24 * time.Hour)
	}
	return d
}

// handleTaskRun is the worker: it runs one scheduled attempt and reports
// its start and end to the executor.
func (e *Engine) handleTaskRun(ctx context.Context, ce cloudevents.Event) error {
	if ce.Type() != TypeTaskRunScheduled {
		return nil
	}
	ce, err := e.resolveEvent(ctx, ce)
	if err != nil {
		return err // redelivered, then dead-lettered: the blob may be missing for good
	}
	var c statemachine.ScheduleTaskRun
	if err := json.Unmarshal(ce.Data(), &c); err != nil {
		return CannotApply("task run %s does not decode: %w", ce.ID(), err)
	}
	if c.ExecutionID == "" || c.TaskRunID == "" || c.TaskID == "" || c.Type == "" || c.Attempt < 1 {
		return CannotApply("task run %s lacks an execution, task run, task, type or attempt number (executionId %q, taskRunId %q, taskId %q, type %q, attempt %d)",
			ce.ID(), c.ExecutionID, c.TaskRunID, c.TaskID, c.Type, c.Attempt)
	}
	select {
	case e.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-e.sem }()

	base := fmt.Sprintf("%s/%s/%d", c.ExecutionID, c.TaskRunID, c.Attempt)
	if e.takeKilled(base) {
		return e.reportKilled(ctx, c, base)
	}
	lease, crash, err := e.leaseAttempt(ctx, c, base, e.cfg.Now().Sub(ce.Time()) > staleAfter)
	if crash != nil {
		// The worker that held the attempt died: the attempt CRASHED, and
		// its retry policy decides whether another one runs.
		return e.publish(ctx, TopicExecutions, c.ExecutionID, statemachine.Event{ID: base + "/finished", Type: statemachine.EvTaskRunFinished,
			ExecutionID: c.ExecutionID, TaskRunID: c.TaskRunID, Attempt: c.Attempt, State: statemachine.RunCrashed, Error: crash})
	}
	if err != nil || lease == nil {
		return err
	}
	startDate := e.cfg.Now()
	reported, err := e.reportStarted(ctx, c, base)
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithDeadline(ctx, attemptDeadline(ctx, c.Deadline))
	// The lease is kept until the result is published, which an outage
	// may delay past the attempt's own deadline.
	leaseCtx, releaseLease := context.WithCancel(ctx)
	defer releaseLease()
	lost := lease.renew(leaseCtx, c, cancel)
	e.mu.Lock()
	e.running[base] = cancel
	e.mu.Unlock()
	if e.takeKilled(base) { // killed while it was being leased
		cancel()
	}
	defer func() {
		e.mu.Lock()
		delete(e.running, base)
		e.mu.Unlock()
		cancel()
	}()

	var res tasks.Result
	errLines := &errorLines{}
	props, masker, err := e.openSecrets(runCtx, c)
	if err == nil {
		logger := slog.New(&logHandler{appendLogs: e.appendLogs, mask: masker, entry: LogEntry{ExecutionID: c.ExecutionID, TaskRunID: c.TaskRunID, TaskID: c.TaskID, Attempt: c.Attempt}, least: c.LogLevel, errors: errLines, live: runCtx})
		res, err = e.cfg.Tasks.Run(runCtx, tasks.Request{
			ExecutionID: c.ExecutionID, TaskRunID: c.TaskRunID, TaskID: c.TaskID, Namespace: c.Namespace, FlowID: c.FlowID, Type: c.Type, Attempt: c.Attempt,
			Props: props, Secrets: masker, Log: logger, LogLevel: c.LogLevel, KV: e.kv(), Logs: storeLogs{e.cfg.Store},
			AttemptKey: statemachine.AttemptKey(c.ExecutionID, c.TaskRunID, c.Attempt),
		})
		props = nil // the clear values go no further than the task
		res = MaskResult(masker, res)
	}
	reported()
	if ctx.Err() != nil {
		e.handBack(c, lease)
		return ctx.Err() // the process is stopping: the attempt runs again on the next worker
	}
	if lost() {
		if l := lease.lapsed.Load(); l {
			// Stopped here because the lease could not be renewed: the
			// record must come again, to whichever worker then holds
			// the lease.
			return Unavailable(fmt.Errorf("attempt %s stopped: its lease could not be renewed; delivering it again", base))
		}
		return nil // another worker found the lease lapsed and reports the attempt CRASHED
	}
	fin := statemachine.Event{ID: base + "/finished", Type: statemachine.EvTaskRunFinished, ExecutionID: c.ExecutionID, TaskRunID: c.TaskRunID, Attempt: c.Attempt,
		State: statemachine.RunSuccess, Outputs: res.Outputs, StartDate: startDate, Metrics: metrics(res.Metrics), ErrorLogs: errLines.take()}
	if res.Warning {
		fin.State = statemachine.RunWarning
	}
	if err != nil {
		te := tasks.Classify(err)
		fin.State = statemachine.RunFailed
		msg := te.Message
		if msg == "" {
			msg = te.Error()
		}
		fin.Error = &statemachine.TaskError{Kind: string(te.Kind), Type: te.Type, Message: masker.Text(msg)}
		switch {
		case errors.Is(runCtx.Err(), context.Canceled) && !errors.Is(err, context.DeadlineExceeded):
			fin.State = statemachine.RunKilled
		case te.Kind == tasks.KindCrashed: // the OS killed the task's process
			fin.State = statemachine.RunCrashed
		}
	}
	if c.Cache != nil && fin.State == statemachine.RunSuccess {
		e.fillCache(ctx, c, fin.Outputs)
	}
	return e.reportFinished(ctx, base, fin, lost)
}

// KindAttemptResult is the kind of the records that keep an attempt's end
// that could not be published (an outage of the bus outlasted the
// invocation, or the process was stopping), keyed by the attempt
// ("execution/taskrun/attempt"): the attempt's next delivery publishes it
// instead of running the attempt again.
const KindAttemptResult = "attempt-result"

// reportFinished publishes an attempt's end. An outage of the bus is
// waited out while the lease is renewed, for as long as the handler may
// run (in Lambda, until InvocationMargin before its deadline); if it
// outlasts that, or the process stops, the end is kept in a record of
// KindAttemptResult and the error asks for the attempt to be delivered
// again: the next delivery publishes the kept end instead of running the
// attempt a second time.
func (e *Engine) reportFinished(ctx context.Context, base string, fin statemachine.Event, lost func() bool) error {
	retry := health.Backoff{Min: 50 * time.Millisecond, Max: 5 * time.Second}
	for {
		err := e.publish(ctx, TopicExecutions, fin.ExecutionID, fin)
		if err == nil || !errors.Is(err, ErrUnavailable) {
			return err
		}
		if lost() {
			return err // delivered again, to whichever worker holds the lease
		}
		wait := retry.Next()
		dl, bounded := ctx.Deadline()
		if bounded && time.Now().Add(wait).After(dl.Add(-InvocationMargin)) || !health.Sleep(ctx, wait) {
			if kerr := e.keepResult(context.WithoutCancel(ctx), base, fin); kerr != nil {
				return errors.Join(err, kerr)
			}
			return err
		}
	}
}

// keepResult writes an attempt's end to a record of KindAttemptResult.
func (e *Engine) keepResult(ctx context.Context, base string, fin statemachine.Event) error {
	ctx, cancel := context.WithTimeout(ctx, InvocationMargin)
	defer cancel()
	data, err := json.Marshal(fin)
	if err != nil {
		return fmt.Errorf("encoding the end of attempt %s: %w", base, err)
	}
	if _, err := e.cfg.Store.PutRecord(ctx, Record{Kind: KindAttemptResult, Key: base, Value: data}, -1); err != nil {
		return fmt.Errorf("keeping the end of attempt %s: %w", base, err)
	}
	e.log.Info("attempt ended, its end kept for its next delivery: the bus is unavailable", slog.String("attempt", base))
	return nil
}

// keptResult publishes the end of an attempt kept by keepResult, if any,
// and reports whether there was one.
func (e *Engine) keptResult(ctx context.Context, base string) (bool, error) {
	rec, err := e.cfg.Store.Record(ctx, KindAttemptResult, base)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading the kept end of attempt %s: %w", base, err)
	}
	var fin statemachine.Event
	if err := json.Unmarshal(rec.Value, &fin); err != nil {
		return false, fmt.Errorf("decoding the kept end of attempt %s: %w", base, err)
	}
	if err := e.publish(ctx, TopicExecutions, fin.ExecutionID, fin); err != nil {
		return true, err
	}
	if err := e.cfg.Store.DeleteRecord(ctx, KindAttemptResult, base, rec.Version); err != nil && !errors.Is(err, ErrConflict) {
		e.log.Warn("deleting the kept end of an attempt", slog.String("attempt", base), slog.Any("error", err))
	}
	return true, nil
}

// reportKilled ends an attempt killed before it ran: it never starts.
func (e *Engine) reportKilled(ctx context.Context, c statemachine.ScheduleTaskRun, base string) error {
	e.log.Debug("an attempt killed before it started ends without running", slog.String("execution", c.ExecutionID), slog.String("taskrun", c.TaskRunID), slog.Int("attempt", c.Attempt))
	return e.publish(ctx, TopicExecutions, c.ExecutionID, statemachine.Event{ID: base + "/finished", Type: statemachine.EvTaskRunFinished,
		ExecutionID: c.ExecutionID, TaskRunID: c.TaskRunID, Attempt: c.Attempt, State: statemachine.RunKilled,
		Error: &statemachine.TaskError{Kind: statemachine.KindFatal, Type: "Killed", Message: "killed before it started"}})
}

// metrics converts a task's metrics for the state machine.
func metrics(ms []tasks.Metric) []statemachine.Metric {
	if len(ms) == 0 {
		return nil
	}
	out := make([]statemachine.Metric, len(ms))
	for i, m := range ms {
		out[i] = statemachine.Metric{Name: m.Name, Type: m.Type, Value: m.Value, Tags: m.Tags}
	}
	return out
}

// attemptLease is a worker's lease on one attempt.
type attemptLease struct {
	e             *Engine
	key, holder   string
	execID, runID string
	// lapsed: renew stopped the attempt because the lease could not be
	// renewed before it ended.
	lapsed atomic.Bool
}

// staleAfter is the age from which a scheduled attempt is checked against
// its execution before it runs, even on its first delivery: one that
// waited that long (a backlog, a worker down) may have been killed or
// replaced meanwhile. A prompt delivery is not checked: the read would
// cost every task run a step's worth of latency for a case that is rare.
const staleAfter = time.Second

// leaseAttempt leases the attempt so that it runs at most once however
// often it is delivered, and returns nil when it must not run here: it
// already ran, or no longer applies (checked on a first delivery too when
// stale). A delivery after the first publishes the attempt's end if a
// worker kept it (the bus was down when it ended: see reportFinished). An
// attempt another worker holds is waited for: it ends (dropped here), or
// that worker stops renewing its lease (it died, or stopped the attempt
// because an outage kept it from renewing): zombie detection by lease. The
// attempt then CRASHED (Prefect's meaning): leaseAttempt returns the error
// to report it with, and its retry policy decides whether another attempt
// runs. An attempt a stopping worker handed back (handBack) is not a
// crash: it runs here. In an invocation too short to wait, an error asks
// for redelivery.
func (e *Engine) leaseAttempt(ctx context.Context, c statemachine.ScheduleTaskRun, base string, stale bool) (*attemptLease, *statemachine.TaskError, error) {
	l := &attemptLease{e: e, key: "attempt/" + base, holder: fmt.Sprintf("%s#%d", e.id, e.holders.Add(1)), execID: c.ExecutionID, runID: c.TaskRunID}
	attrs := []any{slog.String("execution", c.ExecutionID), slog.String("taskrun", c.TaskRunID), slog.Int("attempt", c.Attempt)}
	// A duplicate usually arrives as the attempt ends on its first worker:
	// look again soon, then less often.
	poll := 25 * time.Millisecond
	for {
		res, err := e.cfg.Store.Lease(ctx, l.key, l.holder, e.cfg.Now().Add(e.cfg.AttemptLease))
		if err != nil {
			return nil, nil, fmt.Errorf("leasing attempt %s: %w", base, err)
		}
		// The holder is this call's own: a lease that names it was granted
		// by an earlier try of this very call (the store's client retried
		// a write that was applied but whose answer was lost).
		first := res.Granted && (res.Holder == "" || res.Holder == l.holder)
		if first && !stale {
			return l, nil, nil // the first delivery
		}
		if !first {
			// Delivered again: the attempt may have ended on a worker that
			// could not publish its end (an outage), and kept it.
			if kept, err := e.keptResult(ctx, base); kept || err != nil {
				return nil, nil, err
			}
		}
		// A first delivery that waited is checked on a lagging read, which
		// costs half: missing a kill of the last second runs an attempt
		// whose end is then ignored, as when the kill comes just after the
		// check. An attempt another worker held is checked on the latest
		// state: it may have just ended, and must not run twice.
		over, err := e.attemptOver(ctx, c, first)
		if err != nil {
			return nil, nil, err
		}
		if over {
			e.log.Info("dropping an attempt that ran already or no longer applies", attrs...)
			return nil, nil, nil
		}
		if first {
			return l, nil, nil // the first delivery, still wanted
		}
		if res.Granted && wasHandedBack(res.Holder) {
			e.log.Info("running an attempt a stopping worker handed back", append(attrs, slog.String("previous", res.Holder))...)
			return l, nil, nil
		}
		if res.Granted {
			msg := fmt.Sprintf("attempt %d of %s crashed: its worker stopped renewing its lease at %s", c.Attempt, c.TaskRunID, res.Until.UTC().Format(time.RFC3339))
			e.log.Warn(msg, append(attrs, slog.String("previous", res.Holder))...)
			e.appendLogs(ctx, []LogEntry{{ExecutionID: c.ExecutionID, TaskRunID: c.TaskRunID, TaskID: c.TaskID, Attempt: c.Attempt, Time: e.cfg.Now(), Level: "WARN", Message: msg}})
			return nil, &statemachine.TaskError{Kind: statemachine.KindCrashed, Type: "WorkerLost", Message: msg}, nil
		}
		poll = min(2*poll, e.cfg.AttemptLease/3)
		wait := min(poll, max(time.Until(res.Until)+50*time.Millisecond, 50*time.Millisecond))
		if dl, ok := ctx.Deadline(); ok && time.Now().Add(wait).After(dl.Add(-InvocationMargin)) {
			return nil, nil, fmt.Errorf("attempt %s runs on another worker (%s, lease until %s): delivering it again later", base, res.Holder, res.Until.UTC().Format(time.RFC3339))
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// LaggingReader is a Store that can also read an execution's run at half
// the cost, possibly missing its last second or so of commits (DynamoDB's
// eventually consistent reads).
type LaggingReader interface {
	ExecutionRunLagging(ctx context.Context, executionID string, position int) (*statemachine.Execution, *statemachine.TaskRun, error)
}

// attemptOver tells whether the attempt no longer needs running: it ended,
// another attempt replaced it, or its execution ended. It reads the
// execution's head and the one task run, whatever the execution's size.
// lagging allows a read that may miss the last commits.
func (e *Engine) attemptOver(ctx context.Context, c statemachine.ScheduleTaskRun, lagging bool) (bool, error) {
	read := e.cfg.Store.ExecutionRun
	if lr, ok := e.cfg.Store.(LaggingReader); ok && lagging {
		read = lr.ExecutionRunLagging
	}
	ex, r, err := read(ctx, c.ExecutionID, c.Position)
	if errors.Is(err, ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading task run %s of execution %s: %w", c.TaskRunID, c.ExecutionID, err)
	}
	if r.ID != c.TaskRunID {
		return true, nil // not the run at that position: the attempt is from no execution that exists
	}
	a := r.CurrentAttempt()
	return ex.State.Terminal() || ex.State == statemachine.ExecKilling || r.State.Terminal() || a == nil || a.Number != c.Attempt || a.State.Terminal(), nil
}

// renew keeps the lease while the attempt runs (until ctx ends), every
// third of its duration. If another worker took the lease (this process
// stalled past it, and that worker reported the attempt CRASHED), or the
// lease ran out while the store could not be reached to renew it (another
// worker may take it from then on), the attempt is cancelled and the returned function reports
// true: its end is not this worker's to report. So an attempt never runs
// on two live workers at once. Each renewal also reads the attempt's run
// (one item): an attempt killed by an executor in another process, or that
// no longer applies, is cancelled, and ends KILLED.
func (l *attemptLease) renew(ctx context.Context, c statemachine.ScheduleTaskRun, cancel context.CancelFunc) (lost func() bool) {
	var gone atomic.Bool
	every := l.e.cfg.AttemptLease / 3
	until := l.e.cfg.Now().Add(l.e.cfg.AttemptLease) // as granted, give or take the store's round trip
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			// The attempt stops a tenth of the lease before it ends, so
			// that it has stopped (a script's grace to exit included)
			// before another worker may take the lease.
			fenceAt := until.Add(-l.e.cfg.AttemptLease / 10)
			if !l.e.cfg.Now().Before(fenceAt) {
				// This process stalled past its lease (a pause, a
				// stopped process): another worker may hold it now.
				l.e.log.Error("an attempt's lease ended before it could be renewed: stopping the attempt here", slog.String("execution", l.execID), slog.String("taskrun", l.runID))
				l.lapsed.Store(true)
				gone.Store(true)
				cancel()
				return
			}
			next := l.e.cfg.Now().Add(l.e.cfg.AttemptLease)
			// A renewal that the store's retries would carry past the
			// lease's end is given up at its end.
			rctx, stop := context.WithDeadline(ctx, fenceAt)
			res, err := l.e.cfg.Store.Lease(rctx, l.key, l.holder, next)
			stop()
			switch {
			case err != nil && ctx.Err() == nil:
				if !l.e.cfg.Now().Add(every).Before(fenceAt) {
					// The lease ends before the next renewal: stop now,
					// before another worker may take it.
					l.e.log.Error("an attempt's lease could not be renewed before it ends: stopping the attempt here", slog.String("execution", l.execID), slog.String("taskrun", l.runID), slog.Any("error", err))
					l.lapsed.Store(true)
					gone.Store(true)
					cancel()
					return
				}
				level := slog.LevelWarn
				if errors.Is(err, ErrUnavailable) {
					level = slog.LevelDebug // logged once by the health registry
				}
				l.e.log.Log(ctx, level, "renewing an attempt's lease", slog.String("execution", l.execID), slog.String("taskrun", l.runID), slog.Any("error", err))
				continue
			case err == nil && !res.Granted:
				l.e.log.Error("another worker took the attempt's lease: stopping it here", slog.String("execution", l.execID), slog.String("taskrun", l.runID), slog.String("holder", res.Holder))
				gone.Store(true)
				cancel()
				return
			case err == nil:
				until = next
			}
			if over, err := l.e.attemptOver(ctx, c, true); err == nil && over {
				l.e.log.Info("stopping an attempt that was killed or no longer applies", slog.String("execution", l.execID), slog.String("taskrun", l.runID))
				cancel()
				return
			}
		}
	}()
	return gone.Load
}

// reportStarted publishes the attempt's taskrun.started event: at once
// when Config.StartedAfter is 0, otherwise once the attempt has run that
// long. The function it returns cancels a report not yet made and waits
// for one in flight, so that started never follows finished.
func (e *Engine) reportStarted(ctx context.Context, c statemachine.ScheduleTaskRun, base string) (func(), error) {
	started := statemachine.Event{ID: base + "/started", Type: statemachine.EvTaskRunStarted, ExecutionID: c.ExecutionID, TaskRunID: c.TaskRunID, Attempt: c.Attempt, StartDate: e.cfg.Now()}
	if e.cfg.StartedAfter <= 0 {
		return func() {}, e.publish(ctx, TopicExecutions, c.ExecutionID, started)
	}
	done := make(chan struct{})
	t := time.AfterFunc(e.cfg.StartedAfter, func() {
		defer close(done)
		if err := e.publish(ctx, TopicExecutions, c.ExecutionID, started); err != nil && ctx.Err() == nil {
			// Only the display suffers: finished carries the start date.
			e.log.Log(ctx, min(LogLevel(err), slog.LevelWarn), "reporting an attempt's start", slog.String("execution", c.ExecutionID), slog.String("taskrun", c.TaskRunID), slog.Any("error", err))
		}
	})
	return func() {
		if !t.Stop() {
			<-done
		}
	}, nil
}

// NewTaskLogger returns the logger of one attempt (tasks.Request.Log):
// each record becomes an execution log line, stored by appendLogs (a
// Store's AppendLogs), with the ids of entry, the attempt's secrets hidden
// by mask (nil: markers only). A process that runs attempts outside an
// engine (a runner function) logs through it too. Records below least,
// the task's logLevel (empty: none), are dropped.
func NewTaskLogger(appendLogs func(context.Context, []LogEntry) error, entry LogEntry, mask *secrets.Masker, least string) *slog.Logger {
	return slog.New(&logHandler{appendLogs: appendLogs, mask: mask, entry: entry, least: least})
}

// logHandler stores a task's slog records as execution log lines.
type logHandler struct {
	appendLogs func(context.Context, []LogEntry) error
	mask       *secrets.Masker // hides the attempt's secrets
	entry      LogEntry
	attrs      []slog.Attr
	least      string // the task's logLevel: lines below it are dropped
	// errors, when set, keeps the ERROR lines for the attempt's
	// taskrun.finished event.
	errors *errorLines
	// live, when set, is the attempt's context: lines are retried
	// through outages of the store while it lasts.
	live context.Context
}

// errorLines collects the ERROR lines of one attempt, bounded as the
// state machine keeps them.
type errorLines struct {
	mu    sync.Mutex
	lines []statemachine.LogLine
}

func (l *errorLines) add(at time.Time, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) >= statemachine.ErrorLogsPerAttempt {
		return
	}
	if len(msg) > statemachine.ErrorLogLength {
		msg = msg[:statemachine.ErrorLogLength]
	}
	l.lines = append(l.lines, statemachine.LogLine{Time: at, Message: msg})
}

func (l *errorLines) take() []statemachine.LogLine {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lines
}

func (h *logHandler) Enabled(_ context.Context, l slog.Level) bool {
	return !flow.LevelBelow(levelName(l), h.least)
}

func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	l := h.entry
	l.Time, l.Level, l.Message = r.Time, levelName(r.Level), r.Message
	attrs := append([]slog.Attr(nil), h.attrs...)
	r.Attrs(func(a slog.Attr) bool { attrs = append(attrs, a); return true })
	var more strings.Builder
	for _, a := range attrs {
		// Shell output arrives as fixed messages with the text in `line`;
		// other attributes follow the message as key=value, as slog's text
		// handler writes them, so that a reader of the logs sees them.
		if a.Key == "line" {
			l.Message = a.Value.String()
			continue
		}
		v := a.Value.Resolve().String()
		if strings.ContainsAny(v, " \t\n\"=") || v == "" {
			v = strconv.Quote(v)
		}
		fmt.Fprintf(&more, " %s=%s", a.Key, v)
	}
	l.Message = h.mask.Text(l.Message + more.String())
	if l.Level == "ERROR" && h.errors != nil {
		h.errors.add(l.Time, l.Message)
	}
	// While the attempt runs, a line is not dropped for an outage of the
	// store: the task waits (its output backs up) until it is stored. But
	// a line never holds the task up once the attempt is stopped (killed,
	// or its lease lost), so that the task sees that it must stop: a
	// write in flight then is given up, and lines logged after it get
	// logStopGrace.
	actx := context.WithoutCancel(ctx)
	if h.live != nil {
		var stop context.CancelFunc
		if h.live.Err() == nil {
			actx, stop = context.WithCancel(actx)
			defer context.AfterFunc(h.live, stop)()
		} else {
			actx, stop = context.WithTimeout(actx, logStopGrace)
		}
		defer stop()
	}
	retry := health.Backoff{Min: 50 * time.Millisecond, Max: 5 * time.Second}
	for {
		err := h.appendLogs(actx, []LogEntry{l})
		if err == nil || !errors.Is(err, ErrUnavailable) || h.live == nil || !retry.Wait(h.live) {
			return err
		}
	}
}

// logStopGrace bounds the write of a line a task logs after its attempt
// was stopped.
const logStopGrace = 5 * time.Second

func (h *logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &logHandler{appendLogs: h.appendLogs, mask: h.mask, entry: h.entry, attrs: append(append([]slog.Attr(nil), h.attrs...), as...), least: h.least, errors: h.errors, live: h.live}
}

func (h *logHandler) WithGroup(string) slog.Handler { return h }

func levelName(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "DEBUG"
	case l < slog.LevelWarn:
		return "INFO"
	case l < slog.LevelError:
		return "WARN"
	}
	return "ERROR"
}
