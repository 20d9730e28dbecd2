package servicetest

import (
	"context"
	"fmt"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// ReadTopic calls fn with every record of every partition of topic (its
// Kafka name), partition by partition, in offset order.
func ReadTopic(ctx context.Context, broker, topic string, fn func(kafkago.Message)) error {
	conn, err := kafkago.DialContext(ctx, "tcp", broker)
	if err != nil {
		return err
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		return fmt.Errorf("partitions of %s: %w", topic, err)
	}
	for _, p := range parts {
		c, err := kafkago.DialLeader(ctx, "tcp", broker, topic, p.ID)
		if err != nil {
			return err
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		first, last, err := c.ReadOffsets()
		if err == nil {
			_, err = c.Seek(first, kafkago.SeekAbsolute)
		}
		for off := first; err == nil && off < last; {
			batch := c.ReadBatch(1, 10<<20)
			for {
				m, err := batch.ReadMessage()
				if err != nil {
					break
				}
				off = m.Offset + 1
				fn(m)
			}
			err = batch.Close()
		}
		c.Close()
		if err != nil {
			return fmt.Errorf("reading %s partition %d: %w", topic, p.ID, err)
		}
	}
	return nil
}
