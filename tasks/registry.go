// Package tasks runs one attempt of a runnable task.
//
// The contract with the state machine: the state machine decides when an
// attempt runs, renders the task's properties (defaults filled in, values of
// the kinds nil, bool, int64, float64, string, []any and map[string]any) and
// hands them over in a Request, with a context that carries the attempt's
// deadline. A Runner does the work and returns the task's outputs, or an
// *Error whose Kind tells the retry policy what to do: KindRetryable (another
// attempt may succeed), KindFatal (it would fail the same way: a bad property,
// a 4xx, a missing function) or KindTimeout (the deadline passed). Some
// runners return outputs together with an error (a shell script that exits
// non-zero still has its stdout), so the caller keeps Result even when err is
// not nil. Runners hold no state between attempts and are safe for concurrent
// use; everything a task writes for its user goes to Request.Log.
//
// Flowable tasks (flow.*) are the state machine's own; only the task types
// that do I/O or produce outputs live here, one file each, registered by name
// in a Registry. Builtin builds the registry of every runnable type.
package tasks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"github.com/relayflow/relay/secrets"
	"github.com/relayflow/relay/statemachine/flow"
)

// Request is one attempt of a runnable task, with its properties rendered.
type Request struct {
	ExecutionID, TaskRunID, TaskID string
	Namespace, FlowID              string
	// Type is the canonical type name, e.g. "http.request".
	Type string
	// Attempt is 1-based.
	Attempt int
	// AttemptKey names this attempt of this task run, stably: the same for
	// every delivery of the attempt (which runs at most once), different
	// for each retry, a CRASHED attempt's included (side effects are at
	// least once across attempts). Tasks pass it on to what they call
	// (EnvAttemptKey in a script's environment, the client context of a
	// Lambda invocation) so that it can recognise a repeat. It is
	// statemachine.AttemptKey(ExecutionID, TaskRunID, Attempt), and
	// `{{ taskrun.attemptKey }}` in expressions.
	AttemptKey string
	// Props are the rendered properties by canonical name, defaults filled in.
	Props map[string]any
	// Log receives the task's logs: the caller attaches the execution,
	// task run and attempt attributes, and drops the lines below LogLevel.
	// Nil discards them.
	Log *slog.Logger
	// Secrets hides the secrets opened in Props (nil: none). The caller
	// masks what the task logs and returns with it; a runner that cuts
	// text (a long line, a tail) masks before cutting, so that no part of
	// a secret is left, and a runner that runs the attempt elsewhere sends
	// its values along (docs/architecture.md, Secrets).
	Secrets *secrets.Masker
	// LogLevel is the task's logLevel (empty: every line is kept), for a
	// runner that has the attempt's lines logged elsewhere.
	LogLevel string
	// KV is the KV store, for the kv.* tasks; nil makes them fail.
	KV KV
	// Logs reads stored logs, for log.fetch; nil makes it fail.
	Logs LogReader
}

// EnvAttemptKey is the environment variable in which scripts get their
// attempt's Request.AttemptKey (RELAY_ATTEMPT has the attempt's number).
// Script runners pass it on.
const EnvAttemptKey = "RELAY_ATTEMPT_KEY"

// Result is what a successful attempt (and some failed ones) produced.
type Result struct {
	Outputs map[string]any
	// Warning ends the task run in WARNING instead of SUCCESS.
	Warning bool
	// Metrics are what the attempt measured; they are kept on the task run
	// whether it succeeded or not.
	Metrics []Metric
}

// Metric is a measurement of an attempt, as Kestra reports them: a
// counter or a timer (seconds), with tags.
type Metric struct {
	Name  string
	Type  string // MetricCounter or MetricTimer
	Value float64
	Tags  map[string]string
}

// Metric types.
const (
	MetricCounter = "counter"
	MetricTimer   = "timer"
)

// Runner runs one attempt of a task type. ctx carries the attempt deadline.
type Runner interface {
	Run(ctx context.Context, req Request) (Result, error)
}

// RunnerFunc lets a plain function be a Runner.
type RunnerFunc func(ctx context.Context, req Request) (Result, error)

// Run calls f.
func (f RunnerFunc) Run(ctx context.Context, req Request) (Result, error) { return f(ctx, req) }

// Registry maps canonical type names to runners. It is safe for concurrent
// use, so that a worker can look types up while tests register more.
type Registry struct {
	mu      sync.RWMutex
	runners map[string]Runner
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{runners: make(map[string]Runner)}
}

// Register makes run the runner of typeName, replacing any earlier one (so
// that a deployment can swap a built-in runner for its own). It panics on an
// empty name or a nil runner: both are programming errors caught at start-up.
func (r *Registry) Register(typeName string, run Runner) {
	if typeName == "" || run == nil {
		panic("tasks: Register needs a type name and a runner")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runners[typeName] = run
}

// Lookup returns the runner of typeName.
func (r *Registry) Lookup(typeName string) (Runner, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	run, ok := r.runners[typeName]
	return run, ok
}

// Types lists the registered type names, sorted.
func (r *Registry) Types() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.runners))
	for n := range r.runners {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Run runs req with the runner of req.Type. Every error it returns is an
// *Error (see Classify), so the caller needs no type switch of its own; an
// unknown type is fatal, and a runner that panics fails the attempt (fatal:
// the same input would panic again) instead of the worker. A nil req.Log is
// replaced by a logger that discards.
func (r *Registry) Run(ctx context.Context, req Request) (res Result, err error) {
	run, ok := r.Lookup(req.Type)
	if !ok {
		return Result{}, &Error{Kind: KindFatal, Type: typeUnknownTaskType, Message: fmt.Sprintf("no runner for task type %q", req.Type)}
	}
	if req.Log == nil {
		req.Log = slog.New(slog.DiscardHandler)
	}
	defer func() {
		if p := recover(); p != nil {
			req.Log.Error("task runner panicked", "type", req.Type, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			res, err = Result{}, &Error{Kind: KindFatal, Type: typePanic, Message: fmt.Sprintf("task type %s: runner panicked: %v", req.Type, p)}
		}
	}()
	res, err = run.Run(ctx, req)
	if err != nil {
		return res, Classify(err)
	}
	return res, nil
}

// Config holds the dependencies and limits of the built-in runners. Zero
// values mean the defaults below.
type Config struct {
	// Emitter publishes cloudevents.emit events; nil makes that task fail
	// with a fatal error saying that no bus is configured.
	Emitter Emitter
	// Lambda invokes functions for lambda.invoke; nil builds a client lazily
	// from the default AWS configuration (which honours AWS_ENDPOINT_URL),
	// so that a worker that never invokes a function needs no credentials.
	Lambda LambdaInvoker
	// HTTPClient sends http.request requests; nil means a client with
	// connection timeouts but no overall one (the attempt deadline bounds it).
	HTTPClient *http.Client
	// MaxHTTPBody bounds a response body, read into memory as an output;
	// default 10 MiB.
	MaxHTTPBody int64
	// OutputTail is how many bytes of stdout and stderr shell.commands keeps
	// as outputs; default 64 KiB.
	OutputTail int
	// Shell runs shell.commands as `Shell -c script`; default /bin/sh.
	Shell string
	// TempDir is where shell.commands makes its working directories;
	// default os.TempDir().
	TempDir string
}

// Defaults of Config.
const DefaultMaxHTTPBody = 10 << 20

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	if c.HTTPClient == nil {
		c.HTTPClient = defaultHTTPClient()
	}
	if c.MaxHTTPBody == 0 {
		c.MaxHTTPBody = DefaultMaxHTTPBody
	}
	return c
}

// validate reports every bad field at once, at start-up rather than at the
// first task that needs it.
func (c Config) validate() error {
	var errs []error
	if c.MaxHTTPBody < 0 {
		errs = append(errs, fmt.Errorf("MaxHTTPBody must not be negative, got %d", c.MaxHTTPBody))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tasks config: %w", err)
	}
	return nil
}

// Builtin returns a registry with the runnable task types of this
// package: log, debug.return, output.values, http.request, lambda.invoke,
// cloudevents.emit, the kv.* tasks and log.fetch. The script tasks
// (tasks/scripts) and the S3 tasks (tasks/aws) live in packages of their
// own; tasks/builtin assembles them all.
func Builtin(cfg Config) (*Registry, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := NewRegistry()
	r.Register(flow.TypeLog, NewLog())
	r.Register(flow.TypeReturn, NewReturn())
	r.Register(flow.TypeOutputValues, NewOutputValues())
	r.Register(flow.TypeHTTPRequest, NewHTTP(cfg.HTTPClient, cfg.MaxHTTPBody))
	r.Register(flow.TypeLambdaInvoke, NewLambda(cfg.Lambda))
	r.Register(flow.TypeEmit, NewEmit(cfg.Emitter))
	r.Register(flow.TypeKVSet, NewKVSet(time.Now))
	r.Register(flow.TypeKVGet, NewKVGet())
	r.Register(flow.TypeKVDelete, NewKVDelete())
	r.Register(flow.TypeKVGetKeys, NewKVGetKeys())
	r.Register(flow.TypeLogFetch, NewFetch())
	return r, nil
}

// logger returns req.Log, or one that discards when the caller gave none.
func logger(req Request) *slog.Logger {
	if req.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return req.Log
}
