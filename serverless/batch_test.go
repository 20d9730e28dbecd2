package serverless

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/infra/kafka"
)

// TestBatch_roundTripsThroughLambdasJSON builds a batch as `relay dev`
// does, passes it through the JSON Lambda delivers, and reads the events
// back in partition and offset order.
func TestBatch_roundTripsThroughLambdasJSON(t *testing.T) {
	msg := func(partition int, offset int64, id string) kafkago.Message {
		ev := cloudevents.New()
		ev.SetID(id)
		ev.SetType("io.relayflow.test")
		ev.SetSource("/test")
		ev.SetTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
		if err := ev.SetData("application/json", map[string]any{"id": id}); err != nil {
			t.Fatal(err)
		}
		hs, value, err := kafka.EncodeMessage(ev)
		if err != nil {
			t.Fatal(err)
		}
		m := kafkago.Message{Topic: "relay.executions", Partition: partition, Offset: offset, Key: []byte("k-" + id), Value: value}
		for _, h := range hs {
			m.Headers = append(m.Headers, kafkago.Header{Key: h.Key, Value: h.Value})
		}
		return m
	}
	batch := Batch([]string{"b1:9092", "b2:9092"}, []kafkago.Message{msg(1, 7, "c"), msg(0, 5, "b"), msg(0, 4, "a"), msg(1, 8, "d")})
	raw, err := json.Marshal(batch)
	if err != nil {
		t.Fatal(err)
	}
	var got events.KafkaEvent
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if got.BootstrapServers != "b1:9092,b2:9092" || len(got.Records["relay.executions-0"]) != 2 || len(got.Records["relay.executions-1"]) != 2 {
		t.Fatalf("batch = %s", raw)
	}
	var ids []string
	for _, r := range Records(got) {
		ev, err := Decode(r)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.ID())
		if ev.Type() != "io.relayflow.test" || ev.Source() != "/test" || string(ev.Data()) != `{"id":"`+ev.ID()+`"}` {
			t.Errorf("event %s decoded as %v", ev.ID(), ev)
		}
	}
	if want := []string{"a", "b", "c", "d"}; len(ids) != 4 || ids[0] != want[0] || ids[1] != want[1] || ids[2] != want[2] || ids[3] != want[3] {
		t.Errorf("records in order %v, want %v", ids, want)
	}
}

func TestDecode_rejectsWhatIsNotACloudEvent(t *testing.T) {
	tests := map[string]events.KafkaRecord{
		"value not base64": {Topic: "t", Value: "%%%"},
		"no ce headers":    {Topic: "t", Value: "aGVsbG8="},
	}
	for name, r := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := Decode(r); err == nil {
				t.Error("decoded")
			}
		})
	}
}

// A batch handler gets every record of a batch at once; when it fails, the
// records go one by one to the record handler, which dead-letters only the
// one that keeps failing.
func TestBatchHandler_triesTheWholeBatchThenRecordByRecord(t *testing.T) {
	rec := func(offset int64, id string) kafkago.Message {
		ev := cloudevents.New()
		ev.SetID(id)
		ev.SetType("io.relayflow.test")
		ev.SetSource("/test")
		hs, value, err := kafka.EncodeMessage(ev)
		if err != nil {
			t.Fatal(err)
		}
		m := kafkago.Message{Topic: "relay.executions", Offset: offset, Value: value}
		for _, h := range hs {
			m.Headers = append(m.Headers, kafkago.Header{Key: h.Key, Value: h.Value})
		}
		return m
	}
	batch := Batch([]string{"b:9092"}, []kafkago.Message{rec(1, "a"), rec(2, "poison"), rec(3, "b")})
	for _, poison := range []bool{false, true} {
		var wholes, singles []string
		dead := &deadLetters{}
		h := &BatchHandler{
			HandleAll: func(_ context.Context, evs []cloudevents.Event) error {
				for _, ev := range evs {
					wholes = append(wholes, ev.ID())
				}
				if poison {
					return errors.New("one of them cannot apply")
				}
				return nil
			},
			Handle: func(_ context.Context, ev cloudevents.Event) error {
				singles = append(singles, ev.ID())
				if ev.ID() == "poison" {
					return errors.New("cannot apply")
				}
				return nil
			},
			DeadLetters: dead, Backoff: time.Millisecond,
		}
		if err := h.HandleKafka(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
		if strings.Join(wholes, ",") != "a,poison,b" {
			t.Errorf("poison %v: the batch handler got %v, want a,poison,b", poison, wholes)
		}
		switch {
		case !poison && len(singles)+len(dead.reasons) != 0:
			t.Errorf("a batch that succeeded went record by record too: %v, dead letters %v", singles, dead.reasons)
		case poison && (strings.Count(strings.Join(singles, ","), "poison") != engine.MaxAttempts || len(dead.reasons) != 1 || !slices.Contains(singles, "b")):
			t.Errorf("after a failed batch: records %v, dead letters %v; want poison tried %d times then dead-lettered, the others once", singles, dead.reasons, engine.MaxAttempts)
		}
	}
}

type deadLetters struct {
	mu      sync.Mutex
	reasons []string
}

func (d *deadLetters) DeadLetter(_ context.Context, _ events.KafkaRecord, reason error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reasons = append(d.reasons, reason.Error())
	return nil
}

// With Concurrency, the records of a batch are handled at once (each
// waits here until all of them have started), and one that cannot apply
// is still dead-lettered alone.
func TestBatchHandler_concurrentRecordsAreHandledAtOnce(t *testing.T) {
	const n = 10
	var msgs []kafkago.Message
	for i := range n + 1 {
		ev := cloudevents.New()
		ev.SetID(fmt.Sprintf("e%d", i))
		ev.SetType("io.relayflow.test")
		ev.SetSource("/test")
		hs, value, err := kafka.EncodeMessage(ev)
		if err != nil {
			t.Fatal(err)
		}
		m := kafkago.Message{Topic: "relay.taskruns", Offset: int64(i), Value: value}
		for _, h := range hs {
			m.Headers = append(m.Headers, kafkago.Header{Key: h.Key, Value: h.Value})
		}
		msgs = append(msgs, m)
	}
	var started sync.WaitGroup
	started.Add(n)
	all := make(chan struct{})
	go func() { started.Wait(); close(all) }()
	dead := &deadLetters{}
	h := &BatchHandler{
		Concurrency: n + 1,
		Handle: func(_ context.Context, ev cloudevents.Event) error {
			if ev.ID() == fmt.Sprint("e", n) {
				return engine.CannotApply("no such execution")
			}
			started.Done()
			select {
			case <-all:
				return nil
			case <-time.After(5 * time.Second):
				return errors.New("the other records of the batch did not start meanwhile")
			}
		},
		DeadLetters: dead, Backoff: time.Millisecond,
	}
	if err := h.HandleKafka(t.Context(), Batch([]string{"b:9092"}, msgs)); err != nil {
		t.Fatal(err)
	}
	if len(dead.reasons) != 1 || !strings.Contains(dead.reasons[0], "no such execution") {
		t.Errorf("dead letters %v, want the one that cannot apply", dead.reasons)
	}
}

// An outage fails the batch (the event source delivers it again) and is
// never dead-lettered; an event that cannot apply is dead-lettered at
// once; another failure after MaxAttempts tries.
func TestBatchHandler_outagesFailTheBatchWhatCannotApplyIsDeadLettered(t *testing.T) {
	ev := cloudevents.New()
	ev.SetID("e1")
	ev.SetType("io.relayflow.test")
	ev.SetSource("/test")
	hs, value, err := kafka.EncodeMessage(ev)
	if err != nil {
		t.Fatal(err)
	}
	m := kafkago.Message{Topic: "relay.executions", Value: value}
	for _, h := range hs {
		m.Headers = append(m.Headers, kafkago.Header{Key: h.Key, Value: h.Value})
	}
	batch := Batch(nil, []kafkago.Message{m})
	for _, tc := range []struct {
		name        string
		err         error
		wantCalls   int // 0: at least one
		wantDead    bool
		wantFailure bool
	}{
		{"outage", engine.Unavailable(errors.New("broker down")), 0, false, true},
		{"cannot apply", engine.CannotApply("execution x does not exist"), 1, true, false},
		{"other", errors.New("boom"), engine.MaxAttempts, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			dl := &deadLetters{}
			h := &BatchHandler{Handle: func(context.Context, cloudevents.Event) error { calls++; return tc.err }, DeadLetters: dl, Backoff: time.Millisecond}
			ctx, cancel := context.WithTimeout(context.Background(), outageMargin+500*time.Millisecond) // an invocation
			defer cancel()
			err := h.HandleKafka(ctx, batch)
			if (err != nil) != tc.wantFailure || tc.wantFailure && !errors.Is(err, engine.ErrUnavailable) {
				t.Errorf("HandleKafka = %v, want failure %v", err, tc.wantFailure)
			}
			if (len(dl.reasons) > 0) != tc.wantDead {
				t.Errorf("dead letters %v, want some: %v", dl.reasons, tc.wantDead)
			}
			if tc.wantCalls > 0 && calls != tc.wantCalls || calls == 0 {
				t.Errorf("%d calls, want %d", calls, tc.wantCalls)
			}
		})
	}
}
