package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol/metadata"

	"github.com/relayflow/relay/internal/health"
)

// topicTimeout bounds creating a topic and waiting for its metadata.
const topicTimeout = 30 * time.Second

// EnsureTopics creates the topics (Relay names, before the prefix) that
// do not exist yet, so that consumers outside the bus (Lambda's event
// source, `relay dev`) find them.
func (b *Bus) EnsureTopics(ctx context.Context, topics ...string) error {
	for _, t := range topics {
		if err := b.ensureTopic(ctx, t); err != nil {
			return b.classify(ctx, err)
		}
	}
	return nil
}

// ensureTopic creates topic (a Relay name) unless it exists, and waits
// until its partitions have leaders, once per bus and topic. Several
// processes may race to create a topic: "already exists" is success.
func (b *Bus) ensureTopic(ctx context.Context, topic string) error {
	name := b.topicName(topic)
	b.mu.Lock()
	known := b.topics[name]
	b.mu.Unlock()
	if known {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, topicTimeout)
	defer cancel()

	partitions := b.cfg.partitions
	if n, ok := b.cfg.topicPartitions[topic]; ok && n > 0 {
		partitions = n
	}
	res, err := b.client.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{{
		Topic:             name,
		NumPartitions:     partitions,
		ReplicationFactor: b.cfg.replication,
	}}})
	if err == nil {
		err = res.Errors[name]
	}
	if errors.Is(err, kafkago.BrokerNotAvailable) {
		// What kafka-go says when it never reached the cluster. Metadata
		// requests get the reason: a refused connection, a failed TLS
		// handshake or SASL authentication.
		if _, merr := b.transport.RoundTrip(ctx, b.addr, &metadata.Request{}); merr != nil {
			err = merr
		}
	}
	if err != nil && !errors.Is(err, kafkago.TopicAlreadyExists) {
		return fmt.Errorf("create topic %s: %w", name, err)
	}
	if err := b.awaitTopic(ctx, name); err != nil {
		return err
	}
	b.mu.Lock()
	b.topics[name] = true
	b.mu.Unlock()
	return nil
}

// awaitTopic waits until the producer's metadata has every partition of
// topic with a leader.
//
// kafka-go's transport answers metadata requests from a cache, refreshed
// every few seconds and after it creates a topic. A topic someone else
// created may not be in it yet: a request allowing auto-creation is the
// one that the transport sends to the broker on a miss, refreshing the
// cache. The topic exists by now, so nothing is auto-created.
func (b *Bus) awaitTopic(ctx context.Context, topic string) error {
	var last error
	for attempt := 1; ; attempt++ {
		res, err := b.transport.RoundTrip(ctx, b.addr, &metadata.Request{
			TopicNames:             []string{topic},
			AllowAutoTopicCreation: true,
		})
		if err == nil {
			err = topicReady(res.(*metadata.Response), topic)
		}
		if err == nil {
			return nil
		}
		last = err
		if !health.Sleep(ctx, min(time.Duration(attempt)*50*time.Millisecond, time.Second)) {
			return fmt.Errorf("wait for topic %s: %w (last: %w)", topic, ctx.Err(), last)
		}
	}
}

// topicReady checks that res has topic with partitions that all have a
// leader.
func topicReady(res *metadata.Response, topic string) error {
	for _, t := range res.Topics {
		if t.Name != topic {
			continue
		}
		if t.ErrorCode != 0 {
			return kafkago.Error(t.ErrorCode)
		}
		if len(t.Partitions) == 0 {
			return errors.New("no partitions yet")
		}
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 {
				return fmt.Errorf("partition %d: %w", p.PartitionIndex, kafkago.Error(p.ErrorCode))
			}
			if p.LeaderID < 0 {
				return fmt.Errorf("partition %d has no leader yet", p.PartitionIndex)
			}
		}
		return nil
	}
	return kafkago.UnknownTopicOrPartition
}
