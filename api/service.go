// Package api is Relay's control plane: deploy flows, start, inspect,
// resume and kill executions, and publish CloudEvents. Service does it on a
// deployment's store and bus; Handler serves it over HTTP (functions/api in
// Lambda, `relay dev --role api` locally); Client calls that HTTP API, so
// the CLI works the same against the embedded store, a deployment's table
// and topics, or its API.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/firing"
	"github.com/relayflow/relay/secrets"
	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/statemachine/expr"
	"github.com/relayflow/relay/statemachine/flow"
	"github.com/relayflow/relay/statemachine/inputs"
	"github.com/relayflow/relay/storage"
)

// Errors a Service returns besides engine.ErrNotFound; test with errors.Is.
var (
	// ErrInvalid: the request itself is wrong (a flow that does not
	// validate, bad inputs, a malformed event). The HTTP status is 400.
	ErrInvalid = errors.New("invalid request")
	// ErrState: the execution's state does not allow it (resuming one that
	// is not paused, killing one that ended). The HTTP status is 409.
	ErrState = errors.New("not allowed in the execution's state")
)

// Publisher publishes CloudEvents to a topic (an engine.Bus does).
type Publisher interface {
	Publish(ctx context.Context, topic, key string, ev cloudevents.Event) error
}

// Service carries out control-plane requests on a store and a bus.
type Service struct {
	store   engine.Store
	bus     Publisher
	now     func() time.Time
	flows   *engine.Flows
	secrets *secrets.Keyring
	// lookup resolves secret() in webhook keys given as expressions.
	lookup secrets.Lookup
	files  *storage.Storage // nil: FILE inputs are refused
}

// NewService returns a Service. bus may be nil for a read-only service
// (starting, resuming and killing then fail).
func NewService(store engine.Store, bus Publisher, opts ...Option) *Service {
	s := &Service{store: store, bus: bus, now: time.Now, flows: engine.NewFlows(store)}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Option configures a Service.
type Option func(*Service)

// WithSecrets seals the values of SECRET inputs with k before they are
// published: without it, a request that gives one is refused.
func WithSecrets(k *secrets.Keyring) Option { return func(s *Service) { s.secrets = k } }

// WithSecretLookup lets webhook keys given as expressions read secret()
// from lookup: the key is rendered with the clear value to be compared
// with the call's, and kept nowhere. Without it, such a trigger is
// skipped.
func WithSecretLookup(l secrets.Lookup) Option { return func(s *Service) { s.lookup = l } }

// WithFiles lets the service store the files of FILE inputs in files:
// without it, a request that sends one is refused.
func WithFiles(files *storage.Storage) Option { return func(s *Service) { s.files = files } }

// File is the content of a FILE input sent when starting an execution.
type File struct {
	// Filename is the file's name where it came from; its base name names
	// it in internal storage.
	Filename string
	Body     io.Reader
	// Size is Body's length, or -1.
	Size int64
}

// Source is the CloudEvents source of the events the API publishes.
const Source = "relay/api"

// Started describes an execution that was requested.
type Started struct {
	ID        string `json:"id"`
	Namespace string `json:"namespace"`
	FlowID    string `json:"flowId"`
	Revision  int    `json:"revision"`
	// Replayed: the request's idempotency key (or execution id) was seen
	// before, and this is the execution it started then.
	Replayed bool `json:"replayed,omitempty"`
}

// Invalid wraps err (a flow's diagnostics, input errors) as ErrInvalid,
// keeping it reachable with errors.As.
func Invalid(err error) error { return &invalidError{err} }

type invalidError struct{ err error }

func (e *invalidError) Error() string   { return e.err.Error() }
func (e *invalidError) Unwrap() []error { return []error{ErrInvalid, e.err} }

// DeployFlow validates a flow document and stores it as a new revision (or
// returns the revision with the same source). file names the document in
// error messages.
func (s *Service) DeployFlow(ctx context.Context, file string, source []byte) (engine.FlowRecord, error) {
	rec, f, err := engine.SaveFlow(ctx, s.store, file, source)
	var diags flow.Diagnostics
	var diag flow.Diagnostic
	if errors.As(err, &diags) || errors.As(err, &diag) {
		return rec, Invalid(err)
	}
	if err != nil {
		return rec, err
	}
	s.flows.Add(f)
	if err := firing.Index(ctx, s.store, f, s.now()); err != nil {
		return rec, fmt.Errorf("indexing the triggers of %s/%s revision %d: %w", f.Namespace, f.ID, f.Revision, err)
	}
	return rec, nil
}

// Triggers describes the triggers of every flow's latest revision, with
// when each last fired and when a schedule fires next.
func (s *Service) Triggers(ctx context.Context) ([]firing.Info, error) {
	list, err := firing.List(ctx, s.store, s.now())
	if err != nil {
		return nil, fmt.Errorf("listing triggers: %w", err)
	}
	if list == nil {
		list = []firing.Info{}
	}
	return list, nil
}

// Webhook starts the flow of the webhook trigger with this key (see
// firing.Webhook); a wrong namespace, flow or key is firing.ErrNoWebhook,
// which wraps engine.ErrNotFound.
func (s *Service) Webhook(ctx context.Context, namespace, flowID, key string, vars map[string]any) (Started, error) {
	if s.bus == nil {
		return Started{}, errors.New("starting a webhook's flow: this service has no bus")
	}
	var secret func(string) (string, error)
	if s.lookup != nil {
		secret = func(name string) (string, error) { return s.lookup(ctx, namespace, name) }
	}
	id, rev, err := firing.Webhook(ctx, s.store, s.bus, nil, secret, namespace, flowID, key, vars, s.now())
	if err != nil {
		return Started{}, err
	}
	return Started{ID: id, Namespace: namespace, FlowID: flowID, Revision: rev}, nil
}

// Flow returns a revision of a flow (0: the latest).
func (s *Service) Flow(ctx context.Context, namespace, id string, revision int) (engine.FlowRecord, error) {
	rec, err := s.store.Flow(ctx, namespace, id, revision)
	if err != nil {
		return rec, fmt.Errorf("reading flow %s/%s: %w", namespace, id, err)
	}
	return rec, nil
}

// Flows returns the latest revision of every flow.
func (s *Service) Flows(ctx context.Context) ([]engine.FlowRecord, error) {
	list, err := s.store.Flows(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing flows: %w", err)
	}
	return list, nil
}

// Start requests an execution of the latest revision of a flow, named in
// the request: the one whose inputs were checked and whose number the
// caller is told, even if another is stored meanwhile. The inputs are
// checked first, so a mistake is an error here rather than a failed
// execution; labels are added to the flow's own. See StartWith for
// idempotent starts.
func (s *Service) Start(ctx context.Context, namespace, id string, inputs map[string]any, labels []flow.Label) (Started, error) {
	return s.StartWith(ctx, namespace, id, inputs, labels, StartOptions{})
}

// checkInputs checks the inputs of a start of f, files being the FILE
// inputs whose content comes with it (their URIs are known only once they
// are stored, after this check: any URI of internal storage stands in).
func (s *Service) checkInputs(f *flow.Flow, inputs map[string]any, files map[string]File) error {
	if len(files) > 0 {
		if s.files == nil {
			return Invalid(errors.New("this deployment has no internal storage for FILE inputs (RELAY_BUCKET, RELAY_BLOB_DIR)"))
		}
		with := make(map[string]any, len(inputs)+len(files))
		for k, v := range inputs {
			with[k] = v
		}
		for name := range files {
			if !isFileInput(f, name) {
				return Invalid(fmt.Errorf("input %s: a file was sent, but %s/%s declares no FILE input %s", name, f.Namespace, f.ID, name))
			}
			with[name] = storage.Scheme + ":///" + f.Namespace + "/" + f.ID + "/executions/-/inputs/" + name + "/-"
		}
		inputs = with
	}
	if _, err := f.ResolveInputs(inputs, &expr.Env{Now: s.now(), Secret: secrets.DryRunSecret}); err != nil {
		return Invalid(fmt.Errorf("inputs of %s/%s: %w", f.Namespace, f.ID, err))
	}
	return nil
}

// storeFiles stores the files of FILE inputs of an execution of f (checked
// by checkInputs) and returns the inputs with their URIs. Storing them
// again for the same execution, as a retried start does, replaces them
// with the same content under the same URIs.
func (s *Service) storeFiles(ctx context.Context, f *flow.Flow, execID string, inputs map[string]any, files map[string]File) (map[string]any, error) {
	out := make(map[string]any, len(inputs)+len(files))
	for k, v := range inputs {
		out[k] = v
	}
	for name, file := range files {
		uri, err := s.files.PutInput(ctx, f.Namespace, f.ID, execID, name, file.Filename, file.Body, file.Size)
		if err != nil {
			return nil, fmt.Errorf("storing the file of input %s: %w", name, err)
		}
		out[name] = uri
	}
	return out, nil
}

// isFileInput tells whether f declares input name as FILE.
func isFileInput(f *flow.Flow, name string) bool {
	for _, in := range f.Inputs {
		if in.ID == name {
			return in.Type == inputs.TypeFile
		}
	}
	return false
}

// RunPage selects a page of an execution's task runs.
type RunPage struct {
	// Cursor continues where the page before ended (its NextCursor); ""
	// starts at the first task run.
	Cursor string
	// Limit is the most task runs returned (0: DefaultRunPage; at most
	// MaxRunPage).
	Limit int
	// State, when set, keeps only the task runs in that state.
	State statemachine.RunState
}

// Task runs per page of an execution.
const (
	DefaultRunPage = 1000
	MaxRunPage     = 10000
	// runScan bounds the task runs a page with a state filter reads: a
	// page may come back short, with a cursor to go on from.
	runScan = 10
)

// Execution returns an execution with the first page of its task runs.
func (s *Service) Execution(ctx context.Context, id string) (engine.ExecutionDoc, error) {
	return s.ExecutionPage(ctx, id, RunPage{})
}

// ExecutionPage returns an execution with a page of its task runs: what it
// reads grows with the page, not with the execution. The head and the page
// are separate reads: the head is read again after the page, and the page
// again when the execution moved on meanwhile (a few times at most), so
// that the runs listed are those of the state returned.
func (s *Service) ExecutionPage(ctx context.Context, id string, p RunPage) (engine.ExecutionDoc, error) {
	limit := p.Limit
	switch {
	case limit <= 0:
		limit = DefaultRunPage
	case limit > MaxRunPage:
		return engine.ExecutionDoc{}, Invalid(fmt.Errorf("a page holds at most %d task runs, not %d", MaxRunPage, limit))
	}
	from := 0
	if p.Cursor != "" {
		n, err := strconv.Atoi(p.Cursor)
		if err != nil || n < 0 {
			return engine.ExecutionDoc{}, Invalid(fmt.Errorf("cursor %q is not one this API returned", p.Cursor))
		}
		from = n
	}
	head, err := s.store.ExecutionHead(ctx, id)
	if err != nil {
		return engine.ExecutionDoc{}, fmt.Errorf("reading execution %s: %w", id, err)
	}
	for try := 0; ; try++ {
		runs, next, err := s.runPage(ctx, id, from, limit, p.State)
		if err != nil {
			return engine.ExecutionDoc{}, err
		}
		again, err := s.store.ExecutionHead(ctx, id)
		if err != nil {
			return engine.ExecutionDoc{}, fmt.Errorf("reading execution %s: %w", id, err)
		}
		if again.Version == head.Version || try == 3 {
			return engine.DocumentPage(again, runs, next), nil
		}
		head = again
	}
}

// runPage reads up to limit task runs from position from on, in state
// (any when empty), reading at most runScan pages' worth, and returns the
// cursor of what follows ("" at the end).
func (s *Service) runPage(ctx context.Context, id string, from, limit int, state statemachine.RunState) ([]*statemachine.TaskRun, string, error) {
	var runs []*statemachine.TaskRun
	pos, end := from, false
	for scanned := 0; len(runs) < limit && scanned < runScan*limit; {
		page, err := s.store.TaskRuns(ctx, id, pos, limit)
		if err != nil {
			return nil, "", fmt.Errorf("reading the task runs of %s: %w", id, err)
		}
		if len(page) == 0 {
			end = true
			break
		}
		for _, r := range page {
			if len(runs) == limit {
				break
			}
			pos++
			if state == "" || r.State == state {
				runs = append(runs, r)
			}
		}
		scanned += len(page)
		if len(page) < limit && len(runs) < limit {
			end = true
			break
		}
	}
	if end {
		return runs, "", nil
	}
	more, err := s.store.TaskRuns(ctx, id, pos, 1)
	if err != nil {
		return nil, "", fmt.Errorf("reading the task runs of %s: %w", id, err)
	}
	if len(more) == 0 {
		return runs, "", nil
	}
	return runs, strconv.Itoa(pos), nil
}

// Executions lists executions, newest first, without their task runs.
func (s *Service) Executions(ctx context.Context, f engine.ExecutionFilter) ([]engine.ExecutionDoc, error) {
	list, err := s.store.Executions(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("listing executions: %w", err)
	}
	docs := make([]engine.ExecutionDoc, len(list))
	for i, ex := range list {
		ex.TaskRuns = nil
		docs[i] = engine.Document(ex)
	}
	return docs, nil
}

// Log lines per page.
const (
	DefaultLogPage = 1000
	MaxLogPage     = 10000
)

// Logs returns an execution's log lines after seq after, at most limit of
// them (0: DefaultLogPage): a caller reads on from the last line's Seq
// until a page comes back empty.
func (s *Service) Logs(ctx context.Context, id string, after int64, limit int) ([]engine.LogEntry, error) {
	switch {
	case limit <= 0:
		limit = DefaultLogPage
	case limit > MaxLogPage:
		return nil, Invalid(fmt.Errorf("a page holds at most %d log lines, not %d", MaxLogPage, limit))
	}
	if _, err := s.store.ExecutionHead(ctx, id); err != nil {
		return nil, fmt.Errorf("reading execution %s: %w", id, err)
	}
	lines, err := s.store.Logs(ctx, id, after, limit)
	if err != nil {
		return nil, fmt.Errorf("reading the logs of %s: %w", id, err)
	}
	if lines == nil {
		lines = []engine.LogEntry{}
	}
	return lines, nil
}

// Resume continues a paused execution with onResume inputs. The event is
// checked against the stored execution first (a dry run of the state
// machine), so bad inputs are reported to the caller.
func (s *Service) Resume(ctx context.Context, id string, inputs map[string]any) error {
	ex, err := s.store.Execution(ctx, id)
	if err != nil {
		return fmt.Errorf("reading execution %s: %w", id, err)
	}
	if ex.State != statemachine.ExecPaused {
		return fmt.Errorf("resuming execution %s, which is %s: %w", id, ex.State, ErrState)
	}
	f, err := s.flows.Get(ctx, ex.Namespace, ex.FlowID, ex.Revision)
	if err != nil {
		return err
	}
	ev := statemachine.Event{ID: id + "/resume/" + engine.NewID(), Type: statemachine.EvResume, ExecutionID: id, Inputs: inputs}
	if _, err := statemachine.Apply(f, ex, ev, s.now(), statemachine.Options{Secrets: secrets.DryRun{}}); err != nil {
		return Invalid(fmt.Errorf("resuming execution %s: %w", id, statemachine.Reason(err)))
	}
	if ev.Inputs, err = engine.SealInputs(s.secrets, ex.Namespace, engine.ResumeDecls(f, ex), inputs); err != nil {
		return err
	}
	return s.send(ctx, ev)
}

// Kill stops an execution that has not ended: running attempts are
// cancelled, and it ends KILLED.
func (s *Service) Kill(ctx context.Context, id string) error {
	ex, err := s.store.ExecutionHead(ctx, id)
	if err != nil {
		return fmt.Errorf("reading execution %s: %w", id, err)
	}
	if ex.State.Terminal() {
		return fmt.Errorf("killing execution %s, which already ended %s: %w", id, ex.State, ErrState)
	}
	return s.send(ctx, statemachine.Event{ID: id + "/kill", Type: statemachine.EvKill, ExecutionID: id})
}

// Restart runs a FAILED or KILLED execution again, in place: its failed
// and killed task runs run again, with their attempts going on, and the
// ones that succeeded keep their outputs (Kestra's restart). It runs the
// flow revision the execution ran.
func (s *Service) Restart(ctx context.Context, id string) error {
	ex, err := s.store.Execution(ctx, id)
	if err != nil {
		return fmt.Errorf("reading execution %s: %w", id, err)
	}
	if ex.State != statemachine.ExecFailed && ex.State != statemachine.ExecKilled {
		return fmt.Errorf("restarting execution %s, which is %s (only FAILED and KILLED executions restart): %w", id, ex.State, ErrState)
	}
	f, err := s.flows.Get(ctx, ex.Namespace, ex.FlowID, ex.Revision)
	if err != nil {
		return err
	}
	ev := statemachine.Event{ID: id + "/restart/" + engine.NewID(), Type: statemachine.EvRestart, ExecutionID: id}
	if _, err := statemachine.Apply(f, ex, ev, s.now(), statemachine.Options{Secrets: secrets.DryRun{}}); err != nil {
		return Invalid(err)
	}
	return s.send(ctx, ev)
}

// Replay starts a new execution of the revision an execution ran, reusing
// the outputs of the task runs before from (a task run id, or a task id:
// its first run) and running the rest again (Kestra's replay). Any
// execution can be replayed, whatever its state.
func (s *Service) Replay(ctx context.Context, id, from string) (Started, error) {
	src, err := s.store.Execution(ctx, id)
	if err != nil {
		return Started{}, fmt.Errorf("reading execution %s: %w", id, err)
	}
	if from == "" {
		return Started{}, Invalid(errors.New("name the task run to replay from"))
	}
	if _, ok := src.Run(from); !ok && !slices.ContainsFunc(src.TaskRuns, func(r *statemachine.TaskRun) bool { return r.TaskID == from }) {
		return Started{}, Invalid(fmt.Errorf("execution %s has no task run or task %q to replay from", id, from))
	}
	st := Started{ID: engine.NewID(), Namespace: src.Namespace, FlowID: src.FlowID, Revision: src.Revision}
	return st, s.send(ctx, statemachine.Event{ID: st.ID + "/requested", Type: statemachine.EvExecutionRequested, ExecutionID: st.ID,
		Namespace: src.Namespace, FlowID: src.FlowID, Revision: src.Revision, Replay: &statemachine.Replay{ExecutionID: id, From: from}})
}

// PublishEvent validates a CloudEvent and publishes it to relay.events,
// where triggers match it. It is keyed by its subject (its id when it has
// none), so events about one subject stay in order.
func (s *Service) PublishEvent(ctx context.Context, ev cloudevents.Event) error {
	if err := ev.Validate(); err != nil {
		return Invalid(fmt.Errorf("the CloudEvent is not valid: %w", err))
	}
	if ct := ev.DataMediaType(); isJSONType(ct) && len(ev.Data()) > 0 && !json.Valid(ev.Data()) {
		// Triggers would read it as JSON (trigger.event.data) and fail later.
		return Invalid(fmt.Errorf("the event's data is not valid JSON, although its content type is %s", ct))
	}
	if s.bus == nil {
		return errors.New("publishing an event: this service has no bus")
	}
	key := ev.Subject()
	if key == "" {
		key = ev.ID()
	}
	if err := s.bus.Publish(ctx, engine.TopicEvents, key, ev); err != nil {
		return fmt.Errorf("publishing event %s: %w", ev.ID(), err)
	}
	return nil
}

// verb says what a request event does, for messages: people start, resume
// and kill executions; they do not send event types.
func verb(t statemachine.EventType) string {
	switch t {
	case statemachine.EvExecutionRequested:
		return "starting"
	case statemachine.EvResume:
		return "resuming"
	case statemachine.EvKill:
		return "killing"
	}
	return "updating"
}

// isJSONType reports whether a media type says JSON: application/json or
// a +json suffix.
func isJSONType(ct string) bool {
	return ct == "application/json" || strings.HasSuffix(ct, "+json")
}

func (s *Service) send(ctx context.Context, ev statemachine.Event) error {
	if s.bus == nil {
		return fmt.Errorf("%s execution %s: this service is read-only (it has no bus)", verb(ev.Type), ev.ExecutionID)
	}
	ce, err := engine.MachineEvent(ev, Source, s.now())
	if err != nil {
		return err
	}
	if err := s.bus.Publish(ctx, engine.TopicExecutions, ev.ExecutionID, ce); err != nil {
		return fmt.Errorf("%s execution %s: publishing the request: %w", verb(ev.Type), ev.ExecutionID, err)
	}
	return nil
}
