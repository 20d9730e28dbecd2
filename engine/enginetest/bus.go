package enginetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"

	"github.com/relayflow/relay/engine"
)

// BusFeatures says which optional behaviours of the contract a bus has;
// the suite skips the tests of the others.
type BusFeatures struct {
	// Durable: events and group positions survive Close. The buses newBus
	// returns within one subtest must then share their storage (the same
	// brokers), so the suite can close one and open the next.
	Durable bool
	// ConsumerGroups: subscribers of one group share the events and
	// different groups each get all of them.
	ConsumerGroups bool
}

// Extension names the suite checks.
const (
	extError = "relayerror"
	// probeType marks the events the suite publishes to find out that a
	// subscription is in place; handlers skip them.
	probeType = "relay.test.probe"
	testType  = "relay.test.event"
)

type busTest struct {
	name  string
	needs func(BusFeatures) bool // nil: every bus
	run   func(t *testing.T, open func() engine.Bus)
}

// TestBus checks an engine.Bus against the contract in engine/contracts.go.
// newBus returns a bus; the suite closes it when the subtest ends. Topics
// and groups are named afresh for every subtest (engine.TopicDLQ aside,
// where the suite only looks at its own events), so buses sharing a
// broker do not see each other's events.
func TestBus(t *testing.T, newBus func(t *testing.T) engine.Bus, f BusFeatures) {
	for _, tc := range append(busTests, batchTests...) {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needs != nil && !tc.needs(f) {
				t.Skip("the bus does not have this feature")
			}
			tc.run(t, func() engine.Bus {
				b := &closeOnce{Bus: newBus(t)}
				t.Cleanup(func() {
					if err := b.Close(); err != nil {
						t.Errorf("Close: %v", err)
					}
				})
				return b
			})
		})
	}
}

// closeOnce lets a test close a bus that the cleanup closes again.
type closeOnce struct {
	engine.Bus
	once sync.Once
	err  error
}

func (c *closeOnce) Close() error {
	c.once.Do(func() { c.err = c.Bus.Close() })
	return c.err
}

// ------------------------------------------------------------------ helpers

// payload is the data of test events.
type payload struct {
	Key string `json:"key"`
	Seq int    `json:"seq"`
}

func testEvent(t testing.TB, id, key string, seq int) cloudevents.Event {
	t.Helper()
	ev := cloudevents.New()
	ev.SetID(id)
	ev.SetType(testType)
	ev.SetSource("/relay/enginetest")
	ev.SetSubject(key)
	if err := ev.SetData(cloudevents.ApplicationJSON, payload{Key: key, Seq: seq}); err != nil {
		t.Fatalf("SetData: %v", err)
	}
	return ev
}

func payloadOf(t testing.TB, ev cloudevents.Event) payload {
	var p payload
	if err := ev.DataAs(&p); err != nil {
		t.Errorf("event %s: bad data %q: %v", ev.ID(), ev.Data(), err)
	}
	return p
}

func publish(t testing.TB, b engine.Bus, topic, key string, ev cloudevents.Event) {
	t.Helper()
	if err := b.Publish(context.Background(), topic, key, ev); err != nil {
		t.Fatalf("Publish %s to %s: %v", ev.ID(), topic, err)
	}
}

// subscription is a Subscribe call running in the background. Its handler
// skips probes, counting them, so the test knows when it is in place.
type subscription struct {
	cancel context.CancelFunc
	done   chan error
	mu     sync.Mutex
	probes int
}

func (s *subscription) ready() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.probes > 0
}

// returned reports whether Subscribe returned, and with what.
func (s *subscription) returned() (bool, error) {
	select {
	case err := <-s.done:
		s.done <- err // keep it for the next look
		return true, err
	default:
		return false, nil
	}
}

// subscribe starts Subscribe and stops it (checking that it returns) when
// the test ends.
func subscribe(t *testing.T, b engine.Bus, topic, group string, h engine.Handler) *subscription {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &subscription{cancel: cancel, done: make(chan error, 1)}
	handler := func(ctx context.Context, ev cloudevents.Event) error {
		if ev.Type() == probeType {
			s.mu.Lock()
			s.probes++
			s.mu.Unlock()
			return nil
		}
		return h(ctx, ev)
	}
	go func() { s.done <- b.Subscribe(ctx, topic, group, handler) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(waitTimeout):
			t.Errorf("Subscribe(%s, %s) did not return after its ctx ended", topic, group)
		}
	})
	return s
}

// awaitSubscriptions publishes probes to topic until every subscription has
// seen one: from then on, it receives the events published.
func awaitSubscriptions(t *testing.T, b engine.Bus, topic string, subs ...*subscription) {
	t.Helper()
	n := 0
	eventually(t, waitTimeout, func() bool {
		n++
		ev := cloudevents.New()
		ev.SetID(unique("probe"))
		ev.SetType(probeType)
		ev.SetSource("/relay/enginetest")
		// A new key each time, so that probes reach every subscriber
		// of a group.
		if err := b.Publish(context.Background(), topic, fmt.Sprintf("probe-%d", n), ev); err != nil {
			t.Fatalf("publish probe: %v", err)
		}
		for _, s := range subs {
			if !s.ready() {
				return false
			}
		}
		return true
	}, "%d subscriptions to %s receive events", len(subs), topic)
}

// record keeps what handlers saw, safe for concurrent handlers.
type record struct {
	mu      sync.Mutex
	entries []string
	count   map[string]int
}

func (l *record) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, s)
	if l.count == nil {
		l.count = map[string]int{}
	}
	l.count[s]++
}

func (l *record) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.entries...)
}

func (l *record) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

func (l *record) times(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count[s]
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// -------------------------------------------------------------------- tests

var busTests = []busTest{
	{"Publish/deliversEventIntact", nil, func(t *testing.T, open func() engine.Bus) {
		b := open()
		topic := unique("relay.test")
		got := make(chan cloudevents.Event, 10)
		s := subscribe(t, b, topic, unique("g"), func(_ context.Context, ev cloudevents.Event) error {
			got <- ev
			return nil
		})
		awaitSubscriptions(t, b, topic, s)

		ev := cloudevents.New()
		ev.SetID(unique("ev"))
		ev.SetType("relay.execution.started")
		ev.SetSource("/relay/executions/e1")
		ev.SetSubject("demo/hello")
		ev.SetTime(t0)
		ev.SetExtension("relayexecution", "e1")
		ev.SetExtension("relaytrace", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
		if err := ev.SetData(cloudevents.ApplicationJSON, map[string]any{"inputs": map[string]any{"n": 1}}); err != nil {
			t.Fatal(err)
		}
		want := ev.Clone()
		publish(t, b, topic, "e1", ev)
		// The bus keeps its own copy: changing ev afterwards changes
		// nothing.
		ev.SetSubject("changed")
		ev.SetExtension("relayexecution", "changed")

		var d cloudevents.Event
		select {
		case d = <-got:
		case <-time.After(waitTimeout):
			t.Fatal("event not delivered")
		}
		if d.ID() != want.ID() || d.Type() != want.Type() || d.Source() != want.Source() ||
			d.Subject() != want.Subject() || !d.Time().Equal(want.Time()) || d.DataContentType() != want.DataContentType() ||
			d.SpecVersion() != want.SpecVersion() || string(d.Data()) != string(want.Data()) {
			t.Errorf("delivered\n%v\nwant\n%v", d, want)
		}
		for name, v := range want.Extensions() {
			if got := fmt.Sprint(d.Extensions()[name]); got != fmt.Sprint(v) {
				t.Errorf("extension %s = %q, want %q", name, got, v)
			}
		}
	}},
	{"Order/perKeyWithConcurrentPublishers", nil, func(t *testing.T, open func() engine.Bus) {
		b := open()
		topic := unique("relay.test")
		const publishers, keysPer, perKey = 8, 8, 40
		var (
			mu       sync.Mutex
			seqs     = map[string][]int{}
			inflight = map[string]int{}
			total    int
		)
		s := subscribe(t, b, topic, unique("g"), func(_ context.Context, ev cloudevents.Event) error {
			p := payloadOf(t, ev)
			mu.Lock()
			inflight[p.Key]++
			if inflight[p.Key] > 1 {
				t.Errorf("two handlers ran at once for key %s", p.Key)
			}
			mu.Unlock()
			if p.Seq%8 == 0 {
				time.Sleep(100 * time.Microsecond) // widen the window for overlap
			}
			mu.Lock()
			inflight[p.Key]--
			seqs[p.Key] = append(seqs[p.Key], p.Seq)
			total++
			mu.Unlock()
			return nil
		})
		awaitSubscriptions(t, b, topic, s)

		prefix := unique("ev")
		var wg sync.WaitGroup
		for g := range publishers {
			wg.Go(func() {
				for i := range perKey {
					for k := range keysPer {
						key := fmt.Sprintf("key-%d-%d", g, k)
						if err := b.Publish(context.Background(), topic, key, testEvent(t, fmt.Sprintf("%s-%s-%d", prefix, key, i), key, i)); err != nil {
							t.Errorf("Publish: %v", err)
							return
						}
					}
				}
			})
		}
		wg.Wait()
		eventually(t, waitTimeout, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return total >= publishers*keysPer*perKey
		}, "all %d events are handled", publishers*keysPer*perKey)
		mu.Lock()
		defer mu.Unlock()
		if len(seqs) != publishers*keysPer {
			t.Errorf("events of %d keys handled, want %d", len(seqs), publishers*keysPer)
		}
		for key, got := range seqs {
			for i, seq := range got {
				if seq != i {
					t.Errorf("key %s: handled %v, want 0..%d in order", key, got, perKey-1)
					break
				}
			}
		}
	}},
	{"Retry/failedEventRedeliveredLaterEventsOfKeyWait", nil, func(t *testing.T, open func() engine.Bus) {
		b := open()
		topic := unique("relay.test")
		prefix := unique("ev")
		idA1, idA2, idB1 := prefix+"-a1", prefix+"-a2", prefix+"-b1"
		var (
			handled  record
			mu       sync.Mutex
			failures int
			bDone    bool
		)
		s := subscribe(t, b, topic, unique("g"), func(_ context.Context, ev cloudevents.Event) error {
			mu.Lock()
			defer mu.Unlock()
			switch ev.ID() {
			case idA1:
				// Fails once at least, then until key B has been
				// handled: B must not wait for A's retries.
				if failures == 0 || !bDone {
					failures++
					return fmt.Errorf("a1 not ready (failure %d)", failures)
				}
			case idB1:
				bDone = true
			}
			handled.add(ev.ID())
			return nil
		})
		awaitSubscriptions(t, b, topic, s)

		publish(t, b, topic, "A", testEvent(t, idA1, "A", 1))
		publish(t, b, topic, "A", testEvent(t, idA2, "A", 2))
		eventually(t, waitTimeout, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return failures > 0
		}, "a1 is delivered")
		publish(t, b, topic, "B", testEvent(t, idB1, "B", 1))
		eventually(t, waitTimeout, func() bool { return handled.times(idA2) > 0 }, "a2 is handled")

		got := handled.snapshot()
		if want := []string{idB1, idA1, idA2}; strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("handled %v, want %v (b1 while a1 backs off, a2 only after a1)", got, want)
		}
		mu.Lock()
		defer mu.Unlock()
		if failures >= engine.MaxAttempts {
			t.Errorf("a1 failed %d times before B was handled", failures)
		}
	}},
	{"DLQ/afterMaxAttemptsWithErrorAndKeyMovesOn", nil, func(t *testing.T, open func() engine.Bus) {
		b := open()
		topic := unique("relay.test")
		prefix := unique("ev")
		idPoison, idNext, idOther := prefix+"-poison", prefix+"-next", prefix+"-other"
		errText := "cannot decode " + idPoison

		var (
			handled  record
			attempts record
		)
		s := subscribe(t, b, topic, unique("g"), func(_ context.Context, ev cloudevents.Event) error {
			attempts.add(ev.ID())
			if ev.ID() == idPoison {
				return errors.New(errText)
			}
			handled.add(ev.ID())
			return nil
		})
		dead := make(chan cloudevents.Event, 10)
		dlq := subscribe(t, b, engine.TopicDLQ, unique("g"), func(_ context.Context, ev cloudevents.Event) error {
			if strings.HasPrefix(ev.ID(), prefix) { // the DLQ is shared
				dead <- ev
			}
			return nil
		})
		awaitSubscriptions(t, b, topic, s)
		awaitSubscriptions(t, b, engine.TopicDLQ, dlq)

		poison := testEvent(t, idPoison, "K", 1)
		publish(t, b, topic, "K", poison)
		publish(t, b, topic, "K", testEvent(t, idNext, "K", 2))
		publish(t, b, topic, "L", testEvent(t, idOther, "L", 1))

		var d cloudevents.Event
		select {
		case d = <-dead:
		case <-time.After(waitTimeout):
			t.Fatal("poison event did not reach the DLQ")
		}
		if d.ID() != idPoison || d.Type() != poison.Type() || d.Source() != poison.Source() || string(d.Data()) != string(poison.Data()) {
			t.Errorf("DLQ got %v, want the poison event %v", d, poison)
		}
		if got := fmt.Sprint(d.Extensions()[extError]); !strings.Contains(got, errText) {
			t.Errorf("DLQ event extension %s = %q, want it to hold %q", extError, got, errText)
		}
		eventually(t, waitTimeout, func() bool { return handled.times(idNext) > 0 }, "the event after the poison one is handled")
		if n := attempts.times(idPoison); n != engine.MaxAttempts {
			t.Errorf("poison event delivered %d times, want MaxAttempts = %d", n, engine.MaxAttempts)
		}
		if got := attempts.snapshot(); indexOf(got, idNext) < indexOf(got, idPoison) {
			t.Errorf("deliveries %v: the next event of the key came before the poison one", got)
		}
		if handled.times(idOther) != 1 {
			t.Errorf("event of another key handled %d times, want 1", handled.times(idOther))
		}
	}},
	{"Groups/oneGroupTwoSubscribersEachEventOnce", needsGroups, func(t *testing.T, open func() engine.Bus) {
		b := open()
		topic, group := unique("relay.test"), unique("g")
		var handled, bySub [2]record
		var subs []*subscription
		for i := range 2 {
			subs = append(subs, subscribe(t, b, topic, group, func(_ context.Context, ev cloudevents.Event) error {
				handled[0].add(ev.ID())
				bySub[i].add(ev.ID())
				return nil
			}))
		}
		awaitSubscriptions(t, b, topic, subs...)
		const n = 100
		prefix := unique("ev")
		for i := range n {
			key := fmt.Sprintf("k%d", i%20)
			publish(t, b, topic, key, testEvent(t, fmt.Sprintf("%s-%d", prefix, i), key, i))
		}
		eventually(t, waitTimeout, func() bool { return handled[0].len() >= n }, "%d events are handled", n)
		never(t, 50*time.Millisecond, func() bool { return handled[0].len() > n }, "more than %d deliveries", n)
		for i := range n {
			if id := fmt.Sprintf("%s-%d", prefix, i); handled[0].times(id) != 1 {
				t.Errorf("%s handled %d times in the group, want 1", id, handled[0].times(id))
			}
		}
		t.Logf("subscribers handled %d and %d events", bySub[0].len(), bySub[1].len())
	}},
	{"Groups/twoGroupsEachGetEveryEvent", needsGroups, func(t *testing.T, open func() engine.Bus) {
		b := open()
		topic := unique("relay.test")
		var handled [2]record
		var subs []*subscription
		for i := range 2 {
			subs = append(subs, subscribe(t, b, topic, unique("g"), func(_ context.Context, ev cloudevents.Event) error {
				handled[i].add(ev.ID())
				return nil
			}))
		}
		awaitSubscriptions(t, b, topic, subs...)
		const n = 50
		prefix := unique("ev")
		for i := range n {
			key := fmt.Sprintf("k%d", i%10)
			publish(t, b, topic, key, testEvent(t, fmt.Sprintf("%s-%d", prefix, i), key, i))
		}
		for g := range 2 {
			eventually(t, waitTimeout, func() bool { return handled[g].len() >= n }, "group %d handles %d events", g, n)
			for i := range n {
				if id := fmt.Sprintf("%s-%d", prefix, i); handled[g].times(id) != 1 {
					t.Errorf("group %d handled %s %d times, want 1", g, id, handled[g].times(id))
				}
			}
		}
	}},
	{"Subscribe/returnsCtxErrorWhenCtxEnds", nil, func(t *testing.T, open func() engine.Bus) {
		b := open()
		topic := unique("relay.test")
		var handled record
		s := subscribe(t, b, topic, unique("g"), func(_ context.Context, ev cloudevents.Event) error {
			handled.add(ev.ID())
			return nil
		})
		awaitSubscriptions(t, b, topic, s)
		if done, err := s.returned(); done {
			t.Fatalf("Subscribe returned early: %v", err)
		}
		s.cancel()
		var err error
		eventually(t, waitTimeout, func() bool {
			var done bool
			done, err = s.returned()
			return done
		}, "Subscribe returns")
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Subscribe returned %v, want context.Canceled", err)
		}
		publish(t, b, topic, "k", testEvent(t, unique("ev"), "k", 1))
		never(t, 50*time.Millisecond, func() bool { return handled.len() > 0 }, "the handler ran after Subscribe returned")
	}},
	{"Close/publishAfterCloseFails", nil, func(t *testing.T, open func() engine.Bus) {
		b := open()
		if err := b.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := b.Publish(context.Background(), unique("relay.test"), "k", testEvent(t, unique("ev"), "k", 1)); !errors.Is(err, engine.ErrBusClosed) {
			t.Errorf("Publish after Close = %v, want ErrBusClosed", err)
		}
	}},
	{"Close/endsSubscriptions", nil, func(t *testing.T, open func() engine.Bus) {
		b := open()
		topic := unique("relay.test")
		s := subscribe(t, b, topic, unique("g"), func(context.Context, cloudevents.Event) error { return nil })
		awaitSubscriptions(t, b, topic, s)
		if err := b.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		eventually(t, waitTimeout, func() bool {
			done, _ := s.returned()
			return done
		}, "Subscribe returns after Close")
		if _, err := s.returned(); !errors.Is(err, engine.ErrBusClosed) {
			t.Errorf("Subscribe ended with %v, want ErrBusClosed", err)
		}
	}},
	{"Durable/groupResumesAfterReopen", needsDurable, func(t *testing.T, open func() engine.Bus) {
		b := open()
		topic, group := unique("relay.test"), unique("g")
		prefix := unique("ev")
		var first record
		s := subscribe(t, b, topic, group, func(_ context.Context, ev cloudevents.Event) error {
			first.add(ev.ID())
			return nil
		})
		awaitSubscriptions(t, b, topic, s)
		for i := range 3 {
			publish(t, b, topic, "k", testEvent(t, fmt.Sprintf("%s-%d", prefix, i), "k", i))
		}
		eventually(t, waitTimeout, func() bool { return first.len() >= 3 }, "the first 3 events are handled")
		s.cancel()
		eventually(t, waitTimeout, func() bool { done, _ := s.returned(); return done }, "Subscribe returns")
		// Published while the group has no subscriber, then the bus
		// closes: a durable bus keeps them for the group.
		for i := 3; i < 6; i++ {
			publish(t, b, topic, "k", testEvent(t, fmt.Sprintf("%s-%d", prefix, i), "k", i))
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}

		b = open()
		var second record
		subscribe(t, b, topic, group, func(_ context.Context, ev cloudevents.Event) error {
			second.add(ev.ID())
			return nil
		})
		eventually(t, waitTimeout, func() bool {
			for i := 3; i < 6; i++ {
				if second.times(fmt.Sprintf("%s-%d", prefix, i)) == 0 {
					return false
				}
			}
			return true
		}, "events published before the reopen reach the group")
		var order []string
		for _, id := range second.snapshot() {
			if strings.HasPrefix(id, prefix) {
				order = append(order, id)
			}
		}
		last := -1
		for _, id := range order {
			var i int
			if _, err := fmt.Sscanf(strings.TrimPrefix(id, prefix+"-"), "%d", &i); err != nil {
				t.Fatalf("unexpected id %s", id)
			}
			if i < last {
				t.Errorf("after reopening, handled %v: out of order", order)
				break
			}
			last = i
		}
	}},
}

func needsGroups(f BusFeatures) bool  { return f.ConsumerGroups }
func needsDurable(f BusFeatures) bool { return f.Durable }
