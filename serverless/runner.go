package serverless

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/infra/dynamo"
	"github.com/relayflow/relay/secrets"
	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/statemachine/flow"
	"github.com/relayflow/relay/tasks"
	"github.com/relayflow/relay/tasks/builtin"
)

// Runner functions run script task attempts on AWS: Lambda's python3.13
// and nodejs22.x managed runtimes have the interpreters a worker on
// provided.al2023 lacks. A runner function's handler (functions/runner:
// relay_runner.py, index.mjs) hands each event to the relay-runner binary
// beside it (ServeRunner), which runs the attempt with tasks/scripts, its
// lines going to the execution's logs live, and answers with the result.
//
// The worker invokes the runner (RemoteRunner) for the task types the
// deployment routes to it: one synchronous Lambda invocation per attempt,
// inside the worker's own invocation, so that leasing, reporting and
// retries stay in one place (docs/architecture.md says why, with figures).

// Environment variables of runner routing, set on the worker: the names
// of the runner functions of each interpreter (empty: the worker runs the
// type itself, as `relay dev` does).
const (
	EnvRunnerPython = "RELAY_RUNNER_PYTHON"
	EnvRunnerNode   = "RELAY_RUNNER_NODE"
)

// RunnerTypes are the task types each runner variable routes.
var RunnerTypes = map[string][]string{
	EnvRunnerPython: {flow.TypePython, flow.TypePythonCmds},
	EnvRunnerNode:   {flow.TypeNode, flow.TypeNodeCmds},
}

// RunnerProtocol names the version of RunnerEvent.
const RunnerProtocol = "relay.runner/1"

// RunnerEvent is the event the worker invokes a runner function with: one
// attempt, its properties rendered.
type RunnerEvent struct {
	Relay       string `json:"relay"` // RunnerProtocol
	ExecutionID string `json:"executionId"`
	TaskRunID   string `json:"taskRunId"`
	TaskID      string `json:"taskId"`
	Namespace   string `json:"namespace"`
	FlowID      string `json:"flowId"`
	Type        string `json:"type"`
	Attempt     int    `json:"attempt"`
	// AttemptKey is the attempt's tasks.Request.AttemptKey, which the
	// script gets as RELAY_ATTEMPT_KEY (computed from the ids when absent).
	AttemptKey string `json:"attemptKey,omitempty"`
	// Props are the attempt's properties, their secrets opened by the
	// worker; Secrets are those secrets' values, which the runner hides
	// (******) in every log line it stores and in its reply. The event
	// travels in the invocation's request only: nothing stores it.
	Props   map[string]any `json:"props"`
	Secrets []string       `json:"secrets,omitempty"`
	// Deadline is when the attempt must stop (its timeout, or the worker's
	// own invocation's end), if sooner than the runner's invocation.
	Deadline time.Time `json:"deadline,omitzero"`
	// LogLevel is the task's logLevel: lines below it are not kept.
	LogLevel string `json:"logLevel,omitempty"`
}

// RunnerReply is a runner function's answer: the attempt's result, and
// its error when it failed (a failed attempt is a successful invocation).
type RunnerReply struct {
	Outputs map[string]any `json:"outputs,omitempty"`
	Warning bool           `json:"warning,omitempty"`
	Metrics []RunnerMetric `json:"metrics,omitempty"`
	Error   *RunnerError   `json:"error,omitempty"`
}

// RunnerMetric is a tasks.Metric on the wire.
type RunnerMetric struct {
	Name  string            `json:"name"`
	Type  string            `json:"type"`
	Value float64           `json:"value"`
	Tags  map[string]string `json:"tags,omitempty"`
}

// RunnerError is a tasks.Error on the wire.
type RunnerError struct {
	Kind    string `json:"kind"`
	Type    string `json:"type,omitempty"`
	Message string `json:"message"`
}

// LambdaInvoker invokes Lambda functions (the lambda client does).
type LambdaInvoker interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, opts ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// RemoteRunner returns a tasks.Runner that runs attempts on the runner
// function fn: the attempt's deadline goes with the event, and the runner
// stops the script by then (or before its own invocation ends). The lines
// the script prints reach the execution's logs from the runner itself. A
// kill of the execution cancels the worker's wait but cannot reach a
// synchronous invocation: the script runs on until its deadline, and its
// end is ignored.
func RemoteRunner(invoker LambdaInvoker, fn string) tasks.Runner {
	return tasks.RunnerFunc(func(ctx context.Context, req tasks.Request) (tasks.Result, error) {
		ev := RunnerEvent{Relay: RunnerProtocol, ExecutionID: req.ExecutionID, TaskRunID: req.TaskRunID, TaskID: req.TaskID,
			Namespace: req.Namespace, FlowID: req.FlowID, Type: req.Type, Attempt: req.Attempt, AttemptKey: req.AttemptKey, Props: req.Props, Secrets: req.Secrets.Values(), LogLevel: req.LogLevel}
		if dl, ok := ctx.Deadline(); ok {
			ev.Deadline = dl
		}
		payload, err := json.Marshal(ev)
		if err != nil {
			return tasks.Result{}, &tasks.Error{Kind: tasks.KindFatal, Type: "RunnerEvent", Message: "encoding the attempt for " + fn, Err: err}
		}
		out, err := invoker.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(fn), Payload: payload, InvocationType: types.InvocationTypeRequestResponse})
		if err != nil {
			if te := tasks.CtxError(ctx, "invoking the runner "+fn, err); te != nil {
				return tasks.Result{}, te
			}
			return tasks.Result{}, &tasks.Error{Kind: tasks.KindRetryable, Type: "RunnerInvoke", Message: "invoking the runner " + fn, Err: err}
		}
		if out.FunctionError != nil {
			var fe struct{ ErrorType, ErrorMessage string }
			_ = json.Unmarshal(out.Payload, &fe)
			return tasks.Result{}, &tasks.Error{Kind: tasks.KindRetryable, Type: "RunnerError:" + fe.ErrorType, Message: fmt.Sprintf("runner %s failed: %s", fn, tasks.Excerpt(fe.ErrorMessage, 1024))}
		}
		var reply RunnerReply
		if err := json.Unmarshal(out.Payload, &reply); err != nil {
			return tasks.Result{}, &tasks.Error{Kind: tasks.KindRetryable, Type: "RunnerReply", Message: "decoding the answer of " + fn, Err: err}
		}
		res := tasks.Result{Outputs: normOutputs(reply.Outputs), Warning: reply.Warning}
		for _, m := range reply.Metrics {
			res.Metrics = append(res.Metrics, tasks.Metric{Name: m.Name, Type: m.Type, Value: m.Value, Tags: m.Tags})
		}
		if e := reply.Error; e != nil {
			return res, &tasks.Error{Kind: tasks.Kind(e.Kind), Type: e.Type, Message: e.Message}
		}
		return res, nil
	})
}

// normOutputs gives outputs decoded from JSON the kinds expressions
// compute with (integers as int64), as a local run would have them.
func normOutputs(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return m
	}
	v, err := tasks.DecodeJSON(b)
	if out, ok := v.(map[string]any); err == nil && ok {
		return out
	}
	return m
}

// routeRunners registers RemoteRunner for the task types whose runner
// variable is set.
func routeRunners(ctx context.Context, reg *tasks.Registry, log *slog.Logger) error {
	var invoker LambdaInvoker
	for env, types := range RunnerTypes {
		fn := os.Getenv(env)
		if fn == "" {
			continue
		}
		if invoker == nil {
			cfg, err := config.LoadDefaultConfig(ctx)
			if err != nil {
				return fmt.Errorf("loading the AWS configuration to invoke runners: %w", err)
			}
			invoker = lambda.NewFromConfig(cfg)
		}
		for _, t := range types {
			reg.Register(t, RemoteRunner(invoker, fn))
		}
		log.Info("script tasks run on a runner function", slog.String("function", fn), slog.String("types", strings.Join(types, ",")))
	}
	return nil
}

// Runner serves a runner function's invocations: attempts the worker
// sends (RunnerEvent), and, where the deployment has the runner consume
// relay.taskruns itself, Kafka batches of them.
type Runner struct {
	reg        *tasks.Registry
	appendLogs func(context.Context, []engine.LogEntry) error
	// worker handles Kafka batches (nil: the runner has no brokers).
	worker *BatchHandler
	log    *slog.Logger
}

// OpenRunner builds the runner of this process from the environment:
// the table for logs, the bucket for files, and when RELAY_KAFKA_BROKERS
// is set the whole worker runtime (for Kafka batches).
func OpenRunner(ctx context.Context, log *slog.Logger) (*Runner, error) {
	if os.Getenv(EnvBrokers) != "" {
		cfg, err := ConfigFromEnv()
		if err != nil {
			return nil, err
		}
		rt, err := Open(ctx, cfg, log)
		if err != nil {
			return nil, err
		}
		return &Runner{reg: rt.Engine.Tasks(), appendLogs: rt.Store.AppendLogs, worker: rt.Worker(), log: log}, nil
	}
	table := os.Getenv(EnvTable)
	if table == "" {
		table = dynamo.DefaultTable
	}
	db, err := dynamo.NewClient(ctx)
	if err != nil {
		return nil, err
	}
	cfg := Config{BlobDir: os.Getenv(EnvBlobDir)}
	cfg.Bucket, cfg.BucketPrefix, _ = strings.Cut(os.Getenv(EnvBucket), "/")
	cfg.S3PathStyle = os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
	blobs, err := openBlobs(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening the blob store: %w", err)
	}
	st := dynamo.New(db, table, dynamo.WithLogger(log), dynamo.WithBlobs(blobs, 0))
	bcfg := builtin.Config{}
	if files := fileStorage(blobs); files != nil {
		bcfg.Files = files
	}
	reg, err := builtin.Registry(bcfg)
	if err != nil {
		return nil, err
	}
	return &Runner{reg: reg, appendLogs: st.AppendLogs, log: log}, nil
}

// Handle serves one invocation: a RunnerEvent, or a Kafka batch.
func (r *Runner) Handle(ctx context.Context, event json.RawMessage) (any, error) {
	var probe struct {
		Relay       string `json:"relay"`
		EventSource string `json:"eventSource"`
	}
	if err := json.Unmarshal(event, &probe); err != nil {
		return nil, fmt.Errorf("the event is not a JSON object: %w", err)
	}
	switch {
	case probe.Relay == RunnerProtocol:
		var ev RunnerEvent
		if err := json.Unmarshal(event, &ev); err != nil {
			return nil, fmt.Errorf("decoding the attempt: %w", err)
		}
		return r.run(ctx, ev), nil
	case strings.Contains(probe.EventSource, "kafka") || strings.Contains(probe.EventSource, "Kafka"):
		if r.worker == nil {
			return nil, errors.New("a Kafka batch came, but this runner has no RELAY_KAFKA_BROKERS")
		}
		var kev events.KafkaEvent
		if err := json.Unmarshal(event, &kev); err != nil {
			return nil, fmt.Errorf("decoding the Kafka batch: %w", err)
		}
		return nil, r.worker.HandleKafka(ctx, kev)
	}
	return nil, fmt.Errorf("unknown event: want %q or a Kafka batch", RunnerProtocol)
}

func (r *Runner) run(ctx context.Context, ev RunnerEvent) RunnerReply {
	// The attempt stops a little before the invocation ends, so that its
	// failure is an answer rather than a timed-out invocation.
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-runnerMargin))
		defer cancel()
	}
	if !ev.Deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, ev.Deadline)
		defer cancel()
	}
	// The runner stores log lines itself: they are masked here, before
	// they reach the table, and so is the reply.
	mask := secrets.NewMasker(ev.Secrets...)
	log := engine.NewTaskLogger(r.appendLogs, engine.LogEntry{ExecutionID: ev.ExecutionID, TaskRunID: ev.TaskRunID, TaskID: ev.TaskID, Attempt: ev.Attempt}, mask, ev.LogLevel)
	key := ev.AttemptKey
	if key == "" {
		key = statemachine.AttemptKey(ev.ExecutionID, ev.TaskRunID, ev.Attempt)
	}
	res, err := r.reg.Run(ctx, tasks.Request{ExecutionID: ev.ExecutionID, TaskRunID: ev.TaskRunID, TaskID: ev.TaskID, Namespace: ev.Namespace, FlowID: ev.FlowID,
		Type: ev.Type, Attempt: ev.Attempt, AttemptKey: key, Props: ev.Props, Secrets: mask, Log: log, LogLevel: ev.LogLevel})
	res = engine.MaskResult(mask, res)
	reply := RunnerReply{Outputs: res.Outputs, Warning: res.Warning}
	for _, m := range res.Metrics {
		reply.Metrics = append(reply.Metrics, RunnerMetric{Name: m.Name, Type: m.Type, Value: m.Value, Tags: m.Tags})
	}
	if err != nil {
		te := tasks.Classify(err)
		msg := te.Message
		if msg == "" {
			msg = te.Error()
		}
		reply.Error = &RunnerError{Kind: string(te.Kind), Type: te.Type, Message: mask.Text(msg)}
	}
	return reply
}

// runnerMargin is kept free at the end of a runner's invocation.
const runnerMargin = 2 * time.Second

// ServeRunner is the relay-runner binary's loop: the runner function's
// handler (relay_runner.py, index.mjs) writes one JSON line per invocation
// to its stdin, {"event": ..., "deadlineMs": epoch milliseconds}, and
// reads one line back, {"result": ...} or {"errorType": ..., "errorMessage":
// ...}. The binary lives as long as the execution environment, so an
// invocation costs no process start.
func ServeRunner(ctx context.Context, r *Runner, in io.Reader, out io.Writer) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), 8<<20) // Lambda's request payload is 6 MB at most
	enc := json.NewEncoder(out)
	for sc.Scan() {
		var msg struct {
			Event      json.RawMessage `json:"event"`
			DeadlineMs int64           `json:"deadlineMs"`
		}
		var reply any
		if err := json.Unmarshal(sc.Bytes(), &msg); err != nil {
			reply = map[string]string{"errorType": "Relay.BadRequest", "errorMessage": "the handler sent a line that is not JSON: " + err.Error()}
		} else {
			ictx, cancel := ctx, context.CancelFunc(func() {})
			if msg.DeadlineMs > 0 {
				ictx, cancel = context.WithDeadline(ctx, time.UnixMilli(msg.DeadlineMs))
			}
			res, err := r.Handle(ictx, msg.Event)
			cancel()
			if err != nil {
				reply = map[string]string{"errorType": "Relay.RunnerError", "errorMessage": err.Error()}
			} else {
				reply = map[string]any{"result": res}
			}
		}
		if err := enc.Encode(reply); err != nil {
			return fmt.Errorf("answering the handler: %w", err)
		}
	}
	return sc.Err()
}
