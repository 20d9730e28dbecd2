package serverless

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/infra/kafka"
	"github.com/relayflow/relay/internal/servicetest"
)

// TestEventSource_batching: records the broker already holds are batched
// together (the window is waited while more are known to be there), and a
// record that is its partition's last is handed over without waiting the
// window out. The window here is far longer than the test may take, so a
// batch that waited for it would fail the test.
func TestEventSource_batching(t *testing.T) {
	servicetest.Require(t, EnvBrokers)
	brokers := kafka.BrokersFromEnv()
	topic := fmt.Sprintf("t%d.batching", time.Now().UnixNano())
	bus, err := kafka.New(context.Background(), brokers, kafka.WithPartitions(1))
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	if err := bus.EnsureTopics(context.Background(), topic); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	publish := func(i int) {
		t.Helper()
		ev, err := engine.NewEvent(strconv.Itoa(i), "test.batching", "test", "", time.Now(), nil)
		if err == nil {
			err = bus.Publish(ctx, topic, "k", ev)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	const backlog = 50
	for i := range backlog {
		publish(i)
	}

	batches := make(chan int, 10)
	src := &EventSource{Brokers: brokers, Topic: topic, Group: topic, Window: 10 * time.Minute,
		Handler: func(_ context.Context, ev events.KafkaEvent) error {
			n := 0
			for _, recs := range ev.Records {
				n += len(recs)
			}
			batches <- n
			return nil
		}, Log: testLogger(t)}
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	got := 0
	for got < backlog {
		select {
		case n := <-batches:
			got += n
		case <-ctx.Done():
			t.Fatalf("%d of the %d records already on the topic delivered", got, backlog)
		}
	}
	if got != backlog {
		t.Fatalf("delivered %d records, want %d", got, backlog)
	}
	publish(backlog)
	select {
	case n := <-batches:
		if n != 1 {
			t.Errorf("the record produced on an idle topic came in a batch of %d", n)
		}
	case <-ctx.Done():
		t.Fatal("the record produced on an idle topic waited for the window")
	}
}
