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
// to a new executor once all executions have ended: no state changes and
// no task runs. The only records it may publish are the commands of each
// execution's last event again (the executor cannot tell a replay from the
// redelivery that follows a crash before those commands were published):
// one execution.finished per execution, with the id it had the first time.
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
	var total int64
	for _, end := range endOffsets(t, d, prefix+engine.TopicExecutions) {
		total += end
	}
	before := map[string]map[int]int64{}
	for _, topic := range []string{engine.TopicTaskRuns, engine.TopicEvents, engine.TopicExecutions} {
		before[topic] = endOffsets(t, d, prefix+topic)
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
	finished := map[string]bool{}
	for _, id := range ids {
		finished[id+"/finished"] = true
	}
	for topic, offsets := range before {
		for _, m := range recordsSince(t, d, prefix+topic, offsets) {
			id, typ := header(m, "ce_id"), header(m, "ce_type")
			if topic != engine.TopicEvents || typ != engine.TypeExecutionFinished || !finished[id] {
				t.Errorf("the replay published %s %s to %s", typ, id, topic)
			}
			delete(finished, id) // once each
		}
	}
	if n := rt.Store.WriteUnits(); n != 0 {
		t.Errorf("the replay wrote %.1f write units to the table", n)
	}
}

// endOffsets returns the end offset of each partition of a topic.
func endOffsets(t *testing.T, d *deployment, topic string) map[int]int64 {
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
	ends := map[int]int64{}
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
		ends[p.ID] = last
	}
	return ends
}

// recordsSince returns the records of topic from the given offsets to the
// partitions' current ends.
func recordsSince(t *testing.T, d *deployment, topic string, from map[int]int64) []kafkago.Message {
	t.Helper()
	var out []kafkago.Message
	for p, end := range endOffsets(t, d, topic) {
		if end <= from[p] {
			continue
		}
		r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: d.rt.Config.Brokers, Topic: topic, Partition: p, MaxWait: 100 * time.Millisecond})
		if err := r.SetOffset(from[p]); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		for off := from[p]; off < end; off++ {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatalf("reading %s/%d at %d: %v", topic, p, off, err)
			}
			out = append(out, m)
		}
		cancel()
		r.Close()
	}
	return out
}

func header(m kafkago.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
