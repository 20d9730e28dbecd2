package triggers

import (
	"fmt"
	"time"

	"github.com/relayflow/relay/statemachine/flow"
	"github.com/relayflow/relay/triggers/cron"
)

// Schedule is a compiled schedule trigger.
type Schedule struct {
	Cron     *cron.Schedule
	Location *time.Location
	// Backfill, when set, starts executions for the schedule times from
	// Start to End (or up to now when End is zero) when the trigger is
	// first seen, whatever RecoverMissed says.
	Backfill *Backfill
	// RecoverMissed says what to start for schedule times missed while no
	// scheduler ran: ALL, LAST or NONE.
	RecoverMissed string
}

// Backfill is a range of past schedule times to start executions for.
type Backfill struct {
	Start, End time.Time
}

// Recovery policies.
const (
	RecoverAll  = "ALL"
	RecoverLast = "LAST"
	RecoverNone = "NONE"
)

func compileSchedule(props map[string]*flow.Property) (*Schedule, flow.Pos, error) {
	c := props["cron"]
	withSeconds, _ := props["withSeconds"].Literal().(bool)
	cr, err := cron.Parse(c.String(), withSeconds)
	if err != nil {
		pos := c.Pos
		if ce, ok := err.(*cron.Error); ok {
			pos = c.PosOf(ce.Offset)
		}
		return nil, pos, fmt.Errorf("%s: %w", c.Path, err)
	}
	s := &Schedule{Cron: cr, Location: time.UTC, RecoverMissed: RecoverAll}
	if tz := props["timezone"]; tz != nil && tz.String() != "" {
		loc, err := time.LoadLocation(tz.String())
		if err != nil {
			return nil, tz.Pos, fmt.Errorf("%s: unknown time zone `%s` (use an IANA name such as Europe/Paris)", tz.Path, tz.String())
		}
		s.Location = loc
	}
	if r := props["recoverMissedSchedules"]; r != nil && r.String() != "" {
		s.RecoverMissed = r.String()
	}
	if b := props["backfill"]; b != nil {
		s.Backfill = &Backfill{}
		for _, f := range []struct {
			name string
			to   *time.Time
		}{{"start", &s.Backfill.Start}, {"end", &s.Backfill.End}} {
			p := b.Get(f.name)
			if p.String() == "" {
				continue
			}
			t, err := parseDate(p.String(), s.Location)
			if err != nil {
				return nil, p.Pos, fmt.Errorf("%s: %w", p.Path, err)
			}
			*f.to = t
		}
		if s.Backfill.Start.IsZero() {
			return nil, b.Pos, fmt.Errorf("%s: a backfill needs `start`", b.Path)
		}
		if !s.Backfill.End.IsZero() && s.Backfill.End.Before(s.Backfill.Start) {
			return nil, b.Pos, fmt.Errorf("%s: `end` is before `start`", b.Path)
		}
	}
	return s, flow.Pos{}, nil
}

// parseDate reads an ISO-8601 date-time; without an offset it is read in
// loc.
func parseDate(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("`%s` is not an ISO-8601 date-time (2024-01-31T10:00:00Z)", s)
}

// ScheduleState is what the scheduler remembers of a schedule trigger (a
// record of the trigger runtime).
type ScheduleState struct {
	// Cursor is the last schedule time handled: started, or skipped by
	// the recovery policy. Zero before the trigger was first seen.
	Cursor time.Time `json:"cursor,omitzero"`
	// Last is the last schedule time an execution was started for.
	Last time.Time `json:"last,omitzero"`
	// Stopped: stopAfter stopped the trigger.
	Stopped bool `json:"stopped,omitempty"`
}

// Fire is one schedule time to start an execution for.
type Fire struct {
	Date, Next, Previous time.Time
}

// Vars returns the trigger variables of the execution started for f.
func (f Fire) Vars() map[string]any {
	vars := map[string]any{"date": f.Date.Format(time.RFC3339Nano)}
	if !f.Next.IsZero() {
		vars["next"] = f.Next.Format(time.RFC3339Nano)
	}
	if !f.Previous.IsZero() {
		vars["previous"] = f.Previous.Format(time.RFC3339Nano)
	}
	return vars
}

// ScheduleCause is the cause of a schedule's execution: its schedule time.
func ScheduleCause(date time.Time) string {
	return "schedule\x00" + date.UTC().Format(time.RFC3339Nano)
}

// Plan decides which schedule times to start executions for at now. A
// schedule time is on time when it is at most missedAfter old; older ones
// were missed (no scheduler ran) and RecoverMissed decides: ALL starts
// them all, LAST the latest only, NONE none. Backfill times all start. At
// most max fires are returned; the cursor then stops at the last one and
// due is now, so the next call goes on. The returned state is the one to
// store; due is when to call Plan next (zero: never again).
//
// A trigger seen for the first time starts from its backfill, else from
// now: schedule times before it was deployed are not missed ones.
func (s *Schedule) Plan(st ScheduleState, now time.Time, missedAfter time.Duration, max int) (fires []Fire, next ScheduleState, due time.Time) {
	next = st
	if st.Stopped {
		return nil, next, time.Time{}
	}
	if next.Cursor.IsZero() {
		next.Cursor = now
		if s.Backfill != nil && s.Backfill.Start.Before(now) {
			next.Cursor = s.Backfill.Start.Add(-time.Nanosecond)
		}
	}
	add := func(t time.Time) {
		fires = append(fires, s.fire(t))
		next.Last, next.Cursor = t, t
	}
	cutoff := now.Add(-missedAfter)
	for len(fires) < max {
		t := s.Cron.Next(next.Cursor, s.Location)
		if t.IsZero() || t.After(now) {
			break
		}
		if s.inBackfill(t) || t.After(cutoff) || s.RecoverMissed == RecoverAll {
			add(t)
			continue
		}
		// t was missed and the policy is LAST or NONE: every time up to the
		// cutoff was missed too (a backfill without end covers them all),
		// so jump to the latest one instead of walking through them.
		last := s.Cron.Prev(cutoff.Add(time.Nanosecond), s.Location)
		if s.RecoverMissed == RecoverLast {
			add(last)
		} else {
			next.Cursor = last
		}
	}
	if len(fires) >= max {
		return fires, next, now
	}
	return fires, next, s.Cron.Next(next.Cursor, s.Location)
}

func (s *Schedule) inBackfill(t time.Time) bool {
	b := s.Backfill
	return b != nil && !t.Before(b.Start) && (b.End.IsZero() || !t.After(b.End))
}

func (s *Schedule) fire(t time.Time) Fire {
	return Fire{Date: t, Next: s.Cron.Next(t, s.Location), Previous: s.Cron.Prev(t, s.Location)}
}

// NextAfter returns the schedule's first time after t (zero: none).
func (s *Schedule) NextAfter(t time.Time) time.Time { return s.Cron.Next(t, s.Location) }
