package firing

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relayflow/relay/triggers"
)

// every5 starts every five minutes, with the schedule time as an input.
var every5 = flowYAML("team", "s", "  - {id: when, type: STRING, required: false}\n", `  - id: every-5
    type: schedule
    cron: "*/5 * * * *"
    inputs:
      when: "{{ trigger.date }}"
`)

func newScheduler(t *testing.T, st Store, c *clock) (*Scheduler, *recorder) {
	t.Helper()
	rec := newRecorder(t)
	return NewScheduler(SchedulerConfig{Store: st, Bus: rec, Now: c.Now}), rec
}

func tick(t *testing.T, s *Scheduler) int {
	t.Helper()
	n, err := s.Tick(t.Context())
	if err != nil {
		t.Fatalf("Tick: %v", err)
	}
	return n
}

// scheduleState returns a schedule's stored record.
func scheduleState(t *testing.T, st Store, key string) (scheduleEntry, time.Time) {
	t.Helper()
	r, err := st.Record(t.Context(), KindSchedule, key)
	if err != nil {
		t.Fatalf("schedule record %s: %v", key, err)
	}
	var e scheduleEntry
	if err := json.Unmarshal(r.Value, &e); err != nil {
		t.Fatal(err)
	}
	return e, r.Due
}

func dates(ps []published) []string {
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprint(p.Ev.Trigger["date"]))
	}
	return out
}

func TestSchedulerTicks(t *testing.T) {
	st := newStore(t)
	c := newClock(at(10, 0, 30))
	deploy(t, st, every5, c.Now())
	s, rec := newScheduler(t, st, c)
	half := 500 * time.Millisecond
	for _, step := range []struct {
		now  time.Time
		want []string // schedule times started
	}{
		{at(10, 4, 0), nil},
		{at(10, 4, 59), nil},
		{at(10, 5, 0).Add(half), []string{"2025-06-02T10:05:00Z"}},
		{at(10, 5, 0).Add(half), nil}, // the same tick again
		{at(10, 5, 1), nil},
		{at(10, 9, 59), nil},
		{at(10, 10, 0), []string{"2025-06-02T10:10:00Z"}}, // exactly on time
		// The scheduler was away for 12 minutes: the missed times start
		// (recoverMissedSchedules defaults to ALL), each once.
		{at(10, 22, 0), []string{"2025-06-02T10:15:00Z", "2025-06-02T10:20:00Z"}},
	} {
		c.Set(step.now)
		n := tick(t, s)
		got := rec.take()
		if n != len(got) || !slices.Equal(dates(got), step.want) {
			t.Fatalf("tick at %s: Tick returned %d, started %v; want %v", step.now.Format(time.RFC3339Nano), n, dates(got), step.want)
		}
		for _, p := range got {
			checkRequest(t, p)
			ev := p.Ev
			if ev.Origin == nil || ev.Origin.TriggerID != "every-5" || ev.Origin.Type != "schedule" || ev.Depth != 0 {
				t.Errorf("origin %+v, depth %d", ev.Origin, ev.Depth)
			}
			date, _ := time.Parse(time.RFC3339, ev.Trigger["date"].(string))
			if ev.Trigger["next"] != date.Add(5*time.Minute).Format(time.RFC3339) || ev.Trigger["previous"] != date.Add(-5*time.Minute).Format(time.RFC3339) {
				t.Errorf("trigger %v", ev.Trigger)
			}
			if ev.Inputs["when"] != ev.Trigger["date"] {
				t.Errorf("inputs %v", ev.Inputs)
			}
			if want := triggers.ExecutionID("team/s/every-5", triggers.ScheduleCause(date)); ev.ExecutionID != want {
				t.Errorf("execution id %s, want %s", ev.ExecutionID, want)
			}
		}
	}
	e, due := scheduleState(t, st, "team/s/every-5")
	if !e.Cursor.Equal(at(10, 20, 0)) || !e.Last.Equal(at(10, 20, 0)) || !due.Equal(at(10, 25, 0)) || e.Revision != 1 {
		t.Errorf("stored schedule %+v due %s", e, due)
	}
}

func TestSchedulersTogether(t *testing.T) {
	// Schedulers on the same store ticking at the same time start each
	// schedule time once in terms of execution ids, and the stored schedule
	// moves on.
	for _, tc := range []struct {
		name       string
		schedulers int
		concurrent bool
	}{
		{"two, one after the other", 2, false},
		{"two at once", 2, true},
		{"eight at once", 8, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore(t)
			c := newClock(at(10, 0, 30))
			deploy(t, st, every5, c.Now())
			rec := newRecorder(t)
			var ss []*Scheduler
			for range tc.schedulers {
				ss = append(ss, NewScheduler(SchedulerConfig{Store: st, Bus: rec, Now: c.Now}))
			}
			runAll := func() int {
				var (
					wg    sync.WaitGroup
					mu    sync.Mutex
					total int
				)
				for _, s := range ss {
					run := func() {
						n, err := s.Tick(t.Context())
						if err != nil {
							t.Errorf("Tick: %v", err)
						}
						mu.Lock()
						total += n
						mu.Unlock()
					}
					if tc.concurrent {
						wg.Go(run)
					} else {
						run()
					}
				}
				wg.Wait()
				return total
			}
			runAll() // first sight: planned from now
			for _, now := range []time.Time{at(10, 5, 0).Add(time.Millisecond), at(10, 10, 0).Add(time.Millisecond), at(10, 21, 0)} {
				c.Set(now)
				total := runAll()
				got := rec.take()
				ids := map[string]bool{}
				for _, p := range got {
					checkRequest(t, p)
					ids[p.Ev.ExecutionID] = true
				}
				want := 1
				if now.Equal(at(10, 21, 0)) {
					want = 2 // 10:15 and 10:20
				}
				if len(ids) != want || total != len(got) || total < want || total > want*tc.schedulers {
					t.Fatalf("at %s: %d requests (Tick said %d), %d distinct; want %d distinct", now.Format(time.TimeOnly), len(got), total, len(ids), want)
				}
				// Once stored, a tick at the same time starts nothing.
				if n := runAll(); n != 0 {
					t.Fatalf("at %s again: started %d", now.Format(time.TimeOnly), n)
				}
				rec.take()
			}
			e, due := scheduleState(t, st, "team/s/every-5")
			if !e.Cursor.Equal(at(10, 20, 0)) || !due.Equal(at(10, 25, 0)) {
				t.Errorf("stored schedule %+v due %s", e, due)
			}
		})
	}
}

func TestSchedulerBackfill(t *testing.T) {
	deployAt := at(10, 0, 30)
	for _, tc := range []struct {
		name, extra string
		want        []string // hh:mm of the schedule times started by the first tick(s)
	}{
		{"from 2 hours before, on the hour", "    backfill:\n      start: 2025-06-02T08:00:00Z\n",
			[]string{"08:00", "09:00", "10:00"}},
		{"from 2 hours before, off the hour", "    backfill:\n      start: 2025-06-02T08:00:30Z\n",
			[]string{"09:00", "10:00"}},
		{"from 2 hours before, a local date", "    timezone: Europe/Paris\n    backfill:\n      start: \"2025-06-02T10:00:00\"\n", // 08:00Z
			[]string{"08:00", "09:00", "10:00"}},
		{"with an end, ALL after it", "    backfill:\n      start: 2025-06-02T06:00:00Z\n      end: 2025-06-02T08:00:00Z\n",
			[]string{"06:00", "07:00", "08:00", "09:00", "10:00"}},
		{"with an end, NONE after it", "    recoverMissedSchedules: NONE\n    backfill:\n      start: 2025-06-02T06:00:00Z\n      end: 2025-06-02T08:00:00Z\n",
			[]string{"06:00", "07:00", "08:00", "10:00"}},
		{"starting in the future", "    backfill:\n      start: 2025-06-03T00:00:00Z\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore(t)
			c := newClock(deployAt)
			deploy(t, st, flowYAML("team", "h", "", "  - id: hourly\n    type: schedule\n    cron: \"0 * * * *\"\n"+tc.extra), deployAt)
			s, rec := newScheduler(t, st, c)
			tick(t, s)
			var got []string
			ids := map[string]bool{}
			for _, p := range rec.take() {
				checkRequest(t, p)
				d, _ := time.Parse(time.RFC3339, p.Ev.Trigger["date"].(string))
				got = append(got, d.UTC().Format("15:04"))
				ids[p.Ev.ExecutionID] = true
			}
			if !slices.Equal(got, tc.want) || len(ids) != len(got) {
				t.Fatalf("started %v (%d distinct ids), want %v", got, len(ids), tc.want)
			}
			if n := tick(t, s); n != 0 {
				t.Errorf("a second tick started %d more", n)
			}
			c.Set(at(11, 0, 0))
			if n := tick(t, s); n != 1 {
				t.Errorf("at 11:00: started %d, want 1", n)
			}
		})
	}
}

func TestSchedulerLongBackfillGoesOnNextTicks(t *testing.T) {
	// 121 minutes to backfill, at most maxFiresPerTick per tick.
	st := newStore(t)
	now := at(10, 0, 30)
	c := newClock(now)
	deploy(t, st, flowYAML("team", "m", "", "  - id: minutely\n    type: schedule\n    cron: \"* * * * *\"\n    backfill:\n      start: 2025-06-02T08:00:00Z\n"), now)
	s, rec := newScheduler(t, st, c)
	var per []int
	for range 4 {
		per = append(per, tick(t, s))
	}
	if !slices.Equal(per, []int{maxFiresPerTick, 121 - maxFiresPerTick, 0, 0}) {
		t.Fatalf("ticks started %v", per)
	}
	ids := map[string]bool{}
	for _, p := range rec.take() {
		ids[p.Ev.ExecutionID] = true
	}
	if len(ids) != 121 {
		t.Fatalf("%d distinct executions, want 121", len(ids))
	}
}

func TestSchedulerRedeployKeepsCursor(t *testing.T) {
	st := newStore(t)
	c := newClock(at(10, 0, 30))
	deploy(t, st, every5, c.Now())
	s, rec := newScheduler(t, st, c)
	tick(t, s)
	c.Set(at(10, 5, 0).Add(time.Millisecond))
	if n := tick(t, s); n != 1 {
		t.Fatalf("10:05: started %d", n)
	}
	rec.take()

	// Revision 2 every minute, deployed at 10:05:30: 10:00 to 10:05 are
	// not started again, 10:06 is next.
	c.Set(at(10, 5, 30))
	deploy(t, st, strings.Replace(every5, `"*/5 * * * *"`, `"* * * * *"`, 1), c.Now())
	e, due := scheduleState(t, st, "team/s/every-5")
	if e.Revision != 2 || !e.Cursor.Equal(at(10, 5, 0)) || !due.Equal(at(10, 6, 0)) {
		t.Fatalf("after the redeployment: %+v due %s", e, due)
	}
	if info := listInfo(t, st, c.Now(), "team", "s", "every-5"); !info.Next.Equal(at(10, 6, 0)) || info.On != "* * * * *" || info.Revision != 2 {
		t.Errorf("List: %+v", info)
	}
	if n := tick(t, s); n != 0 {
		t.Fatalf("10:05:30: started %v again", dates(rec.take()))
	}
	c.Set(at(10, 6, 0).Add(time.Millisecond))
	tick(t, s)
	if got := dates(rec.take()); !slices.Equal(got, []string{"2025-06-02T10:06:00Z"}) {
		t.Fatalf("10:06: started %v", got)
	}

	// Revision 3 every ten minutes: next at 10:10.
	c.Set(at(10, 6, 30))
	deploy(t, st, strings.Replace(every5, `"*/5 * * * *"`, `"*/10 * * * *"`, 1), c.Now())
	for _, step := range []struct {
		now  time.Time
		want []string
	}{
		{at(10, 6, 30), nil},
		{at(10, 9, 59), nil},
		{at(10, 10, 0), []string{"2025-06-02T10:10:00Z"}},
		{at(10, 15, 0), nil},
		{at(10, 20, 0), []string{"2025-06-02T10:20:00Z"}},
	} {
		c.Set(step.now)
		tick(t, s)
		if got := dates(rec.take()); !slices.Equal(got, step.want) {
			t.Fatalf("%s: started %v, want %v", step.now.Format(time.TimeOnly), got, step.want)
		}
	}

	// Deploying the same revision again (same source) changes nothing.
	before, beforeDue := scheduleState(t, st, "team/s/every-5")
	deploy(t, st, strings.Replace(every5, `"*/5 * * * *"`, `"*/10 * * * *"`, 1), at(10, 21, 0))
	after, afterDue := scheduleState(t, st, "team/s/every-5")
	if after != before || !afterDue.Equal(beforeDue) {
		t.Errorf("indexing the same revision again: %+v due %s, was %+v due %s", after, afterDue, before, beforeDue)
	}
}

func TestSchedulerRemovedOrDisabled(t *testing.T) {
	for _, tc := range []struct{ name, source string }{
		{"trigger removed", flowYAML("team", "s", "  - {id: when, type: STRING, required: false}\n", "")},
		{"trigger disabled", strings.Replace(every5, "    type: schedule\n", "    type: schedule\n    disabled: true\n", 1)},
		{"trigger renamed", strings.Replace(every5, "id: every-5", "id: every-five", 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore(t)
			c := newClock(at(10, 0, 30))
			deploy(t, st, every5, c.Now())
			s, rec := newScheduler(t, st, c)
			tick(t, s)
			deploy(t, st, tc.source, c.Now())
			if _, err := st.Record(t.Context(), KindSchedule, "team/s/every-5"); err == nil {
				t.Error("the schedule's record is still there")
			}
			due, err := st.DueRecords(t.Context(), KindSchedule, at(23, 0, 0), 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range due {
				if r.Key == "team/s/every-5" {
					t.Errorf("due records still hold %s", r.Key)
				}
			}
			c.Set(at(10, 5, 0))
			tick(t, s)
			for _, p := range rec.take() {
				if p.Ev.Origin.TriggerID == "every-5" {
					t.Errorf("the removed schedule started %v", p.Ev.Trigger["date"])
				}
			}
		})
	}
}

func TestSchedulerRemovesOrphanSchedule(t *testing.T) {
	// A schedule record whose flow is gone (Index did not get to remove
	// it) is removed by the scheduler, which starts nothing for it.
	st := newStore(t)
	c := newClock(t0)
	r := engineRecord(KindSchedule, "team/gone/s", `{"revision":1}`)
	r.Due = t0
	if _, err := st.PutRecord(t.Context(), r, 0); err != nil {
		t.Fatal(err)
	}
	s, rec := newScheduler(t, st, c)
	if n := tick(t, s); n != 0 {
		t.Fatalf("started %d", n)
	}
	if keys := recordKeys(t, st, KindSchedule); len(keys) != 0 {
		t.Errorf("schedule records %v, want none", keys)
	}
	if got := rec.all(); len(got) != 0 {
		t.Errorf("started %v", flowsOf(got))
	}
}

func TestSchedulerBusFailureRepeatsTheTime(t *testing.T) {
	// Requests are published before the schedule moves on: a bus failure
	// leaves the time due, and the next tick requests the same execution.
	st := newStore(t)
	c := newClock(at(10, 0, 30))
	deploy(t, st, every5, c.Now())
	s, rec := newScheduler(t, st, c)
	tick(t, s)
	c.Set(at(10, 5, 1))
	rec.err = errBus
	if _, err := s.Tick(t.Context()); err == nil || !strings.Contains(err.Error(), errBus.Error()) {
		t.Fatalf("Tick with the bus down: %v", err)
	}
	if e, _ := scheduleState(t, st, "team/s/every-5"); !e.Cursor.Before(at(10, 5, 0)) {
		t.Fatalf("the schedule moved on although nothing was published: %+v", e)
	}
	rec.err = nil
	c.Set(at(10, 5, 30))
	if n := tick(t, s); n != 1 {
		t.Fatalf("after the bus is back: started %d", n)
	}
	want := triggers.ExecutionID("team/s/every-5", triggers.ScheduleCause(at(10, 5, 0)))
	if got := rec.take(); len(got) != 1 || got[0].Ev.ExecutionID != want {
		t.Fatalf("requests %v", got)
	}
}

func TestSchedulerManySchedules(t *testing.T) {
	// More due schedules than one read of DueRecords returns (100): one
	// tick still starts them all.
	st := newStore(t)
	c := newClock(at(10, 0, 30))
	const n = 130
	for i := range n {
		deploy(t, st, flowYAML("many", fmt.Sprintf("f%03d", i), "", "  - id: s\n    type: schedule\n    cron: \"*/5 * * * *\"\n"), c.Now())
	}
	s, rec := newScheduler(t, st, c)
	tick(t, s)
	c.Set(at(10, 5, 0))
	if got := tick(t, s); got != n {
		t.Fatalf("started %d, want %d", got, n)
	}
	if got := len(rec.take()); got != n {
		t.Fatalf("%d requests", got)
	}
	if got := tick(t, s); got != 0 {
		t.Fatalf("again: %d", got)
	}
}
