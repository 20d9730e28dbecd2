package engine

import (
	"context"
	"fmt"
	"log/slog"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
)

// ExtensionDataRef is the CloudEvent extension of an event whose data is
// in the Blobs rather than in the message: its value is the blob's
// reference, and the event carries no data. The engine sets it on every
// event it publishes whose data is larger than Config.BlobThreshold (a
// task's outputs, a task run's rendered properties, an execution's
// outputs), and its handlers read the data back before anything else.
// Consumers outside the engine read the referenced object themselves.
const ExtensionDataRef = "relaydataref"

// offloadEvent moves ev's data to the Blobs when it is larger than the
// threshold, so that no message grows with what a flow produces.
func (e *Engine) offloadEvent(ctx context.Context, ev cloudevents.Event) (cloudevents.Event, error) {
	data := ev.Data()
	if e.cfg.Blobs == nil || len(data) <= e.cfg.BlobThreshold {
		return ev, nil
	}
	ref, err := e.cfg.Blobs.Put(ctx, BlobKey(ev.Subject(), data), data)
	if err != nil {
		return ev, fmt.Errorf("storing the %d KB data of event %s as a blob: %w", len(data)>>10, ev.ID(), err)
	}
	out := ev.Clone()
	out.DataEncoded = nil
	out.DataBase64 = false
	out.SetExtension(ExtensionDataRef, ref)
	e.log.Debug("event data stored as a blob", slog.String("event", ev.ID()), slog.String("ref", ref), slog.Int("bytes", len(data)))
	return out, nil
}

// ResolveEvent puts back the data of an event that refers to a blob (see
// ExtensionDataRef), for consumers of the engine's topics beside it.
func (e *Engine) ResolveEvent(ctx context.Context, ev cloudevents.Event) (cloudevents.Event, error) {
	return e.resolveEvent(ctx, ev)
}

// resolveEvent puts back the data of an event that refers to a blob.
func (e *Engine) resolveEvent(ctx context.Context, ev cloudevents.Event) (cloudevents.Event, error) {
	v, ok := ev.Extensions()[ExtensionDataRef]
	if !ok {
		return ev, nil
	}
	ref := fmt.Sprint(v)
	if e.cfg.Blobs == nil {
		return ev, fmt.Errorf("event %s has its data in blob %s, but no blob store is configured", ev.ID(), ref)
	}
	data, err := e.cfg.Blobs.Get(ctx, ref)
	if err != nil {
		return ev, fmt.Errorf("reading the data of event %s: %w", ev.ID(), err)
	}
	out := ev.Clone()
	out.DataEncoded = data
	out.DataBase64 = false
	if out.DataContentType() == "" {
		out.SetDataContentType(cloudevents.ApplicationJSON)
	}
	out.SetExtension(ExtensionDataRef, nil)
	return out, nil
}

// Publish publishes ev on the engine's bus as the engine publishes its
// own events: with its data moved to the Blobs first when it is larger
// than the threshold. Callers that publish to Relay's topics beside the
// engine (the HTTP API) use it so that large inputs never make a large
// message.
func (e *Engine) Publish(ctx context.Context, topic, key string, ev cloudevents.Event) error {
	return e.send(ctx, topic, key, ev)
}

// send publishes a CloudEvent the engine built, its data moved to the
// Blobs first when it is large.
func (e *Engine) send(ctx context.Context, topic, key string, ev cloudevents.Event) error {
	ev, err := e.offloadEvent(ctx, ev)
	if err != nil {
		return err
	}
	return e.cfg.Bus.Publish(ctx, topic, key, ev)
}
