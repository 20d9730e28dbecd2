package serverless

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"

	"github.com/aws/aws-lambda-go/events"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/infra/dynamo"
	"github.com/relayflow/relay/infra/kafka"
	"github.com/relayflow/relay/tasks"
)

// Environment variables of every Relay process on the serverless path, in
// Lambda (set by template.yaml) and in `relay dev`. The AWS SDK reads its
// own: AWS_REGION, AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_DYNAMODB) and
// credentials.
const (
	EnvBrokers     = kafka.EnvBrokers // comma-separated host:port list
	EnvTable       = "RELAY_TABLE"    // the state table (default "relay")
	EnvTopicPrefix = "RELAY_TOPIC_PREFIX"
	EnvWorkers     = "RELAY_WORKERS" // task attempts one process runs at once (default 8)
)

// Config locates the table and the topics.
type Config struct {
	Brokers     []string
	Table       string
	TopicPrefix string
	Workers     int
}

// ConfigFromEnv reads Config from the environment.
func ConfigFromEnv() (Config, error) {
	c := Config{Brokers: kafka.BrokersFromEnv(), Table: os.Getenv(EnvTable), TopicPrefix: os.Getenv(EnvTopicPrefix), Workers: 8}
	if c.Table == "" {
		c.Table = dynamo.DefaultTable
	}
	if len(c.Brokers) == 0 {
		return c, fmt.Errorf("%s is not set: it names the Kafka brokers (host:port, comma-separated)", EnvBrokers)
	}
	if v := os.Getenv(EnvWorkers); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return c, fmt.Errorf("%s=%q: want a positive number", EnvWorkers, v)
		}
		c.Workers = n
	}
	return c, nil
}

// Runtime is the engine on the DynamoDB table and the Kafka topics.
type Runtime struct {
	Config Config
	Store  *dynamo.Store
	Bus    *kafka.Bus
	Engine *engine.Engine
	Log    *slog.Logger
}

// Open connects to the table and the brokers (creating the topics that are
// missing) and builds the engine. log may be nil.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Runtime, error) {
	if log == nil {
		log = slog.Default()
	}
	db, err := dynamo.NewClient(ctx)
	if err != nil {
		return nil, err
	}
	st := dynamo.New(db, cfg.Table, dynamo.WithLogger(log))
	bus, err := kafka.New(ctx, cfg.Brokers, kafka.WithLogger(log), kafka.WithTopicPrefix(cfg.TopicPrefix))
	if err != nil {
		return nil, fmt.Errorf("connecting to Kafka at %v: %w", cfg.Brokers, err)
	}
	if err := bus.EnsureTopics(ctx, engine.TopicExecutions, engine.TopicTaskRuns, engine.TopicEvents, engine.TopicDLQ); err != nil {
		bus.Close()
		return nil, fmt.Errorf("creating Relay's topics: %w", err)
	}
	reg, err := tasks.Builtin(tasks.Config{Emitter: engine.BusEmitter{Bus: bus}})
	if err != nil {
		bus.Close()
		return nil, fmt.Errorf("setting up tasks: %w", err)
	}
	eng, err := engine.New(engine.Config{Store: st, Bus: bus, Tasks: reg, Workers: cfg.Workers, Logger: log})
	if err != nil {
		bus.Close()
		return nil, err
	}
	return &Runtime{Config: cfg, Store: st, Bus: bus, Engine: eng, Log: log}, nil
}

// Close releases the connections.
func (r *Runtime) Close() error {
	r.Engine.Wait()
	return errors.Join(r.Bus.Close(), r.Store.Close())
}

// Executor handles batches of relay.executions.
func (r *Runtime) Executor() *BatchHandler {
	return &BatchHandler{Handle: r.Engine.ExecutorHandler(), DeadLetters: r, Log: r.Log}
}

// Worker handles batches of relay.taskruns.
func (r *Runtime) Worker() *BatchHandler {
	return &BatchHandler{Handle: r.Engine.WorkerHandler(), DeadLetters: r, Log: r.Log}
}

// DeadLetter copies a record to relay.dlq as it came, with headers saying
// where it came from and why it could not be processed.
func (r *Runtime) DeadLetter(ctx context.Context, rec events.KafkaRecord, reason error) error {
	key, _ := base64.StdEncoding.DecodeString(rec.Key)
	value, err := base64.StdEncoding.DecodeString(rec.Value)
	if err != nil {
		value = []byte(rec.Value) // keep what arrived
	}
	return r.Bus.DeadLetter(ctx, kafka.Record{
		Topic: rec.Topic, Partition: int(rec.Partition), Offset: rec.Offset, Key: key, Value: value, Headers: Headers(rec),
	}, reason)
}
