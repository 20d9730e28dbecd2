// Package cron parses cron expressions and computes their fire instants.
//
// # Syntax
//
// An expression has 5 fields (minute hour day-of-month month day-of-week),
// or 6 when parsed withSeconds (a leading second field), or is one of the
// nicknames @yearly (= @annually, "0 0 1 1 *"), @monthly ("0 0 1 * *"),
// @weekly ("0 0 * * 0"), @daily (= @midnight, "0 0 * * *") and @hourly
// ("0 * * * *"); nicknames fire at second 0 when parsed withSeconds.
// Fields are separated by white space. Each field is `*` or a
// comma-separated list of elements, where an element is a value `a`, a range
// `a-b`, or a stepped `*/n`, `a-b/n` or `a/n` (a to the field's maximum).
//
//	field         values
//	second        0-59
//	minute        0-59
//	hour          0-23
//	day-of-month  1-31, or ? (same as *)
//	month         1-12 or JAN-DEC
//	day-of-week   0-7 or SUN-SAT (0 and 7 are both Sunday), or ? (same as *)
//
// Names are case-insensitive and may be used in ranges. Ranges do not wrap
// around, except that SUN ending a day-of-week range is read as 7, so MON-SUN
// means Monday to Sunday. `*/n` and `a/n` in the day-of-week field stop at 6
// (Saturday). Quartz extensions (L, W, #) are not supported.
//
// Day-of-month and day-of-week combine as in Vixie cron: when both are
// restricted (neither is exactly `*` or `?`), a day matches if either field
// matches; otherwise only the restricted field counts. (Unlike Vixie cron, a
// stepped field such as `*/2` counts as restricted.) So "0 0 1,15 * 1" fires
// on the 1st, the 15th and every Monday.
//
// # Time zones and daylight saving time
//
// An expression matches wall-clock times in the location passed to
// [Schedule.Next] and [Schedule.Prev]. Each matching wall time W fires at the
// earliest instant at which the wall clock reads W or later:
//
//   - A wall time that does not exist because clocks jump forward (it falls
//     into the gap of a spring-forward change) fires at the first instant
//     after the gap, the instant of the change. Daily "30 2 * * *" fires at
//     03:00 EDT on 2025-03-09 in America/New_York.
//   - Several matching wall times in the same gap fire once, together; if
//     the first wall time after the gap also matches (03:00 for "0 * * * *"),
//     that is still the same single fire.
//   - A wall time that occurs twice because clocks fall back fires once, at
//     its first occurrence. Daily "30 1 * * *" fires at 01:30 EDT on
//     2025-11-02 in America/New_York, not again at 01:30 EST; "*/30 * * * *"
//     fires at 01:00 and 01:30 EDT and then at 02:00 EST.
//
// The fire instants thus form a set of distinct instants; Next returns the
// first one strictly after a given instant and Prev the last one strictly
// before it. Hence Next(t) > t, Prev(t) < t, and for every fire instant f,
// Next(Prev(f)) == f and Prev(Next(f)) == f. Given an instant inside a
// repeated hour (01:15 EST on 2025-11-02), Next skips wall times whose first
// occurrence has already passed.
//
// The package is pure: it reads no clock and starts no goroutines. A
// [Schedule] is immutable and safe for concurrent use.
package cron

import (
	"fmt"
	"math/bits"
	"strings"
	"time"
	"unicode"
)

// Error is a syntax error in a cron expression.
type Error struct {
	// Field names the offending field: "second", "minute", "hour",
	// "day-of-month", "month" or "day-of-week"; empty when the error concerns
	// the expression as a whole (field count, nickname).
	Field string
	// Offset is the byte offset in the expression of the offending field; for
	// a missing field, the length of the expression.
	Offset int
	// Msg is the complete message, e.g.
	// "hour field `25`: 25 is out of range 0-23".
	Msg string
}

func (e *Error) Error() string { return e.Msg }

// Schedule is a parsed cron expression. The zero value is not usable; use
// [Parse].
type Schedule struct {
	expr             string
	second, minute   uint64 // bits 0-59
	hour             uint64 // bits 0-23
	dom              uint64 // bits 1-31
	month            uint64 // bits 1-12
	dow              uint64 // bits 0-6
	domStar, dowStar bool   // the field is `*` or `?`
}

// String returns the expression as parsed, without surrounding white space.
func (s *Schedule) String() string { return s.expr }

// field describes one field of an expression.
type field struct {
	name     string
	min, max int      // accepted values
	starMax  int      // the largest value `*` and `a/n` reach
	names    []string // names[v] names value v
	day      bool     // accepts `?`
}

var (
	monthNames = []string{"", "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}
	dayNames   = []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}

	secondField = &field{name: "second", min: 0, max: 59, starMax: 59}
	minuteField = &field{name: "minute", min: 0, max: 59, starMax: 59}
	hourField   = &field{name: "hour", min: 0, max: 23, starMax: 23}
	domField    = &field{name: "day-of-month", min: 1, max: 31, starMax: 31, day: true}
	monthField  = &field{name: "month", min: 1, max: 12, starMax: 12, names: monthNames}
	dowField    = &field{name: "day-of-week", min: 0, max: 7, starMax: 6, names: dayNames, day: true}
)

var nicknames = map[string]string{
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
	"@monthly":  "0 0 1 * *",
	"@weekly":   "0 0 * * 0",
	"@daily":    "0 0 * * *",
	"@midnight": "0 0 * * *",
	"@hourly":   "0 * * * *",
}

const nicknameList = "@yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly"

// Parse parses a cron expression: 5 fields (minute hour day-of-month month
// day-of-week), 6 with withSeconds (a leading seconds field), or a nickname:
// @yearly @annually @monthly @weekly @daily @midnight @hourly. The error, if
// any, is an [*Error].
func Parse(expr string, withSeconds bool) (*Schedule, error) {
	s, err := parse(expr, withSeconds)
	if err != nil {
		return nil, err
	}
	return s, nil
}

type span struct {
	text string
	off  int
}

// splitFields splits expr at white space (as strings.Fields does), keeping
// byte offsets.
func splitFields(expr string) []span {
	var out []span
	start := -1
	for i, r := range expr {
		if unicode.IsSpace(r) {
			if start >= 0 {
				out = append(out, span{expr[start:i], start})
				start = -1
			}
		} else if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		out = append(out, span{expr[start:], start})
	}
	return out
}

func parse(expr string, withSeconds bool) (*Schedule, *Error) {
	s := &Schedule{expr: strings.TrimSpace(expr), second: 1}
	parts := splitFields(expr)
	fields := []*field{minuteField, hourField, domField, monthField, dowField}
	layout := "minute hour day-of-month month day-of-week"
	if withSeconds {
		fields = append([]*field{secondField}, fields...)
		layout = "second " + layout
	}
	if len(parts) == 0 {
		return nil, &Error{Offset: len(expr), Msg: fmt.Sprintf(
			"empty cron expression; expected %d fields (%s) or a nickname: %s",
			len(fields), layout, nicknameList)}
	}
	if strings.HasPrefix(parts[0].text, "@") {
		def, ok := nicknames[asciiLower(parts[0].text)]
		if !ok {
			return nil, &Error{Offset: parts[0].off, Msg: fmt.Sprintf(
				"unknown cron nickname `%s`; expected %s", parts[0].text, nicknameList)}
		}
		if len(parts) > 1 {
			return nil, &Error{Offset: parts[1].off, Msg: fmt.Sprintf(
				"cron nickname `%s` must stand alone; found `%s` after it",
				parts[0].text, strings.TrimSpace(expr[parts[1].off:]))}
		}
		parts = splitFields(def)
		fields = fields[len(fields)-5:]
	} else if len(parts) != len(fields) {
		off := len(expr)
		if len(parts) > len(fields) {
			off = parts[len(fields)].off
		}
		msg := fmt.Sprintf("cron expression `%s` has %d field%s; expected %d (%s) or a nickname: %s",
			s.expr, len(parts), plural(len(parts)), len(fields), layout, nicknameList)
		switch {
		case !withSeconds && len(parts) == 6:
			msg += " (a leading seconds field needs withSeconds)"
		case withSeconds && len(parts) == 5:
			msg += " (withSeconds is set, so the first field is the second)"
		}
		return nil, &Error{Offset: off, Msg: msg}
	}
	for i, f := range fields {
		mask, star, msg := parseField(f, parts[i].text)
		if msg != "" {
			return nil, &Error{Field: f.name, Offset: parts[i].off,
				Msg: fmt.Sprintf("%s field `%s`: %s", f.name, parts[i].text, msg)}
		}
		switch f {
		case secondField:
			s.second = mask
		case minuteField:
			s.minute = mask
		case hourField:
			s.hour = mask
		case domField:
			s.dom, s.domStar = mask, star
		case monthField:
			s.month = mask
		case dowField:
			if mask&(1<<7) != 0 {
				mask = mask&^(1<<7) | 1
			}
			s.dow, s.dowStar = mask, star
		}
	}
	return s, nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// parseField parses one field, returning its value set, whether it is `*`
// or `?`, and an error detail.
func parseField(f *field, text string) (mask uint64, star bool, msg string) {
	if text == "*" || (text == "?" && f.day) {
		return bitRange(f.min, f.starMax, 1), true, ""
	}
	for _, part := range strings.Split(text, ",") {
		m, msg := parseElement(f, part)
		if msg != "" {
			return 0, false, msg
		}
		mask |= m
	}
	return mask, false, ""
}

func bitRange(lo, hi, step int) uint64 {
	var m uint64
	for v := lo; v <= hi; v += step {
		m |= 1 << v
	}
	return m
}

// parseElement parses one element of a list: a, a-b, */n, a-b/n or a/n.
func parseElement(f *field, part string) (uint64, string) {
	if part == "" {
		return 0, "empty list element (check for a stray comma)"
	}
	if strings.Contains(part, "?") {
		if f.day {
			return 0, "`?` must stand alone (it means any day)"
		}
		return 0, "`?` is only allowed in the day-of-month and day-of-week fields"
	}
	rng, stepText, hasStep := strings.Cut(part, "/")
	step := 1
	if hasStep {
		maxStep := f.starMax - f.min + 1
		switch n, isNum := number(stepText); {
		case strings.Contains(stepText, "/"):
			return 0, fmt.Sprintf("`%s` has more than one `/`", part)
		case rng == "":
			return 0, fmt.Sprintf("`%s` has nothing before `/`; write `*/%s` to step through the whole range", part, stepText)
		case stepText == "":
			return 0, fmt.Sprintf("`%s` is missing the step after `/`", part)
		case !isNum:
			return 0, fmt.Sprintf("step `%s` is not a number", stepText)
		case n < 1 || n > maxStep:
			return 0, fmt.Sprintf("step %s is out of range 1-%d", stepText, maxStep)
		default:
			step = n
		}
	}
	var lo, hi int
	if rng == "*" {
		lo, hi = f.min, f.starMax
	} else {
		a, b, isRange := strings.Cut(rng, "-")
		switch {
		case a == "*" || (isRange && b == "*"):
			return 0, fmt.Sprintf("`*` cannot be part of a range in `%s`", part)
		case isRange && a == "":
			return 0, fmt.Sprintf("range `%s` is missing its start", rng)
		case isRange && b == "":
			return 0, fmt.Sprintf("range `%s` is missing its end", rng)
		case strings.Contains(b, "-"):
			return 0, fmt.Sprintf("`%s` is not a valid range; write a range as `a-b`", rng)
		}
		var msg string
		if lo, msg = value(f, a); msg != "" {
			return 0, msg
		}
		switch {
		case isRange:
			if hi, msg = value(f, b); msg != "" {
				return 0, msg
			}
			if f == dowField && hi == 0 && lo > 0 && asciiUpper(b) == "SUN" {
				hi = 7 // MON-SUN
			}
			if lo > hi {
				return 0, fmt.Sprintf("range `%s` runs backwards (%d > %d); ranges do not wrap around, use a list such as `%d-%d,%d-%d`",
					rng, lo, hi, lo, f.starMax, f.min, hi)
			}
		case hasStep:
			hi = max(f.starMax, lo)
		default:
			hi = lo
		}
	}
	return bitRange(lo, hi, step), ""
}

// number parses a decimal number of ASCII digits, saturating at 1e9.
func number(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = min(n*10+int(c-'0'), 1e9)
	}
	return n, true
}

// value parses a number or name in field f.
func value(f *field, tok string) (int, string) {
	if n, ok := number(tok); ok {
		if n < f.min || n > f.max {
			return 0, fmt.Sprintf("%s is out of range %d-%d", tok, f.min, f.max)
		}
		return n, ""
	}
	up := asciiUpper(tok)
	for v, name := range f.names {
		if name != "" && name == up {
			return v, ""
		}
	}
	switch {
	case f != dowField && indexOf(dayNames, up) >= 0:
		return 0, fmt.Sprintf("`%s` is a day name; day names belong in the day-of-week field", tok)
	case f != monthField && indexOf(monthNames, up) >= 0:
		return 0, fmt.Sprintf("`%s` is a month name; month names belong in the month field", tok)
	case strings.Contains(tok, "#"):
		return 0, fmt.Sprintf("`%s`: `#` (nth weekday of the month, Quartz syntax) is not supported", tok)
	case up == "L" || up == "LW" || (len(up) > 1 && strings.HasSuffix(up, "L") && isDigits(up[:len(up)-1])):
		return 0, fmt.Sprintf("`%s`: `L` (last day, Quartz syntax) is not supported", tok)
	case len(up) > 1 && strings.HasSuffix(up, "W") && isDigits(up[:len(up)-1]):
		return 0, fmt.Sprintf("`%s`: `W` (nearest weekday, Quartz syntax) is not supported", tok)
	case f == monthField:
		return 0, fmt.Sprintf("`%s` is not a number or a month name (JAN-DEC)", tok)
	case f == dowField:
		return 0, fmt.Sprintf("`%s` is not a number or a day name (SUN-SAT)", tok)
	}
	return 0, fmt.Sprintf("`%s` is not a number", tok)
}

func isDigits(s string) bool {
	_, ok := number(s)
	return ok
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x != "" && x == s {
			return i
		}
	}
	return -1
}

func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c - 'A' + 'a'
		}
	}
	return string(b)
}

// searchYears bounds the search for a fire instant.
const searchYears = 10

// Next returns the first fire instant strictly after t, reading the
// expression in loc (nil means UTC), as a time in loc. It returns the zero
// time when there is none within 10 years (e.g. "0 0 30 2 *").
func (s *Schedule) Next(t time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	// Wall time W fires at F(W), the first instant whose wall clock reads W
	// or later. F(W) > t exactly when W exceeds every wall time read up to t.
	w := highWater(t, loc).Truncate(time.Second).Add(time.Second)
	wall, ok := s.nextWall(w, w.AddDate(searchYears, 0, 0))
	if !ok {
		return time.Time{}
	}
	return fireInstant(wall, loc).In(loc)
}

// Prev returns the last fire instant strictly before t, reading the
// expression in loc (nil means UTC), as a time in loc. It returns the zero
// time when there is none within 10 years.
func (s *Schedule) Prev(t time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	// F(W) < t exactly when some instant before t reads W or later.
	w := highWater(t.Add(-time.Nanosecond), loc).Truncate(time.Second)
	wall, ok := s.prevWall(w, w.AddDate(-searchYears, 0, 0))
	if !ok {
		return time.Time{}
	}
	return fireInstant(wall, loc).In(loc)
}

// Wall times are represented as times in UTC whose fields are the wall
// clock's. window bounds how far a wall time is from its instant (offsets
// are within ±24h).
const window = 48 * time.Hour

// wallAt returns the wall time of instant i in a zone of offset off seconds.
func wallAt(i time.Time, off int) time.Time {
	return i.UTC().Add(time.Duration(off) * time.Second)
}

// highWater returns the latest wall time the clock in loc reads at or
// before instant t (later than t's own wall time just after clocks fall
// back).
func highWater(t time.Time, loc *time.Location) time.Time {
	lt := t.In(loc)
	_, off := lt.Zone()
	best := wallAt(t, off)
	i := t.Add(-window)
	for range 64 {
		li := i.In(loc)
		_, off := li.Zone()
		_, end := li.ZoneBounds()
		if end.IsZero() || end.After(t) || !end.After(i) {
			break
		}
		if w := wallAt(end.Add(-time.Nanosecond), off); w.After(best) {
			best = w
		}
		i = end
	}
	return best
}

// fireInstant returns the first instant at which the wall clock in loc reads
// wall or later: the instant of wall itself, its first occurrence if it is
// repeated, or the end of the gap if it is skipped.
func fireInstant(wall time.Time, loc *time.Location) time.Time {
	i := wall.Add(-window)
	for range 64 {
		li := i.In(loc)
		_, off := li.Zone()
		_, end := li.ZoneBounds()
		c := wall.Add(-time.Duration(off) * time.Second)
		if end.IsZero() || c.Before(end) || !end.After(i) {
			if c.Before(i) {
				return i // wall was skipped: the period starting at i begins after it
			}
			return c
		}
		i = end
	}
	return wall.Add(-time.Duration(offsetAt(wall, loc)) * time.Second)
}

func offsetAt(i time.Time, loc *time.Location) int {
	_, off := i.In(loc).Zone()
	return off
}

func date(y int, mo time.Month, d, h, mi, s int) time.Time {
	return time.Date(y, mo, d, h, mi, s, 0, time.UTC)
}

// nextBit returns the least set bit of mask at or above from.
func nextBit(mask uint64, from int) (int, bool) {
	if from > 63 {
		return 0, false
	}
	m := mask & (^uint64(0) << from)
	if m == 0 {
		return 0, false
	}
	return bits.TrailingZeros64(m), true
}

// prevBit returns the greatest set bit of mask at or below from.
func prevBit(mask uint64, from int) (int, bool) {
	if from < 0 {
		return 0, false
	}
	m := mask & (uint64(2)<<from - 1)
	if m == 0 {
		return 0, false
	}
	return 63 - bits.LeadingZeros64(m), true
}

func (s *Schedule) dayMatches(d int, wd time.Weekday) bool {
	domOK := s.dom&(1<<d) != 0
	dowOK := s.dow&(1<<wd) != 0
	if s.domStar || s.dowStar {
		return domOK && dowOK
	}
	return domOK || dowOK
}

func daysIn(y int, mo time.Month) int {
	return date(y, mo+1, 0, 0, 0, 0).Day()
}

// nextDay returns the first matching day of month y-mo at or after d, or
// the number of days in the month plus one.
func (s *Schedule) nextDay(y int, mo time.Month, d int) int {
	if s.domStar && s.dowStar {
		return d
	}
	n := daysIn(y, mo)
	wd := date(y, mo, d, 0, 0, 0).Weekday()
	for ; d <= n; d++ {
		if s.dayMatches(d, wd) {
			return d
		}
		wd = (wd + 1) % 7
	}
	return n + 1
}

// prevDay returns the last matching day of month y-mo at or before d, or 0.
func (s *Schedule) prevDay(y int, mo time.Month, d int) int {
	if s.domStar && s.dowStar {
		return d
	}
	wd := date(y, mo, d, 0, 0, 0).Weekday()
	for ; d >= 1; d-- {
		if s.dayMatches(d, wd) {
			return d
		}
		wd = (wd + 6) % 7
	}
	return 0
}

// nextWall returns the first matching wall time at or after w and not
// after limit.
func (s *Schedule) nextWall(w, limit time.Time) (time.Time, bool) {
	for !w.After(limit) {
		y, mo, d := w.Date()
		h, mi, sec := w.Clock()
		if m, ok := nextBit(s.month, int(mo)); !ok {
			w = date(y+1, 1, 1, 0, 0, 0)
			continue
		} else if m != int(mo) {
			w = date(y, time.Month(m), 1, 0, 0, 0)
			continue
		}
		if dd := s.nextDay(y, mo, d); dd != d {
			w = date(y, mo, dd, 0, 0, 0)
			continue
		}
		if n, ok := nextBit(s.hour, h); !ok {
			w = date(y, mo, d+1, 0, 0, 0)
			continue
		} else if n != h {
			h, mi, sec = n, 0, 0
		}
		if n, ok := nextBit(s.minute, mi); !ok {
			w = date(y, mo, d, h+1, 0, 0)
			continue
		} else if n != mi {
			mi, sec = n, 0
		}
		n, ok := nextBit(s.second, sec)
		if !ok {
			w = date(y, mo, d, h, mi+1, 0)
			continue
		}
		w = date(y, mo, d, h, mi, n)
		if w.After(limit) {
			break
		}
		return w, true
	}
	return time.Time{}, false
}

// prevWall returns the last matching wall time at or before w and not
// before limit.
func (s *Schedule) prevWall(w, limit time.Time) (time.Time, bool) {
	for !w.Before(limit) {
		y, mo, d := w.Date()
		h, mi, sec := w.Clock()
		if m, ok := prevBit(s.month, int(mo)); !ok {
			w = date(y-1, 12, 31, 23, 59, 59)
			continue
		} else if m != int(mo) {
			w = date(y, time.Month(m)+1, 0, 23, 59, 59)
			continue
		}
		if dd := s.prevDay(y, mo, d); dd != d {
			w = date(y, mo, dd, 23, 59, 59)
			continue
		}
		if n, ok := prevBit(s.hour, h); !ok {
			w = date(y, mo, d, 0, 0, -1)
			continue
		} else if n != h {
			h, mi, sec = n, 59, 59
		}
		if n, ok := prevBit(s.minute, mi); !ok {
			w = date(y, mo, d, h, 0, -1)
			continue
		} else if n != mi {
			mi, sec = n, 59
		}
		n, ok := prevBit(s.second, sec)
		if !ok {
			w = date(y, mo, d, h, mi, -1)
			continue
		}
		w = date(y, mo, d, h, mi, n)
		if w.Before(limit) {
			break
		}
		return w, true
	}
	return time.Time{}, false
}
