package firing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/statemachine/flow"
	"github.com/relayflow/relay/tasks"
	"github.com/relayflow/relay/triggers"
)

// Publisher publishes CloudEvents (an engine.Bus, or the engine, which
// moves large data to the blobs first).
type Publisher interface {
	Publish(ctx context.Context, topic, key string, ev cloudevents.Event) error
}

// Router consumes TopicEvents: execution.finished events fire flow
// triggers, any other CloudEvent fires event triggers. It reads only the
// triggers the trigger index files under the event's keys.
type Router struct {
	store   Store
	bus     Publisher
	log     *slog.Logger
	now     func() time.Time
	trs     *compiled
	resolve func(context.Context, cloudevents.Event) (cloudevents.Event, error)
	// MaxDepth cuts chains of triggered executions (default
	// statemachine.MaxDepth).
	MaxDepth int
}

// RouterConfig configures a Router.
type RouterConfig struct {
	Store Store
	Bus   Publisher
	Log   *slog.Logger
	Now   func() time.Time
	// Resolve reads back the data of an event whose data is in the blobs
	// (engine.Engine.ResolveEvent); nil: events carry their data.
	Resolve func(context.Context, cloudevents.Event) (cloudevents.Event, error)
}

// NewRouter returns a Router.
func NewRouter(cfg RouterConfig) *Router {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Router{store: cfg.Store, bus: cfg.Bus, log: cfg.Log, now: cfg.Now, trs: newCompiled(cfg.Store), resolve: cfg.Resolve, MaxDepth: statemachine.MaxDepth}
}

// Handle routes one event of TopicEvents. An error (the store or the bus
// failing) asks for redelivery; redelivery starts nothing twice.
func (r *Router) Handle(ctx context.Context, ce cloudevents.Event) error {
	if r.resolve != nil {
		var err error
		if ce, err = r.resolve(ctx, ce); err != nil {
			return err
		}
	}
	if ce.Type() == engine.TypeExecutionFinished {
		var fin statemachine.ExecutionFinished
		if err := json.Unmarshal(ce.Data(), &fin); err != nil || fin.ExecutionID == "" {
			return engine.CannotApply("execution.finished event %s does not decode or names no execution (%v)", ce.ID(), err)
		}
		return r.finished(ctx, triggers.UpstreamOf(fin, ce.Time()))
	}
	return r.event(ctx, eventOf(ce))
}

// eventOf reads a CloudEvent as event triggers see it.
func eventOf(ce cloudevents.Event) *triggers.Event {
	e := &triggers.Event{ID: ce.ID(), Type: ce.Type(), Source: ce.Source(), Subject: ce.Subject(), Time: ce.Time(),
		DataContentType: ce.DataContentType(), DataSchema: ce.DataSchema(), Data: triggers.DecodeData(ce.DataContentType(), ce.Data())}
	if ext := ce.Extensions(); len(ext) > 0 {
		e.Extensions = make(map[string]string, len(ext))
		for k, v := range ext {
			e.Extensions[k] = fmt.Sprint(v)
		}
	}
	return e
}

// candidates returns the triggers filed under the keys, from the revision
// each was filed with. The keys are read at once (two or three queries on
// the path of every event, in the time of one).
func (r *Router) candidates(ctx context.Context, keys []string) ([]*triggers.Trigger, error) {
	filed := make([][]engine.Record, len(keys))
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Go(func() {
			filed[i], errs[i] = r.store.Records(ctx, kindIndex+k, "")
			if errs[i] != nil {
				errs[i] = fmt.Errorf("reading the trigger index under %s: %w", k, errs[i])
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var out []*triggers.Trigger
	for _, recs := range filed {
		for _, rec := range recs {
			var e indexEntry
			if err := json.Unmarshal(rec.Value, &e); err != nil {
				return nil, fmt.Errorf("decoding trigger index entry %s: %w", rec.Key, err)
			}
			ns, flowID, id, ok := splitKey(rec.Key)
			if !ok {
				continue
			}
			t, err := r.trs.trigger(ctx, ns, flowID, e.Revision, id)
			if errors.Is(err, engine.ErrNotFound) {
				continue // the flow is gone
			}
			if err != nil {
				return nil, err
			}
			if t != nil {
				out = append(out, t)
			}
		}
	}
	return out, nil
}

func (r *Router) finished(ctx context.Context, up triggers.Upstream) error {
	if up.Origin != nil {
		if err := r.stopAfter(ctx, up); err != nil {
			return err
		}
	}
	cands, err := r.candidates(ctx, triggers.UpstreamKeys(up.Namespace, up.FlowID))
	if err != nil {
		return err
	}
	now := r.now()
	for _, t := range cands {
		ok, err := t.MatchUpstream(up, now)
		if err != nil {
			r.logTo(ctx, up.ExecutionID, "WARN", fmt.Sprintf("flow trigger %s not evaluated: %v", t.Key(), err))
			continue
		}
		if !ok {
			continue
		}
		if up.Depth+1 > r.MaxDepth {
			r.logTo(ctx, up.ExecutionID, "ERROR", fmt.Sprintf("flow trigger %s did not start %s/%s: executions triggered by executions are chained more than %d deep (a cycle of flow triggers?)", t.Key(), t.Namespace, t.FlowID, r.MaxDepth))
			continue
		}
		if t.Preconditions != nil {
			if err := r.observe(ctx, t, up, now); err != nil {
				return err
			}
			continue
		}
		if err := r.fire(ctx, t, triggers.UpstreamCause(up), up.Vars(), up.Depth+1, now); err != nil {
			return err
		}
	}
	return nil
}

// observe takes an upstream end into a trigger's preconditions and fires
// the trigger when they are all met. The request is published before the
// state is written; a conflict reads the state again and observes again
// (the same end firing gives the same execution id).
func (r *Router) observe(ctx context.Context, t *triggers.Trigger, up triggers.Upstream, now time.Time) error {
	for {
		st, version, err := getJSON[triggerState](ctx, r.store, kindState, t.Key())
		if err != nil {
			return err
		}
		if st.Stopped {
			return nil
		}
		var pre triggers.PreconditionState
		if st.Preconditions != nil {
			pre = *st.Preconditions
		}
		next, fire, ends, err := t.Preconditions.Observe(pre, up, now)
		if err != nil {
			r.logTo(ctx, up.ExecutionID, "WARN", fmt.Sprintf("preconditions of flow trigger %s not evaluated: %v", t.Key(), err))
			return nil
		}
		if fire {
			if err := publishRequest(ctx, r.bus, r.log, t, triggers.PreconditionCause(up), triggers.PreconditionVars(up, ends), up.Depth+1, now); err != nil {
				return err
			}
			st.Last = now
		}
		st.Preconditions = &next
		err = putJSON(ctx, r.store, kindState, t.Key(), st, time.Time{}, version)
		if !errors.Is(err, engine.ErrConflict) {
			return err
		}
	}
}

func (r *Router) event(ctx context.Context, e *triggers.Event) error {
	cands, err := r.candidates(ctx, triggers.EventKeys(e.Type))
	if err != nil {
		return err
	}
	now := r.now()
	for _, t := range cands {
		ok, err := t.MatchEvent(e, now)
		if err != nil {
			r.log.WarnContext(ctx, "event trigger not evaluated", slog.String("trigger", t.Key()), slog.String("event", e.ID), slog.Any("error", err))
			continue
		}
		if !ok {
			continue
		}
		depth := 0
		if from := e.Extensions[tasks.ExtensionExecution]; from != "" {
			ex, err := r.store.ExecutionHead(ctx, from)
			if err != nil && !errors.Is(err, engine.ErrNotFound) {
				return fmt.Errorf("reading execution %s, which emitted event %s: %w", from, e.ID, err)
			}
			if ex != nil {
				depth = ex.Depth + 1
				if depth > r.MaxDepth {
					r.logTo(ctx, from, "ERROR", fmt.Sprintf("event trigger %s did not start %s/%s for event %s: executions triggered by executions are chained more than %d deep (a flow whose events trigger itself?)", t.Key(), t.Namespace, t.FlowID, e.ID, r.MaxDepth))
					continue
				}
			}
		}
		if err := r.fire(ctx, t, triggers.EventCause(e), e.Vars(), depth, now); err != nil {
			return err
		}
	}
	return nil
}

// fire starts the trigger's flow for a cause, unless stopAfter stopped
// the trigger, and records the time.
func (r *Router) fire(ctx context.Context, t *triggers.Trigger, cause string, vars map[string]any, depth int, now time.Time) error {
	_, err := start(ctx, r.store, r.bus, r.log, t, cause, vars, depth, now)
	return err
}

// start publishes the execution.requested event of a firing, unless
// stopAfter stopped the trigger, then records the time it fired (for
// `relay triggers list`). started reports that the request was published;
// err may then still tell that recording the time failed.
func start(ctx context.Context, st Store, bus Publisher, log *slog.Logger, t *triggers.Trigger, cause string, vars map[string]any, depth int, now time.Time) (started bool, err error) {
	if len(t.StopAfter) > 0 { // only these can be stopped: the others read nothing first
		state, _, err := getJSON[triggerState](ctx, st, kindState, t.Key())
		if err != nil || state.Stopped {
			return false, err
		}
	}
	if err := publishRequest(ctx, bus, log, t, cause, vars, depth, now); err != nil {
		return false, err
	}
	return true, touch(ctx, st, t.Key(), now)
}

func publishRequest(ctx context.Context, bus Publisher, log *slog.Logger, t *triggers.Trigger, cause string, vars map[string]any, depth int, now time.Time) error {
	ev, err := t.Request(cause, vars, depth, now)
	if err != nil {
		// Inputs that do not render: the execution starts without them and
		// fails on its inputs, so the user sees why in its state.
		log.WarnContext(ctx, "trigger inputs not rendered", slog.String("trigger", t.Key()), slog.Any("error", err))
		id := triggers.ExecutionID(t.Key(), cause)
		ev = statemachine.Event{ID: id + "/requested", Type: statemachine.EvExecutionRequested, ExecutionID: id,
			Namespace: t.Namespace, FlowID: t.FlowID, Revision: t.Revision, Trigger: vars, Origin: t.Origin(), Depth: depth,
			Inputs: map[string]any{}}
	}
	ce, err := engine.MachineEvent(ev, "relay/trigger/"+t.Key(), now)
	if err != nil {
		return err
	}
	if err := bus.Publish(ctx, engine.TopicExecutions, ev.ExecutionID, ce); err != nil {
		return fmt.Errorf("starting %s/%s for trigger %s: %w", t.Namespace, t.FlowID, t.ID, err)
	}
	log.InfoContext(ctx, "trigger fired", slog.String("trigger", t.Key()), slog.String("execution", ev.ExecutionID))
	return nil
}

// touch records when a trigger last fired (for `relay triggers list`).
func touch(ctx context.Context, st Store, key string, now time.Time) error {
	return putJSON(ctx, st, kindLast, key, lastFire{Last: now}, time.Time{}, -1)
}

// stopAfter stops the trigger that started an execution which ended in
// one of the trigger's stopAfter states.
func (r *Router) stopAfter(ctx context.Context, up triggers.Upstream) error {
	t, err := r.trs.trigger(ctx, up.Namespace, up.FlowID, 0, up.Origin.TriggerID)
	if errors.Is(err, engine.ErrNotFound) || err == nil && (t == nil || !t.Stops(up.State)) {
		return nil
	}
	if err != nil {
		return err
	}
	r.logTo(ctx, up.ExecutionID, "INFO", fmt.Sprintf("trigger %s stopped: this execution ended %s (stopAfter)", t.Key(), up.State))
	if t.Type == flow.TriggerSchedule {
		return update(ctx, r.store, KindSchedule, t.Key(), func(s *scheduleEntry) (time.Time, bool) { s.Stopped = true; return time.Time{}, true })
	}
	return update(ctx, r.store, kindState, t.Key(), func(s *triggerState) (time.Time, bool) { s.Stopped = true; return time.Time{}, true })
}

// update changes a record with a conditional write, again on a conflict.
// change returns the record's Due and whether to write; a missing record
// starts from T's zero value.
func update[T any](ctx context.Context, st Store, kind, key string, change func(*T) (time.Time, bool)) error {
	for {
		v, version, err := getJSON[T](ctx, st, kind, key)
		if err != nil {
			return err
		}
		due, write := change(&v)
		if !write {
			return nil
		}
		err = putJSON(ctx, st, kind, key, v, due, version)
		if !errors.Is(err, engine.ErrConflict) {
			return err
		}
	}
}

// logTo writes a line to an execution's log (where the user looks for why
// a trigger did not fire); failing to is only logged.
func (r *Router) logTo(ctx context.Context, executionID, level, msg string) {
	r.log.Log(ctx, levelOf(level), msg, slog.String("execution", executionID))
	if err := r.store.AppendLogs(ctx, []engine.LogEntry{{ExecutionID: executionID, Time: r.now(), Level: level, Message: msg}}); err != nil {
		r.log.ErrorContext(ctx, "writing to an execution's log", slog.String("execution", executionID), slog.Any("error", err))
	}
}

func levelOf(level string) slog.Level {
	switch level {
	case "ERROR":
		return slog.LevelError
	case "WARN":
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

// splitKey splits a trigger key into namespace, flow id and trigger id
// (none of them holds a slash).
func splitKey(key string) (ns, flowID, id string, ok bool) {
	parts := strings.SplitN(key, "/", 3)
	if len(parts) != 3 {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}
