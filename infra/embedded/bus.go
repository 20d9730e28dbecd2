package embedded

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"

	"github.com/relayflow/relay/engine"
)

// Extensions the bus adds to an event it moves to engine.TopicDLQ.
const (
	// ExtensionError holds the last handler error.
	ExtensionError = "relayerror"
	// ExtensionTopic holds the topic the event failed on, so a DLQ
	// consumer can put it back.
	ExtensionTopic = "relaytopic"
)

// ErrClosed is returned by Publish and Subscribe once the bus is closed.
var ErrClosed = engine.ErrBusClosed

// Bus is an in-process engine.Bus. It keeps nothing on disk (BusFeatures
// Durable is false): in the embedded deployment the Store's outbox and
// timers are the durable record, so the bus need not be.
//
// For each topic and consumer group the bus keeps one FIFO queue per key
// with pending events. The queue belongs to one subscriber of the group,
// chosen by hash of the key when the queue is created, and one goroutine
// drains it: so a key's events are handled in order and never
// concurrently, while different keys (and a key backing off after a
// failure) proceed independently. A queue that empties is dropped, so the
// goroutines running at any time are those of keys with pending events.
//
// Events published while a group has no subscriber are not kept for it;
// events still queued for a subscriber that leaves go to another
// subscriber of the group, or are dropped with a warning when none is
// left.
type Bus struct {
	cfg busConfig

	mu     sync.Mutex
	closed bool
	topics map[string]map[string]*group // topic -> group name -> group
	wg     sync.WaitGroup               // queue goroutines, for Close
}

var _ engine.Bus = (*Bus)(nil)

type busConfig struct {
	backoff    time.Duration
	maxBackoff time.Duration
	log        *slog.Logger
}

// BusOption configures NewBus.
type BusOption func(*busConfig)

// WithRetryBackoff sets the wait before redelivering an event whose handler
// failed: initial after the first failure, doubling up to max (defaults
// 10ms and 500ms).
func WithRetryBackoff(initial, max time.Duration) BusOption {
	return func(c *busConfig) {
		c.backoff, c.maxBackoff = initial, max
	}
}

// WithLogger sets where the bus reports dead-lettered and dropped events
// (default slog.Default()).
func WithLogger(l *slog.Logger) BusOption {
	return func(c *busConfig) { c.log = l }
}

// NewBus returns an empty bus.
func NewBus(opts ...BusOption) *Bus {
	cfg := busConfig{backoff: 10 * time.Millisecond, maxBackoff: 500 * time.Millisecond}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.log == nil {
		cfg.log = slog.Default()
	}
	cfg.backoff = max(cfg.backoff, 0)
	cfg.maxBackoff = max(cfg.maxBackoff, cfg.backoff)
	return &Bus{cfg: cfg, topics: make(map[string]map[string]*group)}
}

// group is one consumer group of one topic. Its fields are guarded by
// Bus.mu.
type group struct {
	topic, name string
	subs        []*subscription
	keys        map[string]*keyQueue // keys with pending events
}

// subscription is one Subscribe or SubscribeBatch call.
type subscription struct {
	ctx    context.Context // ends when the caller's ctx does or on Close
	cancel context.CancelFunc
	h      engine.Handler
	batch  engine.BatchHandler // instead of h, with up to max events
	max    int
	// wg counts the queue goroutines delivering to this subscription;
	// Subscribe waits for them so that its handler is never called after
	// it returns.
	wg sync.WaitGroup
}

func (s *subscription) live() bool { return s.ctx.Err() == nil }

// keyQueue holds a key's pending events; the head is being delivered.
type keyQueue struct {
	key    string
	events []cloudevents.Event
}

// pick chooses the live subscriber for key by hash, or nil.
func (g *group) pick(key string) *subscription {
	n := 0
	for _, s := range g.subs {
		if s.live() {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	i := int(h.Sum32() % uint32(n))
	for _, s := range g.subs {
		if s.live() {
			if i == 0 {
				return s
			}
			i--
		}
	}
	return nil
}

// Publish hands the event to every group subscribed to the topic. It
// returns at once: delivery happens on the groups' goroutines.
func (b *Bus) Publish(ctx context.Context, topic, key string, ev cloudevents.Event) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("publish to %s: %w", topic, err)
	}
	if err := ev.Validate(); err != nil {
		return fmt.Errorf("publish to %s: invalid event: %w", topic, err)
	}
	// The bus keeps its own copy: the caller may reuse ev. Groups share
	// it, as every delivery hands the handler a clone.
	ev = ev.Clone()

	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return fmt.Errorf("publish to %s: %w", topic, ErrClosed)
	}
	for _, g := range b.topics[topic] {
		if q := g.keys[key]; q != nil {
			q.events = append(q.events, ev)
			continue
		}
		s := g.pick(key)
		if s == nil {
			continue
		}
		q := &keyQueue{key: key, events: []cloudevents.Event{ev}}
		g.keys[key] = q
		b.start(g, q, s)
	}
	return nil
}

// start runs a goroutine draining q for s. Called with b.mu held and s
// live, which guarantees Close and Subscribe have not begun waiting.
func (b *Bus) start(g *group, q *keyQueue, s *subscription) {
	b.wg.Add(1)
	s.wg.Add(1)
	go b.drain(g, q, s)
}

// Subscribe delivers the topic's events to h, sharing them with the other
// subscribers of group, until ctx ends or the bus closes. It returns ctx's
// error, or ErrClosed when the bus closed. Handlers see a ctx that ends
// with the subscription; Subscribe waits for running handlers to return.
func (b *Bus) Subscribe(ctx context.Context, topic, groupName string, h engine.Handler) error {
	if h == nil {
		return fmt.Errorf("subscribe to %s: nil handler", topic)
	}
	return b.subscribe(ctx, topic, groupName, &subscription{h: h})
}

// SubscribeBatch is Subscribe with the events of a key that are waiting
// delivered together, at most max at a time, in order
// (engine.BatchSubscriber). A batch whose handler fails is delivered
// again; after engine.MaxAttempts failures its events are delivered one
// at a time, so that only a poison event goes to the dead-letter topic.
func (b *Bus) SubscribeBatch(ctx context.Context, topic, groupName string, most int, h engine.BatchHandler) error {
	if h == nil {
		return fmt.Errorf("subscribe to %s: nil handler", topic)
	}
	return b.subscribe(ctx, topic, groupName, &subscription{batch: h, max: max(most, 1)})
}

func (b *Bus) subscribe(ctx context.Context, topic, groupName string, s *subscription) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("subscribe to %s: %w", topic, err)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.ctx, s.cancel = sctx, cancel

	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return fmt.Errorf("subscribe to %s: %w", topic, ErrClosed)
	}
	groups := b.topics[topic]
	if groups == nil {
		groups = make(map[string]*group)
		b.topics[topic] = groups
	}
	g := groups[groupName]
	if g == nil {
		g = &group{topic: topic, name: groupName, keys: make(map[string]*keyQueue)}
		groups[groupName] = g
	}
	g.subs = append(g.subs, s)
	b.mu.Unlock()

	<-sctx.Done()

	b.mu.Lock()
	g.subs = slices.DeleteFunc(g.subs, func(o *subscription) bool { return o == s })
	b.release(g)
	b.mu.Unlock()
	s.wg.Wait()

	if err := ctx.Err(); err != nil {
		return err
	}
	return fmt.Errorf("subscribe to %s: %w", topic, ErrClosed)
}

// Subscribers returns how many subscriptions a group has on a topic. The
// bus keeps no events for a group before it subscribes, so an engine that
// publishes to itself at start-up waits for its own subscriptions first.
func (b *Bus) Subscribers(topic, groupName string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if g := b.topics[topic][groupName]; g != nil {
		return len(g.subs)
	}
	return 0
}

// release forgets g once it has neither subscribers nor queues. A group
// whose last subscriber left stays while its queues drain: a subscriber
// joining meanwhile takes them over, so a key is never handled by two
// goroutines at once. Called with b.mu held.
func (b *Bus) release(g *group) {
	if len(g.subs) > 0 || len(g.keys) > 0 {
		return
	}
	groups := b.topics[g.topic]
	if groups[g.name] != g {
		return
	}
	delete(groups, g.name)
	if len(groups) == 0 {
		delete(b.topics, g.topic)
	}
}

// drain delivers q's events to s in order, retrying failures, until q is
// empty or s ends (then the rest of q moves to another subscriber). A
// batch subscriber gets the events waiting, up to its max, at once; after
// MaxAttempts failures of a batch, its events go one at a time.
func (b *Bus) drain(g *group, q *keyQueue, s *subscription) {
	defer b.wg.Done()
	defer s.wg.Done()
	failures := 0
	one := 0 // events still to deliver one at a time, after a failed batch
	for {
		b.mu.Lock()
		if !s.live() {
			b.handOver(g, q)
			b.mu.Unlock()
			return
		}
		if len(q.events) == 0 {
			delete(g.keys, q.key)
			b.release(g)
			b.mu.Unlock()
			return
		}
		n := 1
		if s.batch != nil && one == 0 {
			n = min(len(q.events), s.max)
		}
		evs := slices.Clone(q.events[:n])
		b.mu.Unlock()

		err := deliver(s, evs)
		if err != nil {
			if !s.live() {
				// Interrupted, not failed: the next subscriber
				// delivers it again without counting this try.
				continue
			}
			failures++
			if failures < engine.MaxAttempts && !errors.Is(err, engine.ErrCannotApply) {
				b.wait(s.ctx, failures)
				continue
			}
			if n > 1 {
				failures, one = 0, n // find the event that fails
				continue
			}
			b.deadLetter(g, q.key, evs[0], err)
		}
		failures = 0
		if one > 0 {
			one--
		}
		b.mu.Lock()
		clear(q.events[:n]) // let the GC have them
		q.events = q.events[n:]
		b.mu.Unlock()
	}
}

// handOver moves q to another live subscriber of g, or drops it. Called
// with b.mu held.
func (b *Bus) handOver(g *group, q *keyQueue) {
	if len(q.events) == 0 {
		delete(g.keys, q.key)
		b.release(g)
		return
	}
	if s := g.pick(q.key); s != nil {
		b.start(g, q, s)
		return
	}
	delete(g.keys, q.key)
	b.release(g)
	b.cfg.log.Warn("bus: no subscriber left, dropping events",
		"topic", g.topic, "group", g.name, "key", q.key, "events", len(q.events))
}

// deliver calls the handler with copies of evs (one event, unless the
// subscriber takes batches), turning a panic into an error so that one bad
// event is retried and dead-lettered like any other failure instead of
// killing the process.
func deliver(s *subscription, evs []cloudevents.Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	if s.batch == nil {
		return s.h(s.ctx, evs[0].Clone())
	}
	copies := make([]cloudevents.Event, len(evs))
	for i, ev := range evs {
		copies[i] = ev.Clone()
	}
	return s.batch(s.ctx, copies)
}

// wait sleeps the backoff after the n-th failure, or until ctx ends.
func (b *Bus) wait(ctx context.Context, n int) {
	d := b.cfg.backoff
	for i := 1; i < n && d < b.cfg.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, b.cfg.maxBackoff)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// deadLetter publishes ev to engine.TopicDLQ with the error, so the key
// moves on. Events failing on the DLQ itself are only logged: sending them
// back would loop.
func (b *Bus) deadLetter(g *group, key string, ev cloudevents.Event, cause error) {
	log := b.cfg.log.With("topic", g.topic, "group", g.name, "key", key, "event", ev.ID(), "error", cause)
	if g.topic == engine.TopicDLQ {
		log.Error("bus: dead-letter handler keeps failing, dropping event")
		return
	}
	dl := ev.Clone()
	dl.SetExtension(ExtensionError, cause.Error())
	dl.SetExtension(ExtensionTopic, g.topic)
	if err := b.Publish(context.Background(), engine.TopicDLQ, key, dl); err != nil {
		log.Error("bus: cannot dead-letter event", "dlqError", err)
		return
	}
	log.Warn("bus: event dead-lettered", "attempts", engine.MaxAttempts)
}

// Close ends every subscription and waits for running handlers to return.
// It must not be called from a handler, which it would wait for.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	for _, groups := range b.topics {
		for _, g := range groups {
			for _, s := range g.subs {
				s.cancel()
			}
		}
	}
	b.mu.Unlock()
	b.wg.Wait()
	return nil
}
