package cron

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // hermetic time zones when the system has none
)

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("LoadLocation(%q): %v", name, err)
	}
	return loc
}

// render lists the set bits of mask within lo-hi as runs, e.g. "1-3,7".
func render(mask uint64, lo, hi int) string {
	var parts []string
	for v := lo; v <= hi; v++ {
		if mask&(1<<v) == 0 {
			continue
		}
		end := v
		for end+1 <= hi && mask&(1<<(end+1)) != 0 {
			end++
		}
		if end == v {
			parts = append(parts, strconv.Itoa(v))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", v, end))
		}
		v = end
	}
	return strings.Join(parts, ",")
}

// describe renders a schedule as second|minute|hour|dom|month|dow, with `*`
// for an unrestricted day field.
func describe(s *Schedule) string {
	dom, dow := render(s.dom, 1, 31), render(s.dow, 0, 6)
	if s.domStar {
		dom = "*"
	}
	if s.dowStar {
		dow = "*"
	}
	return strings.Join([]string{render(s.second, 0, 59), render(s.minute, 0, 59),
		render(s.hour, 0, 23), dom, render(s.month, 1, 12), dow}, "|")
}

func TestParse(t *testing.T) {
	tests := []struct {
		expr        string
		withSeconds bool
		want        string
	}{
		{"* * * * *", false, "0|0-59|0-23|*|1-12|*"},
		{"0 0 * * *", false, "0|0|0|*|1-12|*"},
		{"  0\t0 * * *  ", false, "0|0|0|*|1-12|*"},
		{"00 07 * * *", false, "0|0|7|*|1-12|*"},
		{"5,10-12 */6 1-31/10 JAN-mar,jul */2", false, "0|5,10-12|0,6,12,18|1,11,21,31|1-3,7|0,2,4,6"},
		{"0/15 5/7 ? * ?", false, "0|0,15,30,45|5,12,19|*|1-12|*"},
		{"*/15 9-17 * * MON-FRI", false, "0|0,15,30,45|9-17|*|1-12|1-5"},
		{"0 0 1,15 * 1", false, "0|0|0|1,15|1-12|1"},
		{"0 0 1-31 * *", false, "0|0|0|1-31|1-12|*"},
		{"0 0 * * 7", false, "0|0|0|*|1-12|0"},
		{"0 0 * * 0,7", false, "0|0|0|*|1-12|0"},
		{"0 0 * * 5-7", false, "0|0|0|*|1-12|0,5-6"},
		{"0 0 * * MON-SUN", false, "0|0|0|*|1-12|0-6"},
		{"0 0 * * sat-sun", false, "0|0|0|*|1-12|0,6"},
		{"0 0 * * sun,Sat", false, "0|0|0|*|1-12|0,6"},
		{"0 0 * * 1-5/2", false, "0|0|0|*|1-12|1,3,5"},
		{"0 0 * * 1/2", false, "0|0|0|*|1-12|1,3,5"},
		{"0 0 * * 7/2", false, "0|0|0|*|1-12|0"},
		{"0 0 * * */7", false, "0|0|0|*|1-12|0"},
		{"0 0 * Dec/1 *", false, "0|0|0|*|12|*"},
		{"*/60 * * * *", false, "0|0|0-23|*|1-12|*"},
		{"0 0 */31 * *", false, "0|0|0|1|1-12|*"},
		{"0 0 ? * Mon", false, "0|0|0|*|1-12|1"},
		{"*/10 * * * * *", true, "0,10,20,30,40,50|0-59|0-23|*|1-12|*"},
		{"30 0 12 1 1 ?", true, "30|0|12|1|1|*"},
		{"@yearly", false, "0|0|0|1|1|*"},
		{"@annually", false, "0|0|0|1|1|*"},
		{"@monthly", false, "0|0|0|1|1-12|*"},
		{"@weekly", false, "0|0|0|*|1-12|0"},
		{"@daily", false, "0|0|0|*|1-12|*"},
		{"@midnight", false, "0|0|0|*|1-12|*"},
		{" @hourly ", false, "0|0|0-23|*|1-12|*"},
		{"@Daily", true, "0|0|0|*|1-12|*"},
	}
	for _, tt := range tests {
		s, err := Parse(tt.expr, tt.withSeconds)
		if err != nil {
			t.Errorf("Parse(%q, %v): %v", tt.expr, tt.withSeconds, err)
			continue
		}
		if got := describe(s); got != tt.want {
			t.Errorf("Parse(%q, %v) = %s; want %s", tt.expr, tt.withSeconds, got, tt.want)
		}
		if got, want := s.String(), strings.TrimSpace(tt.expr); got != want {
			t.Errorf("Parse(%q).String() = %q; want %q", tt.expr, got, want)
		}
	}
}

const nick = "@yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly"

func TestParseErrors(t *testing.T) {
	tests := []struct {
		expr        string
		withSeconds bool
		field       string
		offset      int
		msg         string
	}{
		{"", false, "", 0, "empty cron expression; expected 5 fields (minute hour day-of-month month day-of-week) or a nickname: " + nick},
		{"   ", true, "", 3, "empty cron expression; expected 6 fields (second minute hour day-of-month month day-of-week) or a nickname: " + nick},
		{"* * * *", false, "", 7, "cron expression `* * * *` has 4 fields; expected 5 (minute hour day-of-month month day-of-week) or a nickname: " + nick},
		{"5", false, "", 1, "cron expression `5` has 1 field; expected 5 (minute hour day-of-month month day-of-week) or a nickname: " + nick},
		{"0 * * * * *", false, "", 10, "cron expression `0 * * * * *` has 6 fields; expected 5 (minute hour day-of-month month day-of-week) or a nickname: " + nick + " (a leading seconds field needs withSeconds)"},
		{"0 * * * * * *", false, "", 10, "cron expression `0 * * * * * *` has 7 fields; expected 5 (minute hour day-of-month month day-of-week) or a nickname: " + nick},
		{"0 * * * *", true, "", 9, "cron expression `0 * * * *` has 5 fields; expected 6 (second minute hour day-of-month month day-of-week) or a nickname: " + nick + " (withSeconds is set, so the first field is the second)"},
		{"@every 5m", false, "", 0, "unknown cron nickname `@every`; expected " + nick},
		{" @", false, "", 1, "unknown cron nickname `@`; expected " + nick},
		{"@daily 0", false, "", 7, "cron nickname `@daily` must stand alone; found `0` after it"},
		{"0 25 * * *", false, "hour", 2, "hour field `25`: 25 is out of range 0-23"},
		{"60 * * * *", false, "minute", 0, "minute field `60`: 60 is out of range 0-59"},
		{"60 * * * * *", true, "second", 0, "second field `60`: 60 is out of range 0-59"},
		{"0 60 * * * *", true, "minute", 2, "minute field `60`: 60 is out of range 0-59"},
		{"0 0 0 * *", false, "day-of-month", 4, "day-of-month field `0`: 0 is out of range 1-31"},
		{"0 0 1-32 * *", false, "day-of-month", 4, "day-of-month field `1-32`: 32 is out of range 1-31"},
		{"0 0 * 13 *", false, "month", 6, "month field `13`: 13 is out of range 1-12"},
		{"0 0 * * 8", false, "day-of-week", 8, "day-of-week field `8`: 8 is out of range 0-7"},
		{"  0 0 * *   1,9", false, "day-of-week", 12, "day-of-week field `1,9`: 9 is out of range 0-7"},
		{"99999999999 * * * *", false, "minute", 0, "minute field `99999999999`: 99999999999 is out of range 0-59"},
		{"x * * * *", false, "minute", 0, "minute field `x`: `x` is not a number"},
		{"+5 * * * *", false, "minute", 0, "minute field `+5`: `+5` is not a number"},
		{"0 0 * FOO *", false, "month", 6, "month field `FOO`: `FOO` is not a number or a month name (JAN-DEC)"},
		{"0 0 * * MON-FOO", false, "day-of-week", 8, "day-of-week field `MON-FOO`: `FOO` is not a number or a day name (SUN-SAT)"},
		{"0 0 * * MONDAY", false, "day-of-week", 8, "day-of-week field `MONDAY`: `MONDAY` is not a number or a day name (SUN-SAT)"},
		{"0 MON * * *", false, "hour", 2, "hour field `MON`: `MON` is a day name; day names belong in the day-of-week field"},
		{"0 0 * * JAN", false, "day-of-week", 8, "day-of-week field `JAN`: `JAN` is a month name; month names belong in the month field"},
		{"0 0 jul * *", false, "day-of-month", 4, "day-of-month field `jul`: `jul` is a month name; month names belong in the month field"},
		{"0 0 1,,2 * *", false, "day-of-month", 4, "day-of-month field `1,,2`: empty list element (check for a stray comma)"},
		{"0 0 1, * *", false, "day-of-month", 4, "day-of-month field `1,`: empty list element (check for a stray comma)"},
		{"0 ? * * *", false, "hour", 2, "hour field `?`: `?` is only allowed in the day-of-month and day-of-week fields"},
		{"0 0 * ? *", false, "month", 6, "month field `?`: `?` is only allowed in the day-of-month and day-of-week fields"},
		{"0 0 ?/2 * *", false, "day-of-month", 4, "day-of-month field `?/2`: `?` must stand alone (it means any day)"},
		{"0 0 * * 1,?", false, "day-of-week", 8, "day-of-week field `1,?`: `?` must stand alone (it means any day)"},
		{"*/0 * * * *", false, "minute", 0, "minute field `*/0`: step 0 is out of range 1-60"},
		{"*/61 * * * *", false, "minute", 0, "minute field `*/61`: step 61 is out of range 1-60"},
		{"0 */25 * * *", false, "hour", 2, "hour field `*/25`: step 25 is out of range 1-24"},
		{"0 0 * */13 *", false, "month", 4 + 2, "month field `*/13`: step 13 is out of range 1-12"},
		{"0 0 * * */8", false, "day-of-week", 8, "day-of-week field `*/8`: step 8 is out of range 1-7"},
		{"*/x * * * *", false, "minute", 0, "minute field `*/x`: step `x` is not a number"},
		{"*/ * * * *", false, "minute", 0, "minute field `*/`: `*/` is missing the step after `/`"},
		{"/5 * * * *", false, "minute", 0, "minute field `/5`: `/5` has nothing before `/`; write `*/5` to step through the whole range"},
		{"1/2/3 * * * *", false, "minute", 0, "minute field `1/2/3`: `1/2/3` has more than one `/`"},
		{"0 17-9 * * *", false, "hour", 2, "hour field `17-9`: range `17-9` runs backwards (17 > 9); ranges do not wrap around, use a list such as `17-23,0-9`"},
		{"0 0 * * FRI-TUE", false, "day-of-week", 8, "day-of-week field `FRI-TUE`: range `FRI-TUE` runs backwards (5 > 2); ranges do not wrap around, use a list such as `5-6,0-2`"},
		{"0 0 * * 5-0", false, "day-of-week", 8, "day-of-week field `5-0`: range `5-0` runs backwards (5 > 0); ranges do not wrap around, use a list such as `5-6,0-0`"},
		{"-5 * * * *", false, "minute", 0, "minute field `-5`: range `-5` is missing its start"},
		{"5- * * * *", false, "minute", 0, "minute field `5-`: range `5-` is missing its end"},
		{"1-2-3 * * * *", false, "minute", 0, "minute field `1-2-3`: `1-2-3` is not a valid range; write a range as `a-b`"},
		{"*-5 * * * *", false, "minute", 0, "minute field `*-5`: `*` cannot be part of a range in `*-5`"},
		{"1-* * * * *", false, "minute", 0, "minute field `1-*`: `*` cannot be part of a range in `1-*`"},
		{"0 0 L * *", false, "day-of-month", 4, "day-of-month field `L`: `L`: `L` (last day, Quartz syntax) is not supported"},
		{"0 0 LW * *", false, "day-of-month", 4, "day-of-month field `LW`: `LW`: `L` (last day, Quartz syntax) is not supported"},
		{"0 0 15W * *", false, "day-of-month", 4, "day-of-month field `15W`: `15W`: `W` (nearest weekday, Quartz syntax) is not supported"},
		{"0 0 * * 5L", false, "day-of-week", 8, "day-of-week field `5L`: `5L`: `L` (last day, Quartz syntax) is not supported"},
		{"0 0 * * 5#3", false, "day-of-week", 8, "day-of-week field `5#3`: `5#3`: `#` (nth weekday of the month, Quartz syntax) is not supported"},
	}
	for _, tt := range tests {
		s, err := Parse(tt.expr, tt.withSeconds)
		if err == nil {
			t.Errorf("Parse(%q, %v) = %s; want an error", tt.expr, tt.withSeconds, describe(s))
			continue
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("Parse(%q): error %T is not *Error", tt.expr, err)
			continue
		}
		if e.Field != tt.field || e.Offset != tt.offset || e.Msg != tt.msg || err.Error() != tt.msg {
			t.Errorf("Parse(%q, %v) error = {Field: %q, Offset: %d, Msg: %q};\nwant {Field: %q, Offset: %d, Msg: %q}",
				tt.expr, tt.withSeconds, e.Field, e.Offset, e.Msg, tt.field, tt.offset, tt.msg)
		}
	}
}

type seqTest struct {
	zone        string
	expr        string
	withSeconds bool
	from        string
	want        []string // RFC 3339 in zone; empty: no fire within 10 years
}

func runSeq(t *testing.T, tests []seqTest) {
	t.Helper()
	for _, tt := range tests {
		loc := mustLoad(t, tt.zone)
		s, err := Parse(tt.expr, tt.withSeconds)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.expr, err)
		}
		from, err := time.Parse(time.RFC3339Nano, tt.from)
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("%s %q from %s", tt.zone, tt.expr, tt.from)
		if len(tt.want) == 0 {
			if got := s.Next(from, loc); !got.IsZero() {
				t.Errorf("%s: Next = %s; want zero", name, got.Format(time.RFC3339))
			}
			if got := s.Prev(from, loc); !got.IsZero() {
				t.Errorf("%s: Prev = %s; want zero", name, got.Format(time.RFC3339))
			}
			continue
		}
		var got []string
		cur := from
		for range tt.want {
			cur = s.Next(cur, loc)
			if cur.Location() != loc {
				t.Errorf("%s: Next returned a time in %v; want %v", name, cur.Location(), loc)
			}
			got = append(got, cur.Format(time.RFC3339))
		}
		if strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("%s: Next sequence\n got  %v\n want %v", name, got, tt.want)
			continue
		}
		// Walk back with Prev.
		for i := len(tt.want) - 1; i > 0; i-- {
			at, _ := time.Parse(time.RFC3339, tt.want[i])
			if p := s.Prev(at, loc).Format(time.RFC3339); p != tt.want[i-1] {
				t.Errorf("%s: Prev(%s) = %s; want %s", name, tt.want[i], p, tt.want[i-1])
			}
		}
		first, _ := time.Parse(time.RFC3339, tt.want[0])
		if p := s.Prev(first, loc); p.After(from) {
			t.Errorf("%s: Prev(%s) = %s; want at or before %s", name, tt.want[0], p.Format(time.RFC3339), tt.from)
		}
	}
}

func TestNextUTC(t *testing.T) {
	runSeq(t, []seqTest{
		// 2025-01-03 is a Friday.
		{"UTC", "*/15 9-17 * * MON-FRI", false, "2025-01-03T17:40:00Z",
			[]string{"2025-01-03T17:45:00Z", "2025-01-06T09:00:00Z", "2025-01-06T09:15:00Z"}},
		{"UTC", "*/15 9-17 * * MON-FRI", false, "2025-01-03T08:59:59.999Z",
			[]string{"2025-01-03T09:00:00Z", "2025-01-03T09:15:00Z"}},
		// Day-of-month OR day-of-week: the 1st, the 15th and Mondays.
		{"UTC", "0 0 1,15 * 1", false, "2025-01-01T00:00:00Z",
			[]string{"2025-01-06T00:00:00Z", "2025-01-13T00:00:00Z", "2025-01-15T00:00:00Z",
				"2025-01-20T00:00:00Z", "2025-01-27T00:00:00Z", "2025-02-01T00:00:00Z", "2025-02-03T00:00:00Z"}},
		// Only one day field restricted: it alone counts.
		{"UTC", "0 0 ? * 1", false, "2025-01-01T00:00:00Z",
			[]string{"2025-01-06T00:00:00Z", "2025-01-13T00:00:00Z"}},
		{"UTC", "0 0 13 * *", false, "2025-01-01T00:00:00Z",
			[]string{"2025-01-13T00:00:00Z", "2025-02-13T00:00:00Z"}},
		// Friday the 13th is not "13 and Friday": it is 13 or Friday.
		{"UTC", "0 0 13 * FRI", false, "2025-01-01T00:00:00Z",
			[]string{"2025-01-03T00:00:00Z", "2025-01-10T00:00:00Z", "2025-01-13T00:00:00Z", "2025-01-17T00:00:00Z"}},
		{"UTC", "0 12 * * 7", false, "2025-01-01T00:00:00Z",
			[]string{"2025-01-05T12:00:00Z", "2025-01-12T12:00:00Z"}},
		{"UTC", "@hourly", false, "2025-01-01T10:20:00Z",
			[]string{"2025-01-01T11:00:00Z", "2025-01-01T12:00:00Z", "2025-01-01T13:00:00Z"}},
		{"UTC", "@hourly", false, "2025-01-01T10:00:00Z",
			[]string{"2025-01-01T11:00:00Z"}},
		{"UTC", "@weekly", false, "2025-01-01T00:00:00Z",
			[]string{"2025-01-05T00:00:00Z", "2025-01-12T00:00:00Z"}},
		{"UTC", "@monthly", false, "2024-12-31T23:59:59Z",
			[]string{"2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z"}},
		{"UTC", "@yearly", false, "2025-06-01T00:00:00Z",
			[]string{"2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"}},
		{"UTC", "*/10 * * * * *", true, "2025-01-01T00:00:55Z",
			[]string{"2025-01-01T00:01:00Z", "2025-01-01T00:01:10Z", "2025-01-01T00:01:20Z"}},
		{"UTC", "30 59 23 31 12 *", true, "2025-06-01T00:00:00Z",
			[]string{"2025-12-31T23:59:30Z", "2026-12-31T23:59:30Z"}},
		{"UTC", "@daily", true, "2025-01-01T00:00:00.5Z",
			[]string{"2025-01-02T00:00:00Z"}},
		// Leap day: 2028, 2032, and across the non-leap 2100.
		{"UTC", "0 0 29 2 *", false, "2025-01-01T00:00:00Z",
			[]string{"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}},
		{"UTC", "0 0 29 2 *", false, "2096-03-01T00:00:00Z",
			[]string{"2104-02-29T00:00:00Z"}},
		{"UTC", "0 0 31 * *", false, "2025-01-31T00:00:00Z",
			[]string{"2025-03-31T00:00:00Z", "2025-05-31T00:00:00Z", "2025-07-31T00:00:00Z", "2025-08-31T00:00:00Z"}},
		// Impossible dates.
		{"UTC", "0 0 30 2 *", false, "2025-01-01T00:00:00Z", nil},
		{"UTC", "0 0 31 4,6,9,11 *", false, "2025-01-01T00:00:00Z", nil},
		// A fixed non-UTC zone.
		{"Asia/Kolkata", "0 9 * * *", false, "2025-01-01T00:00:00Z",
			[]string{"2025-01-01T09:00:00+05:30", "2025-01-02T09:00:00+05:30"}},
	})
}

func TestDST(t *testing.T) {
	runSeq(t, []seqTest{
		// America/New_York: 2025-03-09 02:00 EST -> 03:00 EDT;
		// 2025-11-02 02:00 EDT -> 01:00 EST.
		{"America/New_York", "30 2 * * *", false, "2025-03-07T12:00:00-05:00",
			[]string{"2025-03-08T02:30:00-05:00", "2025-03-09T03:00:00-04:00", "2025-03-10T02:30:00-04:00"}},
		{"America/New_York", "30 2 * * *", false, "2025-10-31T12:00:00-04:00",
			[]string{"2025-11-01T02:30:00-04:00", "2025-11-02T02:30:00-05:00", "2025-11-03T02:30:00-05:00"}},
		{"America/New_York", "30 1 * * *", false, "2025-03-07T12:00:00-05:00",
			[]string{"2025-03-08T01:30:00-05:00", "2025-03-09T01:30:00-05:00", "2025-03-10T01:30:00-04:00"}},
		{"America/New_York", "30 1 * * *", false, "2025-10-31T12:00:00-04:00",
			[]string{"2025-11-01T01:30:00-04:00", "2025-11-02T01:30:00-04:00", "2025-11-03T01:30:00-05:00"}},
		{"America/New_York", "0 * * * *", false, "2025-03-09T00:30:00-05:00",
			[]string{"2025-03-09T01:00:00-05:00", "2025-03-09T03:00:00-04:00", "2025-03-09T04:00:00-04:00"}},
		{"America/New_York", "0 * * * *", false, "2025-11-02T00:30:00-04:00",
			[]string{"2025-11-02T01:00:00-04:00", "2025-11-02T02:00:00-05:00", "2025-11-02T03:00:00-05:00"}},
		{"America/New_York", "*/30 * * * *", false, "2025-03-09T00:45:00-05:00",
			[]string{"2025-03-09T01:00:00-05:00", "2025-03-09T01:30:00-05:00", "2025-03-09T03:00:00-04:00", "2025-03-09T03:30:00-04:00"}},
		{"America/New_York", "*/30 * * * *", false, "2025-11-02T00:45:00-04:00",
			[]string{"2025-11-02T01:00:00-04:00", "2025-11-02T01:30:00-04:00", "2025-11-02T02:00:00-05:00", "2025-11-02T02:30:00-05:00"}},
		// Inside the repeated hour, wall times already passed are skipped.
		{"America/New_York", "30 1 * * *", false, "2025-11-02T01:15:00-05:00",
			[]string{"2025-11-03T01:30:00-05:00"}},
		{"America/New_York", "0 * * * *", false, "2025-11-02T01:15:00-05:00",
			[]string{"2025-11-02T02:00:00-05:00"}},
		{"America/New_York", "*/10 * * * * *", true, "2025-11-02T01:59:55-04:00",
			[]string{"2025-11-02T02:00:00-05:00", "2025-11-02T02:00:10-05:00"}},
		{"America/New_York", "*/10 * * * * *", true, "2025-03-09T01:59:55-05:00",
			[]string{"2025-03-09T03:00:00-04:00", "2025-03-09T03:00:10-04:00"}},

		// Europe/Berlin: 2025-03-30 02:00 CET -> 03:00 CEST;
		// 2025-10-26 03:00 CEST -> 02:00 CET.
		{"Europe/Berlin", "30 2 * * *", false, "2025-03-28T12:00:00+01:00",
			[]string{"2025-03-29T02:30:00+01:00", "2025-03-30T03:00:00+02:00", "2025-03-31T02:30:00+02:00"}},
		{"Europe/Berlin", "30 2 * * *", false, "2025-10-24T12:00:00+02:00",
			[]string{"2025-10-25T02:30:00+02:00", "2025-10-26T02:30:00+02:00", "2025-10-27T02:30:00+01:00"}},
		{"Europe/Berlin", "30 1 * * *", false, "2025-03-28T12:00:00+01:00",
			[]string{"2025-03-29T01:30:00+01:00", "2025-03-30T01:30:00+01:00", "2025-03-31T01:30:00+02:00"}},
		{"Europe/Berlin", "30 1 * * *", false, "2025-10-24T12:00:00+02:00",
			[]string{"2025-10-25T01:30:00+02:00", "2025-10-26T01:30:00+02:00", "2025-10-27T01:30:00+01:00"}},
		{"Europe/Berlin", "0 * * * *", false, "2025-03-30T00:30:00+01:00",
			[]string{"2025-03-30T01:00:00+01:00", "2025-03-30T03:00:00+02:00", "2025-03-30T04:00:00+02:00"}},
		{"Europe/Berlin", "0 * * * *", false, "2025-10-26T01:30:00+02:00",
			[]string{"2025-10-26T02:00:00+02:00", "2025-10-26T03:00:00+01:00", "2025-10-26T04:00:00+01:00"}},
		{"Europe/Berlin", "*/30 * * * *", false, "2025-03-30T01:15:00+01:00",
			[]string{"2025-03-30T01:30:00+01:00", "2025-03-30T03:00:00+02:00", "2025-03-30T03:30:00+02:00"}},
		{"Europe/Berlin", "*/30 * * * *", false, "2025-10-26T01:45:00+02:00",
			[]string{"2025-10-26T02:00:00+02:00", "2025-10-26T02:30:00+02:00", "2025-10-26T03:00:00+01:00", "2025-10-26T03:30:00+01:00"}},

		// Australia/Lord_Howe shifts by 30 minutes: 2025-04-06 02:00 +11 ->
		// 01:30 +10:30; 2025-10-05 02:00 +10:30 -> 02:30 +11.
		{"Australia/Lord_Howe", "*/30 * * * *", false, "2025-04-06T00:45:00+11:00",
			[]string{"2025-04-06T01:00:00+11:00", "2025-04-06T01:30:00+11:00", "2025-04-06T02:00:00+10:30", "2025-04-06T02:30:00+10:30"}},
		{"Australia/Lord_Howe", "45 1 * * *", false, "2025-04-04T12:00:00+11:00",
			[]string{"2025-04-05T01:45:00+11:00", "2025-04-06T01:45:00+11:00", "2025-04-07T01:45:00+10:30"}},
		{"Australia/Lord_Howe", "*/30 * * * *", false, "2025-10-05T01:15:00+10:30",
			[]string{"2025-10-05T01:30:00+10:30", "2025-10-05T02:30:00+11:00", "2025-10-05T03:00:00+11:00"}},
		{"Australia/Lord_Howe", "0 2 * * *", false, "2025-10-03T12:00:00+10:30",
			[]string{"2025-10-04T02:00:00+10:30", "2025-10-05T02:30:00+11:00", "2025-10-06T02:00:00+11:00"}},

		// America/Sao_Paulo (2018-11-04): clocks jumped from 00:00 to 01:00,
		// so midnight did not exist.
		{"America/Sao_Paulo", "@daily", false, "2018-11-02T12:00:00-03:00",
			[]string{"2018-11-03T00:00:00-03:00", "2018-11-04T01:00:00-02:00", "2018-11-05T00:00:00-02:00"}},
		// Pacific/Apia skipped 2011-12-30 entirely: its midnight and its
		// 12:00 both fire once, when 2011-12-31 begins.
		{"Pacific/Apia", "0 0,12 * * *", false, "2011-12-29T06:00:00-10:00",
			[]string{"2011-12-29T12:00:00-10:00", "2011-12-31T00:00:00+14:00", "2011-12-31T12:00:00+14:00"}},
	})
}

// matches reports whether the wall time w (a time in UTC) matches s.
func matches(s *Schedule, w time.Time) bool {
	return s.second&(1<<w.Second()) != 0 && s.minute&(1<<w.Minute()) != 0 &&
		s.hour&(1<<w.Hour()) != 0 && s.month&(1<<int(w.Month())) != 0 &&
		s.dayMatches(w.Day(), w.Weekday())
}

func wallOf(i time.Time, loc *time.Location) time.Time {
	l := i.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), 0, time.UTC)
}

// oracle computes the fire instants of a minute-resolution schedule in
// (a, b] by walking every minute: an instant fires when the wall clock
// newly reaches (for the first time) a matching wall time, including the
// wall times skipped by a forward jump.
func oracle(s *Schedule, loc *time.Location, a, b time.Time) []time.Time {
	var out []time.Time
	high := wallOf(a, loc)
	for i := a.Add(time.Minute); !i.After(b); i = i.Add(time.Minute) {
		w := wallOf(i, loc)
		if !w.After(high) {
			continue
		}
		for x := high.Add(time.Minute); !x.After(w); x = x.Add(time.Minute) {
			if matches(s, x) {
				out = append(out, i)
				break
			}
		}
		high = w
	}
	return out
}

var oracleZones = []string{
	"America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Pacific/Chatham",
	"America/Sao_Paulo", "America/Santiago", "Asia/Tehran", "Pacific/Apia",
	"America/St_Johns", "Europe/London", "Africa/Casablanca", "Asia/Kolkata",
}

// transitions returns the zone transitions of loc in [from, to).
func transitions(loc *time.Location, from, to time.Time) []time.Time {
	var out []time.Time
	for i := from; i.Before(to); {
		_, end := i.In(loc).ZoneBounds()
		if end.IsZero() || !end.Before(to) {
			break
		}
		out = append(out, end)
		i = end
	}
	return out
}

func randomExpr(r *rand.Rand, withSeconds bool) string {
	fields := []*field{minuteField, hourField, domField, monthField, dowField}
	if withSeconds {
		fields = append([]*field{secondField}, fields...)
	}
	var parts []string
	for _, f := range fields {
		parts = append(parts, randomField(r, f))
	}
	return strings.Join(parts, " ")
}

func randomValue(r *rand.Rand, f *field, lo, hi int) string {
	v := lo + r.IntN(hi-lo+1)
	if f.names != nil && v < len(f.names) && f.names[v] != "" && r.IntN(2) == 0 {
		name := f.names[v]
		if r.IntN(2) == 0 {
			name = strings.ToLower(name)
		}
		return name
	}
	return strconv.Itoa(v)
}

func randomField(r *rand.Rand, f *field) string {
	span := f.starMax - f.min + 1
	switch r.IntN(9) {
	case 0, 1:
		if f.day && r.IntN(3) == 0 {
			return "?"
		}
		return "*"
	case 2:
		return randomValue(r, f, f.min, f.max)
	case 3:
		a := f.min + r.IntN(span)
		b := a + r.IntN(f.starMax-a+1)
		return randomValue(r, f, a, a) + "-" + randomValue(r, f, b, b)
	case 4:
		return fmt.Sprintf("*/%d", 1+r.IntN(min(span, 15)))
	case 5:
		a := f.min + r.IntN(span)
		b := a + r.IntN(f.starMax-a+1)
		return fmt.Sprintf("%d-%d/%d", a, b, 1+r.IntN(span))
	case 6:
		return fmt.Sprintf("%s/%d", randomValue(r, f, f.min, f.starMax), 1+r.IntN(min(span, 10)))
	default:
		n := 2 + r.IntN(3)
		var vs []string
		for range n {
			vs = append(vs, randomValue(r, f, f.min, f.max))
		}
		return strings.Join(vs, ",")
	}
}

func TestOracleAroundTransitions(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	fixed := []string{
		"* * * * *", "*/30 * * * *", "0 * * * *", "30 2 * * *", "30 1 * * *", "0 0 * * *",
		"59 23 * * *", "*/7 * * * *", "15,45 0-3 * * *", "0 2 * * 0", "45 * * * *", "0,30 1-3 * * *",
	}
	from := time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC)
	to := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	checked := 0
	for _, zone := range oracleZones {
		loc := mustLoad(t, zone)
		trs := transitions(loc, from, to)
		r.Shuffle(len(trs), func(i, j int) { trs[i], trs[j] = trs[j], trs[i] })
		if len(trs) > 8 {
			trs = trs[:8]
		}
		if len(trs) == 0 {
			trs = []time.Time{time.Date(2025, 3, 30, 1, 0, 0, 0, time.UTC)}
		}
		if zone == "Pacific/Apia" {
			trs = append(trs, time.Date(2011, 12, 30, 10, 0, 0, 0, time.UTC))
		}
		for _, tr := range trs {
			exprs := append([]string(nil), fixed...)
			for range 8 {
				e := randomExpr(r, false)
				// Keep the date part loose so that something fires nearby.
				f := strings.Fields(e)
				f[2], f[3] = "*", "*"
				if r.IntN(2) == 0 {
					f[4] = "*"
				}
				exprs = append(exprs, strings.Join(f, " "))
			}
			a, b := tr.Add(-6*time.Hour), tr.Add(6*time.Hour)
			for _, expr := range exprs {
				s, err := Parse(expr, false)
				if err != nil {
					t.Fatalf("Parse(%q): %v", expr, err)
				}
				want := oracle(s, loc, a, b)
				var got []time.Time
				for f := s.Next(a, loc); !f.IsZero() && !f.After(b); f = s.Next(f, loc) {
					got = append(got, f)
				}
				var back []time.Time
				for f := s.Prev(b.Add(time.Nanosecond), loc); !f.IsZero() && f.After(a); f = s.Prev(f, loc) {
					back = append([]time.Time{f}, back...)
				}
				if !equalTimes(got, want) || !equalTimes(back, want) {
					t.Errorf("%s %q around %s:\n next   %v\n prev   %v\n oracle %v",
						zone, expr, tr.In(loc).Format(time.RFC3339), fmtTimes(got, loc), fmtTimes(back, loc), fmtTimes(want, loc))
				}
				checked++
			}
		}
	}
	t.Logf("%d schedules checked against the oracle", checked)
}

func equalTimes(a, b []time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}

func fmtTimes(ts []time.Time, loc *time.Location) []string {
	var out []string
	for _, x := range ts {
		out = append(out, x.In(loc).Format("01-02T15:04:05Z07:00"))
	}
	return out
}

// TestInverse checks, for random expressions, zones and instants, that fire
// instants strictly increase and that Next and Prev are inverses on them.
func TestInverse(t *testing.T) {
	r := rand.New(rand.NewPCG(42, 7))
	var locs []*time.Location
	for _, z := range append([]string{"UTC"}, oracleZones...) {
		locs = append(locs, mustLoad(t, z))
	}
	lo := time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	hi := time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	n := 3000
	if testing.Short() {
		n = 300
	}
	for range n {
		withSeconds := r.IntN(4) == 0
		expr := randomExpr(r, withSeconds)
		s, err := Parse(expr, withSeconds)
		if err != nil {
			t.Fatalf("Parse(%q): %v", expr, err)
		}
		loc := locs[r.IntN(len(locs))]
		at := time.Unix(lo+r.Int64N(hi-lo), 0)
		if r.IntN(2) == 0 {
			at = at.Add(time.Duration(r.Int64N(1e9)))
		}
		name := fmt.Sprintf("%q in %v at %s", expr, loc, at.In(loc).Format(time.RFC3339Nano))

		f := s.Next(at, loc)
		p := s.Prev(at, loc)
		if !f.IsZero() {
			if !f.After(at) {
				t.Fatalf("%s: Next = %s, not after", name, f)
			}
			// Prev(Next(t)) is the last fire at or before t: t itself or
			// Prev(t). (Either may be zero at the edge of the 10-year search.)
			if q := s.Prev(f, loc); !q.Equal(at) && !q.Equal(p) && !p.IsZero() && !q.IsZero() {
				t.Fatalf("%s: Prev(Next(t)) = %s; Prev(t) = %s", name, q, p)
			}
			g := s.Next(f, loc)
			if !g.IsZero() {
				if !g.After(f) {
					t.Fatalf("%s: Next(%s) = %s, not after", name, f, g)
				}
				if q := s.Prev(g, loc); !q.Equal(f) {
					t.Fatalf("%s: Prev(Next(f)) = %s; want f = %s", name, q, f)
				}
			}
			if q := s.Prev(f, loc); !q.IsZero() {
				if !q.Before(f) {
					t.Fatalf("%s: Prev(%s) = %s, not before", name, f, q)
				}
				if q.After(at) {
					t.Fatalf("%s: Prev(Next(t)) = %s after t", name, q)
				}
				if nf := s.Next(q, loc); !nf.Equal(f) {
					t.Fatalf("%s: Next(Prev(f)) = %s; want f = %s", name, nf, f)
				}
			}
		}
		if !p.IsZero() {
			if !p.Before(at) {
				t.Fatalf("%s: Prev = %s, not before", name, p)
			}
			if nf := s.Next(p, loc); nf.IsZero() || nf.Before(at) {
				t.Fatalf("%s: Next(Prev(t)) = %s; want at or after t", name, nf)
			}
		}
	}
}

func BenchmarkNext(b *testing.B) {
	ny := mustLoad(b, "America/New_York")
	for _, bc := range []struct {
		expr        string
		withSeconds bool
	}{
		{"*/15 9-17 * * MON-FRI", false},
		{"0 0 29 2 *", false},
		{"0 0 30 2 *", false},
		{"*/10 * * * * *", true},
		{"30 2 * * *", false},
	} {
		s, err := Parse(bc.expr, bc.withSeconds)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.expr, func(b *testing.B) {
			start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
			at := start
			for b.Loop() {
				at = s.Next(at, ny)
				if at.IsZero() {
					at = start
				}
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"* * * * *", "*/15 9-17 * * MON-FRI", "0 0 1,15 * 1", "@hourly", "@weekly",
		"*/10 * * * * *", "0 0 29 2 *", "0 0 30 2 *", "0/5 1-10/3 ? jan-MAR,dec sun-sat",
		"0 0 * * 7", "5-0 * * * *", "0 0 L * *", "", "@", "1,,2 * * * *",
	} {
		f.Add(seed, false, int64(1735689600))
		f.Add(seed, true, int64(1741503600))
	}
	locs := []*time.Location{time.UTC, mustLoad(f, "America/New_York"), mustLoad(f, "Australia/Lord_Howe")}
	f.Fuzz(func(t *testing.T, expr string, withSeconds bool, sec int64) {
		s, err := Parse(expr, withSeconds)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse(%q): error %T is not *Error", expr, err)
			}
			if e.Msg == "" || e.Offset < 0 || e.Offset > len(expr) {
				t.Fatalf("Parse(%q): bad error %+v", expr, e)
			}
			return
		}
		again, err := Parse(s.String(), withSeconds)
		if err != nil {
			t.Fatalf("Parse(%q).String() = %q does not re-parse: %v", expr, s.String(), err)
		}
		if *again != *s {
			t.Fatalf("Parse(%q) = %s; re-parsed %q = %s", expr, describe(s), s.String(), describe(again))
		}
		// Instants from 1970 to about 2100.
		at := time.Unix(1e9+sec%(4e9), 0)
		if sec < 0 {
			at = time.Unix(1e9-(-(sec+1))%(1e9), 0)
		}
		loc := locs[uint64(sec)%uint64(len(locs))]
		next := s.Next(at, loc)
		if !next.IsZero() {
			if !next.After(at) {
				t.Fatalf("%q: Next(%s) = %s, not after", expr, at, next)
			}
			if p := s.Prev(next, loc); !p.IsZero() && !s.Next(p, loc).Equal(next) {
				t.Fatalf("%q: Next(Prev(%s)) = %s", expr, next, s.Next(p, loc))
			}
		}
	})
}
