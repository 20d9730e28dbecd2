package inputs

import (
	"errors"
	"strings"
	"time"
)

// Layouts of the DATETIME, DATE and TIME types. Canonical values are
// formatted with the *Out layouts; parsing accepts the listed variants.
const (
	dateTimeOut = time.RFC3339Nano // in UTC, fraction only when non-zero
	dateOut     = "2006-01-02"
	timeOut     = "15:04:05.999999999" // fraction only when non-zero
)

// dateTimeLayouts are tried in order. RFC 3339 carries its zone; the two
// zoneless forms (ISO local date-time and the SQL-like form with a space,
// which people type in forms) are taken as UTC because executions do not
// know the zone of the person who typed them. time.Parse accepts a fraction
// after the seconds in all of them.
var dateTimeLayouts = []struct {
	layout string
	loc    *time.Location
}{
	{time.RFC3339, nil},
	{"2006-01-02T15:04:05", time.UTC},
	{"2006-01-02 15:04:05", time.UTC},
}

var (
	errDateTime      = errors.New("expected RFC 3339, e.g. 2024-01-31T09:30:00Z")
	errDateTimeRange = errors.New("out of range once converted to UTC: years are 0000 to 9999")
	errDate          = errors.New("expected YYYY-MM-DD")
	errTime          = errors.New("expected HH:MM or HH:MM:SS")
)

// parseDateTime reads a DATETIME value and returns it in UTC.
func parseDateTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range dateTimeLayouts {
		var t time.Time
		var err error
		if l.loc == nil {
			t, err = time.Parse(l.layout, s)
		} else {
			t, err = time.ParseInLocation(l.layout, s, l.loc)
		}
		if err == nil {
			// RFC 3339 has four-digit years: a value that moves out of
			// 0000-9999 once converted to UTC would have no canonical form.
			if t = t.UTC(); t.Year() < 0 || t.Year() > 9999 {
				return time.Time{}, errDateTimeRange
			}
			return t, nil
		}
	}
	return time.Time{}, errDateTime
}

// parseDate reads a DATE value.
func parseDate(s string) (time.Time, error) {
	t, err := time.Parse(dateOut, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}, errDate
	}
	return t, nil
}

// parseTime reads a TIME value as an instant on 0000-01-01 UTC, so that
// times of day compare with time.Time methods.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range []string{"15:04:05", "15:04"} {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errTime
}

// temporal bundles what differs between the three time types so that
// coercion and Check share one code path.
type temporal struct {
	what   string // for messages: "a date-time"
	parse  func(string) (time.Time, error)
	format func(time.Time) string
	// fromTime converts a typed time.Time (what some YAML decoders produce
	// for unquoted timestamps) to the type's own form.
	fromTime func(time.Time) time.Time
}

func temporalOf(t Type) (temporal, bool) {
	switch t {
	case TypeDateTime:
		return temporal{
			what:     "a date-time",
			parse:    parseDateTime,
			format:   func(t time.Time) string { return t.UTC().Format(dateTimeOut) },
			fromTime: func(t time.Time) time.Time { return t.UTC() },
		}, true
	case TypeDate:
		return temporal{
			what:   "a date",
			parse:  parseDate,
			format: func(t time.Time) string { return t.Format(dateOut) },
			fromTime: func(t time.Time) time.Time {
				return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
			},
		}, true
	case TypeTime:
		return temporal{
			what:   "a time of day",
			parse:  parseTime,
			format: func(t time.Time) string { return t.Format(timeOut) },
			fromTime: func(t time.Time) time.Time {
				return time.Date(0, 1, 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
			},
		}, true
	}
	return temporal{}, false
}

// read converts a raw value to the type's instant, with a message on failure.
func (tp temporal) read(raw any) (time.Time, string) {
	switch x := raw.(type) {
	case time.Time:
		// Through the text form, so typed values meet the same range
		// limits as text and are truncated the same way.
		return tp.read(tp.format(tp.fromTime(x)))
	case string:
		t, err := tp.parse(x)
		if err != nil {
			return time.Time{}, describe(raw) + " is not " + tp.what + " (" + err.Error() + ")"
		}
		return t, ""
	}
	return time.Time{}, notA(raw, tp.what)
}
