package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"

	"github.com/relayflow/relay/tasks"
)

// BusEmitter publishes the CloudEvents of cloudevents.emit tasks on
// TopicEvents, where event triggers match them.
type BusEmitter struct{ Bus Bus }

// Emit publishes ev with a new id and returns the id.
func (b BusEmitter) Emit(ctx context.Context, ev tasks.Event) (string, error) {
	id := NewID()
	ce := cloudevents.New()
	ce.SetID(id)
	ce.SetType(ev.Type)
	ce.SetSource(ev.Source)
	if ev.Subject != "" {
		ce.SetSubject(ev.Subject)
	}
	ce.SetTime(time.Now())
	for k, v := range ev.Extensions {
		ce.SetExtension(k, v)
	}
	if ev.Data != nil {
		if err := ce.SetData("application/json", ev.Data); err != nil {
			return "", fmt.Errorf("encoding event data: %w", err)
		}
	}
	if err := ce.Validate(); err != nil {
		return "", fmt.Errorf("invalid CloudEvent: %w", err)
	}
	if err := b.Bus.Publish(ctx, TopicEvents, id, ce); err != nil {
		return "", fmt.Errorf("publishing event %s: %w", ev.Type, err)
	}
	return id, nil
}

// NewID returns a new random, time-ordered id for executions and events:
// the time in base 36 followed by 8 random hex digits.
func NewID() string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return fmt.Sprintf("%s%s", formatBase36(time.Now().UnixMilli()), hex.EncodeToString(b[:]))
}

func formatBase36(n int64) string {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	var buf [16]byte
	i := len(buf)
	for n > 0 {
		i--
		buf[i] = digits[n%36]
		n /= 36
	}
	return string(buf[i:])
}
