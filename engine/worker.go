package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"

	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/tasks"
)

// ClaimTTL is how long a worker's claim on an attempt lasts: longer than
// any redelivery (Kafka keeps records 7 days by default).
const ClaimTTL = 7 * 24 * time.Hour

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
		e.log.Error("dropping a task run that does not decode", slog.String("event", ce.ID()), slog.Any("error", err))
		return nil
	}
	select {
	case e.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-e.sem }()

	base := fmt.Sprintf("%s/%s/%d", c.ExecutionID, c.TaskRunID, c.Attempt)
	// Run each attempt once, however often it is delivered. An attempt
	// whose worker died is not run again here: its deadline fails it and
	// the retry policy starts a new one.
	first, err := e.cfg.Store.Claim(ctx, "attempt/"+base, ClaimTTL)
	if err != nil {
		return fmt.Errorf("claiming attempt %s: %w", base, err)
	}
	if !first {
		e.log.Info("dropping an attempt that was already delivered", slog.String("execution", c.ExecutionID), slog.String("taskrun", c.TaskRunID), slog.Int("attempt", c.Attempt))
		return nil
	}
	startDate := e.cfg.Now()
	reported, err := e.reportStarted(ctx, c, base)
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithDeadline(ctx, attemptDeadline(ctx, c.Deadline))
	e.mu.Lock()
	e.running[base] = cancel
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.running, base)
		e.mu.Unlock()
		cancel()
	}()

	logger := slog.New(&logHandler{e: e, entry: LogEntry{ExecutionID: c.ExecutionID, TaskRunID: c.TaskRunID, TaskID: c.TaskID, Attempt: c.Attempt}})
	res, err := e.cfg.Tasks.Run(runCtx, tasks.Request{
		ExecutionID: c.ExecutionID, TaskRunID: c.TaskRunID, TaskID: c.TaskID, Type: c.Type, Attempt: c.Attempt, Props: c.Props, Log: logger,
	})
	reported()
	if ctx.Err() != nil {
		return ctx.Err() // the process is stopping: the attempt times out (its claim keeps a redelivery from running it again)
	}
	fin := statemachine.Event{ID: base + "/finished", Type: statemachine.EvTaskRunFinished, ExecutionID: c.ExecutionID, TaskRunID: c.TaskRunID, Attempt: c.Attempt,
		State: statemachine.RunSuccess, Outputs: res.Outputs, StartDate: startDate}
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
		fin.Error = &statemachine.TaskError{Kind: string(te.Kind), Type: te.Type, Message: msg}
		if errors.Is(runCtx.Err(), context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			fin.State = statemachine.RunKilled
		}
	}
	return e.publish(ctx, TopicExecutions, c.ExecutionID, fin)
}

// reportStarted publishes the attempt's taskrun.started event: at once
// when Config.StartedAfter is 0, otherwise once the attempt has run that
// long. The function it returns cancels a report not yet made and waits
// for one in flight, so that started never follows finished.
func (e *Engine) reportStarted(ctx context.Context, c statemachine.ScheduleTaskRun, base string) (func(), error) {
	started := statemachine.Event{ID: base + "/started", Type: statemachine.EvTaskRunStarted, ExecutionID: c.ExecutionID, TaskRunID: c.TaskRunID, Attempt: c.Attempt}
	if e.cfg.StartedAfter <= 0 {
		return func() {}, e.publish(ctx, TopicExecutions, c.ExecutionID, started)
	}
	done := make(chan struct{})
	t := time.AfterFunc(e.cfg.StartedAfter, func() {
		defer close(done)
		if err := e.publish(ctx, TopicExecutions, c.ExecutionID, started); err != nil && ctx.Err() == nil {
			// Only the display suffers: finished carries the start date.
			e.log.Warn("reporting an attempt's start", slog.String("execution", c.ExecutionID), slog.String("taskrun", c.TaskRunID), slog.Any("error", err))
		}
	})
	return func() {
		if !t.Stop() {
			<-done
		}
	}, nil
}

// logHandler stores a task's slog records as execution log lines.
type logHandler struct {
	e     *Engine
	entry LogEntry
	attrs []slog.Attr
}

func (h *logHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	l := h.entry
	l.Time, l.Level, l.Message = r.Time, levelName(r.Level), r.Message
	attrs := append([]slog.Attr(nil), h.attrs...)
	r.Attrs(func(a slog.Attr) bool { attrs = append(attrs, a); return true })
	for _, a := range attrs {
		// Shell output arrives as fixed messages with the text in `line`.
		if a.Key == "line" {
			l.Message = a.Value.String()
		}
	}
	return h.e.appendLogs(context.WithoutCancel(ctx), []LogEntry{l})
}

func (h *logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &logHandler{e: h.e, entry: h.entry, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
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
