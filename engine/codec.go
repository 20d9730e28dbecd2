package engine

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"

	"github.com/relayflow/relay/statemachine"
)

// CloudEvent types Relay publishes. State machine input events are
// "io.relayflow." + the statemachine.EventType.
const (
	TypePrefix            = "io.relayflow."
	TypeTaskRunScheduled  = TypePrefix + "taskrun.scheduled"
	TypeExecutionFinished = TypePrefix + "execution.finished"
)

// NewEvent wraps data as a CloudEvent with Relay's conventions: the id is
// deterministic (so a redelivered event is recognised), the subject is the
// execution id, and data is JSON.
func NewEvent(id, typ, source, subject string, at time.Time, data any) (cloudevents.Event, error) {
	ev := cloudevents.New()
	ev.SetID(id)
	ev.SetType(typ)
	ev.SetSource(source)
	ev.SetSubject(subject)
	ev.SetTime(at)
	if err := ev.SetData("application/json", data); err != nil {
		return ev, fmt.Errorf("encoding %s event %s: %w", typ, id, err)
	}
	return ev, nil
}

// MachineEvent wraps a state machine input event for TopicExecutions.
func MachineEvent(ev statemachine.Event, source string, at time.Time) (cloudevents.Event, error) {
	return NewEvent(ev.ID, TypePrefix+string(ev.Type), source, ev.ExecutionID, at, ev)
}

// DecodeMachineEvent reads a state machine input event from a CloudEvent.
func DecodeMachineEvent(ce cloudevents.Event) (statemachine.Event, error) {
	var ev statemachine.Event
	if !strings.HasPrefix(ce.Type(), TypePrefix) {
		return ev, fmt.Errorf("event %s has type %q, not a Relay event", ce.ID(), ce.Type())
	}
	if err := json.Unmarshal(ce.Data(), &ev); err != nil {
		return ev, fmt.Errorf("decoding event %s (%s): %w", ce.ID(), ce.Type(), err)
	}
	if ev.ID == "" {
		ev.ID = ce.ID()
	}
	if ev.Type == "" {
		ev.Type = statemachine.EventType(strings.TrimPrefix(ce.Type(), TypePrefix))
	}
	return ev, nil
}

// Outbox entry kinds, one per command type.
const (
	KindSchedule = "schedule"
	KindTimer    = "timer"
	KindKill     = "kill"
	KindSubflow  = "subflow"
	KindFinished = "finished"
	KindLog      = "log"
	KindContinue = "continue"
)

// encodeCommand turns a command into an outbox entry.
func encodeCommand(c statemachine.Command, id, execID string, at time.Time) (OutboxEntry, error) {
	var kind string
	switch c.(type) {
	case statemachine.ScheduleTaskRun:
		kind = KindSchedule
	case statemachine.StartTimer:
		kind = KindTimer
	case statemachine.KillAttempt:
		kind = KindKill
	case statemachine.StartSubflow:
		kind = KindSubflow
	case statemachine.ExecutionFinished:
		kind = KindFinished
	case statemachine.Log:
		kind = KindLog
	case statemachine.Continue:
		kind = KindContinue
	default:
		return OutboxEntry{}, fmt.Errorf("unknown command %T", c)
	}
	b, err := json.Marshal(c)
	if err != nil {
		return OutboxEntry{}, fmt.Errorf("encoding %s command: %w", kind, err)
	}
	return OutboxEntry{ID: id, ExecutionID: execID, Kind: kind, Payload: b, Created: at, command: c}, nil
}

// decoders read each kind of outbox entry back into its command.
var decoders = map[string]func([]byte) (statemachine.Command, error){
	KindSchedule: decodeAs[statemachine.ScheduleTaskRun],
	KindTimer:    decodeAs[statemachine.StartTimer],
	KindKill:     decodeAs[statemachine.KillAttempt],
	KindSubflow:  decodeAs[statemachine.StartSubflow],
	KindFinished: decodeAs[statemachine.ExecutionFinished],
	KindLog:      decodeAs[statemachine.Log],
	KindContinue: decodeAs[statemachine.Continue],
}

func decodeAs[T statemachine.Command](b []byte) (statemachine.Command, error) {
	var v T
	err := json.Unmarshal(b, &v)
	return v, err
}

// decodeCommand reads an outbox entry back into its command.
func decodeCommand(e OutboxEntry) (statemachine.Command, error) {
	if e.command != nil {
		return e.command, nil
	}
	decode, ok := decoders[e.Kind]
	if !ok {
		return nil, fmt.Errorf("outbox entry %s has unknown kind %q", e.ID, e.Kind)
	}
	c, err := decode(e.Payload)
	if err != nil {
		return nil, fmt.Errorf("decoding outbox entry %s: %w", e.ID, err)
	}
	return c, nil
}

// timerID names a timer so that starting it twice replaces it.
func timerID(t statemachine.StartTimer) string {
	return fmt.Sprintf("%s/%s/%d/%s", t.ExecutionID, t.TaskRunID, t.Attempt, t.Kind)
}
