package triggers

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func scheduleTrigger(t *testing.T, extra string) *Trigger {
	t.Helper()
	return one(t, "  - id: s\n    type: io.kestra.plugin.core.trigger.Schedule\n"+extra)
}

// simulate runs a scheduler that ticks every `tick` from `from` to `to` on
// a simulated clock, storing the state between ticks as the runtime does,
// and returns the schedule times it started executions for, as RFC 3339
// instants in UTC.
func simulate(t *testing.T, s *Schedule, st ScheduleState, from, to time.Time, tick time.Duration) ([]string, ScheduleState) {
	t.Helper()
	var got []string
	due := from
	for now := from; !now.After(to); now = now.Add(tick) {
		if now.Before(due) {
			continue // the scheduler only looks at triggers that are due
		}
		var fires []Fire
		fires, st, due = s.Plan(st, now, 90*time.Second, 100)
		for _, f := range fires {
			if f.Date.After(now) {
				t.Fatalf("at %s: fired %s, in the future", now, f.Date)
			}
			got = append(got, f.Date.UTC().Format(time.RFC3339))
		}
		if due.IsZero() {
			break
		}
	}
	return got, st
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestScheduleDaylightSaving(t *testing.T) {
	for _, tc := range []struct {
		name, cron, zone, from, to string
		want                       []string // instants, UTC
		wantCount                  int
	}{
		// New York springs forward on 2025-03-09 at 02:00 EST: 02:30 does
		// not exist that day and runs at 03:00 EDT (07:00Z).
		{"daily in the spring gap", "30 2 * * *", "America/New_York", "2025-03-08T00:00:00Z", "2025-03-11T00:00:00Z",
			[]string{"2025-03-08T07:30:00Z", "2025-03-09T07:00:00Z", "2025-03-10T06:30:00Z"}, 0},
		// It falls back on 2025-11-02 at 02:00 EDT: 01:30 happens twice and
		// runs once, at its first occurrence (EDT, 05:30Z).
		{"daily in the repeated hour", "30 1 * * *", "America/New_York", "2025-11-01T00:00:00Z", "2025-11-04T00:00:00Z",
			[]string{"2025-11-01T05:30:00Z", "2025-11-02T05:30:00Z", "2025-11-03T06:30:00Z"}, 0},
		{"daily away from the change", "0 9 * * *", "Europe/Berlin", "2025-03-29T00:00:00Z", "2025-04-01T00:00:00Z",
			[]string{"2025-03-29T08:00:00Z", "2025-03-30T07:00:00Z", "2025-03-31T07:00:00Z"}, 0},
		// Hourly on the local day of each change: 23 runs in spring (02:00
		// does not exist and 03:00 runs once), 24 in autumn (the repeated
		// 01:00 runs once).
		{"hourly, spring day", "0 * * * *", "America/New_York", "2025-03-09T05:00:00Z", "2025-03-10T03:59:00Z", nil, 23},
		{"hourly, autumn day", "0 * * * *", "America/New_York", "2025-11-02T04:00:00Z", "2025-11-03T04:59:00Z", nil, 24},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := scheduleTrigger(t, fmt.Sprintf("    cron: %q\n    timezone: %s\n", tc.cron, tc.zone))
			from := utc(tc.from)
			// The trigger was deployed a minute before the period.
			_, st, _ := tr.Schedule.Plan(ScheduleState{}, from.Add(-time.Minute), 90*time.Second, 100)
			got, _ := simulate(t, tr.Schedule, st, from, utc(tc.to), time.Minute)
			if tc.want != nil && strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("fired at\n %s\nwant\n %s", strings.Join(got, " "), strings.Join(tc.want, " "))
			}
			if tc.wantCount != 0 && len(got) != tc.wantCount {
				t.Fatalf("fired %d times, want %d: %s", len(got), tc.wantCount, got)
			}
			seen := map[string]bool{}
			for _, g := range got {
				if seen[g] {
					t.Fatalf("fired twice at %s", g)
				}
				seen[g] = true
			}
		})
	}
}

func TestScheduleFirstSightAndBackfill(t *testing.T) {
	now := utc("2024-01-05T12:00:00Z")
	plan := func(extra string) ([]string, time.Time) {
		tr := scheduleTrigger(t, "    cron: \"@daily\"\n"+extra)
		fires, _, due := tr.Schedule.Plan(ScheduleState{}, now, time.Minute, 100)
		var got []string
		for _, f := range fires {
			got = append(got, f.Date.UTC().Format("01-02"))
		}
		return got, due
	}
	got, due := plan("")
	if len(got) != 0 || !due.Equal(utc("2024-01-06T00:00:00Z")) {
		t.Errorf("no backfill: fired %v, next %s; want nothing before the deployment, next 2024-01-06", got, due)
	}
	got, _ = plan("    backfill:\n      start: 2024-01-01T00:00:00Z\n")
	if strings.Join(got, " ") != "01-01 01-02 01-03 01-04 01-05" {
		t.Errorf("backfill: fired %v", got)
	}
	// Past the backfill's end, the recovery policy decides.
	got, _ = plan("    recoverMissedSchedules: NONE\n    backfill:\n      start: 2024-01-01T00:00:00Z\n      end: 2024-01-03T00:00:00Z\n")
	if strings.Join(got, " ") != "01-01 01-02 01-03" {
		t.Errorf("backfill with an end, NONE after it: fired %v", got)
	}
	// Kestra's older property names and a local date in the time zone.
	got, _ = plan("    timezone: Europe/Paris\n    backfill:\n      startDate: \"2024-01-04T00:00:00\"\n")
	if strings.Join(got, " ") != "01-03 01-04" { // Paris midnight is 23:00Z the day before
		t.Errorf("backfill in Europe/Paris: fired %v", got)
	}
}

func TestScheduleRecoverMissed(t *testing.T) {
	last := utc("2024-01-01T00:00:00Z")
	for _, tc := range []struct {
		policy, now, want string
	}{
		// The scheduler stopped after 01-01 and is back 30 s after 01-05's
		// time: 01-02 to 01-04 were missed, 01-05 is on time.
		{"ALL", "2024-01-05T00:00:30Z", "01-02 01-03 01-04 01-05"},
		{"LAST", "2024-01-05T00:00:30Z", "01-04 01-05"},
		{"NONE", "2024-01-05T00:00:30Z", "01-05"},
		// Back at 06:00: 01-05 was missed too.
		{"ALL", "2024-01-05T06:00:00Z", "01-02 01-03 01-04 01-05"},
		{"LAST", "2024-01-05T06:00:00Z", "01-05"},
		{"NONE", "2024-01-05T06:00:00Z", ""},
	} {
		t.Run(tc.policy+" at "+tc.now, func(t *testing.T) {
			tr := scheduleTrigger(t, "    cron: \"0 0 * * *\"\n    recoverMissedSchedules: "+tc.policy+"\n")
			fires, st, due := tr.Schedule.Plan(ScheduleState{Cursor: last, Last: last}, utc(tc.now), time.Minute, 100)
			var got []string
			for _, f := range fires {
				got = append(got, f.Date.Format("01-02"))
			}
			if strings.Join(got, " ") != tc.want {
				t.Fatalf("fired %q, want %q", strings.Join(got, " "), tc.want)
			}
			if !st.Cursor.Equal(utc("2024-01-05T00:00:00Z")) || !due.Equal(utc("2024-01-06T00:00:00Z")) {
				t.Fatalf("cursor %s, due %s; want every past time handled and 01-06 next", st.Cursor, due)
			}
		})
	}
}

func TestScheduleTwoSchedulers(t *testing.T) {
	// Two schedulers read the same stored state at the same time (or one
	// runs twice): they decide the same fires, whose execution ids are the
	// same, so the executor starts one execution per schedule time. The
	// store's conditional write then lets one of them save the state; the
	// other reads it again and finds nothing more to do.
	tr := scheduleTrigger(t, "    cron: \"*/5 * * * *\"\n")
	st := ScheduleState{Cursor: utc("2024-01-01T00:00:00Z")}
	now := utc("2024-01-01T00:10:00Z")
	a, stA, _ := tr.Schedule.Plan(st, now, time.Minute, 100)
	b, _, _ := tr.Schedule.Plan(st, now, time.Minute, 100)
	if len(a) != 2 || len(b) != 2 {
		t.Fatalf("fires %v and %v, want 2 each", a, b)
	}
	for i := range a {
		ia := ExecutionID(tr.Key(), ScheduleCause(a[i].Date))
		ib := ExecutionID(tr.Key(), ScheduleCause(b[i].Date))
		if ia != ib {
			t.Fatalf("fire %d: ids %s and %s differ", i, ia, ib)
		}
	}
	if again, _, _ := tr.Schedule.Plan(stA, now, time.Minute, 100); len(again) != 0 {
		t.Fatalf("after the winner's state was stored: fired %v again", again)
	}
	if ExecutionID(tr.Key(), ScheduleCause(a[0].Date)) == ExecutionID(tr.Key(), ScheduleCause(a[1].Date)) {
		t.Fatal("two schedule times share an execution id")
	}
}

func TestScheduleBoundsAndVars(t *testing.T) {
	tr := scheduleTrigger(t, "    cron: \"0 * * * *\"\n")
	st := ScheduleState{Cursor: utc("2024-01-01T00:00:00Z")}
	now := utc("2024-01-02T00:00:00Z")
	fires, st, due := tr.Schedule.Plan(st, now, time.Minute, 10)
	if len(fires) != 10 || !due.Equal(now) {
		t.Fatalf("capped plan: %d fires, due %s; want 10 and due now", len(fires), due)
	}
	total := len(fires)
	for due.Equal(now) {
		fires, st, due = tr.Schedule.Plan(st, now, time.Minute, 10)
		total += len(fires)
	}
	if total != 24 {
		t.Fatalf("%d fires in all, want 24", total)
	}
	f := tr.Schedule.fire(utc("2024-01-01T05:00:00Z"))
	vars := f.Vars()
	if vars["date"] != "2024-01-01T05:00:00Z" || vars["next"] != "2024-01-01T06:00:00Z" || vars["previous"] != "2024-01-01T04:00:00Z" {
		t.Errorf("vars %v", vars)
	}
	if fires, _, due := tr.Schedule.Plan(ScheduleState{Stopped: true}, now, time.Minute, 10); len(fires) != 0 || !due.IsZero() {
		t.Errorf("a stopped trigger: %d fires, due %s", len(fires), due)
	}
}
