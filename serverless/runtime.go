package serverless

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/relayflow/relay/api"
	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/firing"
	"github.com/relayflow/relay/infra/blob"
	"github.com/relayflow/relay/infra/dynamo"
	"github.com/relayflow/relay/infra/kafka"
	"github.com/relayflow/relay/infra/secretstore"
	"github.com/relayflow/relay/internal/health"
	"github.com/relayflow/relay/secrets"
	"github.com/relayflow/relay/storage"
	"github.com/relayflow/relay/tasks"
	"github.com/relayflow/relay/tasks/builtin"
)

// Environment variables of every Relay process on the serverless path, in
// Lambda (set by template.yaml) and in `relay dev`. The AWS SDK reads its
// own: AWS_REGION, AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_DYNAMODB,
// AWS_ENDPOINT_URL_S3) and credentials.
const (
	EnvBrokers     = kafka.EnvBrokers // comma-separated host:port list
	EnvTable       = "RELAY_TABLE"    // the state table (default "relay")
	EnvTopicPrefix = "RELAY_TOPIC_PREFIX"
	EnvWorkers     = "RELAY_WORKERS" // task attempts one process runs at once (default 8)
	// EnvAttemptTimeout is the timeout of attempts of tasks that set none
	// (a Go duration; default none).
	EnvAttemptTimeout = "RELAY_ATTEMPT_TIMEOUT"
	// EnvAttemptLease is how long a worker's lease on a running attempt
	// lasts without renewal (a Go duration, default 30s; renewed every
	// third of it): an attempt whose worker died is reported CRASHED by
	// the worker its record is delivered to next, once the lease lapses,
	// and its retry policy decides whether another attempt runs.
	EnvAttemptLease = "RELAY_ATTEMPT_LEASE"
	// EnvStartedAfter is how long an attempt runs before its worker reports
	// it RUNNING (a Go duration, default 1s; 0: at once). Shorter attempts
	// report their start with their end: one state change, not two.
	EnvStartedAfter = "RELAY_STARTED_AFTER"
	// EnvSchedulerWindow is how long one invocation of the scheduler
	// function keeps ticking (a Go duration, default 58s; EventBridge
	// invokes it every minute).
	EnvSchedulerWindow = "RELAY_SCHEDULER_WINDOW"
	// EnvAPIAuthorizer is how API Gateway authorizes requests to the api
	// function (template.yaml's ApiAuth): AWS_IAM or JWT. The web UI it
	// serves asks for a token under JWT and, under AWS_IAM, which a browser
	// cannot sign, points to `relay ui`.
	EnvAPIAuthorizer = "RELAY_API_AUTHORIZER"

	// Values larger than the threshold (outputs, rendered properties,
	// inputs) are kept out of DynamoDB items and Kafka messages: in the S3
	// bucket, else in the local folder. Outside Lambda, with neither set,
	// the folder is DefaultBlobDir() (for `relay dev`).
	EnvBucket        = "RELAY_BUCKET"         // bucket, or bucket/prefix
	EnvBlobDir       = "RELAY_BLOB_DIR"       // local folder (one machine only)
	EnvBlobThreshold = "RELAY_BLOB_THRESHOLD" // bytes of JSON (default 65536)
	// EnvS3PathStyle (true or false) addresses buckets in the URL path, as
	// local S3-compatible servers need; the default is true when
	// AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL is set.
	EnvS3PathStyle = "RELAY_S3_PATH_STYLE"
	// EnvRetention is how long finished executions stay in the table before
	// DynamoDB's TTL deletes them: a Go duration (720h) or days (30d).
	// Default: kept for ever.
	EnvRetention = "RELAY_RETENTION"

	// How the processes' own Kafka clients (producing, creating topics)
	// encrypt and sign in, read by kafka.AuthConfigFromEnv; Lambda's Kafka
	// event source has its own settings. EnvKafkaTLS is true or false
	// (default false, true with aws-msk-iam); EnvKafkaSASL is aws-msk-iam,
	// scram-sha-512, scram-sha-256, plain, or empty for none. The SCRAM and
	// PLAIN credentials are in the Secrets Manager secret EnvKafkaSecret
	// names (JSON {"username": ..., "password": ...}, as Lambda's Kafka
	// event source reads them), or in EnvKafkaUsername and EnvKafkaPassword.
	EnvKafkaTLS      = kafka.EnvTLS
	EnvKafkaSASL     = kafka.EnvSASL
	EnvKafkaSecret   = kafka.EnvSecret
	EnvKafkaUsername = kafka.EnvUsername
	EnvKafkaPassword = kafka.EnvPassword
)

// DefaultStartedAfter: see EnvStartedAfter.
const DefaultStartedAfter = time.Second

// DefaultSchedulerWindow: see EnvSchedulerWindow.
const DefaultSchedulerWindow = 58 * time.Second

// executorCache is how many executions an executor keeps in memory after
// committing them: events of one execution come to the executor that owns
// its partition, which then need not read it back (engine.Config).
const executorCache = 10000

// maxBlobThreshold keeps what stays in an item or a message well below
// DynamoDB's 400 KB and Kafka's 1 MB.
const maxBlobThreshold = 256 << 10

// Config locates the table, the topics and where large values go.
type Config struct {
	Brokers     []string
	Table       string
	TopicPrefix string
	Workers     int
	// KafkaAuth is how to encrypt the connections to the brokers and sign
	// in (the zero value: plaintext, no authentication).
	KafkaAuth kafka.AuthConfig
	// AttemptTimeout is the default timeout of task attempts (0: none).
	AttemptTimeout time.Duration
	// AttemptLease: see EnvAttemptLease.
	AttemptLease time.Duration
	// StartedAfter: see EnvStartedAfter.
	StartedAfter time.Duration
	// Bucket (S3) or else BlobDir (a local folder) keeps large values;
	// with neither, they stay in items and messages, which fail past
	// DynamoDB's and Kafka's limits.
	Bucket, BucketPrefix string
	BlobDir              string
	S3PathStyle          bool
	// BlobThreshold is the size above which values go to the blobs (0:
	// engine.DefaultBlobThreshold).
	BlobThreshold int
	// Retention: see EnvRetention (0: for ever).
	Retention time.Duration
	// KeyDir is the data directory whose secret key the processes of one
	// machine share (`relay dev`) when neither secretstore.EnvKey nor
	// secretstore.EnvKeySecret is set; empty in Lambda.
	KeyDir string
	// Secrets says where the worker reads named secrets.
	Secrets secretstore.Config
}

// durationEnv reads a Go duration from the environment: def when unset,
// an error naming the variable when it is not a duration of zero or more.
func durationEnv(name string, def time.Duration, example string) (time.Duration, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return def, fmt.Errorf("%s=%q: want a duration such as %s", name, v, example)
	}
	return d, nil
}

// ConfigFromEnv reads Config from the environment.
func ConfigFromEnv() (Config, error) {
	c := Config{Brokers: kafka.BrokersFromEnv(), Table: os.Getenv(EnvTable), TopicPrefix: os.Getenv(EnvTopicPrefix), Workers: 8,
		BlobDir: os.Getenv(EnvBlobDir)}
	c.Bucket, c.BucketPrefix, _ = strings.Cut(os.Getenv(EnvBucket), "/")
	if c.Table == "" {
		c.Table = dynamo.DefaultTable
	}
	if len(c.Brokers) == 0 {
		return c, fmt.Errorf("%s is not set: it names the Kafka brokers (host:port, comma-separated)", EnvBrokers)
	}
	auth, err := kafka.AuthConfigFromEnv()
	if err != nil {
		return c, err
	}
	c.KafkaAuth = auth
	if c.Secrets, err = secretstore.ConfigFromEnv(); err != nil {
		return c, err
	}
	if os.Getenv("AWS_LAMBDA_FUNCTION_NAME") == "" {
		if c.KeyDir, err = dataDir(); err != nil {
			return c, err
		}
	}
	if v := os.Getenv(EnvWorkers); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return c, fmt.Errorf("%s=%q: want a positive number", EnvWorkers, v)
		}
		c.Workers = n
	}
	if c.AttemptTimeout, err = durationEnv(EnvAttemptTimeout, 0, "15m"); err != nil {
		return c, err
	}
	if c.AttemptLease, err = durationEnv(EnvAttemptLease, engine.DefaultAttemptLease, "30s"); err != nil {
		return c, err
	}
	if c.StartedAfter, err = durationEnv(EnvStartedAfter, DefaultStartedAfter, "1s"); err != nil {
		return c, err
	}
	if v := os.Getenv(EnvRetention); v != "" {
		days, isDays := strings.CutSuffix(v, "d")
		n, derr := strconv.Atoi(days)
		switch {
		case isDays && derr == nil && n > 0:
			c.Retention = time.Duration(n) * 24 * time.Hour
		default:
			if c.Retention, err = durationEnv(EnvRetention, 0, "720h or 30d"); err != nil {
				return c, err
			}
		}
	}
	if v := os.Getenv(EnvBlobThreshold); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxBlobThreshold {
			return c, fmt.Errorf("%s=%q: want a size in bytes from 1 to %d", EnvBlobThreshold, v, maxBlobThreshold)
		}
		c.BlobThreshold = n
	}
	c.S3PathStyle = os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
	if v := os.Getenv(EnvS3PathStyle); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return c, fmt.Errorf("%s=%q: want true or false", EnvS3PathStyle, v)
		}
		c.S3PathStyle = b
	}
	// In Lambda a local folder is not shared between functions: no
	// default there.
	if c.Bucket == "" && c.BlobDir == "" && os.Getenv("AWS_LAMBDA_FUNCTION_NAME") == "" {
		dir, err := DefaultBlobDir()
		if err != nil {
			return c, err
		}
		c.BlobDir = dir
	}
	return c, nil
}

// DefaultBlobDir is the blob folder of `relay dev` when neither
// RELAY_BUCKET nor RELAY_BLOB_DIR is set: blobs/ in the data directory
// (RELAY_DATA_DIR, else ~/.relay), shared by every process of the machine.
func DefaultBlobDir() (string, error) {
	d, err := dataDir()
	if err != nil {
		return "", fmt.Errorf("finding the blob folder (set %s or %s): %w", EnvBlobDir, EnvBucket, err)
	}
	return filepath.Join(d, "blobs"), nil
}

// dataDir is RELAY_DATA_DIR, else ~/.relay: what the processes of one
// machine share.
func dataDir() (string, error) {
	if d := os.Getenv("RELAY_DATA_DIR"); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the home directory (set RELAY_DATA_DIR): %w", err)
	}
	return filepath.Join(home, ".relay"), nil
}

// openBlobs returns the blob store cfg names, or nil for none.
func openBlobs(ctx context.Context, cfg Config) (engine.Blobs, error) {
	switch {
	case cfg.Bucket != "":
		client, err := blob.NewS3Client(ctx, cfg.S3PathStyle)
		if err != nil {
			return nil, err
		}
		return blob.NewS3(client, cfg.Bucket, cfg.BucketPrefix), nil
	case cfg.BlobDir != "":
		dir, err := blob.NewDir(cfg.BlobDir)
		if err != nil {
			return nil, err
		}
		return dir, nil
	}
	return nil, nil
}

// fileStorage returns the internal storage on the blob store: the files
// of script tasks, FILE inputs and S3 tasks live beside the large values.
func fileStorage(blobs engine.Blobs) *storage.Storage {
	if b, ok := blobs.(storage.Backend); ok {
		return storage.New(b)
	}
	return nil
}

// Runtime is the engine on the DynamoDB table and the Kafka topics.
type Runtime struct {
	Config Config
	Store  *dynamo.Store
	Bus    *kafka.Bus
	Engine *engine.Engine
	// Scheduler starts due schedules (RunScheduler).
	Scheduler *firing.Scheduler
	// Blobs keeps large values (nil: none configured).
	Blobs engine.Blobs
	// Files is the internal storage, on Blobs (nil when Blobs is).
	Files *storage.Storage
	// Secrets is the deployment's key (nil: none configured, and flows
	// that use secrets fail saying so).
	Secrets *secrets.Keyring
	// SecretLookup reads flows' named secrets (secret('NAME')): the worker
	// opens them, and the API renders webhook keys written with secret().
	SecretLookup secrets.Lookup
	Log          *slog.Logger

	db *dynamodb.Client
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
	blobs, err := openBlobs(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening the blob store: %w", err)
	}
	if blobs == nil {
		log.Warn("no " + EnvBucket + " nor " + EnvBlobDir + ": large outputs stay in items and messages, and fail past DynamoDB's and Kafka's limits")
	}
	st := dynamo.New(db, cfg.Table, dynamo.WithLogger(log), dynamo.WithBlobs(blobs, cfg.BlobThreshold), dynamo.WithRetention(cfg.Retention))
	auth, err := cfg.KafkaAuth.Options(ctx)
	if err != nil {
		return nil, fmt.Errorf("setting up Kafka authentication (%v): %w", cfg.KafkaAuth, err)
	}
	bus, err := kafka.New(ctx, cfg.Brokers, append([]kafka.Option{kafka.WithLogger(log), kafka.WithTopicPrefix(cfg.TopicPrefix)}, auth...)...)
	if err != nil {
		return nil, fmt.Errorf("connecting to Kafka at %v: %w", cfg.Brokers, err)
	}
	if err := bus.EnsureTopics(ctx, engine.TopicExecutions, engine.TopicTaskRuns, engine.TopicEvents, engine.TopicDLQ); err != nil {
		bus.Close()
		return nil, fmt.Errorf("creating Relay's topics: %w", err)
	}
	files := fileStorage(blobs)
	bcfg := builtin.Config{Tasks: tasks.Config{Emitter: engine.BusEmitter{Bus: bus}}}
	ecfg := engine.Config{Store: st, Bus: bus, Workers: cfg.Workers, AttemptTimeout: cfg.AttemptTimeout, AttemptLease: cfg.AttemptLease, StartedAfter: cfg.StartedAfter, CacheExecutions: executorCache, Logger: log, Blobs: blobs, BlobThreshold: cfg.BlobThreshold}
	if files != nil { // a nil *Storage in an interface would not read as none
		bcfg.Files, ecfg.Files = files, files
	}
	reg, err := builtin.Registry(bcfg)
	if err == nil {
		err = routeRunners(ctx, reg, log)
	}
	if err != nil {
		bus.Close()
		return nil, fmt.Errorf("setting up tasks: %w", err)
	}
	keys, lookup, err := openSecrets(ctx, cfg, log)
	if err != nil {
		bus.Close()
		return nil, err
	}
	envs, globals, err := engine.ExpressionVariables(os.Environ())
	if err != nil {
		bus.Close()
		return nil, err
	}
	ecfg.Tasks, ecfg.Secrets, ecfg.SecretLookup, ecfg.Envs, ecfg.Globals = reg, keys, lookup, envs, globals
	eng, err := engine.New(ecfg)
	if err != nil {
		bus.Close()
		return nil, err
	}
	sched := firing.NewScheduler(firing.SchedulerConfig{Store: st, Bus: eng, Log: log})
	return &Runtime{Config: cfg, Store: st, Bus: bus, Engine: eng, Scheduler: sched, Blobs: blobs, Files: files, Secrets: keys, SecretLookup: lookup, Log: log, db: db}, nil
}

// OpenWhenReady is Open for long-lived processes (`relay dev`): while
// Kafka or DynamoDB does not answer it waits for them, with backoff and
// jitter, rather than failing; the health registry (internal/health) logs
// the outage once and /healthz reports it. It fails at once on other
// errors (a bad configuration), and when ctx ends.
func OpenWhenReady(ctx context.Context, cfg Config, log *slog.Logger) (*Runtime, error) {
	wait := health.Backoff{Min: 200 * time.Millisecond, Max: 5 * time.Second}
	for {
		rt, err := Open(ctx, cfg, log)
		if err == nil {
			return rt, nil
		}
		if !errors.Is(err, engine.ErrUnavailable) {
			return nil, err
		}
		if log != nil {
			log.Debug("waiting for Kafka and DynamoDB", slog.Any("error", err))
		}
		if !wait.Wait(ctx) {
			return nil, fmt.Errorf("waiting for Kafka and DynamoDB: %w (last: %w)", ctx.Err(), err)
		}
	}
}

// Ping checks that the brokers and the table answer, reporting each to the
// health registry; the error wraps engine.ErrUnavailable when one does not.
func (r *Runtime) Ping(ctx context.Context) error {
	_, derr := r.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(r.Config.Table)})
	if derr != nil {
		derr = fmt.Errorf("describing table %s: %w", r.Config.Table, derr)
	}
	return errors.Join(r.Bus.Ping(ctx), derr)
}

// Probe pings the dependencies until ctx ends: every `every` while they
// answer, more often while one does not, so that /healthz turns healthy
// again soon after an outage even when no work arrives to show it.
func (r *Runtime) Probe(ctx context.Context, every time.Duration) {
	for {
		_ = r.Ping(ctx)
		d := every
		if !health.Default.Healthy() {
			d = min(every, time.Second)
		}
		b := health.Backoff{Min: d, Max: d} // d/2 to d: processes do not probe in step
		if !b.Wait(ctx) {
			return
		}
	}
}

// openSecrets loads the deployment's key and the backend of named secrets.
// A function without a key (the router and the scheduler need none) runs,
// and a flow that needs one fails saying so.
func openSecrets(ctx context.Context, cfg Config, log *slog.Logger) (*secrets.Keyring, secrets.Lookup, error) {
	lookup, err := cfg.Secrets.Lookup(ctx)
	if err != nil {
		return nil, nil, err
	}
	if cfg.KeyDir == "" && os.Getenv(secretstore.EnvKey) == "" && os.Getenv(secretstore.EnvKeySecret) == "" {
		log.Debug("no secret key: flows that use secrets will fail", slog.String("set", secretstore.EnvKeySecret))
		return nil, lookup, nil
	}
	keys, err := secretstore.LoadKey(ctx, cfg.KeyDir)
	if err != nil {
		return nil, nil, err
	}
	return keys, lookup, nil
}

// Close releases the connections.
func (r *Runtime) Close() error {
	r.Engine.Wait()
	return errors.Join(r.Bus.Close(), r.Store.Close())
}

// Executor handles batches of relay.executions.
func (r *Runtime) Executor() *BatchHandler {
	return &BatchHandler{Handle: r.Engine.ExecutorHandler(), HandleAll: r.Engine.ExecutorBatchHandler(), DeadLetters: r, Log: r.Log}
}

// Worker handles batches of relay.taskruns.
func (r *Runtime) Worker() *BatchHandler {
	return &BatchHandler{Handle: r.Engine.WorkerHandler(), DeadLetters: r, Log: r.Log, Concurrency: WorkerConcurrency}
}

// WorkerConcurrency is how many attempts of a batch a worker runs at once:
// the worker function's batch size in template.yaml, so that an attempt
// never waits for another one of its batch (a slow script would hold up the
// rest, and the whole batch would have to fit in the function's timeout).
const WorkerConcurrency = 10

// Router handles batches of relay.events: execution.finished events fire
// flow triggers, other CloudEvents event triggers.
func (r *Runtime) Router() *BatchHandler {
	router := firing.NewRouter(firing.RouterConfig{Store: r.Store, Bus: r.Engine, Log: r.Log, Resolve: r.Engine.ResolveEvent})
	return &BatchHandler{Handle: router.Handle, DeadLetters: r, Log: r.Log}
}

// RunScheduler fires due schedules and durable timers every `every` until
// ctx ends.
func (r *Runtime) RunScheduler(ctx context.Context, every time.Duration) {
	var swept time.Time
	r.Scheduler.Run(ctx, every, func(ctx context.Context) error {
		err := r.Engine.FireTimers(ctx)
		if now := time.Now(); now.Sub(swept) >= time.Minute {
			// Idempotency keys past their window, a query a minute.
			if serr := api.SweepIdempotency(ctx, r.Store, now, 256); serr != nil {
				err = errors.Join(err, serr)
			} else {
				swept = now
			}
		}
		return err
	})
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
