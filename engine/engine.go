package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"

	"github.com/relayflow/relay/secrets"
	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/statemachine/flow"
	"github.com/relayflow/relay/storage"
	"github.com/relayflow/relay/tasks"
	"github.com/relayflow/relay/triggers"
)

// Config configures an Engine. Fill defaults, validate, then construct.
type Config struct {
	Store Store
	Bus   Bus
	Tasks *tasks.Registry
	// Workers is how many task attempts run at once (default 8).
	Workers int
	// Logger receives the engine's own logs (default: discard).
	Logger *slog.Logger
	// Now is the clock (default time.Now); tests may pass another.
	Now func() time.Time
	// Secrets seals secret('NAME') and SECRET inputs into markers when the
	// executor renders, and opens them in the worker (package secrets).
	// Nil: flows that use secrets fail, saying that no key is configured.
	Secrets *secrets.Keyring
	// SecretLookup finds the value of a named secret of a namespace for
	// the worker (infra/secretstore). Nil: secret('NAME') fails the task.
	SecretLookup secrets.Lookup
	// TimerPoll is how often due timers are looked for (default 20ms).
	TimerPoll time.Duration
	// OnCommit is called after every durable state change once the commands
	// it produced are carried out (so its log lines came first through
	// OnLog), in order per execution, for progress displays.
	OnCommit func(ex *statemachine.Execution, changed []*statemachine.TaskRun)
	// OnLog is called for every execution log line stored.
	OnLog func(LogEntry)
	// AttemptTimeout is the timeout of attempts of tasks that set none (0:
	// none).
	AttemptTimeout time.Duration
	// AttemptLease is how long a worker's lease on an attempt lasts
	// (default DefaultAttemptLease); it renews it every third of that
	// while the attempt runs. An attempt delivered again (a worker died,
	// its records went to another) is reported CRASHED once the lease
	// lapses, and its retry policy decides whether another attempt runs.
	AttemptLease time.Duration
	// StartedAfter is how long an attempt runs before its worker reports
	// it started (a taskrun.started event, one more state change). 0:
	// at once. An attempt that ends sooner reports its start date with its
	// end only, so short tasks cost one state change instead of two.
	StartedAfter time.Duration
	// CacheExecutions is how many executions the executor keeps in memory
	// after committing them (0: none), to apply their next events without
	// reading them back from the store. The executions handed to OnCommit
	// are then changed by later events: OnCommit must not keep them.
	CacheExecutions int
	// Blobs keeps the data of events larger than BlobThreshold, which then
	// travel as a reference (ExtensionDataRef). Nil: events carry their
	// data whatever its size (fine on the in-process bus).
	Blobs Blobs
	// BlobThreshold is the data size in bytes above which an event's data
	// goes to Blobs (default DefaultBlobThreshold).
	BlobThreshold int
	// Files reads the internal storage for read(uri) in expressions (nil:
	// read() fails, saying it is not available).
	Files FileReader
	// Envs and Globals are the `envs` and `globals` variables of
	// expressions (see ExpressionVariables).
	Envs, Globals map[string]any
}

// FileReader reads a file of the internal storage (storage.Storage): at
// most limit bytes (0: its default), for a task of namespace ns.
type FileReader interface {
	Read(ctx context.Context, ns, uri string, limit int64) ([]byte, error)
	// Open opens a file for a task of namespace ns and tells its size; a
	// missing file is an error wrapping storage.ErrNotFound.
	Open(ctx context.Context, ns, uri string) (io.ReadCloser, int64, error)
}

// Engine applies events to executions and carries out the commands.
type Engine struct {
	cfg   Config
	log   *slog.Logger
	flows *Flows
	sem   chan struct{}

	id        string         // this engine's name in attempt leases
	holders   atomic.Int64   // numbers the leases it takes
	cache     *execCache     // executions committed last (Config.CacheExecutions)
	acks      sync.WaitGroup // background outbox acknowledgements
	conflicts atomic.Int64   // conditional writes lost to another executor
	swept     atomic.Int64   // when expired records were last deleted (UnixNano)

	mu      sync.Mutex
	running map[string]context.CancelFunc // attempts, by "executionID/taskRunID/attempt"
	killed  map[string]time.Time          // attempts killed before they ran here, by the same key
	execMu  map[string]*execLock          // serialises Apply per execution in this process
}

// execLock is the lock of one execution, with how many hold or wait for
// it, so that the map keeps only the executions in use.
type execLock struct {
	sync.Mutex
	users int
}

// New checks cfg and builds an engine.
func New(cfg Config) (*Engine, error) {
	if cfg.Store == nil || cfg.Bus == nil || cfg.Tasks == nil {
		return nil, errors.New("engine: Store, Bus and Tasks are required")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TimerPoll <= 0 {
		cfg.TimerPoll = 20 * time.Millisecond
	}
	if cfg.BlobThreshold <= 0 {
		cfg.BlobThreshold = DefaultBlobThreshold
	}
	if cfg.AttemptLease <= 0 {
		cfg.AttemptLease = DefaultAttemptLease
	}
	return &Engine{cfg: cfg, id: NewID(), cache: newExecCache(cfg.CacheExecutions), log: cfg.Logger, flows: NewFlows(cfg.Store), sem: make(chan struct{}, cfg.Workers), running: map[string]context.CancelFunc{}, killed: map[string]time.Time{}, execMu: map[string]*execLock{}}, nil
}

// Tasks returns the registry of the task runners.
func (e *Engine) Tasks() *tasks.Registry { return e.cfg.Tasks }

// reader returns read() for expressions of namespace ns, or nil when no
// internal storage is configured.
func (e *Engine) reader(ctx context.Context, ns string) func(string) (string, error) {
	if e.cfg.Files == nil {
		return nil
	}
	return func(uri string) (string, error) {
		b, err := e.cfg.Files.Read(ctx, ns, uri, 0)
		return string(b), err
	}
}

// fileSize reads the size of a file of internal storage for
// fileExists(), fileSize() and isFileEmpty() (nil without storage).
func (e *Engine) fileSize(ctx context.Context, ns string) func(string) (int64, bool, error) {
	if e.cfg.Files == nil {
		return nil
	}
	return func(uri string) (int64, bool, error) {
		rc, size, err := e.cfg.Files.Open(ctx, ns, uri)
		if errors.Is(err, storage.ErrNotFound) {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, err
		}
		rc.Close()
		return size, true, nil
	}
}

// Start runs the executor, the workers and the timer loop until ctx ends.
// Once subscribed, it carries out commands a previous process committed
// but did not finish (crash recovery) or handed back as it stopped. Start returns once
// everything is subscribed.
func (e *Engine) Start(ctx context.Context) error {
	ready := make(chan struct{}, 2)
	subscribe := func(topic, group string, h Handler) {
		go func() {
			ready <- struct{}{}
			if err := e.cfg.Bus.Subscribe(ctx, topic, group, h); err != nil && ctx.Err() == nil && !errors.Is(err, ErrBusClosed) {
				e.log.Error("subscription ended", slog.String("topic", topic), slog.Any("error", err))
			}
		}()
	}
	if bs, ok := e.cfg.Bus.(BatchSubscriber); ok {
		go func() {
			ready <- struct{}{}
			if err := bs.SubscribeBatch(ctx, TopicExecutions, "executor", maxBatchEvents, e.handleExecutionBatch); err != nil && ctx.Err() == nil && !errors.Is(err, ErrBusClosed) {
				e.log.Error("subscription ended", slog.String("topic", TopicExecutions), slog.Any("error", err))
			}
		}()
	} else {
		subscribe(TopicExecutions, "executor", e.handleExecutionEvent)
	}
	subscribe(TopicTaskRuns, "worker", e.handleTaskRun)
	<-ready
	<-ready
	// A bus that keeps nothing for a group before it subscribes (the
	// in-process one) says when the subscriptions exist; events published
	// before that would be lost. Kafka keeps them, and needs no wait.
	if sb, ok := e.cfg.Bus.(interface{ Subscribers(topic, group string) int }); ok {
		for sb.Subscribers(TopicExecutions, "executor") == 0 || sb.Subscribers(TopicTaskRuns, "worker") == 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Millisecond):
			}
		}
	}
	// Only now: the in-process bus drops what is published to a group
	// before it subscribes.
	if err := e.drainOutbox(ctx); err != nil {
		return fmt.Errorf("recovering the outbox: %w", err)
	}
	go e.timerLoop(ctx)
	e.resumeQueues(ctx)
	return nil
}

// The parts of Start, for deployments where something else consumes the
// topics: a Lambda function behind a Kafka event source, or `relay dev`
// handing batches to the same handlers.

// ExecutorHandler is the executor: it applies an event of
// TopicExecutions to its execution, commits and carries out the commands.
func (e *Engine) ExecutorHandler() Handler { return e.handleExecutionEvent }

// ExecutorBatchHandler is the executor for a batch of TopicExecutions
// records, in order: each execution's events are applied together and
// committed in as few writes as the store allows.
func (e *Engine) ExecutorBatchHandler() BatchHandler { return e.handleExecutionBatch }

// WorkerHandler is the worker: it runs a scheduled attempt from
// TopicTaskRuns and reports its start and end.
func (e *Engine) WorkerHandler() Handler { return e.handleTaskRun }

// Conflicts counts the commits lost to another executor (each was
// reloaded and applied again).
func (e *Engine) Conflicts() int64 { return e.conflicts.Load() }

// Recover carries out the commands a stopped process committed but did not
// finish (the outbox).
func (e *Engine) Recover(ctx context.Context) error { return e.drainOutbox(ctx) }

// RunTimers publishes due durable timers until ctx ends.
func (e *Engine) RunTimers(ctx context.Context) { e.timerLoop(ctx) }

// FireTimers publishes the timers due now, once (the scheduler's tick).
func (e *Engine) FireTimers(ctx context.Context) error {
	for {
		due, err := e.cfg.Store.DueTimers(ctx, e.cfg.Now(), 256)
		if err != nil {
			return fmt.Errorf("reading due timers: %w", err)
		}
		var failed error
		for _, t := range due {
			err := e.publish(ctx, TopicExecutions, t.ExecutionID, statemachine.Event{
				ID: t.ID, Type: statemachine.EvTimerFired, ExecutionID: t.ExecutionID, TaskRunID: t.TaskRunID, Attempt: t.Attempt, Timer: t.Kind,
			})
			if err == nil {
				err = e.cfg.Store.DeleteTimer(ctx, t.ID)
			}
			if err != nil && failed == nil {
				failed = fmt.Errorf("firing timer %s: %w", t.ID, err)
			}
		}
		if failed != nil || len(due) < 256 {
			if failed == nil {
				failed = e.sweepExpired(ctx)
			}
			return failed
		}
	}
}

// resumeQueues starts queued executions whose slots were freed while no
// engine ran (a process stopped between an end and its dequeue).
func (e *Engine) resumeQueues(ctx context.Context) {
	queued, err := e.cfg.Store.Executions(ctx, ExecutionFilter{State: statemachine.ExecQueued})
	if err != nil {
		e.log.Error("listing queued executions", slog.Any("error", err))
		return
	}
	seen := map[string]bool{}
	for _, ex := range queued {
		key := flowKey(ex.Namespace, ex.FlowID, ex.Revision)
		if seen[key] {
			continue
		}
		seen[key] = true
		f, err := e.Flow(ctx, ex.Namespace, ex.FlowID, ex.Revision)
		if err != nil {
			e.log.Error("loading the flow of a queued execution", slog.String("execution", ex.ID), slog.Any("error", err))
			continue
		}
		e.dequeue(ctx, f)
	}
}

// ParseFlow parses and validates a flow document, its triggers included
// (cron expressions, time zones, event filters): what SaveFlow stores.
func ParseFlow(file string, source []byte) (*flow.Flow, error) {
	f, err := flow.Parse(file, source)
	if err != nil {
		return nil, err
	}
	if _, err := triggers.Compile(file, f); err != nil {
		return nil, err
	}
	return f, nil
}

// SaveFlow validates a flow document and stores it as a new revision
// (or finds the revision with the same source).
func SaveFlow(ctx context.Context, st Store, file string, source []byte) (FlowRecord, *flow.Flow, error) {
	f, err := ParseFlow(file, source)
	if err != nil {
		return FlowRecord{}, nil, err
	}
	rec, err := st.SaveFlow(ctx, f.Namespace, f.ID, source)
	if err != nil {
		return FlowRecord{}, nil, fmt.Errorf("saving flow %s/%s: %w", f.Namespace, f.ID, err)
	}
	f.Revision = rec.Revision
	return rec, f, nil
}

// Deploy stores a flow document (validated first) and returns its record.
func (e *Engine) Deploy(ctx context.Context, file string, source []byte) (FlowRecord, *flow.Flow, error) {
	rec, f, err := SaveFlow(ctx, e.cfg.Store, file, source)
	if err == nil {
		e.flows.Add(f)
	}
	return rec, f, err
}

// Flow returns a parsed revision of a stored flow (0: the latest).
func (e *Engine) Flow(ctx context.Context, ns, id string, rev int) (*flow.Flow, error) {
	return e.flows.Get(ctx, ns, id, rev)
}

// Submit requests a new execution of a flow: of ev.Revision, or of the
// latest revision when it is 0 (the executor then reads which it is).
func (e *Engine) Submit(ctx context.Context, ev statemachine.Event) error {
	ev.Type = statemachine.EvExecutionRequested
	if ev.ID == "" {
		ev.ID = ev.ExecutionID + "/requested"
	}
	return e.publish(ctx, TopicExecutions, ev.ExecutionID, ev)
}

// Send publishes a state machine event (resume, kill) for an execution.
func (e *Engine) Send(ctx context.Context, ev statemachine.Event) error {
	return e.publish(ctx, TopicExecutions, ev.ExecutionID, ev)
}

func (e *Engine) publish(ctx context.Context, topic, key string, ev statemachine.Event) error {
	ce, err := MachineEvent(ev, "relay/engine", e.cfg.Now())
	if err != nil {
		return err
	}
	if err := e.send(ctx, topic, key, ce); err != nil {
		return fmt.Errorf("publishing %s for %s: %w", ev.Type, ev.ExecutionID, err)
	}
	return nil
}

func (e *Engine) lockExec(id string) func() {
	e.mu.Lock()
	m := e.execMu[id]
	if m == nil {
		m = &execLock{}
		e.execMu[id] = m
	}
	m.users++
	e.mu.Unlock()
	m.Lock()
	return func() {
		m.Unlock()
		e.mu.Lock()
		if m.users--; m.users == 0 {
			delete(e.execMu, id)
		}
		e.mu.Unlock()
	}
}

// handleExecutionEvent is the executor: load, apply, commit, carry out.
func (e *Engine) handleExecutionEvent(ctx context.Context, ce cloudevents.Event) error {
	ce, err := e.resolveEvent(ctx, ce)
	if err != nil {
		return err // redelivered, then dead-lettered: the blob may be missing for good
	}
	ev, err := DecodeMachineEvent(ce)
	if err != nil {
		return CannotApply("event %s (%s) does not decode: %w", ce.ID(), ce.Type(), err)
	}
	if ev.ExecutionID == "" {
		return CannotApply("event %s (%s) names no execution", ce.ID(), ce.Type())
	}
	return e.process(ctx, ev)
}

// handleExecutionBatch is the executor for a batch of events: it groups
// them by execution, keeping their order, and applies each execution's
// together. The events of one execution share a key, so a batch holds them
// in order; different executions are independent, and up to
// batchExecutions of them are processed at once, so that a batch waits for
// the slowest commit and publish among them rather than for all of them
// in a row. The batch fails if any execution's events fail (the bus
// delivers it again; what succeeded is recognised then).
func (e *Engine) handleExecutionBatch(ctx context.Context, ces []cloudevents.Event) error {
	var order []string
	byExec := map[string][]statemachine.Event{}
	for _, ce := range ces {
		ce, err := e.resolveEvent(ctx, ce)
		if err != nil {
			return err // redelivered, then dead-lettered: the blob may be missing for good
		}
		ev, err := DecodeMachineEvent(ce)
		if err != nil {
			// The batch fails; delivered one at a time in the end, this
			// event goes to the dead letters.
			return CannotApply("event %s (%s) does not decode: %w", ce.ID(), ce.Type(), err)
		}
		if _, ok := byExec[ev.ExecutionID]; !ok {
			order = append(order, ev.ExecutionID)
		}
		byExec[ev.ExecutionID] = append(byExec[ev.ExecutionID], ev)
	}
	if len(order) == 1 {
		return e.processBatch(ctx, byExec[order[0]])
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		slots = make(chan struct{}, batchExecutions)
	)
	for _, id := range order {
		slots <- struct{}{}
		wg.Add(1)
		go func(evs []statemachine.Event) {
			defer func() { <-slots; wg.Done() }()
			if err := e.processBatch(ctx, evs); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}(byExec[id])
	}
	wg.Wait()
	return first
}

// batchExecutions is how many executions of one batch the executor
// processes at once: each mostly waits for its commit and its publish.
const batchExecutions = 8

// delivery tells the engine how an event reached it.
type delivery int

const (
	// direct: applied by the engine itself (a dequeue); nothing delivers
	// it again.
	direct delivery = iota
	// redelivered: from the bus, which delivers it again until its
	// handler succeeds (see Commit.Replayable).
	redelivered
)

// process applies one event to its execution. When the event ends an
// execution of a flow with a concurrency limit, the oldest queued
// executions of that flow start, after the execution's own lock is
// released (see dequeue for the lock order).
func (e *Engine) process(ctx context.Context, ev statemachine.Event) error {
	return e.processBatch(ctx, []statemachine.Event{ev})
}

// processBatch applies events of one execution, in order, in as few
// commits as the store's limits allow (see applyAll), then starts queued
// executions whose slots they freed.
func (e *Engine) processBatch(ctx context.Context, evs []statemachine.Event) error {
	var freed []*flow.Flow
	for len(evs) > 0 {
		n := batchable(evs)
		f, err := e.processOne(ctx, evs[:n], redelivered)
		if err != nil {
			return err
		}
		if f != nil && !slices.Contains(freed, f) {
			freed = append(freed, f)
		}
		evs = evs[n:]
	}
	for _, f := range freed {
		e.dequeue(ctx, f)
	}
	return nil
}

// batchable is how many of evs, from the first, may be applied together:
// requests and dequeues (which take concurrency slots) go alone, and at
// most maxBatchEvents.
func batchable(evs []statemachine.Event) int {
	alone := func(ev statemachine.Event) bool {
		return ev.Type == statemachine.EvExecutionRequested || ev.Type == statemachine.EvDequeued
	}
	if alone(evs[0]) {
		return 1
	}
	n := 1
	for n < len(evs) && n < maxBatchEvents && !alone(evs[n]) {
		n++
	}
	return n
}

// Batches of events applied together: at most maxBatchEvents events (far
// fewer than an execution remembers, statemachine.SeenLimit, so that a
// batch delivered again is recognised whole), and commits of at most
// about maxCommitWrites runs, outbox entries and timers (DynamoDB takes
// 100 items in a transaction). One event may write more on its own.
const (
	maxBatchEvents  = 32
	maxCommitWrites = 48
)

// ResumeQueues starts queued executions whose flows have free slots (a
// slot freed by a process that stopped before dequeuing). `relay dev`
// calls it every few seconds.
func (e *Engine) ResumeQueues(ctx context.Context) { e.resumeQueues(ctx) }

// processOne applies evs, events of one execution, under its lock, and
// returns the flow whose concurrency slot they freed, if any. It commits as
// often as applyAll stops.
func (e *Engine) processOne(ctx context.Context, evs []statemachine.Event, how delivery) (*flow.Flow, error) {
	unlock := e.lockExec(evs[0].ExecutionID)
	defer unlock()
	const maxConflicts = 20
	var freed *flow.Flow
	for try := 0; len(evs) > 0; try++ {
		out, n, err := e.applyAll(ctx, evs, how, try == 0)
		if errors.Is(err, ErrConflict) && try < maxConflicts {
			e.conflicts.Add(1)
			continue // another executor won: reload and apply again
		}
		if err != nil {
			return nil, err
		}
		// The transition is durable: finish carrying out its commands even
		// if the process is stopping, so a restart has nothing to replay.
		// Commands kept in the execution are carried out again only when
		// the event is delivered again: a failure must reach the bus.
		if err := e.carryOut(context.WithoutCancel(ctx), out.entries); err != nil && how == redelivered {
			return nil, err
		}
		if e.cfg.OnCommit != nil && out.ex != nil {
			e.cfg.OnCommit(out.ex, out.changed)
		}
		if out.ended != nil {
			if err := e.releaseSlot(ctx, out.ended, evs[0].ExecutionID); err != nil {
				// The next admission that finds the slots full takes it back.
				e.log.Error("giving back a concurrency slot", slog.String("execution", evs[0].ExecutionID), slog.Any("error", err))
			}
		}
		if out.freed != nil {
			freed = out.freed
		}
		evs, try = evs[n:], -1
	}
	return freed, nil
}

// applied is what apply committed.
type applied struct {
	entries []OutboxEntry
	ex      *statemachine.Execution // nil when nothing was committed
	changed []*statemachine.TaskRun
	// ended is the flow with a concurrency limit whose execution the
	// event ended: its slot is given back.
	ended *flow.Flow
	// freed is the flow whose queued executions may start now: the event
	// ended one of its executions, or queued a new one (a slot may have
	// been freed meanwhile by a process that did not see it).
	freed *flow.Flow
}

func (e *Engine) lockFlow(f *flow.Flow) func() {
	return e.lockExec("flow:" + f.Namespace + "/" + f.ID)
}

// dequeue starts the oldest queued executions of f while slots are free
// (see slots.go). Lock order: a flow's lock, then an execution's; process
// releases an execution's lock before dequeuing, so no cycle.
func (e *Engine) dequeue(ctx context.Context, f *flow.Flow) {
	if f.Concurrency == nil {
		return
	}
	unlock := e.lockFlow(f)
	defer unlock()
	queued, err := e.cfg.Store.Executions(ctx, ExecutionFilter{Namespace: f.Namespace, FlowID: f.ID, State: statemachine.ExecQueued})
	if err != nil {
		e.log.Error("listing queued executions", slog.String("flow", f.Namespace+"/"+f.ID), slog.Any("error", err))
		return
	}
	for i := len(queued) - 1; i >= 0; i-- { // oldest first
		ex := queued[i]
		ok, err := e.acquireSlot(ctx, f, ex.ID)
		if err != nil {
			e.log.Error("taking a concurrency slot for a queued execution", slog.String("execution", ex.ID), slog.Any("error", err))
			return
		}
		if !ok {
			return
		}
		if _, err := e.processOne(ctx, []statemachine.Event{{ID: ex.ID + "/dequeued", Type: statemachine.EvDequeued, ExecutionID: ex.ID}}, direct); err != nil {
			e.log.Error("starting a queued execution", slog.String("execution", ex.ID), slog.Any("error", err))
			return
		}
	}
}

// applyAll loads the execution, applies the events of evs in order and
// commits the result with its commands, in one commit: it stops after the
// event that brings the commit to maxCommitWrites writes, and returns how
// many events it applied (the caller goes on with the rest). A new
// execution of a flow with a concurrency limit is admitted under the
// flow's lock, so two requests cannot take the last slot (requests come
// alone: see batchable).
func (e *Engine) applyAll(ctx context.Context, evs []statemachine.Event, how delivery, first bool) (applied, int, error) {
	ev0 := evs[0]
	ex := e.cache.take(ev0.ExecutionID)
	cached := ex != nil
	// A request is, but for a redelivery, for an execution that does not
	// exist yet: on the first try it is applied without reading, and the
	// commit, a conditional create, tells (a conflict reads and applies
	// again). Not for flows with a concurrency limit, whose slot is taken
	// before the commit.
	var f *flow.Flow // the requested flow, when it is loaded first
	assumeNew := first && !cached && ev0.Type == statemachine.EvExecutionRequested
	if assumeNew {
		var err error
		if f, err = e.Flow(ctx, ev0.Namespace, ev0.FlowID, ev0.Revision); err != nil || f.Concurrency != nil {
			assumeNew, f = false, nil
		}
	}
	if !cached && !assumeNew {
		var err error
		ex, err = e.cfg.Store.Execution(ctx, ev0.ExecutionID)
		switch {
		case errors.Is(err, ErrNotFound):
			ex = nil
		case err != nil:
			return applied{}, 0, fmt.Errorf("loading execution %s: %w", ev0.ExecutionID, err)
		}
	}
	var err error
	switch {
	case ex != nil:
		f, err = e.Flow(ctx, ex.Namespace, ex.FlowID, ex.Revision)
	case f == nil:
		f, err = e.Flow(ctx, ev0.Namespace, ev0.FlowID, ev0.Revision)
	}
	if err != nil {
		if errors.Is(err, ErrNotFound) && ex == nil && ev0.Parent != nil {
			return applied{}, 1, e.failMissingSubflow(ctx, ev0)
		}
		if !errors.Is(err, ErrNotFound) {
			return applied{}, 0, fmt.Errorf("loading the flow of execution %s: %w", ev0.ExecutionID, err)
		}
		if ex == nil && ev0.Type != statemachine.EvExecutionRequested {
			return applied{}, 0, CannotApply("%s %s: execution %s does not exist", ev0.Type, ev0.ID, ev0.ExecutionID)
		}
		return applied{}, 0, CannotApply("%s %s for execution %s: its flow cannot be loaded: %w", ev0.Type, ev0.ID, ev0.ExecutionID, err)
	}
	var expected int64
	wasDone, wasNew := false, ex == nil
	if ex != nil {
		expected = ex.Version
		wasDone = ex.State.Terminal()
	}
	// A restart takes a slot as a request does: it is applied first in its
	// batch (see the loop) and, once applied, the execution is no longer done.
	restarting := ev0.Type == statemachine.EvRestart && ex != nil && (ex.State == statemachine.ExecFailed || ex.State == statemachine.ExecKilled)
	if (ex == nil && ev0.Type == statemachine.EvExecutionRequested || restarting) && f.Concurrency != nil {
		ok, err := e.acquireSlot(ctx, f, ev0.ExecutionID)
		if err != nil {
			return applied{}, 0, err
		}
		if !ok {
			evs[0].OverLimit = f.Concurrency.Behavior
		}
	}
	if restarting {
		wasDone = false
	}
	now := e.cfg.Now()
	opts := e.machineOptions(ctx, f.Namespace)
	if ex == nil && ev0.Type == statemachine.EvExecutionRequested && ev0.Replay != nil {
		src, err := e.cfg.Store.Execution(ctx, ev0.Replay.ExecutionID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return applied{}, 0, fmt.Errorf("reading execution %s to replay: %w", ev0.Replay.ExecutionID, err)
		}
		opts.ReplaySource = src // nil: the replay fails, saying so
	}
	c := Commit{Expected: expected, Replayable: how == redelivered}
	var replays []OutboxEntry
	changed := map[*statemachine.TaskRun]bool{}
	n := 0
	for k, ev := range evs {
		if k > 0 && len(c.Changed)+len(c.Outbox)+len(c.Timers) >= maxCommitWrites {
			break
		}
		if k > 0 && ev.Type == statemachine.EvRestart && f.Concurrency != nil {
			break // first in the next batch, where it takes a slot
		}
		n++
		res, err := statemachine.Apply(f, ex, ev, now, opts)
		if (cached || assumeNew) && (err != nil || res.Ignored != "") {
			// The cached execution may be stale: decide on the stored one.
			return e.applyAll(ctx, evs, how, false)
		}
		if err != nil && k > 0 {
			// The execution may be partly changed: commit the events
			// before this one, from the stored execution; this one comes
			// first in the next batch, and fails there alone.
			return e.applyAll(ctx, evs[:k], how, false)
		}
		if err != nil {
			// Impossible or malformed events change nothing; they go to the
			// dead letters, with the reason, rather than being redelivered
			// for ever.
			return applied{}, 0, CannotApply("%s %s for execution %s: %w", ev.Type, ev.ID, ev.ExecutionID, err)
		}
		if res.Ignored != "" {
			e.log.Debug("event ignored", slog.String("execution", ev.ExecutionID), slog.String("event", ev.ID), slog.String("why", res.Ignored))
			again, err := e.replay(ctx, ex, ev, how)
			if err != nil {
				return applied{}, 0, err
			}
			replays = append(replays, again...)
			continue
		}
		ex = res.Execution
		for _, r := range res.Changed {
			if !changed[r] {
				changed[r] = true
				c.Changed = append(c.Changed, r)
			}
		}
		c.Items = append(c.Items, res.NewItems...)
		for i, cmd := range res.Commands {
			if t, ok := cmd.(statemachine.StartTimer); ok {
				// Durable as a timer: nothing to carry out. A timer started
				// again by a later event of the batch replaces the first
				// (one write per item: a DynamoDB transaction takes no two).
				timer := Timer{ID: timerID(t), ExecutionID: t.ExecutionID, TaskRunID: t.TaskRunID, Attempt: t.Attempt, Kind: t.Kind, FireAt: t.FireAt}
				c.Timers = slices.DeleteFunc(c.Timers, func(o Timer) bool { return o.ID == timer.ID })
				c.Timers = append(c.Timers, timer)
				continue
			}
			entry, err := encodeCommand(cmd, fmt.Sprintf("%s/%d/%d", ex.ID, ex.Version, i), ex.ID, now)
			if err != nil {
				return applied{}, 0, err
			}
			c.Outbox = append(c.Outbox, entry)
		}
	}
	if ex == nil || ex.Version == expected { // nothing applied
		if cached {
			e.cache.put(ex)
		}
		return applied{entries: replays}, n, nil
	}
	c.Execution = ex
	if err := e.cfg.Store.Commit(ctx, c); err != nil {
		return applied{}, 0, fmt.Errorf("committing execution %s version %d: %w", ex.ID, ex.Version, err)
	}
	fault("after-commit")
	e.cache.put(ex)
	out := applied{entries: append(replays, c.Outbox...), ex: ex, changed: c.Changed}
	if f.Concurrency != nil && !wasDone && ex.State.Terminal() {
		out.ended, out.freed = f, f
	}
	if f.Concurrency != nil && (wasNew || restarting) && ex.State == statemachine.ExecQueued {
		out.freed = f
	}
	return out, n, nil
}

// kv is the KV store, in the engine's store.
func (e *Engine) kv() RecordKV { return RecordKV{Store: e.cfg.Store, Now: e.cfg.Now} }

// machineOptions are what the state machine may not fetch itself.
func (e *Engine) machineOptions(ctx context.Context, namespace string) statemachine.Options {
	return statemachine.Options{Secrets: e.sealer(), Read: e.reader(ctx, namespace), FileSize: e.fileSize(ctx, namespace), AttemptTimeout: e.cfg.AttemptTimeout, Envs: e.cfg.Envs, Globals: e.cfg.Globals, KV: e.kv().exprKV(ctx)}
}

// replay returns the commands of ev's commit again when ev is the
// execution's last applied event, delivered again, and the store kept the
// commands in the execution (OutboxKeeper): the process that committed
// them may have stopped before carrying them out. Carrying them out twice
// is recognised downstream by their ids.
func (e *Engine) replay(ctx context.Context, ex *statemachine.Execution, ev statemachine.Event, how delivery) ([]OutboxEntry, error) {
	k, ok := e.cfg.Store.(OutboxKeeper)
	if !ok || how != redelivered || ex == nil || ex.LastEvent() != ev.ID {
		return nil, nil
	}
	entries, err := k.LastOutbox(ctx, ex.ID)
	if err != nil {
		return nil, fmt.Errorf("reading the commands of execution %s's last event: %w", ex.ID, err)
	}
	if len(entries) > 0 {
		e.log.Debug("carrying out the commands of a redelivered event again", slog.String("execution", ex.ID), slog.String("event", ev.ID), slog.Int("commands", len(entries)))
	}
	return entries, nil
}

// failMissingSubflow answers a parent whose subflow does not exist.
func (e *Engine) failMissingSubflow(ctx context.Context, ev statemachine.Event) error {
	p := ev.Parent
	e.log.Info("subflow not found", slog.String("flow", ev.Namespace+"/"+ev.FlowID), slog.String("parent", p.ExecutionID))
	e.appendLogs(ctx, []LogEntry{{ExecutionID: p.ExecutionID, TaskRunID: p.TaskRunID, Time: e.cfg.Now(), Level: "ERROR",
		Message: fmt.Sprintf("subflow %s/%s does not exist (deploy it with `relay flows deploy`, or pass --flows DIR)", ev.Namespace, ev.FlowID)}})
	return e.publish(ctx, TopicExecutions, p.ExecutionID, statemachine.Event{
		ID: ev.ExecutionID + "/finished", Type: statemachine.EvSubflowFinished, ExecutionID: p.ExecutionID, TaskRunID: p.TaskRunID,
		ChildExecutionID: ev.ExecutionID, ChildState: statemachine.ExecFailed,
	})
}

// carryOut performs committed commands and acknowledges those in the
// outbox. A failure leaves the entry in the outbox for the next recovery
// pass (or, kept in the execution, for the redelivery of its event) and
// is returned, the first one, once the others are carried out.
func (e *Engine) carryOut(ctx context.Context, entries []OutboxEntry) error {
	var done []string
	var failed error
	for _, entry := range entries {
		cmd, err := decodeCommand(entry)
		if err == nil {
			err = e.perform(ctx, cmd)
		}
		if err != nil {
			if errors.Is(err, ErrBusClosed) {
				e.log.Debug("command not carried out: the bus is closed", slog.String("entry", entry.ID), slog.String("kind", entry.Kind))
			} else {
				e.log.Log(ctx, LogLevel(err), "command not carried out", slog.String("entry", entry.ID), slog.String("kind", entry.Kind), slog.Bool("kept", entry.Kept), slog.Any("error", err))
			}
			if failed == nil {
				failed = fmt.Errorf("carrying out %s %s: %w", entry.Kind, entry.ID, err)
			}
			continue
		}
		if !entry.Kept {
			done = append(done, entry.ID)
		}
	}
	if len(done) == 0 {
		return failed
	}
	// The acknowledgement is off the critical path: the execution's next
	// event need not wait for it, and a store that groups writes folds it
	// into the next commit. Losing it only means carrying the commands out
	// again after a restart, which consumers recognise by their ids.
	e.acks.Add(1)
	go func() {
		defer e.acks.Done()
		if err := e.cfg.Store.AckOutbox(ctx, done...); err != nil {
			e.log.Error("acknowledging the outbox", slog.Any("error", err))
		}
	}()
	return failed
}

// Wait blocks until background work (outbox acknowledgements) is done.
// Call it after the bus is closed and before the store is.
func (e *Engine) Wait() { e.acks.Wait() }

func (e *Engine) drainOutbox(ctx context.Context) error {
	for {
		entries, err := e.cfg.Store.Outbox(ctx, 256)
		if err != nil {
			return err
		}
		if len(entries) == 0 {
			return nil
		}
		e.carryOut(ctx, entries)
		e.Wait()
		if again, err := e.cfg.Store.Outbox(ctx, 1); err != nil || len(again) > 0 && again[0].ID == entries[0].ID {
			return err // entries that cannot be carried out now wait for the next start
		}
	}
}

func (e *Engine) perform(ctx context.Context, cmd statemachine.Command) error {
	now := e.cfg.Now()
	switch c := cmd.(type) {
	case statemachine.ScheduleTaskRun:
		if c.Cache != nil {
			if v, ok := e.cachedOutputs(ctx, c); ok {
				return e.reportCached(ctx, c, v)
			}
		}
		ce, err := NewEvent(fmt.Sprintf("%s/%s/%d/scheduled", c.ExecutionID, c.TaskRunID, c.Attempt), TypeTaskRunScheduled, "relay/executor", c.ExecutionID, now, c)
		if err != nil {
			return err
		}
		// Task-run ids repeat across executions of a flow: the key names
		// the execution too, so that attempts of different executions
		// never wait for each other behind one key.
		return e.send(ctx, TopicTaskRuns, c.ExecutionID+"/"+c.TaskRunID, ce)
	case statemachine.StartTimer:
		return nil // durable in the store; the timer loop fires it
	case statemachine.KillAttempt:
		e.killAttempt(fmt.Sprintf("%s/%s/%d", c.ExecutionID, c.TaskRunID, c.Attempt))
		return nil
	case statemachine.StartSubflow:
		if c.Restart > 0 {
			return e.publish(ctx, TopicExecutions, c.ExecutionID, statemachine.Event{
				ID: fmt.Sprintf("%s/restart/%s/%d", c.ExecutionID, c.Parent.ExecutionID, c.Restart), Type: statemachine.EvRestart, ExecutionID: c.ExecutionID,
			})
		}
		return e.publish(ctx, TopicExecutions, c.ExecutionID, statemachine.Event{
			ID: c.ExecutionID + "/requested", Type: statemachine.EvExecutionRequested, ExecutionID: c.ExecutionID,
			Namespace: c.Namespace, FlowID: c.FlowID, Revision: c.Revision, Inputs: c.Inputs, Labels: c.Labels, Parent: &c.Parent,
		})
	case statemachine.ExecutionFinished:
		ce, err := NewEvent(c.FinishedID(), TypeExecutionFinished, "relay/executor", c.ExecutionID, now, c)
		if err != nil {
			return err
		}
		if err := e.send(ctx, TopicEvents, c.ExecutionID, ce); err != nil {
			return err
		}
		if p := c.Parent; p != nil {
			return e.publish(ctx, TopicExecutions, p.ExecutionID, statemachine.Event{
				ID: c.FinishedID(), Type: statemachine.EvSubflowFinished, ExecutionID: p.ExecutionID, TaskRunID: p.TaskRunID,
				ChildExecutionID: c.ExecutionID, ChildState: c.State, ChildOutputs: c.ChildOutputs(),
			})
		}
		return nil
	case statemachine.Log:
		return e.appendLogs(ctx, []LogEntry{{ExecutionID: c.ExecutionID, TaskRunID: c.TaskRunID, TaskID: c.TaskID, Time: now, Level: c.Level, Message: c.Message}})
	case statemachine.Continue:
		return e.publish(ctx, TopicExecutions, c.ExecutionID, statemachine.Event{ID: c.EventID, Type: statemachine.EvContinue, ExecutionID: c.ExecutionID})
	}
	return fmt.Errorf("unknown command %T", cmd)
}

// killAttempt stops an attempt running here, or, when it has not started
// here, remembers that it is killed: if it comes to this process's workers
// (queued on the bus, or waiting for a worker), it ends KILLED without
// running. Memory is bounded: kills of attempts that never come here are
// forgotten after killMemory.
func (e *Engine) killAttempt(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if cancel := e.running[key]; cancel != nil {
		cancel()
		return
	}
	now := e.cfg.Now()
	if len(e.killed) >= maxKilled {
		for k, at := range e.killed {
			if now.Sub(at) > killMemory {
				delete(e.killed, k)
			}
		}
	}
	e.killed[key] = now
}

// takeKilled reports whether the attempt was killed before it started
// here, and forgets it.
func (e *Engine) takeKilled(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, ok := e.killed[key]
	delete(e.killed, key)
	return ok
}

// How many kills of attempts not running here are remembered, and for how
// long once there are that many.
const (
	maxKilled  = 1 << 14
	killMemory = 10 * time.Minute
)

func (e *Engine) appendLogs(ctx context.Context, entries []LogEntry) error {
	for i := range entries {
		// The state machine's lines may quote rendered values, whose
		// secrets are markers: a person sees ******.
		entries[i].Message = secrets.MaskText(entries[i].Message)
	}
	if err := e.cfg.Store.AppendLogs(ctx, entries); err != nil {
		return fmt.Errorf("storing logs: %w", err)
	}
	if e.cfg.OnLog != nil {
		for _, l := range entries {
			e.cfg.OnLog(l)
		}
	}
	return nil
}

// timerLoop publishes timer.fired events for due durable timers.
func (e *Engine) timerLoop(ctx context.Context) {
	tick := time.NewTicker(e.cfg.TimerPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := e.FireTimers(ctx); err != nil && ctx.Err() == nil {
			e.log.Log(ctx, LogLevel(err), "firing timers", slog.Any("error", err))
		}
	}
}
