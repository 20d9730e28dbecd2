package serverless

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/relayflow/relay/api"
	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/ui"
)

// Role names a consumer of one topic: what a Lambda function is, and what
// `relay dev --role` runs.
type Role string

// The roles that consume Kafka.
const (
	RoleExecutor Role = "executor" // relay.executions: apply events, commit, carry out
	RoleWorker   Role = "worker"   // relay.taskruns: run task attempts
	RoleRouter   Role = "router"   // relay.events: fire flow and event triggers
	// RoleScheduler fires due schedules and durable timers (functions/
	// scheduler, invoked every minute; `relay dev` ticks every second); it
	// consumes no topic.
	RoleScheduler Role = "scheduler"
	// RoleAPI serves the HTTP API (functions/api); it consumes no topic.
	RoleAPI Role = "api"
	// RolePythonRunner and RoleNodeRunner run script task attempts the
	// worker invokes them with (functions/runner); they consume no topic.
	RolePythonRunner Role = "pythonRunner"
	RoleNodeRunner   Role = "nodeRunner"
)

// Runner tells whether r is a runner function's role.
func (r Role) Runner() bool { return r == RolePythonRunner || r == RoleNodeRunner }

// Topic is the topic the role consumes (before any prefix); "" for the
// roles that consume none.
func (r Role) Topic() string {
	switch r {
	case RoleExecutor:
		return engine.TopicExecutions
	case RoleWorker:
		return engine.TopicTaskRuns
	case RoleRouter:
		return engine.TopicEvents
	}
	return ""
}

// Group is the role's consumer group behind the deployment's topic
// prefix: stable, so that restarted consumers and Lambda's event source
// mappings (template.yaml) resume where the last ones stopped, and
// deployments sharing a cluster keep to their own groups.
func (r Role) Group(prefix string) string { return prefix + "relay-" + string(r) }

// Handler returns the batch handler of a role.
func (rt *Runtime) Handler(r Role) (*BatchHandler, error) {
	switch r {
	case RoleExecutor:
		return rt.Executor(), nil
	case RoleWorker:
		return rt.Worker(), nil
	case RoleRouter:
		return rt.Router(), nil
	}
	return nil, fmt.Errorf("unknown role %q: use executor, worker, router, scheduler or api", r)
}

// EventSource is what `relay dev` runs for a role instead of Lambda's
// event source mapping: the role's topic and consumer group, on the
// runtime's brokers with its TLS and SASL settings.
func (rt *Runtime) EventSource(r Role, log *slog.Logger) (*EventSource, error) {
	h, err := rt.Handler(r)
	if err != nil {
		return nil, err
	}
	return &EventSource{Brokers: rt.Config.Brokers, Topic: rt.Config.TopicPrefix + r.Topic(), Group: r.Group(rt.Config.TopicPrefix),
		Handler: h.HandleKafka, Log: log, Dialer: rt.Bus.Dialer()}, nil
}

// openInLambda opens the runtime of a Lambda function of role r at cold
// start, logging through Lambda's structured logger (AWS_LAMBDA_LOG_FORMAT,
// AWS_LAMBDA_LOG_LEVEL, the request id of each invocation).
func openInLambda(ctx context.Context, r Role) (*Runtime, error) {
	log := lambdacontext.NewLogger().With(slog.String("role", string(r)))
	cfg, err := ConfigFromEnv()
	if err != nil {
		return nil, err
	}
	return Open(ctx, cfg, log)
}

// LambdaHandler builds, at cold start, the handler a Kafka-triggered Lambda
// function of role r registers with lambda.Start. The executor first
// carries out what a previous invocation committed but did not publish.
func LambdaHandler(ctx context.Context, r Role) (func(context.Context, events.KafkaEvent) error, error) {
	rt, err := openInLambda(ctx, r)
	if err != nil {
		return nil, err
	}
	h, err := rt.Handler(r)
	if err != nil {
		return nil, err
	}
	if r == RoleExecutor {
		if err := rt.Engine.Recover(ctx); err != nil {
			rt.Log.Error("recovering the outbox", slog.Any("error", err))
		}
	}
	return h.HandleKafka, nil
}

// API is the control plane on the runtime's table and topics.
func (rt *Runtime) API() *api.Service {
	return api.NewService(rt.Store, rt.Engine, api.WithSecrets(rt.Secrets), api.WithSecretLookup(rt.SecretLookup), api.WithFiles(rt.Files))
}

// APILambdaHandler builds, at cold start, the handler of functions/api:
// API Gateway HTTP API (payload 2.0) events served by the HTTP API.
func APILambdaHandler(ctx context.Context) (func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error), error) {
	rt, err := openInLambda(ctx, RoleAPI)
	if err != nil {
		return nil, err
	}
	return api.LambdaHandler(UIHandler(api.Handler(rt.API(), rt.Log), os.Getenv(EnvAPIAuthorizer))), nil
}

// UIHandler serves the web UI beside the API, as API Gateway serves it:
// pages poll (a Lambda cannot stream), and ask for a token under a JWT
// authorizer; under IAM, which a browser cannot sign, they say to use
// `relay ui`.
func UIHandler(h http.Handler, authorizer string) http.Handler {
	o := ui.Options{Live: ui.LivePoll}
	switch strings.ToUpper(authorizer) {
	case "JWT":
		o.Auth = ui.AuthToken
	case "AWS_IAM":
		o.Auth = ui.AuthIAM
	}
	return ui.Handler(h, o)
}

// SchedulerLambdaHandler builds, at cold start, the handler of
// functions/scheduler. EventBridge invokes it every minute; each
// invocation ticks every second (due schedules and durable timers) until
// RELAY_SCHEDULER_WINDOW (default 58s) has passed or the invocation's
// deadline is 2 s away, so nothing waits more than a second or so for the
// next invocation.
func SchedulerLambdaHandler(ctx context.Context) (func(context.Context, events.EventBridgeEvent) error, error) {
	rt, err := openInLambda(ctx, RoleScheduler)
	if err != nil {
		return nil, err
	}
	window, err := durationEnv(EnvSchedulerWindow, DefaultSchedulerWindow, "58s")
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, _ events.EventBridgeEvent) error {
		until := time.Now().Add(window)
		if d, ok := ctx.Deadline(); ok && d.Add(-2*time.Second).Before(until) {
			until = d.Add(-2 * time.Second)
		}
		ctx, cancel := context.WithDeadline(ctx, until)
		defer cancel()
		rt.RunScheduler(ctx, time.Second)
		return nil
	}, nil
}
