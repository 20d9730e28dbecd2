package tasks

import (
	"context"
	"fmt"
)

// Error types of cloudevents.emit.
const (
	typeNoBus = "NoEventBus"
	typeEmit  = "Emit"
)

// Emitter publishes CloudEvents; the engine passes its bus, whose event
// triggers can then match the event.
type Emitter interface {
	Emit(ctx context.Context, ev Event) (id string, err error)
}

// Event is a CloudEvent before the bus gives it its id, time and spec
// version.
type Event struct {
	Type, Source, Subject string
	// Data is sent as JSON.
	Data       any
	Extensions map[string]string
}

// reservedAttributes are the CloudEvents context attributes an extension must
// not shadow.
var reservedAttributes = map[string]bool{
	"id": true, "source": true, "specversion": true, "type": true, "datacontenttype": true,
	"dataschema": true, "subject": true, "time": true, "data": true, "data_base64": true,
}

// NewEmit returns the runner of cloudevents.emit. With a nil emitter every
// attempt fails (fatal) saying that no bus is configured, so that a flow that
// emits is not silently dropped by a deployment without one.
func NewEmit(em Emitter) Runner {
	return RunnerFunc(func(ctx context.Context, req Request) (Result, error) {
		ev, err := buildEvent(req)
		if err != nil {
			return Result{}, err
		}
		if em == nil {
			return Result{}, fatalf(typeNoBus, "cannot publish %s: no event bus is configured", ev.Type)
		}
		id, err := em.Emit(ctx, ev)
		if err != nil {
			if terr := ctxError(ctx, "publishing "+ev.Type, err); terr != nil {
				return Result{}, terr
			}
			if te := Classify(err); te.Type != typeError {
				return Result{}, te
			}
			return Result{}, &Error{Kind: KindRetryable, Type: typeEmit, Message: "publishing " + ev.Type, Err: err}
		}
		logger(req).Debug("event published", "eventType", ev.Type, "source", ev.Source, "id", id)
		return Result{Outputs: map[string]any{"id": id}}, nil
	})
}

func buildEvent(req Request) (Event, error) {
	var ev Event
	var err error
	if ev.Type, err = reqString(req.Props, "eventType"); err != nil {
		return Event{}, err
	}
	if ev.Source, err = optString(req.Props, "source"); err != nil {
		return Event{}, err
	}
	if ev.Source == "" {
		ev.Source = fmt.Sprintf("relay/%s/%s", req.Namespace, req.FlowID)
	}
	if ev.Subject, err = optString(req.Props, "subject"); err != nil {
		return Event{}, err
	}
	ev.Data = req.Props["data"]
	if ev.Extensions, err = optStringMap(req.Props, "extensions"); err != nil {
		return Event{}, err
	}
	for name := range ev.Extensions {
		if !validExtensionName(name) {
			return Event{}, propError("extensions", "%q is not a valid CloudEvents attribute name (lower-case letters and digits only)", name)
		}
		if reservedAttributes[name] {
			return Event{}, propError("extensions", "%q is a CloudEvents context attribute, not an extension", name)
		}
	}
	if req.ExecutionID != "" {
		if ev.Extensions == nil {
			ev.Extensions = map[string]string{}
		}
		ev.Extensions[ExtensionExecution] = req.ExecutionID
	}
	return ev, nil
}

// ExtensionExecution is the CloudEvent extension naming the execution that
// emitted an event. An execution an event trigger starts from the event is
// one step further in its chain, so a flow whose events start itself is
// cut at a depth limit.
const ExtensionExecution = "relayexecution"

// validExtensionName follows the CloudEvents spec: a-z and 0-9 only.
func validExtensionName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}
