// Package serverless holds the handlers that run inside AWS Lambda and,
// unchanged, inside `relay dev`: Kafka batches in the shape Lambda's Kafka
// event source delivers them, handed record by record to the engine.
package serverless

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	cloudevents "github.com/cloudevents/sdk-go/v2/event"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/infra/kafka"
	"github.com/relayflow/relay/internal/health"
	"github.com/relayflow/relay/internal/metrics"
)

// Records returns a batch's records in delivery order: partition by
// partition (Lambda keys them "topic-partition"), each by offset.
func Records(ev events.KafkaEvent) []events.KafkaRecord {
	keys := make([]string, 0, len(ev.Records))
	for k := range ev.Records {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []events.KafkaRecord
	for _, k := range keys {
		recs := slices.Clone(ev.Records[k])
		slices.SortStableFunc(recs, func(a, b events.KafkaRecord) int { return int(a.Offset - b.Offset) })
		out = append(out, recs...)
	}
	return out
}

// Decode reads the CloudEvent a record carries (binary or structured
// mode); Lambda delivers key and value base64-encoded.
func Decode(r events.KafkaRecord) (cloudevents.Event, error) {
	value, err := base64.StdEncoding.DecodeString(r.Value)
	if err != nil {
		return cloudevents.Event{}, fmt.Errorf("record %s-%d@%d: value is not base64: %w", r.Topic, r.Partition, r.Offset, err)
	}
	ev, err := kafka.DecodeMessage(Headers(r), value)
	if err != nil {
		return ev, fmt.Errorf("record %s-%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	return ev, nil
}

// Headers flattens a Lambda record's headers (a list of one-entry maps).
func Headers(r events.KafkaRecord) []kafka.Header {
	var hs []kafka.Header
	for _, m := range r.Headers {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			hs = append(hs, kafka.Header{Key: k, Value: []byte(m[k])})
		}
	}
	return hs
}

// DeadLetters receives the records a handler cannot process.
type DeadLetters interface {
	DeadLetter(ctx context.Context, r events.KafkaRecord, reason error) error
}

// BatchHandler hands every record of a batch to Handle, in order.
//
// A record that does not decode goes to the dead letters at once, and so
// does an event whose handler says it cannot apply (engine.ErrCannotApply):
// meaningless data, an execution or flow that does not exist. Another
// handler error is retried in place with backoff, up to
// engine.MaxAttempts; then the record goes to the dead letters and the
// batch goes on, so a poison record never stalls its partition. Each
// dead letter carries its reason in its headers and is counted
// (relay_dead_letters_total).
//
// An outage (engine.ErrUnavailable: Kafka, DynamoDB or the blob store down
// or throttling) is never a reason to dead-letter: the record is retried
// in place, with backoff and jitter, for as long as the invocation has
// time (for ever in `relay dev`, whose context has no deadline), then the
// batch fails. So does any error that remains (the dead-letter topic
// unreachable, the invocation's time running out): Lambda's event source,
// or `relay dev`, delivers the batch again, and handlers are idempotent,
// so the records that already succeeded change nothing the second time.
type BatchHandler struct {
	Handle engine.Handler
	// HandleAll, when set, is tried first on every record of the batch
	// that decodes, in order (the executor applies each execution's events
	// together and commits them at once). If it fails, the records go to
	// Handle one by one as above: handlers are idempotent, so what the
	// failed try did changes nothing the second time.
	HandleAll   engine.BatchHandler
	DeadLetters DeadLetters
	Log         *slog.Logger
	// Backoff is the first retry delay (default 50ms), doubled each time.
	Backoff time.Duration
	// Concurrency is how many records Handle is given at once (0 or 1: one
	// after the other, in order). Only for records that need no order
	// among them: the worker's attempts, each leased on its own. The batch
	// fails, once every record has been tried, if one of them failed it.
	Concurrency int
}

// outageMargin is the time an invocation keeps, when it waits out an
// outage, to fail its batch before its deadline.
const outageMargin = 2 * time.Second

// HandleKafka processes one batch.
func (b *BatchHandler) HandleKafka(ctx context.Context, batch events.KafkaEvent) error {
	log := b.Log
	if log == nil {
		log = slog.Default()
	}
	records := Records(batch)
	if b.HandleAll != nil && len(records) > 1 {
		evs := make([]cloudevents.Event, 0, len(records))
		for _, r := range records {
			if ev, err := Decode(r); err == nil {
				evs = append(evs, ev)
			}
		}
		if len(evs) == len(records) { // else the loop below dead-letters what does not decode
			err := b.HandleAll(ctx, evs)
			if err == nil {
				return nil
			}
			if ctx.Err() != nil {
				return fmt.Errorf("handling a batch of %d records: %w", len(evs), err)
			}
			level := slog.LevelWarn
			if errors.Is(err, engine.ErrUnavailable) {
				level = slog.LevelDebug // an outage, logged once by the health registry
			}
			log.Log(ctx, level, "batch failed; handling its records one by one", slog.Int("records", len(evs)), slog.Any("error", err))
		}
	}
	if b.Concurrency <= 1 || len(records) == 1 {
		for _, r := range records {
			if err := b.record(ctx, r, log); err != nil {
				return err
			}
		}
		return nil
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		errs  []error
		slots = make(chan struct{}, b.Concurrency)
	)
	for _, r := range records {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			if err := b.record(ctx, r, log); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// record hands one record to Handle, retrying it, or sends it to the dead
// letters; an error fails the batch.
func (b *BatchHandler) record(ctx context.Context, r events.KafkaRecord, log *slog.Logger) error {
	where := slog.Group("record", slog.String("topic", r.Topic), slog.Int64("partition", r.Partition), slog.Int64("offset", r.Offset))
	reason := metrics.ReasonUndecodable
	ev, err := Decode(r)
	if err == nil {
		err = b.handle(ctx, ev, r.Topic, log.With(where))
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || errors.Is(err, engine.ErrUnavailable) {
			return fmt.Errorf("handling %s: %w", ev.ID(), err)
		}
		reason = metrics.ReasonFailed
		if errors.Is(err, engine.ErrCannotApply) {
			reason = metrics.ReasonCannotApply
		}
	}
	log.WarnContext(ctx, "record sent to the dead-letter topic", where, slog.String("reason", reason), slog.Any("error", err))
	if dlErr := b.DeadLetters.DeadLetter(ctx, r, err); dlErr != nil {
		return errors.Join(err, fmt.Errorf("dead-lettering record %s-%d@%d: %w", r.Topic, r.Partition, r.Offset, dlErr))
	}
	metrics.DeadLettered(r.Topic, reason)
	return nil
}

func (b *BatchHandler) handle(ctx context.Context, ev cloudevents.Event, topic string, log *slog.Logger) error {
	backoff := b.Backoff
	if backoff <= 0 {
		backoff = 50 * time.Millisecond
	}
	outage := health.Backoff{Min: backoff, Max: 5 * time.Second}
	var err error
	for attempt := 1; attempt <= engine.MaxAttempts; attempt++ {
		if err = b.Handle(ctx, ev); err == nil {
			return nil
		}
		if errors.Is(err, engine.ErrCannotApply) {
			return err
		}
		if errors.Is(err, engine.ErrUnavailable) {
			// Logged once by the health registry when the outage began.
			log.DebugContext(ctx, "handler met an outage; retrying", slog.String("event", ev.ID()), slog.String("type", ev.Type()), slog.Any("error", err))
			metrics.Retried(topic, "unavailable")
			wait := outage.Next()
			if dl, ok := ctx.Deadline(); ok && time.Now().Add(wait).After(dl.Add(-outageMargin)) {
				return err // the event source delivers the batch again
			}
			if !health.Sleep(ctx, wait) {
				return ctx.Err()
			}
			attempt-- // an outage is waited out, not counted
			continue
		}
		log.WarnContext(ctx, "handler failed", slog.String("event", ev.ID()), slog.String("type", ev.Type()), slog.Int("attempt", attempt), slog.Any("error", err))
		if attempt == engine.MaxAttempts {
			break
		}
		metrics.Retried(topic, "failed")
		if !health.Sleep(ctx, backoff) {
			return ctx.Err()
		}
		backoff *= 2
	}
	return fmt.Errorf("%s (%s) failed %d times: %w", ev.ID(), strings.TrimPrefix(ev.Type(), engine.TypePrefix), engine.MaxAttempts, err)
}
