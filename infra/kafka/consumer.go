package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/internal/health"
	"github.com/relayflow/relay/internal/metrics"
)

// Headers the bus adds to every record it writes to engine.TopicDLQ: a
// record that could not be decoded (its original headers, key and value
// kept) as well as an event whose handler kept failing.
const (
	// HeaderError says why the record was dead-lettered.
	HeaderError = "relay_error"
	// HeaderTopic is the topic it came from (without the prefix).
	HeaderTopic = "relay_topic"
	// HeaderPartition and HeaderOffset locate it there.
	HeaderPartition = "relay_partition"
	HeaderOffset    = "relay_offset"
	// HeaderGroup is the consumer group that gave up on it.
	HeaderGroup = "relay_group"
)

// maxInFlight bounds the records of one partition fetched but not yet
// handled (a key backing off holds back the commit of the records after
// it, not the other keys, up to this many).
const maxInFlight = 1024

// Subscribe joins group on topic and hands the events of the partitions
// it is assigned to h, until ctx ends (it returns ctx's error) or the bus
// closes (an error wrapping engine.ErrBusClosed). Handlers get a ctx that
// ends with the subscription; Subscribe waits for them to return, commits
// what they handled and leaves the group before it returns.
func (b *Bus) Subscribe(ctx context.Context, topic, group string, h engine.Handler) error {
	if h == nil {
		return fmt.Errorf("subscribe to %s: nil handler", topic)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("subscribe to %s: %w", topic, err)
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return fmt.Errorf("subscribe to %s: %w", topic, engine.ErrBusClosed)
	}
	b.subs.Add(1)
	b.mu.Unlock()
	defer b.subs.Done()

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(b.closing, cancel)()

	end := func(err error) error {
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("subscribe to %s: %w", topic, ctx.Err())
		case b.closing.Err() != nil:
			return fmt.Errorf("subscribe to %s: %w", topic, engine.ErrBusClosed)
		case err == nil:
			err = errors.New("subscription ended")
		}
		return fmt.Errorf("subscribe to %s: %w", topic, err)
	}
	log := b.cfg.log.With("topic", topic, "group", group)
	// The brokers may not be up yet: keep trying, as the consumer group
	// does, unless Kafka refuses for good (say, an invalid topic name).
	for attempt := 1; ; attempt++ {
		err := b.ensureTopic(sctx, topic)
		if err == nil {
			break
		}
		if permanent(err) {
			return end(err)
		}
		health.Default.Fail(health.Kafka, err)
		log.Debug("kafka bus: topic not ready, retrying", "error", err)
		if !health.Sleep(sctx, min(time.Duration(attempt)*500*time.Millisecond, 5*time.Second)) {
			return end(err)
		}
	}
	s := &subscription{
		bus:   b,
		ctx:   sctx,
		topic: topic,
		name:  b.topicName(topic),
		group: group,
		h:     h,
		log:   log,
	}
	cg, err := kafkago.NewConsumerGroup(kafkago.ConsumerGroupConfig{
		ID:                    group,
		Brokers:               b.brokers,
		Dialer:                b.dialer,
		Topics:                []string{s.name},
		HeartbeatInterval:     b.cfg.heartbeat,
		SessionTimeout:        b.cfg.session,
		RebalanceTimeout:      b.cfg.rebalance,
		JoinGroupBackoff:      500 * time.Millisecond,
		WatchPartitionChanges: true,
		StartOffset:           kafkago.FirstOffset,
		Logger:                debugLogger(b.cfg.log),
		ErrorLogger:           debugLogger(b.cfg.log),
	})
	if err != nil {
		return end(fmt.Errorf("consumer group %s: %w", group, err))
	}
	s.run(cg)
	// Leaves the group once the generation's goroutines (see
	// runGeneration) have committed and returned.
	_ = cg.Close()
	s.wg.Wait()
	return end(nil)
}

// permanent reports whether a failure to set up a topic is one that
// retrying cannot mend.
func permanent(err error) bool {
	for _, e := range []kafkago.Error{
		kafkago.InvalidTopic, kafkago.InvalidPartitionNumber, kafkago.InvalidReplicationFactor,
		kafkago.InvalidConfiguration, kafkago.PolicyViolation,
		kafkago.TopicAuthorizationFailed, kafkago.ClusterAuthorizationFailed,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// subscription is one Subscribe call: a member of a consumer group.
type subscription struct {
	bus   *Bus
	ctx   context.Context // ends with the Subscribe call
	topic string          // Relay name
	name  string          // Kafka name
	group string
	h     engine.Handler
	log   *slog.Logger
	wg    sync.WaitGroup // generations started
}

// run consumes each generation of the group until s.ctx ends.
func (s *subscription) run(cg *kafkago.ConsumerGroup) {
	for {
		gen, err := cg.Next(s.ctx)
		if err != nil {
			if s.ctx.Err() != nil {
				return
			}
			// kafka-go backs off before it tries again.
			level := slog.LevelWarn
			if errors.Is(err, kafkago.RebalanceInProgress) {
				level = slog.LevelDebug // the group is forming
			}
			s.log.Log(s.ctx, level, "kafka bus: joining the consumer group failed", "error", err)
			continue
		}
		s.wg.Add(1)
		gen.Start(func(gctx context.Context) {
			defer s.wg.Done()
			s.runGeneration(gctx, gen)
		})
	}
}

// runGeneration consumes the partitions gen assigns until it ends (a
// rebalance) or the subscription does, then waits for running handlers
// and commits what they finished, all before the member rejoins or
// leaves the group. Offsets of the whole generation are committed
// together by this goroutine.
func (s *subscription) runGeneration(gctx context.Context, gen *kafkago.Generation) {
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	defer context.AfterFunc(gctx, cancel)()

	commits := make(chan struct{}, 1)
	var parts []*partition
	var wg sync.WaitGroup
	for _, pa := range gen.Assignments[s.name] {
		p := &partition{
			s:         s,
			id:        pa.ID,
			committed: pa.Offset, // negative: nothing committed yet
			slots:     make(chan struct{}, maxInFlight),
			keys:      map[string]*keyQueue{},
			done:      map[int64]bool{},
			commits:   commits,
		}
		p.next = p.committed
		parts = append(parts, p)
		wg.Go(func() { p.consume(ctx, pa.Offset) })
	}
	commit := func() {
		offsets := map[int]int64{}
		for _, p := range parts {
			if next := p.toCommit(); next > p.committed {
				offsets[p.id] = next
			}
		}
		if len(offsets) == 0 {
			return
		}
		if err := gen.CommitOffsets(map[string]map[int]int64{s.name: offsets}); err != nil {
			// The records are delivered again, to whoever has them next.
			s.log.Warn("kafka bus: committing offsets failed", "generation", gen.ID, "error", err)
			return
		}
		for _, p := range parts {
			if next, ok := offsets[p.id]; ok {
				p.committed = next
			}
		}
	}
	for ctx.Err() == nil {
		select {
		case <-commits:
			commit()
		case <-ctx.Done():
		}
	}
	wg.Wait()
	commit()
	if s.ctx.Err() != nil {
		// Ending the generation here would make kafka-go rejoin; wait
		// for Subscribe to close the group instead, which leaves it.
		<-gctx.Done()
	}
}

// partition is one partition assigned to a subscription for one generation.
type partition struct {
	s         *subscription
	id        int
	committed int64         // last offset committed; only runGeneration touches it
	slots     chan struct{} // a token per record in flight
	commits   chan<- struct{}
	workers   sync.WaitGroup

	mu      sync.Mutex
	keys    map[string]*keyQueue // keys with records in flight
	offsets []int64              // records in flight, in offset order
	done    map[int64]bool       // which of them are finished
	next    int64                // the offset to commit: every record before it is finished
}

// keyQueue holds the records of one key in flight; the head is being
// processed.
type keyQueue struct {
	key  string
	msgs []kafkago.Message
}

// consume fetches the partition from offset and dispatches its records by
// key until ctx ends, then waits for the key goroutines to stop.
func (p *partition) consume(ctx context.Context, offset int64) {
	b := p.s.bus
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers:          b.brokers,
		Dialer:           b.dialer,
		Topic:            p.s.name,
		Partition:        p.id,
		MinBytes:         1,
		MaxBytes:         1 << 20, // at least one record batch, whatever its size
		MaxWait:          b.cfg.maxWait,
		ReadBatchTimeout: time.Second,
		ReadLagInterval:  -1,
		Logger:           debugLogger(b.cfg.log),
		ErrorLogger:      debugLogger(b.cfg.log),
	})
	defer p.workers.Wait()
	defer r.Close()
	if err := r.SetOffset(offset); err != nil {
		p.s.log.Error("kafka bus: cannot set the partition offset", "partition", p.id, "offset", offset, "error", err)
		return
	}
	for failures := 0; ; {
		select {
		case p.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		m, err := r.FetchMessage(ctx)
		if err != nil {
			<-p.slots
			if ctx.Err() != nil {
				return
			}
			failures++
			health.Default.Fail(health.Kafka, err)
			p.s.log.Debug("kafka bus: fetching failed", "partition", p.id, "error", err)
			if !health.Sleep(ctx, b.backoff(failures)) {
				return
			}
			continue
		}
		failures = 0
		p.dispatch(ctx, m)
	}
}

// dispatch queues m behind the records of its key in flight, starting a
// goroutine for the key if it has none.
func (p *partition) dispatch(ctx context.Context, m kafkago.Message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.offsets = append(p.offsets, m.Offset)
	key := string(m.Key)
	if q := p.keys[key]; q != nil {
		q.msgs = append(q.msgs, m)
		return
	}
	q := &keyQueue{key: key, msgs: []kafkago.Message{m}}
	p.keys[key] = q
	p.workers.Add(1)
	go p.drain(ctx, q)
}

// drain processes q's records in order until q is empty or ctx ends.
func (p *partition) drain(ctx context.Context, q *keyQueue) {
	defer p.workers.Done()
	for {
		p.mu.Lock()
		if len(q.msgs) == 0 {
			delete(p.keys, q.key)
			p.mu.Unlock()
			return
		}
		m := q.msgs[0]
		p.mu.Unlock()

		if ctx.Err() != nil || !p.s.process(ctx, m) {
			// Interrupted. The queue stays, unfinished and with no
			// goroutine, so that no later record of the key is handled
			// or committed before this one: the partition's next owner
			// gets them all again.
			return
		}
		p.mu.Lock()
		q.msgs[0] = kafkago.Message{} // let the GC have it
		q.msgs = q.msgs[1:]
		p.finish(m.Offset)
		p.mu.Unlock()
		<-p.slots
		select {
		case p.commits <- struct{}{}:
		default: // a commit is already due
		}
	}
}

// finish marks the record at offset finished and advances the offset to
// commit past every finished record at the front. Called with p.mu held.
func (p *partition) finish(offset int64) {
	p.done[offset] = true
	for len(p.offsets) > 0 && p.done[p.offsets[0]] {
		delete(p.done, p.offsets[0])
		p.next = p.offsets[0] + 1
		p.offsets = p.offsets[1:]
	}
}

func (p *partition) toCommit() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.next
}

// process delivers one record, retrying failures and dead-lettering it in
// the end. It returns false when ctx ended first: the record is then left
// for the partition's next owner.
func (s *subscription) process(ctx context.Context, m kafkago.Message) bool {
	ev, err := DecodeMessage(plainHeaders(m.Headers), m.Value)
	if err != nil {
		return s.deadLetterRecord(ctx, m, err)
	}
	outage := health.Backoff{Min: s.bus.cfg.backoff, Max: 5 * time.Second}
	for failures := 1; ; failures++ {
		err := s.deliver(ev)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false // interrupted, not failed
		}
		if errors.Is(err, engine.ErrUnavailable) {
			// An outage: waited out, however long, never dead-lettered.
			failures--
			metrics.Retried(s.topic, "unavailable")
			if !outage.Wait(ctx) {
				return false
			}
			continue
		}
		if errors.Is(err, engine.ErrCannotApply) || failures >= engine.MaxAttempts {
			return s.deadLetterEvent(ctx, m, ev, err)
		}
		metrics.Retried(s.topic, "failed")
		if !health.Sleep(ctx, s.bus.backoff(failures)) {
			return false
		}
	}
}

// deliver calls the handler with a copy of ev, turning a panic into an
// error so that one bad event is retried and dead-lettered like any other
// failure instead of killing the process.
func (s *subscription) deliver(ev cloudevents.Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return s.h(s.ctx, ev.Clone())
}

// deadLetterEvent publishes ev, whose handler kept failing with cause, to
// engine.TopicDLQ with the error in ExtensionError. Events failing on the
// DLQ itself are only logged: sending them back would loop.
func (s *subscription) deadLetterEvent(ctx context.Context, m kafkago.Message, ev cloudevents.Event, cause error) bool {
	log := s.log.With("partition", m.Partition, "offset", m.Offset, "key", string(m.Key), "event", ev.ID(), "error", cause)
	if s.topic == engine.TopicDLQ {
		log.Error("kafka bus: dead-letter handler keeps failing, dropping event")
		return true
	}
	dl := ev.Clone()
	dl.SetExtension(ExtensionError, reason(cause))
	dl.SetExtension(ExtensionTopic, s.topic)
	headers, value, err := EncodeMessage(dl)
	if err != nil { // not expected: ev was decoded and validated
		return s.deadLetterRecord(ctx, m, fmt.Errorf("%w (and re-encoding the event failed: %w)", cause, err))
	}
	out := kafkago.Message{Key: m.Key, Value: value, Headers: kafkaHeaders(headers)}
	out.Headers = s.reasonHeaders(out.Headers, m, cause)
	if !s.sendDeadLetter(ctx, out, log) {
		return false
	}
	if errors.Is(cause, engine.ErrCannotApply) {
		metrics.DeadLettered(s.topic, metrics.ReasonCannotApply)
		log.Warn("kafka bus: event that cannot apply dead-lettered")
		return true
	}
	metrics.DeadLettered(s.topic, metrics.ReasonFailed)
	log.Warn("kafka bus: event dead-lettered", "attempts", engine.MaxAttempts)
	return true
}

// deadLetterRecord sends m, which is not a valid CloudEvent, to
// engine.TopicDLQ as it is, with headers saying why.
func (s *subscription) deadLetterRecord(ctx context.Context, m kafkago.Message, cause error) bool {
	log := s.log.With("partition", m.Partition, "offset", m.Offset, "key", string(m.Key), "error", cause)
	if s.topic == engine.TopicDLQ {
		log.Error("kafka bus: skipping a record of the dead-letter topic that is not a valid event")
		return true
	}
	out := kafkago.Message{Key: m.Key, Value: m.Value, Headers: s.reasonHeaders(m.Headers, m, cause)}
	if !s.sendDeadLetter(ctx, out, log) {
		return false
	}
	metrics.DeadLettered(s.topic, metrics.ReasonUndecodable)
	log.Warn("kafka bus: record that is not a valid event dead-lettered")
	return true
}

func (s *subscription) reasonHeaders(headers []kafkago.Header, m kafkago.Message, cause error) []kafkago.Header {
	return reasonHeaders(headers, cause, s.topic, m.Partition, m.Offset, s.group)
}

// reasonHeaders returns headers without any earlier relay_* dead-letter
// headers, followed by those saying why and where a record failed
// (HeaderGroup only when group is set).
func reasonHeaders(headers []kafkago.Header, cause error, topic string, partition int, offset int64, group string) []kafkago.Header {
	out := make([]kafkago.Header, 0, len(headers)+5)
	for _, h := range headers {
		switch strings.ToLower(h.Key) {
		case HeaderError, HeaderTopic, HeaderPartition, HeaderOffset, HeaderGroup:
		default:
			out = append(out, h)
		}
	}
	out = append(out,
		kafkago.Header{Key: HeaderError, Value: []byte(reason(cause))},
		kafkago.Header{Key: HeaderTopic, Value: []byte(topic)},
		kafkago.Header{Key: HeaderPartition, Value: []byte(strconv.Itoa(partition))},
		kafkago.Header{Key: HeaderOffset, Value: []byte(strconv.FormatInt(offset, 10))},
	)
	if group != "" {
		out = append(out, kafkago.Header{Key: HeaderGroup, Value: []byte(group)})
	}
	return out
}

// Record is a Kafka record consumed by other means than Subscribe (an
// AWS Lambda Kafka event, say), for DeadLetter.
type Record struct {
	Topic     string // as named on Kafka; the bus's prefix is dropped from HeaderTopic
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []Header
	Group     string // the consumer group giving up on it, if any
}

// DeadLetter writes rec to engine.TopicDLQ as it is (key, value, headers)
// with the headers that say why (cause) and where it came from, as
// Subscribe does with records that are not valid CloudEvents. It returns
// once the brokers have it.
func (b *Bus) DeadLetter(ctx context.Context, rec Record, cause error) error {
	topic := strings.TrimPrefix(rec.Topic, b.cfg.prefix)
	msg := kafkago.Message{
		Key:     rec.Key,
		Value:   rec.Value,
		Headers: reasonHeaders(kafkaHeaders(rec.Headers), cause, topic, rec.Partition, rec.Offset, rec.Group),
	}
	if err := b.write(ctx, engine.TopicDLQ, msg); err != nil {
		return fmt.Errorf("dead-letter record %s-%d@%d: %w", rec.Topic, rec.Partition, rec.Offset, err)
	}
	return nil
}

// reason is the text of cause as valid UTF-8, as CloudEvents attributes
// and the binding's headers must be.
func reason(cause error) string {
	return strings.ToValidUTF8(cause.Error(), "\uFFFD")
}

// sendDeadLetter writes msg to engine.TopicDLQ, retrying until it succeeds
// or ctx ends (then it returns false and the record is not committed).
func (s *subscription) sendDeadLetter(ctx context.Context, msg kafkago.Message, log *slog.Logger) bool {
	for attempt := 1; ; attempt++ {
		err := s.bus.write(ctx, engine.TopicDLQ, msg)
		if err == nil {
			return true
		}
		if ctx.Err() != nil || errors.Is(err, engine.ErrBusClosed) {
			return false
		}
		if !errors.Is(err, engine.ErrUnavailable) {
			log.Error("kafka bus: cannot write to the dead-letter topic, retrying", "dlqError", err)
		}
		if !health.Sleep(ctx, s.bus.backoff(attempt)) {
			return false
		}
	}
}
