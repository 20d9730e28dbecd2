package systemtest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/serverless"
)

// consume runs an executor handler of rt behind an EventSource of its own
// consumer group on relay.executions until the test ends, counting the
// records it handled.
func consume(t *testing.T, rt *serverless.Runtime, group string, handled *atomic.Int64) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h := rt.Executor()
	src := &serverless.EventSource{Brokers: rt.Config.Brokers, Topic: rt.Config.TopicPrefix + engine.TopicExecutions, Group: group, Log: testLogger(),
		Handler: func(ctx context.Context, ev events.KafkaEvent) error {
			if err := h.HandleKafka(ctx, ev); err != nil {
				return err
			}
			for _, recs := range ev.Records {
				handled.Add(int64(len(recs)))
			}
			return nil
		}}
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("consumer %s: %v", group, err)
		}
	})
}

// Two executors apply every event of relay.executions to the same table
// (each in a consumer group of its own, so both see every event): their
// conditional writes conflict, the loser reloads and re-applies, and the
// executions end as if one executor had run them, each task run once.
func TestRace_twoExecutorsOnOneExecution(t *testing.T) {
	d := newDeployment(t)
	d.deploy(chainFlow)
	second, err := serverless.Open(context.Background(), d.rt.Config, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { second.Close() })
	var a, b atomic.Int64
	consume(t, d.rt, "executor-a", &a)
	consume(t, second, "executor-b", &b)
	d.start("worker", "worker")
	ids := d.submit("systemtest", "chain", 8)
	checkOnce(t, d, d.waitEnded(ids, 90*time.Second), "one", "two", "three", "four")
	if a.Load() == 0 || b.Load() == 0 {
		t.Errorf("both executors should have handled events: %d and %d", a.Load(), b.Load())
	}
	if n := d.rt.Engine.Conflicts() + second.Engine.Conflicts(); n == 0 {
		t.Errorf("no conditional write conflicted: the executors did not race")
	} else {
		t.Logf("%d conflicts resolved", n)
	}

	t.Run("replay relay.executions from offset 0", func(t *testing.T) {
		replay(t, d, ids)
	})
}

// replay hands every record of relay.executions, from the first offset,
// to a new executor once all executions have ended: nothing may change.
func replay(t *testing.T, d *deployment, ids []string) {
	ctx := context.Background()
	versions := map[string]int64{}
	for _, id := range ids {
		ex, err := d.rt.Store.Execution(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		versions[id] = ex.Version
	}
	prefix := d.rt.Config.TopicPrefix
	total := sumOffsets(t, d, prefix+engine.TopicExecutions)
	before := map[string]int64{}
	for _, topic := range []string{engine.TopicTaskRuns, engine.TopicEvents, engine.TopicExecutions} {
		before[topic] = sumOffsets(t, d, prefix+topic)
	}
	rt, err := serverless.Open(ctx, d.rt.Config, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	var handled atomic.Int64
	consume(t, rt, fmt.Sprintf("replay-%d", time.Now().UnixNano()), &handled)
	deadline := time.Now().Add(60 * time.Second)
	for handled.Load() < total {
		if time.Now().After(deadline) {
			t.Fatalf("replayed %d of %d records", handled.Load(), total)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second) // anything published in reaction has arrived by now
	for _, id := range ids {
		ex, err := d.rt.Store.Execution(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if ex.Version != versions[id] {
			t.Errorf("execution %s changed on replay: version %d, was %d", id, ex.Version, versions[id])
		}
	}
	for topic, n := range before {
		if after := sumOffsets(t, d, prefix+topic); after != n {
			t.Errorf("the replay published %d records to %s", after-n, topic)
		}
	}
	if n := rt.Store.WriteUnits(); n != 0 {
		t.Errorf("the replay wrote %.1f write units to the table", n)
	}
}

// sumOffsets is the number of records ever written to a topic: the sum of
// its partitions' end offsets.
func sumOffsets(t *testing.T, d *deployment, topic string) int64 {
	t.Helper()
	conn, err := kafkago.Dial("tcp", d.rt.Config.Brokers[0])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions(topic)
	if err != nil {
		t.Fatalf("reading the partitions of %s: %v", topic, err)
	}
	var sum int64
	for _, p := range parts {
		pc, err := kafkago.DialLeader(context.Background(), "tcp", d.rt.Config.Brokers[0], topic, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		last, err := pc.ReadLastOffset()
		pc.Close()
		if err != nil {
			t.Fatalf("reading the end offset of %s/%d: %v", topic, p.ID, err)
		}
		sum += last
	}
	return sum
}
