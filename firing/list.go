package firing

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/relayflow/relay/statemachine/flow"
	"github.com/relayflow/relay/triggers"
)

// Info describes one trigger of a flow's latest revision.
type Info struct {
	Namespace string    `json:"namespace"`
	FlowID    string    `json:"flowId"`
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	Revision  int       `json:"revision"`
	Disabled  bool      `json:"disabled,omitempty"`
	Stopped   bool      `json:"stopped,omitempty"`
	Last      time.Time `json:"last,omitzero"`
	Next      time.Time `json:"next,omitzero"`
	// On says what fires it: a cron expression, upstream flows, event
	// types, a webhook path.
	On string `json:"on"`
}

// List describes the triggers of every flow's latest revision, with when
// each last fired and, for schedules, when it fires next.
func List(ctx context.Context, st Store, now time.Time) ([]Info, error) {
	recs, err := st.Flows(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing flows: %w", err)
	}
	c := newCompiled(st)
	var out []Info
	for _, rec := range recs {
		trs, err := c.revision(ctx, rec.Namespace, rec.ID, rec.Revision)
		if err != nil {
			return nil, err
		}
		for _, t := range trs {
			info := Info{Namespace: t.Namespace, FlowID: t.FlowID, ID: t.ID, Type: t.Type, Revision: t.Revision, Disabled: t.Disabled, On: describe(t)}
			if t.Schedule != nil {
				s, version, err := getJSON[scheduleEntry](ctx, st, KindSchedule, t.Key())
				if err != nil {
					return nil, err
				}
				info.Last, info.Stopped = s.Last, s.Stopped
				switch {
				case t.Disabled || s.Stopped:
				case version > 0 && !s.Cursor.IsZero():
					info.Next = t.Schedule.NextAfter(s.Cursor)
				default:
					info.Next = t.Schedule.NextAfter(now)
				}
			} else {
				s, _, err := getJSON[triggerState](ctx, st, kindState, t.Key())
				if err != nil {
					return nil, err
				}
				last, _, err := getJSON[lastFire](ctx, st, kindLast, t.Key())
				if err != nil {
					return nil, err
				}
				info.Last, info.Stopped = s.Last, s.Stopped // preconditions keep their last fire in the state
				if last.Last.After(info.Last) {
					info.Last = last.Last
				}
			}
			out = append(out, info)
		}
	}
	return out, nil
}

func describe(t *triggers.Trigger) string {
	switch t.Type {
	case flow.TriggerSchedule:
		s := t.Schedule.Cron.String()
		if t.Schedule.Location.String() != "UTC" {
			s += " (" + t.Schedule.Location.String() + ")"
		}
		return s
	case flow.TriggerFlow:
		var on []string
		for _, k := range t.Keys() {
			on = append(on, strings.TrimPrefix(strings.TrimPrefix(k, "flow:"), "flowns:"))
		}
		s := "end of " + strings.Join(on, ", ")
		if t.Preconditions != nil {
			s += " (preconditions)"
		}
		return s
	case flow.TriggerEvent:
		keys := t.Keys()
		if len(keys) == 1 && keys[0] != "event:*" {
			return "event " + strings.TrimPrefix(keys[0], "event:")
		}
		return "events matching filters"
	case flow.TriggerWebhook:
		return "POST /webhooks/" + t.Namespace + "/" + t.FlowID + "/<key>"
	}
	return ""
}
