package triggers

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/relayflow/relay/statemachine/expr"
	"github.com/relayflow/relay/statemachine/flow"
)

// Preconditions make a flow trigger fire only once every listed upstream
// flow has ended as required within a time window: "start C when A and B
// both succeeded today".
type Preconditions struct {
	ID     string
	Flows  []UpstreamFlow
	Where  []FilterGroup
	Window Window
	// ResetOnSuccess: after firing, every flow must end again before the
	// next firing (default). Otherwise each later matching end fires again
	// while all are satisfied within the window.
	ResetOnSuccess bool

	triggerKey string
}

// UpstreamFlow is one flow a precondition waits for.
type UpstreamFlow struct {
	Namespace string
	FlowID    string
	States    []string // default SUCCESS
}

func (u UpstreamFlow) key() string { return u.Namespace + "/" + u.FlowID }

// FilterGroup is one `where` entry: filters on the upstream execution,
// combined with AND or OR.
type FilterGroup struct {
	ID      string
	Or      bool
	Filters []WhereFilter
}

// WhereFilter compares one field of the upstream execution.
type WhereFilter struct {
	Field  string // NAMESPACE, FLOW_ID, STATE, EXPRESSION
	Type   string // EQUAL_TO, NOT_EQUAL_TO, IN, ...
	Value  *flow.Property
	Values []string
	re     *regexp.Regexp
}

// Window kinds.
const (
	DurationWindow    = "DURATION_WINDOW"
	SlidingWindow     = "SLIDING_WINDOW"
	DailyTimeWindow   = "DAILY_TIME_WINDOW"
	DailyTimeDeadline = "DAILY_TIME_DEADLINE"
)

// Window is the time window the upstream ends must fall in. Times of day
// are read in UTC.
type Window struct {
	Type    string
	Length  time.Duration // DURATION_WINDOW, SLIDING_WINDOW
	Advance time.Duration // DURATION_WINDOW: offset of the windows' start
	// Start and End (DAILY_TIME_WINDOW) and Deadline (DAILY_TIME_DEADLINE)
	// are offsets from midnight.
	Start, End, Deadline time.Duration
}

func compilePreconditions(p *flow.Property) (*Preconditions, error) {
	pc := &Preconditions{ID: p.Get("id").String(), ResetOnSuccess: true}
	if v, ok := p.Get("resetOnSuccess").Literal().(bool); ok {
		pc.ResetOnSuccess = v
	}
	for _, f := range p.Get("flows").Items() {
		u := UpstreamFlow{Namespace: f.Get("namespace").String(), FlowID: f.Get("flowId").String(), States: stringList(f.Get("states"))}
		if len(u.States) == 0 {
			u.States = []string{"SUCCESS"}
		}
		pc.Flows = append(pc.Flows, u)
	}
	for _, g := range p.Get("where").Items() {
		grp := FilterGroup{ID: g.Get("id").String(), Or: g.Get("operand").String() == "OR"}
		for _, f := range g.Get("filters").Items() {
			wf := WhereFilter{Field: f.Get("field").String(), Type: f.Get("type").String(), Value: f.Get("value"), Values: stringList(f.Get("values"))}
			if wf.Type == "REGEX" {
				re, err := regexp.Compile(wf.Value.String())
				if err != nil {
					return pc, fmt.Errorf("%s: %w", f.Path, err)
				}
				wf.re = re
			}
			grp.Filters = append(grp.Filters, wf)
		}
		pc.Where = append(pc.Where, grp)
	}
	if len(pc.Flows) == 0 && len(pc.Where) == 0 {
		return pc, fmt.Errorf("preconditions need `flows` or `where`")
	}
	w := p.Get("timeWindow")
	pc.Window.Type = w.Get("type").String()
	if pc.Window.Type == "" {
		pc.Window.Type = DurationWindow
	}
	var err error
	if pc.Window.Length, err = parseDuration(w.Get("window"), 24*time.Hour); err != nil {
		return pc, err
	}
	if pc.Window.Advance, err = parseDuration(w.Get("windowAdvance"), 0); err != nil {
		return pc, err
	}
	if pc.Window.Length <= 0 {
		return pc, fmt.Errorf("a time window must be longer than zero")
	}
	tod := func(name string, required bool) (time.Duration, error) {
		s := w.Get(name).String()
		if s == "" {
			if required {
				return 0, fmt.Errorf("a %s window needs `%s` (HH:mm:ss)", pc.Window.Type, name)
			}
			return 0, nil
		}
		t, err := time.Parse("15:04:05", s)
		if err != nil {
			if t, err = time.Parse("15:04", s); err != nil {
				return 0, fmt.Errorf("`%s` of a time window: `%s` is not a time of day (HH:mm:ss)", name, s)
			}
		}
		return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute + time.Duration(t.Second())*time.Second, nil
	}
	switch pc.Window.Type {
	case DailyTimeWindow:
		if pc.Window.Start, err = tod("startTime", true); err != nil {
			return pc, err
		}
		if pc.Window.End, err = tod("endTime", true); err != nil {
			return pc, err
		}
		if pc.Window.End <= pc.Window.Start {
			return pc, fmt.Errorf("`endTime` of a daily time window must be after `startTime`")
		}
	case DailyTimeDeadline:
		if pc.Window.Deadline, err = tod("deadline", true); err != nil {
			return pc, err
		}
	}
	return pc, nil
}

// PreconditionState is what a trigger with preconditions remembers
// between upstream ends (a record of the trigger runtime).
type PreconditionState struct {
	// Satisfied holds, by upstream namespace/flowId, the end that counts.
	Satisfied map[string]Satisfaction `json:"satisfied,omitempty"`
	// Seen lists the upstream executions already counted, newest last, so
	// a redelivered end changes nothing (at most seenLimit).
	Seen []string `json:"seen,omitempty"`
}

// Satisfaction is an upstream end that counts toward a precondition.
type Satisfaction struct {
	ExecutionID string         `json:"executionId"`
	State       string         `json:"state"`
	Date        time.Time      `json:"date"`
	Outputs     map[string]any `json:"outputs,omitempty"`
}

const seenLimit = 256

// Observe takes an upstream end (one MatchUpstream accepted) into the
// state and reports whether the preconditions are now all met: then the
// trigger fires, with the satisfying ends, and (with ResetOnSuccess) the
// state starts over. The returned state is the one to store; the input
// is not changed. Observing the same upstream execution twice changes
// nothing the second time.
func (pc *Preconditions) Observe(st PreconditionState, up Upstream, now time.Time) (next PreconditionState, fire bool, ends map[string]Satisfaction, err error) {
	next = PreconditionState{Satisfied: map[string]Satisfaction{}, Seen: slices.Clone(st.Seen)}
	at := up.EndDate
	if at.IsZero() {
		at = now
	}
	for k, s := range st.Satisfied {
		if pc.Window.holds(s.Date, at) {
			next.Satisfied[k] = s
		}
	}
	if slices.Contains(st.Seen, up.ExecutionID) {
		return next, false, nil, nil
	}
	next.Seen = append(next.Seen, up.ExecutionID)
	if len(next.Seen) > seenLimit {
		next.Seen = next.Seen[len(next.Seen)-seenLimit:]
	}
	if !pc.Window.admits(at) {
		return next, false, nil, nil
	}
	ok, err := pc.where(up, now)
	if err != nil || !ok {
		return next, false, nil, err
	}
	sat := Satisfaction{ExecutionID: up.ExecutionID, State: string(up.State), Date: at, Outputs: up.Outputs}
	counted := false
	for _, u := range pc.Flows {
		if u.Namespace == up.Namespace && u.FlowID == up.FlowID && slices.Contains(u.States, string(up.State)) {
			next.Satisfied[u.key()] = sat
			counted = true
		}
	}
	if len(pc.Flows) == 0 { // only `where`: every accepted end fires
		return next, true, map[string]Satisfaction{up.Namespace + "/" + up.FlowID: sat}, nil
	}
	if !counted {
		return next, false, nil, nil
	}
	for _, u := range pc.Flows {
		if _, ok := next.Satisfied[u.key()]; !ok {
			return next, false, nil, nil
		}
	}
	ends = next.Satisfied
	if pc.ResetOnSuccess {
		next.Satisfied = map[string]Satisfaction{}
	} else {
		ends = maps.Clone(ends)
	}
	return next, true, ends, nil
}

// PreconditionVars returns the trigger variables of a firing with
// preconditions: those of the upstream end that completed the set, and
// `trigger.executions` with every satisfying end by namespace/flowId.
func PreconditionVars(up Upstream, ends map[string]Satisfaction) map[string]any {
	vars := up.Vars()
	all := map[string]any{}
	for k, s := range ends {
		out := s.Outputs
		if out == nil {
			out = map[string]any{}
		}
		all[k] = map[string]any{"executionId": s.ExecutionID, "state": s.State, "date": s.Date.UTC().Format(time.RFC3339Nano), "outputs": out}
	}
	vars["executions"] = all
	return vars
}

// PreconditionCause is the cause of a firing with preconditions: the
// upstream execution that completed the set.
func PreconditionCause(up Upstream) string { return "preconditions\x00" + up.ExecutionID }

// holds reports whether an end at `then` still counts at `at`.
func (w Window) holds(then, at time.Time) bool {
	switch w.Type {
	case SlidingWindow:
		return !then.Before(at.Add(-w.Length)) && !then.After(at)
	case DailyTimeWindow, DailyTimeDeadline:
		return sameDay(then, at)
	default: // DURATION_WINDOW: the same fixed window
		return w.start(then).Equal(w.start(at))
	}
}

// admits reports whether an end at `at` counts at all.
func (w Window) admits(at time.Time) bool {
	tod := at.UTC().Sub(at.UTC().Truncate(24 * time.Hour))
	switch w.Type {
	case DailyTimeWindow:
		return tod >= w.Start && tod <= w.End
	case DailyTimeDeadline:
		return tod <= w.Deadline
	}
	return true
}

// start returns the start of the fixed duration window holding t: windows
// of Length, from the Unix epoch shifted by Advance.
func (w Window) start(t time.Time) time.Time {
	base := time.Unix(0, 0).UTC().Add(w.Advance)
	n := t.Sub(base) / w.Length
	if t.Before(base.Add(n * w.Length)) {
		n--
	}
	return base.Add(n * w.Length)
}

func sameDay(a, b time.Time) bool {
	ay, am, ad := a.UTC().Date()
	by, bm, bd := b.UTC().Date()
	return ay == by && am == bm && ad == bd
}

// where applies the `where` filter groups to an upstream end.
func (pc *Preconditions) where(up Upstream, now time.Time) (bool, error) {
	for _, g := range pc.Where {
		any, all := false, true
		for _, f := range g.Filters {
			ok, err := f.match(up, now)
			if err != nil {
				return false, fmt.Errorf("preconditions of %s, filter group %s: %w", pc.triggerKey, g.ID, err)
			}
			any = any || ok
			all = all && ok
		}
		if g.Or && !any || !g.Or && !all {
			return false, nil
		}
	}
	return true, nil
}

func (f WhereFilter) match(up Upstream, now time.Time) (bool, error) {
	var field any
	switch f.Field {
	case "NAMESPACE":
		field = up.Namespace
	case "FLOW_ID":
		field = up.FlowID
	case "STATE":
		field = string(up.State)
	case "EXPRESSION":
		v, err := f.Value.Render(env(up.Vars(), now))
		if err != nil {
			return false, err
		}
		field = v
	}
	s := expr.Stringify(field)
	val := f.Value.String()
	switch f.Type {
	case "EQUAL_TO":
		return s == val, nil
	case "NOT_EQUAL_TO":
		return s != val, nil
	case "IN":
		return slices.Contains(f.Values, s), nil
	case "NOT_IN":
		return !slices.Contains(f.Values, s), nil
	case "STARTS_WITH", "PREFIX":
		return strings.HasPrefix(s, val), nil
	case "ENDS_WITH":
		return strings.HasSuffix(s, val), nil
	case "CONTAINS":
		return strings.Contains(s, val), nil
	case "REGEX":
		return f.re.MatchString(s), nil
	case "IS_TRUE":
		return expr.Truthy(field), nil
	case "IS_FALSE":
		return !expr.Truthy(field), nil
	case "IS_NULL":
		return field == nil, nil
	case "IS_NOT_NULL":
		return field != nil, nil
	}
	return false, fmt.Errorf("filter type %s is not supported", f.Type)
}
