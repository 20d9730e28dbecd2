package serverless

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"

	"github.com/relayflow/relay/engine"
)

// Role names a consumer of one topic: what a Lambda function is, and what
// `relay dev --role` runs.
type Role string

// The roles that consume Kafka.
const (
	RoleExecutor Role = "executor" // relay.executions: apply events, commit, carry out
	RoleWorker   Role = "worker"   // relay.taskruns: run task attempts
)

// Topic is the topic the role consumes (before any prefix).
func (r Role) Topic() string {
	if r == RoleWorker {
		return engine.TopicTaskRuns
	}
	return engine.TopicExecutions
}

// Group is the role's consumer group: stable, so that restarted consumers
// and Lambda's event source mapping resume where the last ones stopped.
func (r Role) Group() string { return "relay-" + string(r) }

// Handler returns the batch handler of a role.
func (rt *Runtime) Handler(r Role) (*BatchHandler, error) {
	switch r {
	case RoleExecutor:
		return rt.Executor(), nil
	case RoleWorker:
		return rt.Worker(), nil
	}
	return nil, fmt.Errorf("unknown role %q: use executor or worker", r)
}

// LambdaHandler builds, at cold start, the handler a Kafka-triggered Lambda
// function of role r registers with lambda.Start. The executor first
// carries out what a previous invocation committed but did not publish.
func LambdaHandler(ctx context.Context, r Role) (func(context.Context, events.KafkaEvent) error, error) {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil)).With(slog.String("role", string(r)))
	cfg, err := ConfigFromEnv()
	if err != nil {
		return nil, err
	}
	rt, err := Open(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	h, err := rt.Handler(r)
	if err != nil {
		return nil, err
	}
	if r == RoleExecutor {
		if err := rt.Engine.Recover(ctx); err != nil {
			log.Error("recovering the outbox", slog.Any("error", err))
		}
	}
	return h.HandleKafka, nil
}
