package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/engine/enginetest"
)

// testBackoff keeps retries fast while leaving the suite's retry test a
// window (5+10+20+40ms) to see other keys proceed.
var testBackoff = WithRetryBackoff(5*time.Millisecond, 50*time.Millisecond)

// quiet keeps the expected dead-letter and drop warnings out of test output.
var quiet = WithLogger(slog.New(slog.DiscardHandler))

func TestBus(t *testing.T) {
	enginetest.TestBus(t, func(t *testing.T) engine.Bus { return NewBus(testBackoff, quiet) },
		enginetest.BusFeatures{Durable: false, ConsumerGroups: true})
}

func event(id string) cloudevents.Event {
	ev := cloudevents.New()
	ev.SetID(id)
	ev.SetType("relay.test")
	ev.SetSource("/test")
	return ev
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// start runs Subscribe in the background and waits until it is in place.
func start(t *testing.T, b *Bus, ctx context.Context, topic, group string, h engine.Handler) <-chan error {
	t.Helper()
	n := b.Subscribers(topic, group)
	done := make(chan error, 1)
	go func() { done <- b.Subscribe(ctx, topic, group, h) }()
	waitFor(t, "the subscription is in place", func() bool { return b.Subscribers(topic, group) > n })
	return done
}

func TestBusNoGoroutineLeak(t *testing.T) {
	baseline := runtime.NumGoroutine()
	b := NewBus(testBackoff, quiet)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var handled atomic.Int64
	blocked := make(chan struct{})
	var blockedOnce sync.Once
	var dones []<-chan error
	for _, topic := range []string{"t1", "t2", engine.TopicDLQ} {
		for _, group := range []string{"g1", "g2"} {
			dones = append(dones, start(t, b, ctx, topic, group, func(ctx context.Context, ev cloudevents.Event) error {
				handled.Add(1)
				switch {
				case strings.HasPrefix(ev.ID(), "fail"):
					return errors.New("failing")
				case strings.HasPrefix(ev.ID(), "block"):
					blockedOnce.Do(func() { close(blocked) })
					<-ctx.Done() // a handler still running at Close
					return ctx.Err()
				}
				return nil
			}))
		}
	}
	for i := range 50 {
		for _, topic := range []string{"t1", "t2"} {
			if err := b.Publish(ctx, topic, fmt.Sprint(i%7), event(fmt.Sprintf("ok-%d", i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := b.Publish(ctx, "t1", "f", event("fail-1")); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, "t2", "blocking", event("block-1")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "handlers run", func() bool { return handled.Load() > 100 })
	<-blocked
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for _, done := range dones {
		select {
		case err := <-done:
			if !errors.Is(err, ErrClosed) {
				t.Errorf("Subscribe after Close returned %v, want ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Subscribe did not return after Close")
		}
	}
	waitFor(t, fmt.Sprintf("goroutines settle back to %d", baseline), func() bool {
		return runtime.NumGoroutine() <= baseline
	})
}

// A subscriber leaving with events queued for it hands them to the rest of
// its group, and an event its handler gave up on because of the leave is
// delivered again without counting as a failure.
func TestBusLeavingSubscriberHandsOver(t *testing.T) {
	b := NewBus(testBackoff, quiet)
	defer b.Close()
	ctxA, cancelA := context.WithCancel(context.Background())
	defer cancelA()
	var gotA atomic.Int64
	doneA := start(t, b, ctxA, "t", "g", func(ctx context.Context, ev cloudevents.Event) error {
		gotA.Add(1)
		<-ctx.Done()
		return ctx.Err()
	})
	ctxB, cancelB := context.WithCancel(context.Background())
	defer cancelB()
	var mu sync.Mutex
	gotB := map[string]int{}
	start(t, b, ctxB, "t", "g", func(ctx context.Context, ev cloudevents.Event) error {
		mu.Lock()
		defer mu.Unlock()
		gotB[ev.ID()]++
		return nil
	})
	const n = 40
	for i := range n {
		// Two events per key: the second waits in A's queue.
		if err := b.Publish(context.Background(), "t", fmt.Sprint(i/2), event(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "A receives events", func() bool { return gotA.Load() > 0 })
	cancelA()
	if err := <-doneA; !errors.Is(err, context.Canceled) {
		t.Errorf("Subscribe A returned %v", err)
	}
	waitFor(t, "B handles every event", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(gotB) == n
	})
	mu.Lock()
	defer mu.Unlock()
	for id, c := range gotB {
		if c != 1 {
			t.Errorf("B handled %s %d times", id, c)
		}
	}
}

func TestBusPanickingHandlerIsAFailure(t *testing.T) {
	b := NewBus(WithRetryBackoff(time.Millisecond, time.Millisecond), quiet)
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dead := make(chan cloudevents.Event, 1)
	start(t, b, ctx, engine.TopicDLQ, "dlq", func(_ context.Context, ev cloudevents.Event) error {
		dead <- ev
		return nil
	})
	var calls atomic.Int64
	start(t, b, ctx, "t", "g", func(context.Context, cloudevents.Event) error {
		calls.Add(1)
		panic("boom")
	})
	if err := b.Publish(ctx, "t", "k", event("p")); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-dead:
		if got := ev.Extensions()[ExtensionError]; !strings.Contains(fmt.Sprint(got), "panicked: boom") {
			t.Errorf("%s = %v", ExtensionError, got)
		}
		if got := ev.Extensions()[ExtensionTopic]; got != "t" {
			t.Errorf("%s = %v, want t", ExtensionTopic, got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no dead letter")
	}
	if calls.Load() != engine.MaxAttempts {
		t.Errorf("handler called %d times, want %d", calls.Load(), engine.MaxAttempts)
	}
}

// An event failing on the DLQ itself is dropped, not sent back to the DLQ.
func TestBusFailingDLQHandlerDoesNotLoop(t *testing.T) {
	b := NewBus(WithRetryBackoff(time.Millisecond, time.Millisecond), quiet)
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls atomic.Int64
	start(t, b, ctx, engine.TopicDLQ, "dlq", func(context.Context, cloudevents.Event) error {
		calls.Add(1)
		return errors.New("no")
	})
	if err := b.Publish(ctx, engine.TopicDLQ, "k", event("d")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "MaxAttempts deliveries", func() bool { return calls.Load() >= engine.MaxAttempts })
	time.Sleep(30 * time.Millisecond) // would be 30 more deliveries if it looped
	if calls.Load() != engine.MaxAttempts {
		t.Errorf("DLQ handler called %d times, want %d", calls.Load(), engine.MaxAttempts)
	}
}

func TestBusRejects(t *testing.T) {
	b := NewBus(quiet)
	ctx := context.Background()
	if err := b.Publish(ctx, "t", "k", cloudevents.New()); err == nil {
		t.Error("Publish of an event without id, source and type succeeded")
	}
	if err := b.Subscribe(ctx, "t", "g", nil); err == nil {
		t.Error("Subscribe with a nil handler succeeded")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.Publish(cancelled, "t", "k", event("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Publish with a cancelled ctx: %v", err)
	}
	if err := b.Subscribe(cancelled, "t", "g", func(context.Context, cloudevents.Event) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("Subscribe with a cancelled ctx: %v", err)
	}
	_ = b.Close()
	if err := b.Subscribe(ctx, "t", "g", func(context.Context, cloudevents.Event) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Subscribe after Close: %v, want ErrClosed", err)
	}
	if err := b.Publish(ctx, "t", "k", event("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Close: %v, want ErrClosed", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestBusBackoffDoublesUpToMax(t *testing.T) {
	b := NewBus(WithRetryBackoff(10*time.Millisecond, 35*time.Millisecond), quiet)
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var at []time.Time
	start(t, b, ctx, "t", "g", func(context.Context, cloudevents.Event) error {
		mu.Lock()
		defer mu.Unlock()
		at = append(at, time.Now())
		return errors.New("again")
	})
	if err := b.Publish(ctx, "t", "k", event("x")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every attempt", func() bool { mu.Lock(); defer mu.Unlock(); return len(at) == engine.MaxAttempts })
	mu.Lock()
	defer mu.Unlock()
	for i, want := range []time.Duration{10, 20, 35, 35} {
		if gap := at[i+1].Sub(at[i]); gap < want*time.Millisecond {
			t.Errorf("wait before attempt %d: %v, want at least %vms", i+2, gap, want)
		}
	}
}

// A subscriber joining while the last one is still finishing a handler
// takes over that key's queue after the handler returns, never running the
// key concurrently with it.
func TestBusRejoiningSubscriberTakesOverQueue(t *testing.T) {
	b := NewBus(testBackoff, quiet)
	defer b.Close()
	ctxA, cancelA := context.WithCancel(context.Background())
	defer cancelA()
	entered, release := make(chan struct{}), make(chan struct{})
	var running atomic.Int64
	doneA := start(t, b, ctxA, "t", "g", func(context.Context, cloudevents.Event) error {
		running.Add(1)
		defer running.Add(-1)
		close(entered)
		<-release // ignores ctx, as a slow handler might
		return nil
	})
	for _, id := range []string{"k1", "k2"} {
		if err := b.Publish(context.Background(), "t", "k", event(id)); err != nil {
			t.Fatal(err)
		}
	}
	<-entered
	cancelA()
	waitFor(t, "A leaves the group", func() bool { return b.Subscribers("t", "g") == 0 })

	got := make(chan string, 2)
	start(t, b, context.Background(), "t", "g", func(_ context.Context, ev cloudevents.Event) error {
		if running.Load() != 0 {
			t.Errorf("B handles %s while A's handler still runs", ev.ID())
		}
		got <- ev.ID()
		return nil
	})
	if err := b.Publish(context.Background(), "t", "k", event("k3")); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-doneA; !errors.Is(err, context.Canceled) {
		t.Errorf("Subscribe A returned %v", err)
	}
	for _, want := range []string{"k2", "k3"} {
		select {
		case id := <-got:
			if id != want {
				t.Errorf("B handled %s, want %s", id, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("B did not handle %s", want)
		}
	}
}
