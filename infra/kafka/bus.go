// Package kafka is the engine.Bus on Apache Kafka, built on
// github.com/segmentio/kafka-go. Events travel as CloudEvents in the Kafka
// protocol binding's binary mode (see binding.go); structured-mode records
// written by other producers are read too.
//
// Each Relay topic is a Kafka topic of the same name behind an optional
// prefix (WithTopicPrefix), created on first use. A Subscribe call is one
// member of a Kafka consumer group: the group's partitions are shared among
// its members, and each member handles the records of a partition in order
// per key. See Bus for the details.
//
// Connections are plaintext without authentication unless WithTLS and
// WithSASL say otherwise; AuthFromEnv reads them from the environment
// (EnvTLS, EnvSASL, and EnvSecret or EnvUsername and EnvPassword).
package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/internal/health"
)

// Extensions the bus adds to an event it moves to engine.TopicDLQ after
// its handler kept failing (the same as the embedded bus).
const (
	// ExtensionError holds the last handler error.
	ExtensionError = "relayerror"
	// ExtensionTopic holds the topic the event failed on (without the
	// prefix), so a DLQ consumer can put it back.
	ExtensionTopic = "relaytopic"
)

// EnvBrokers is the environment variable BrokersFromEnv reads.
const EnvBrokers = "RELAY_KAFKA_BROKERS"

// BrokersFromEnv returns the broker addresses in RELAY_KAFKA_BROKERS
// (comma-separated host:port), or nil when it is unset or empty.
func BrokersFromEnv() []string {
	var brokers []string
	for b := range strings.SplitSeq(os.Getenv(EnvBrokers), ",") {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	return brokers
}

// Bus is an engine.Bus on Kafka. It is durable and has consumer groups
// (enginetest.BusFeatures{Durable: true, ConsumerGroups: true}).
//
// Publish writes one record to the topic, keyed by the key passed, through
// one shared producer; it returns once every in-sync replica has it. Keys
// map to partitions with murmur2, as Java clients do, so a key's records
// stay in one partition, in publish order.
//
// Subscribe joins the consumer group and consumes the partitions the group
// assigns it. Within a partition, records are dispatched to one queue per
// key, each drained by its own goroutine: a key's events are handled one
// at a time in order, while other keys go on, even when a key backs off
// after a failure. A failing event is retried with exponential backoff; after
// engine.MaxAttempts failures it is published to engine.TopicDLQ (see
// ExtensionError) and its key moves on. Records that are not valid
// CloudEvents go to the DLQ as they are, with headers saying why (see
// HeaderError). Offsets are committed once every record before them is
// handled or dead-lettered, so delivery is at least once.
//
// A group that has never committed starts at the beginning of each
// partition, so nothing published before its first subscription is lost;
// afterwards it resumes where it left off. When the group rebalances, a
// member stops fetching, lets running handlers finish and commits before it
// rejoins, so no other member handles a key while it still does (provided
// handlers return within the rebalance timeout, see WithGroupTimeouts).
type Bus struct {
	cfg       config
	brokers   []string
	addr      net.Addr
	transport *kafkago.Transport
	client    *kafkago.Client
	writer    *kafkago.Writer
	dialer    *kafkago.Dialer

	// closing ends when Close begins.
	closing context.Context
	stop    context.CancelFunc

	mu     sync.Mutex
	closed bool
	topics map[string]bool // Kafka topics known to exist
	subs   sync.WaitGroup  // running Subscribe calls
	once   sync.Once
}

var _ engine.Bus = (*Bus)(nil)

type config struct {
	log                 *slog.Logger
	backoff, maxBackoff time.Duration
	prefix              string
	partitions          int
	topicPartitions     map[string]int
	replication         int
	batchTimeout        time.Duration
	heartbeat           time.Duration
	session             time.Duration
	rebalance           time.Duration
	maxWait             time.Duration
	tls                 *tls.Config
	sasl                sasl.Mechanism
}

// defaultBatchTimeout is the producer's wait for more records (see
// WithBatchTimeout): none, in effect. A wait under a millisecond is not
// what it says: the batch's timer fires at the runtime's next poll, and
// 100µs cost a publish about 1 ms (its acknowledgement 1.9 ms instead of
// 0.8 on a local broker).
const defaultBatchTimeout = time.Microsecond

// Option configures New.
type Option func(*config)

// WithRetryBackoff sets the wait before redelivering an event whose handler
// failed: initial after the first failure, doubling up to max (defaults
// 10ms and 500ms).
func WithRetryBackoff(initial, max time.Duration) Option {
	return func(c *config) { c.backoff, c.maxBackoff = initial, max }
}

// WithLogger sets where the bus reports dead-lettered events and Kafka
// errors (default slog.Default()). kafka-go's own messages go to it at
// debug level.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.log = l }
}

// WithTopicPrefix puts prefix before every Kafka topic name, so that
// several deployments can share a cluster: with "prod.", engine.TopicExecutions
// is the Kafka topic "prod.relay.executions". Default: none.
func WithTopicPrefix(prefix string) Option {
	return func(c *config) { c.prefix = prefix }
}

// WithPartitions sets how many partitions the bus gives the topics it
// creates (default 8, for every topic). Partitions bound how many members
// of a group consume at once; a key's events stay ordered whatever the
// number. Topics that already exist are left as they are.
func WithPartitions(n int) Option {
	return func(c *config) { c.partitions = n }
}

// WithTopicPartitions sets the partitions of one topic the bus creates
// (named without the prefix), overriding WithPartitions.
func WithTopicPartitions(topic string, n int) Option {
	return func(c *config) {
		if c.topicPartitions == nil {
			c.topicPartitions = map[string]int{}
		}
		c.topicPartitions[topic] = n
	}
}

// brokerDefault asks the broker for its default.replication.factor (Kafka
// 2.4 and later): 1 on a single local broker, 3 on a three-zone MSK cluster.
const brokerDefault = -1

// WithReplicationFactor sets the replication factor of the topics the bus
// creates (default: the broker's default.replication.factor).
func WithReplicationFactor(n int) Option {
	return func(c *config) { c.replication = n }
}

// WithBatchTimeout sets how long the producer waits for more records to
// send with one before sending it (default 1µs). Publish waits for it,
// so it adds to every publish while the bus is idle; the engine publishes
// one event at a time per handler, so a longer wait seldom finds others to
// batch with.
func WithBatchTimeout(d time.Duration) Option {
	return func(c *config) { c.batchTimeout = d }
}

// WithGroupTimeouts sets the consumer group timings: how often a member
// heartbeats, which is also how soon it notices a rebalance (default
// 500ms); how long the coordinator waits for a heartbeat before it gives a
// silent member's partitions to others (default 10s, at least the broker's
// group.min.session.timeout.ms, 6s by default); and how long it waits for
// members to rejoin during a rebalance (default 30s), which bounds how long
// a handler may keep running after a rebalance began.
func WithGroupTimeouts(heartbeat, session, rebalance time.Duration) Option {
	return func(c *config) { c.heartbeat, c.session, c.rebalance = heartbeat, session, rebalance }
}

// WithTLS makes every connection of the bus (producer, topic creation,
// consumers) a TLS connection with tc. A tc without ServerName gets
// the broker's host name, per broker. Default: plaintext. See AuthFromEnv.
func WithTLS(tc *tls.Config) Option {
	return func(c *config) { c.tls = tc }
}

// WithSASL makes every connection of the bus authenticate with m (see the
// packages under github.com/segmentio/kafka-go/sasl) before its first
// request. Default: none. Without WithTLS the exchange is in the clear,
// which PLAIN's password is too. See AuthFromEnv.
func WithSASL(m sasl.Mechanism) Option {
	return func(c *config) { c.sasl = m }
}

// New returns a bus on the cluster reachable at brokers (host:port). It
// checks that the cluster answers, creating engine.TopicDLQ if missing, so
// that dead letters can always be written.
func New(ctx context.Context, brokers []string, opts ...Option) (*Bus, error) {
	if len(brokers) == 0 {
		return nil, errors.New("kafka bus: no broker addresses")
	}
	cfg := config{
		backoff:      10 * time.Millisecond,
		maxBackoff:   500 * time.Millisecond,
		partitions:   8,
		replication:  brokerDefault,
		batchTimeout: defaultBatchTimeout,
		heartbeat:    500 * time.Millisecond,
		session:      10 * time.Second,
		rebalance:    30 * time.Second,
		maxWait:      100 * time.Millisecond,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.log == nil {
		cfg.log = slog.Default()
	}
	cfg.backoff = max(cfg.backoff, 0)
	cfg.maxBackoff = max(cfg.maxBackoff, cfg.backoff)
	cfg.partitions = max(cfg.partitions, 1)
	if cfg.replication < 1 {
		cfg.replication = brokerDefault
	}
	if cfg.batchTimeout <= 0 {
		cfg.batchTimeout = defaultBatchTimeout // kafka-go would take 0 as 1s
	}

	b := newBus(cfg, brokers)
	if err := b.ensureTopic(ctx, engine.TopicDLQ); err != nil {
		b.stop()
		_ = b.writer.Close()
		return nil, fmt.Errorf("kafka bus on %s: %w", strings.Join(brokers, ","), b.classify(ctx, err))
	}
	return b, nil
}

// Ping connects to the brokers, one after the other until one answers a
// metadata request, and reports the outcome to the health registry: an
// error wrapping engine.ErrUnavailable when none answers. (It dials anew:
// the producer's transport answers metadata requests from a cache.)
func (b *Bus) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var errs []error
	for _, addr := range b.brokers {
		conn, err := b.dialer.DialContext(ctx, "tcp", addr)
		if err == nil {
			_, err = conn.Brokers()
			conn.Close()
		}
		if err == nil {
			return b.classify(ctx, nil)
		}
		errs = append(errs, err)
	}
	return b.classify(ctx, errors.Join(errs...))
}

// newBus builds the bus's clients, without connecting.
func newBus(cfg config, brokers []string) *Bus {
	const clientID = "relay"
	// The transport carries the producer's and the admin client's
	// requests, the dialer the consumers': both get the same TLS and SASL.
	transport := &kafkago.Transport{ClientID: clientID, DialTimeout: 10 * time.Second, TLS: cfg.tls, SASL: cfg.sasl}
	addr := kafkago.TCP(brokers...)
	b := &Bus{
		cfg:       cfg,
		brokers:   append([]string(nil), brokers...),
		addr:      addr,
		transport: transport,
		client:    &kafkago.Client{Addr: addr, Transport: transport, Timeout: 30 * time.Second},
		writer: &kafkago.Writer{
			Addr:         addr,
			Transport:    transport,
			Balancer:     kafkago.Murmur2Balancer{Consistent: true},
			RequiredAcks: kafkago.RequireAll,
			BatchTimeout: cfg.batchTimeout,
			// A new topic's partitions may refuse writes for a few ms
			// after the metadata shows their leader: retry soon.
			WriteBackoffMin: 20 * time.Millisecond,
			Logger:          debugLogger(cfg.log),
			ErrorLogger:     debugLogger(cfg.log),
		},
		dialer: &kafkago.Dialer{ClientID: clientID, Timeout: 10 * time.Second, DualStack: true, TLS: cfg.tls, SASLMechanism: cfg.sasl},
		topics: map[string]bool{},
	}
	b.closing, b.stop = context.WithCancel(context.Background())
	return b
}

// Publish writes ev to topic with key and returns once the brokers have it.
func (b *Bus) Publish(ctx context.Context, topic, key string, ev cloudevents.Event) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("publish to %s: %w", topic, err)
	}
	headers, value, err := EncodeMessage(ev)
	if err != nil {
		return fmt.Errorf("publish to %s: %w", topic, err)
	}
	msg := kafkago.Message{Key: []byte(key), Value: value, Headers: kafkaHeaders(headers)}
	if err := b.write(ctx, topic, msg); err != nil {
		return fmt.Errorf("publish %s to %s: %w", ev.ID(), topic, err)
	}
	return nil
}

// write sends msg to topic (a Relay name) and waits for the acknowledgement.
func (b *Bus) write(ctx context.Context, topic string, msg kafkago.Message) error {
	if b.isClosed() {
		return engine.ErrBusClosed
	}
	if err := b.ensureTopic(ctx, topic); err != nil {
		return b.classify(ctx, err)
	}
	msg.Topic = b.topicName(topic)
	err := b.writer.WriteMessages(ctx, msg)
	var werrs kafkago.WriteErrors
	if errors.As(err, &werrs) && len(werrs) == 1 {
		err = werrs[0]
	}
	if errors.Is(err, io.ErrClosedPipe) {
		return engine.ErrBusClosed
	}
	return b.classify(ctx, err)
}

// classify reports the outcome of a call to the brokers to the process's
// health registry and wraps the errors of an outage (anything but a
// refusal that retrying cannot mend, see permanent) as
// engine.ErrUnavailable, which handlers wait out and never dead-letter.
func (b *Bus) classify(ctx context.Context, err error) error {
	switch {
	case err == nil:
		health.Default.OK(health.Kafka)
		return nil
	case ctx.Err() != nil, errors.Is(err, engine.ErrBusClosed):
		return err
	case permanent(err) || errors.Is(err, kafkago.MessageSizeTooLarge):
		health.Default.OK(health.Kafka) // it answered
		return err
	}
	health.Default.Fail(health.Kafka, err)
	return engine.Unavailable(err)
}

// Dialer returns a copy of the dialer the bus's consumers connect with,
// TLS and SASL included, for kafka-go readers outside the bus (such as
// `relay dev`'s event source) to connect the same way.
func (b *Bus) Dialer() *kafkago.Dialer {
	d := *b.dialer
	return &d
}

func (b *Bus) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// topicName is the Kafka name of a Relay topic.
func (b *Bus) topicName(topic string) string { return b.cfg.prefix + topic }

// Close ends every subscription, waits for their handlers to return and
// closes the producer. It must not be called from a handler, which it would
// wait for. Closing twice does nothing.
func (b *Bus) Close() error {
	var err error
	b.once.Do(func() {
		b.mu.Lock()
		b.closed = true
		b.mu.Unlock()
		b.stop()
		b.subs.Wait()
		if e := b.writer.Close(); e != nil {
			err = fmt.Errorf("close kafka bus: %w", e)
		}
		b.transport.CloseIdleConnections()
	})
	return err
}

// kafkaHeaders converts headers to kafka-go's.
func kafkaHeaders(hs []Header) []kafkago.Header {
	out := make([]kafkago.Header, len(hs))
	for i, h := range hs {
		out[i] = kafkago.Header(h)
	}
	return out
}

// plainHeaders converts kafka-go's headers to Header.
func plainHeaders(hs []kafkago.Header) []Header {
	out := make([]Header, len(hs))
	for i, h := range hs {
		out[i] = Header(h)
	}
	return out
}

// debugLogger passes kafka-go's messages to l at debug level.
func debugLogger(l *slog.Logger) kafkago.Logger {
	return kafkago.LoggerFunc(func(format string, args ...any) {
		if l.Enabled(context.Background(), slog.LevelDebug) {
			l.Debug("kafka-go: " + fmt.Sprintf(format, args...))
		}
	})
}

// backoff is the wait after the n-th failure (n >= 1).
func (b *Bus) backoff(n int) time.Duration {
	d := b.cfg.backoff
	for i := 1; i < n && d < b.cfg.maxBackoff; i++ {
		d *= 2
	}
	return min(d, b.cfg.maxBackoff)
}
