package triggers

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/statemachine/expr"
	"github.com/relayflow/relay/statemachine/flow"
)

// Upstream is an execution that ended, as its execution.finished event
// tells it: what flow triggers match.
type Upstream struct {
	ExecutionID string
	Namespace   string
	FlowID      string
	State       statemachine.ExecState
	Outputs     map[string]any
	Labels      []flow.Label
	Depth       int
	Origin      *statemachine.Origin
	// EndDate is when it ended; preconditions place it in their window.
	EndDate time.Time
}

// UpstreamOf reads an execution.finished command.
func UpstreamOf(f statemachine.ExecutionFinished, fallback time.Time) Upstream {
	end := f.EndDate
	if end.IsZero() {
		end = fallback
	}
	return Upstream{ExecutionID: f.ExecutionID, Namespace: f.Namespace, FlowID: f.FlowID, State: f.State,
		Outputs: f.Outputs, Labels: f.Labels, Depth: f.Depth, Origin: f.Origin, EndDate: end}
}

// Vars returns the trigger variables of a flow trigger fired by up.
func (up Upstream) Vars() map[string]any {
	out := up.Outputs
	if out == nil {
		out = map[string]any{}
	}
	return map[string]any{
		"executionId": up.ExecutionID, "namespace": up.Namespace, "flowId": up.FlowID,
		"state": string(up.State), "outputs": out, "date": up.EndDate.UTC().Format(time.RFC3339Nano),
	}
}

// MatchUpstream reports whether the flow trigger fires for an upstream
// execution that ended: the end state is one of `states` and every
// condition holds. Preconditions, when the trigger has them, are checked
// after this with Preconditions.Observe. An error (a condition expression
// that fails) means the trigger does not fire; the caller logs it.
func (t *Trigger) MatchUpstream(up Upstream, now time.Time) (bool, error) {
	if t.Type != flow.TriggerFlow || t.Disabled || !slices.Contains(t.States, string(up.State)) {
		return false, nil
	}
	return t.checkConditions(up.Vars(), &up, now)
}

// Event is a CloudEvent as event triggers see it.
type Event struct {
	ID              string
	Type            string
	Source          string
	Subject         string
	Time            time.Time
	DataContentType string
	DataSchema      string
	// Data is the event's data: decoded JSON when it is JSON, else text.
	Data       any
	Extensions map[string]string
}

// Attribute returns an attribute of the event by name.
func (e *Event) Attribute(name string) (string, bool) {
	switch name {
	case "id":
		return e.ID, true
	case "type":
		return e.Type, true
	case "source":
		return e.Source, true
	case "specversion":
		return "1.0", true
	case "subject":
		return e.Subject, e.Subject != ""
	case "time":
		return e.Time.UTC().Format(time.RFC3339Nano), !e.Time.IsZero()
	case "datacontenttype":
		return e.DataContentType, e.DataContentType != ""
	case "dataschema":
		return e.DataSchema, e.DataSchema != ""
	}
	v, ok := e.Extensions[name]
	return v, ok
}

// DecodeData turns an event's data bytes into what `trigger.event.data`
// holds: decoded JSON when the content type is JSON (or unset and the
// bytes are JSON), else text.
func DecodeData(contentType string, data []byte) any {
	if len(data) == 0 {
		return nil
	}
	if contentType == "" || contentType == "application/json" || contentType == "text/json" || len(contentType) > 5 && contentType[len(contentType)-5:] == "+json" {
		var v any
		if json.Unmarshal(data, &v) == nil {
			return v
		}
	}
	return string(data)
}

// Vars returns the trigger variables of an event trigger: trigger.event.
func (e *Event) Vars() map[string]any {
	ev := map[string]any{"id": e.ID, "type": e.Type, "source": e.Source, "subject": e.Subject, "data": e.Data}
	if !e.Time.IsZero() {
		ev["time"] = e.Time.UTC().Format(time.RFC3339Nano)
	}
	if len(e.Extensions) > 0 {
		ext := make(map[string]any, len(e.Extensions))
		for k, v := range e.Extensions {
			ext[k] = v
		}
		ev["extensions"] = ext
	}
	return map[string]any{"event": ev}
}

// MatchEvent reports whether the event trigger fires for an event: its
// filters match and its `condition` and conditions hold.
func (t *Trigger) MatchEvent(e *Event, now time.Time) (bool, error) {
	if t.Type != flow.TriggerEvent || t.Disabled || !t.Filter.Match(e.Attribute) {
		return false, nil
	}
	vars := e.Vars()
	if c := t.decl.Props["condition"]; c != nil {
		v, err := c.Render(env(vars, now))
		if err != nil {
			return false, err
		}
		if !expr.Truthy(v) {
			return false, nil
		}
	}
	return t.checkConditions(vars, nil, now)
}

// EventCause is the cause of an event trigger's execution: an event is
// identified by its source and id.
func EventCause(e *Event) string { return "event\x00" + e.Source + "\x00" + e.ID }

// UpstreamCause is the cause of a flow trigger's execution.
func UpstreamCause(up Upstream) string { return "upstream\x00" + up.ExecutionID }

// WebhookVars returns the trigger variables of a webhook call.
func WebhookVars(body any, headers map[string][]string, parameters map[string][]string) map[string]any {
	h := make(map[string]any, len(headers))
	for k, v := range headers {
		h[strings.ToLower(k)] = toAny(v)
	}
	p := make(map[string]any, len(parameters))
	for k, v := range parameters {
		p[k] = toAny(v)
	}
	return map[string]any{"body": body, "headers": h, "parameters": p}
}

func toAny(vs []string) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}
