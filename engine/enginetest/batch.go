package enginetest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"

	"github.com/relayflow/relay/engine"
)

// subscribeBatch starts SubscribeBatch with a handler that skips probes
// (counting them) and stops it when the test ends.
func subscribeBatch(t *testing.T, b engine.BatchSubscriber, topic, group string, max int, h engine.BatchHandler) *subscription {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &subscription{cancel: cancel, done: make(chan error, 1)}
	handler := func(ctx context.Context, evs []cloudevents.Event) error {
		var real []cloudevents.Event
		for _, ev := range evs {
			if ev.Type() == probeType {
				s.mu.Lock()
				s.probes++
				s.mu.Unlock()
				continue
			}
			real = append(real, ev)
		}
		if len(real) == 0 {
			return nil
		}
		return h(ctx, real)
	}
	go func() { s.done <- b.SubscribeBatch(ctx, topic, group, max, handler) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(waitTimeout):
			t.Errorf("SubscribeBatch(%s, %s) did not return after its ctx ended", topic, group)
		}
	})
	return s
}

func batchBus(t *testing.T, open func() engine.Bus) (engine.Bus, engine.BatchSubscriber) {
	b := open()
	inner := b
	if c, ok := b.(*closeOnce); ok {
		inner = c.Bus
	}
	bs, ok := inner.(engine.BatchSubscriber)
	if !ok {
		t.Skip("the bus delivers one event at a time")
	}
	return b, bs
}

var batchTests = []busTest{
	{"Batch/oneKeyInOrderAtMostMax", nil, func(t *testing.T, open func() engine.Bus) {
		b, bs := batchBus(t, open)
		topic := unique("relay.test")
		var (
			mu      sync.Mutex
			batches [][]payload
			release = make(chan struct{})
		)
		s := subscribeBatch(t, bs, topic, unique("g"), 4, func(_ context.Context, evs []cloudevents.Event) error {
			var ps []payload
			for _, ev := range evs {
				ps = append(ps, payloadOf(t, ev))
			}
			mu.Lock()
			batches = append(batches, ps)
			first := len(batches) == 1
			mu.Unlock()
			if first {
				<-release // the others queue up meanwhile
			}
			return nil
		})
		awaitSubscriptions(t, b, topic, s)
		for i := 1; i <= 10; i++ {
			publish(t, b, topic, "K", testEvent(t, unique("ev"), "K", i))
		}
		close(release)
		total := func() int {
			mu.Lock()
			defer mu.Unlock()
			n := 0
			for _, ps := range batches {
				n += len(ps)
			}
			return n
		}
		eventually(t, waitTimeout, func() bool { return total() == 10 }, "10 events delivered")
		mu.Lock()
		defer mu.Unlock()
		next := 1
		for _, ps := range batches {
			if len(ps) > 4 {
				t.Errorf("a batch of %d events, max 4", len(ps))
			}
			for _, p := range ps {
				if p.Key != "K" || p.Seq != next {
					t.Errorf("got %s#%d, want K#%d: batches %v", p.Key, p.Seq, next, batches)
				}
				next++
			}
		}
		if len(batches) >= 10 {
			t.Errorf("%d batches for 10 waiting events: none was delivered together", len(batches))
		}
	}},
	{"Batch/failedBatchRetriedThenSplitOnlyPoisonToDLQ", nil, func(t *testing.T, open func() engine.Bus) {
		b, bs := batchBus(t, open)
		topic := unique("relay.test")
		prefix := unique("ev")
		poison := prefix + "-poison"
		var handled record
		release := make(chan struct{})
		var once sync.Once
		s := subscribeBatch(t, bs, topic, unique("g"), 8, func(_ context.Context, evs []cloudevents.Event) error {
			once.Do(func() { <-release })
			for _, ev := range evs {
				if ev.ID() == poison {
					return errors.New("cannot apply " + poison)
				}
			}
			for _, ev := range evs {
				handled.add(ev.ID())
			}
			return nil
		})
		dead := make(chan cloudevents.Event, 10)
		dlq := subscribe(t, b, engine.TopicDLQ, unique("g"), func(_ context.Context, ev cloudevents.Event) error {
			if strings.HasPrefix(ev.ID(), prefix) {
				dead <- ev
			}
			return nil
		})
		awaitSubscriptions(t, b, topic, s)
		awaitSubscriptions(t, b, engine.TopicDLQ, dlq)
		publish(t, b, topic, "K", testEvent(t, prefix+"-block", "K", 0)) // holds the handler while the others queue
		for i, id := range []string{prefix + "-a", poison, prefix + "-b"} {
			publish(t, b, topic, "K", testEvent(t, id, "K", i+1))
		}
		close(release)
		select {
		case d := <-dead:
			if d.ID() != poison {
				t.Errorf("DLQ got %s, want %s", d.ID(), poison)
			}
		case <-time.After(waitTimeout):
			t.Fatal("the poison event did not reach the DLQ")
		}
		eventually(t, waitTimeout, func() bool { return handled.times(prefix+"-b") == 1 }, "the event after the poison one is handled")
		for _, id := range []string{prefix + "-a", prefix + "-b"} {
			if n := handled.times(id); n != 1 {
				t.Errorf("%s handled %d times, want once", id, n)
			}
		}
		if got := handled.snapshot(); indexOf(got, prefix+"-a") > indexOf(got, prefix+"-b") {
			t.Errorf("handled out of order: %v", got)
		}
	}},
}
