package kafka

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/engine/enginetest"
	"github.com/relayflow/relay/internal/servicetest"
)

// The tests in this file need a Kafka broker: RELAY_KAFKA_BROKERS names it
// (`make services-up` starts one). Without it they are skipped, unless
// RELAY_REQUIRE_SERVICES=1, which makes that a failure. RELAY_TEST_LOG=1
// shows the bus's logs.

func testBrokers(t *testing.T) []string {
	t.Helper()
	servicetest.Require(t, EnvBrokers)
	return BrokersFromEnv()
}

// testPrefix returns a topic prefix of its own for t, and deletes the
// topics with it when t ends.
func testPrefix(t testing.TB, brokers []string) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	prefix := "relaytest-" + hex.EncodeToString(b) + "."
	t.Cleanup(func() { deleteTopics(t, brokers, prefix) })
	return prefix
}

func deleteTopics(t testing.TB, brokers []string, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	transport := &kafkago.Transport{}
	defer transport.CloseIdleConnections()
	c := &kafkago.Client{Addr: kafkago.TCP(brokers...), Transport: transport}
	md, err := c.Metadata(ctx, &kafkago.MetadataRequest{})
	if err != nil {
		t.Logf("listing topics to delete: %v", err)
		return
	}
	var topics []string
	for _, tp := range md.Topics {
		if strings.HasPrefix(tp.Name, prefix) {
			topics = append(topics, tp.Name)
		}
	}
	if len(topics) == 0 {
		return
	}
	if _, err := c.DeleteTopics(ctx, &kafkago.DeleteTopicsRequest{Topics: topics}); err != nil {
		t.Logf("deleting topics %v: %v", topics, err)
	}
}

// testBackoff keeps retries fast while leaving the suite's retry test a
// window (20+40+80+160ms) to see other keys proceed.
var testBackoff = WithRetryBackoff(20*time.Millisecond, 200*time.Millisecond)

func testLogger() *slog.Logger {
	if os.Getenv("RELAY_TEST_LOG") == "1" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func newTestBus(t *testing.T, brokers []string, prefix string, opts ...Option) *Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts = append([]Option{
		WithTopicPrefix(prefix),
		WithPartitions(4),
		testBackoff,
		WithLogger(testLogger()),
		WithGroupTimeouts(200*time.Millisecond, 6*time.Second, 10*time.Second),
	}, opts...)
	b, err := New(ctx, brokers, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

func TestBus(t *testing.T) {
	brokers := testBrokers(t)
	prefix := testPrefix(t, brokers)
	enginetest.TestBus(t, func(t *testing.T) engine.Bus { return newTestBus(t, brokers, prefix) },
		enginetest.BusFeatures{Durable: true, ConsumerGroups: true})
}

// subscribe runs Subscribe in the background until the test ends.
func subscribe(t *testing.T, b *Bus, topic, group string, h engine.Handler) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Subscribe(ctx, topic, group, h) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("Subscribe(%s) did not return", topic)
		}
	})
}

func recordHeader(t *testing.T, m kafkago.Message, name string) string {
	t.Helper()
	for _, h := range m.Headers {
		if h.Key == name {
			return string(h.Value)
		}
	}
	t.Errorf("record at offset %d has no header %s: %v", m.Offset, name, m.Headers)
	return ""
}

// A structured-mode record written by another producer is delivered as
// the event it holds; a record that is no event goes to the DLQ as it is,
// with the reason, and the key's next record is still delivered.
func TestBusStructuredRecordsAndGarbage(t *testing.T) {
	brokers := testBrokers(t)
	prefix := testPrefix(t, brokers)
	b := newTestBus(t, brokers, prefix)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const topic = "relay.test.mixed"
	if err := b.ensureTopic(ctx, topic); err != nil {
		t.Fatal(err)
	}

	structured := fullEvent(t)
	body, err := json.Marshal(structured)
	if err != nil {
		t.Fatal(err)
	}
	next := fullEvent(t)
	next.SetID("ev-2")
	w := &kafkago.Writer{
		Addr:         kafkago.TCP(brokers...),
		Topic:        prefix + topic,
		Balancer:     kafkago.Murmur2Balancer{Consistent: true},
		RequiredAcks: kafkago.RequireAll,
		BatchTimeout: time.Millisecond,
		// The topic exists; this makes the writer fetch its metadata
		// instead of trusting a cache that may predate it.
		AllowAutoTopicCreation: true,
	}
	defer w.Close()
	garbage := kafkago.Message{Key: []byte("k"), Value: []byte("not an event"),
		Headers: []kafkago.Header{{Key: "content-type", Value: []byte("text/plain")}, {Key: "origin", Value: []byte("test")}}}
	if err := w.WriteMessages(ctx,
		kafkago.Message{Key: []byte("k"), Value: body, Headers: []kafkago.Header{{Key: "content-type", Value: []byte(ContentTypeStructuredJSON + "; charset=utf-8")}}},
		garbage,
	); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, topic, "k", next); err != nil {
		t.Fatal(err)
	}

	// A new group starts at the beginning: no need to subscribe first.
	got := make(chan cloudevents.Event, 10)
	subscribe(t, b, topic, "g", func(_ context.Context, ev cloudevents.Event) error {
		got <- ev
		return nil
	})
	for _, want := range []cloudevents.Event{structured, next} {
		select {
		case ev := <-got:
			if diff := sameEvent(ev, want); diff != "" {
				t.Errorf("delivered %s, differs from %s: %s", ev.ID(), want.ID(), diff)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s not delivered", want.ID())
		}
	}

	m := firstDeadLetter(t, brokers, prefix)
	if string(m.Key) != "k" || string(m.Value) != "not an event" {
		t.Errorf("DLQ record %q=%q, want the garbage record", m.Key, m.Value)
	}
	for _, h := range garbage.Headers {
		if got := recordHeader(t, m, h.Key); got != string(h.Value) {
			t.Errorf("DLQ record header %s = %q, want the original %q", h.Key, got, h.Value)
		}
	}
	if got := recordHeader(t, m, HeaderError); !strings.Contains(got, "not a CloudEvent") {
		t.Errorf("%s = %q, want the reason", HeaderError, got)
	}
	if got := recordHeader(t, m, HeaderTopic); got != topic {
		t.Errorf("%s = %q, want %q", HeaderTopic, got, topic)
	}
	if got := recordHeader(t, m, HeaderOffset); got != "1" {
		t.Errorf("%s = %q, want 1", HeaderOffset, got)
	}
	if got := recordHeader(t, m, HeaderGroup); got != "g" {
		t.Errorf("%s = %q, want g", HeaderGroup, got)
	}
	recordHeader(t, m, HeaderPartition)
}

// firstDeadLetter reads the first record of the DLQ behind prefix.
func firstDeadLetter(t *testing.T, brokers []string, prefix string) kafkago.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers: brokers, GroupID: "dlq-reader", Topic: prefix + engine.TopicDLQ,
		StartOffset: kafkago.FirstOffset, MaxWait: 100 * time.Millisecond,
	})
	defer r.Close()
	m, err := r.FetchMessage(ctx)
	if err != nil {
		t.Fatalf("reading the DLQ: %v", err)
	}
	return m
}

func TestBusDeadLetterRecord(t *testing.T) {
	brokers := testBrokers(t)
	prefix := testPrefix(t, brokers)
	b := newTestBus(t, brokers, prefix)
	defer b.Close()
	rec := Record{
		Topic: prefix + "relay.executions", Partition: 3, Offset: 18231,
		Key: []byte("e1"), Value: []byte("\x00garbage"),
		Headers: []Header{{Key: "ce_id", Value: []byte("x")}, {Key: HeaderError, Value: []byte("an older reason")}},
	}
	if err := b.DeadLetter(context.Background(), rec, errors.New("bad record")); err != nil {
		t.Fatal(err)
	}
	m := firstDeadLetter(t, brokers, prefix)
	if string(m.Key) != "e1" || string(m.Value) != "\x00garbage" {
		t.Errorf("DLQ record %q=%q", m.Key, m.Value)
	}
	var got []string
	for _, h := range m.Headers {
		got = append(got, h.Key+"="+string(h.Value))
	}
	want := "ce_id=x relay_error=bad record relay_topic=relay.executions relay_partition=3 relay_offset=18231"
	if strings.Join(got, " ") != want {
		t.Errorf("headers %q, want %q", got, want)
	}
}

// An event whose handler keeps failing reaches the DLQ as an event with
// the error and its topic, and as a record with the relay_* headers.
func TestBusDeadLetteredEvent(t *testing.T) {
	brokers := testBrokers(t)
	prefix := testPrefix(t, brokers)
	b := newTestBus(t, brokers, prefix, WithRetryBackoff(time.Millisecond, time.Millisecond))
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const topic = "relay.test.failing"
	ev := fullEvent(t)
	if err := b.Publish(ctx, topic, "k", ev); err != nil {
		t.Fatal(err)
	}
	subscribe(t, b, topic, "g", func(context.Context, cloudevents.Event) error { panic("boom") })
	dead := make(chan cloudevents.Event, 1)
	subscribe(t, b, engine.TopicDLQ, "dlq", func(_ context.Context, ev cloudevents.Event) error {
		dead <- ev
		return nil
	})
	select {
	case d := <-dead:
		if d.ID() != ev.ID() || string(d.Data()) != string(ev.Data()) {
			t.Errorf("DLQ got %v, want %v", d, ev)
		}
		if got := d.Extensions()[ExtensionError]; !strings.Contains(got.(string), "handler panicked: boom") {
			t.Errorf("%s = %q", ExtensionError, got)
		}
		if got := d.Extensions()[ExtensionTopic]; got != topic {
			t.Errorf("%s = %q, want %s", ExtensionTopic, got, topic)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no dead letter")
	}
}

// When a member joins, the member that has the partitions lets its
// running handler finish and commits before it gives them up: the key's
// events are handled once each, in order, never two at a time.
func TestBusRebalanceWaitsForRunningHandlers(t *testing.T) {
	brokers := testBrokers(t)
	prefix := testPrefix(t, brokers)
	b := newTestBus(t, brokers, prefix, WithPartitions(1))
	defer b.Close()
	ctx := context.Background()
	const topic, n = "relay.test.rebalance", 20
	for i := range n {
		ev := fullEvent(t)
		ev.SetID(fmt.Sprint(i))
		if err := b.Publish(ctx, topic, "k", ev); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu      sync.Mutex
		running int
		handled []string
	)
	entered, release := make(chan struct{}), make(chan struct{})
	handler := func(_ context.Context, ev cloudevents.Event) error {
		mu.Lock()
		running++
		if running > 1 {
			t.Errorf("%s handled while another handler runs", ev.ID())
		}
		first := len(handled) == 0
		mu.Unlock()
		if first {
			close(entered)
			<-release // ignores ctx, as a slow handler might
		}
		mu.Lock()
		running--
		handled = append(handled, ev.ID())
		mu.Unlock()
		return nil
	}
	subscribe(t, b, topic, "g", handler)
	<-entered
	subscribe(t, b, topic, "g", handler) // a rebalance begins
	time.Sleep(time.Second)              // heartbeats notice it within 200ms
	close(release)
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		got := strings.Join(handled, ",")
		mu.Unlock()
		if strings.Count(got, ",") >= n-1 {
			want := make([]string, n)
			for i := range want {
				want[i] = fmt.Sprint(i)
			}
			if got != strings.Join(want, ",") {
				t.Errorf("handled %s, want each of 0..%d once in order", got, n-1)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("handled only %s", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Close stops everything the bus started: subscriptions, their readers and
// consumer groups, the producer.
func TestBusCloseLeavesNoGoroutines(t *testing.T) {
	brokers := testBrokers(t)
	prefix := testPrefix(t, brokers)
	baseline := runtime.NumGoroutine()
	b := newTestBus(t, brokers, prefix)
	const topic, n = "relay.test.close", 10
	handled := make(chan string, 2*n)
	done := make(chan error, 2)
	for _, group := range []string{"g1", "g2"} {
		go func() {
			done <- b.Subscribe(context.Background(), topic, group, func(_ context.Context, ev cloudevents.Event) error {
				handled <- ev.ID()
				return nil
			})
		}()
	}
	for range n {
		if err := b.Publish(context.Background(), topic, "k", fullEvent(t)); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 * n {
		select {
		case <-handled:
		case <-time.After(10 * time.Second):
			t.Fatal("events not handled")
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-done; !errors.Is(err, engine.ErrBusClosed) {
			t.Errorf("Subscribe returned %v, want ErrBusClosed", err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after Close, %d before New:\n%s", runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBusRejects(t *testing.T) {
	brokers := testBrokers(t)
	b := newTestBus(t, brokers, testPrefix(t, brokers))
	ctx := context.Background()
	if err := b.Publish(ctx, "t", "k", cloudevents.New()); err == nil {
		t.Error("Publish of an event without id, source and type succeeded")
	}
	if err := b.Subscribe(ctx, "t", "g", nil); err == nil {
		t.Error("Subscribe with a nil handler succeeded")
	}
	nop := func(context.Context, cloudevents.Event) error { return nil }
	if err := b.Subscribe(ctx, "not a topic name!", "g", nop); !errors.Is(err, kafkago.InvalidTopic) {
		t.Errorf("Subscribe to an invalid topic name: %v, want InvalidTopic", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.Publish(cancelled, "t", "k", fullEvent(t)); !errors.Is(err, context.Canceled) {
		t.Errorf("Publish with a cancelled ctx: %v", err)
	}
	if err := b.Subscribe(cancelled, "t", "g", nop); !errors.Is(err, context.Canceled) {
		t.Errorf("Subscribe with a cancelled ctx: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Subscribe(ctx, "t", "g", nop); !errors.Is(err, engine.ErrBusClosed) {
		t.Errorf("Subscribe after Close: %v, want ErrBusClosed", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestNewFailsWithoutBroker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := New(ctx, nil); err == nil {
		t.Error("New without brokers succeeded")
	}
	// Port 1 on loopback: nothing listens there.
	b, err := New(ctx, []string{"127.0.0.1:1"}, WithLogger(testLogger()))
	if err == nil {
		b.Close()
		t.Fatal("New with an unreachable broker succeeded")
	}
	t.Log(err)
}

func TestBrokersFromEnv(t *testing.T) {
	for env, want := range map[string]string{
		"":                           "[]",
		"127.0.0.1:19092":            "[127.0.0.1:19092]",
		" a:1, b:2 ,,":               "[a:1 b:2]",
		"kafka-0:9092,kafka-1:9092,": "[kafka-0:9092 kafka-1:9092]",
	} {
		t.Setenv(EnvBrokers, env)
		if got := fmt.Sprint(BrokersFromEnv()); got != want {
			t.Errorf("%s=%q: %s, want %s", EnvBrokers, env, got, want)
		}
	}
}

// BenchmarkPublish measures the latency of one Publish on an idle bus
// (sequential) and the throughput of concurrent publishers.
func BenchmarkPublish(b *testing.B) {
	brokers := BrokersFromEnv()
	if len(brokers) == 0 {
		b.Skipf("%s is not set", EnvBrokers)
	}
	ctx := context.Background()
	bus, err := New(ctx, brokers, WithTopicPrefix(testPrefix(b, brokers)), WithLogger(testLogger()))
	if err != nil {
		b.Fatal(err)
	}
	defer bus.Close()
	ev := fullEvent(b)
	if err := bus.Publish(ctx, "relay.bench", "k", ev); err != nil {
		b.Fatal(err)
	}
	b.Run("sequential", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if err := bus.Publish(ctx, "relay.bench", fmt.Sprint(i%64), ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i++
				if err := bus.Publish(ctx, "relay.bench", fmt.Sprint(i%64), ev); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func TestPermanent(t *testing.T) {
	for err, want := range map[error]bool{
		fmt.Errorf("create topic x: %w", kafkago.InvalidTopic):       true,
		kafkago.TopicAuthorizationFailed:                             true,
		fmt.Errorf("create topic x: %w", kafkago.BrokerNotAvailable): false,
		kafkago.LeaderNotAvailable:                                   false,
		errors.New("dial tcp 127.0.0.1:1: connection refused"):       false,
	} {
		if got := permanent(err); got != want {
			t.Errorf("permanent(%v) = %v, want %v", err, got, want)
		}
	}
}
