package inputs

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseDuration parses a duration written either in ISO-8601 form, as Kestra
// flows write them ("PT1H30M", "P1D", "P1DT2H", "P2W", "PT0.5S"), or in Go
// form ("90m", "1h30m", "1.5s"). Flows migrated from Kestra use the former and
// people writing flows by hand often the latter, so task timeouts, retry
// intervals and DURATION inputs all accept both.
//
// In the ISO form, letters may be upper or lower case, a day is exactly 24
// hours and a week 7 days (executions do not follow calendars or daylight
// saving), the last component may have a fraction ("PT1.5H", with '.' or
// ','), and weeks may be combined with other components ("P1W2D"). Years and
// months are rejected because their length varies. Both forms accept a
// leading sign; callers that need a positive duration check for it. Blanks
// around the text are ignored. The range is that of time.Duration (about 292
// years); larger values are an error rather than a silent wrap-around.
func ParseDuration(s string) (time.Duration, error) {
	d, err := parseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: %w", s, err)
	}
	return d, nil
}

// FormatDuration formats d in the normalised ISO-8601 form DURATION inputs
// produce: hours, minutes and seconds only (as Java's Duration.toString, so
// values read the same as in Kestra), seconds with at most nine decimals and
// no trailing zeros, and a leading '-' for negative durations. Zero is
// "PT0S". ParseDuration(FormatDuration(d)) == d for every d.
func FormatDuration(d time.Duration) string {
	var b strings.Builder
	u := uint64(d)
	if d < 0 {
		b.WriteByte('-')
		u = -u // two's complement: correct even for math.MinInt64
	}
	b.WriteString("PT")
	const (
		sec  = uint64(time.Second)
		min  = 60 * sec
		hour = 60 * min
	)
	h, m := u/hour, u%hour/min
	s, ns := u%min/sec, u%sec
	if h > 0 {
		b.WriteString(strconv.FormatUint(h, 10))
		b.WriteByte('H')
	}
	if m > 0 {
		b.WriteString(strconv.FormatUint(m, 10))
		b.WriteByte('M')
	}
	if s > 0 || ns > 0 || u == 0 {
		b.WriteString(strconv.FormatUint(s, 10))
		if ns > 0 {
			frac := fmt.Sprintf("%09d", ns)
			b.WriteByte('.')
			b.WriteString(strings.TrimRight(frac, "0"))
		}
		b.WriteByte('S')
	}
	return b.String()
}

// errMonthsYears is the reason given for ISO durations with years or months.
var errMonthsYears = errors.New("years and months are not supported because their length varies; use days or weeks instead, e.g. P30D")

// parseDuration does the work of ParseDuration; its errors say what is wrong
// without repeating the input, so that callers can word the message around it.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty duration")
	}
	body := s
	if body[0] == '-' || body[0] == '+' {
		body = body[1:]
	}
	if body != "" && (body[0] == 'P' || body[0] == 'p') {
		u, err := parseISO(body[1:])
		if err != nil {
			return 0, err
		}
		return signed(u, s[0] == '-')
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, goFormError(body)
	}
	return d, nil
}

// goFormError explains why a text that is not ISO-8601 is not a Go duration
// either. time.ParseDuration's own message mentions only the Go form, which
// misleads people who meant the ISO one, and it rejects "2d", which people
// write often enough to deserve a hint.
func goFormError(body string) error {
	const want = "expected ISO-8601 (e.g. PT1H30M, P1D) or Go form (e.g. 1h30m, 90s)"
	// A day or week unit right after digits at the end: "2d", "1h2d", "3w".
	if n := len(body); n >= 2 && isDigit(body[n-2]) {
		switch body[n-1] {
		case 'd', 'D':
			return errors.New("the Go form has no day unit; write e.g. P2D or 48h")
		case 'w', 'W':
			return errors.New("the Go form has no week unit; write e.g. P2W or 336h")
		}
	}
	return errors.New(want)
}

// signed applies the sign to the magnitude u, checking the range of
// time.Duration (whose negative side is one larger).
func signed(u uint64, neg bool) (time.Duration, error) {
	const limit = uint64(1) << 63
	if u > limit || (u == limit && !neg) {
		return 0, errDurationRange
	}
	if neg {
		return time.Duration(-u), nil // wraps to MinInt64 for u == 1<<63
	}
	return time.Duration(u), nil
}

var errDurationRange = errors.New("out of range (the limit is about 292 years)")

// isoUnit is one component letter of an ISO-8601 duration.
type isoUnit struct {
	letter byte
	ns     uint64 // 0: years or months, rejected
}

var (
	isoDateUnits = []isoUnit{{'Y', 0}, {'M', 0}, {'W', uint64(7 * 24 * time.Hour)}, {'D', uint64(24 * time.Hour)}}
	isoTimeUnits = []isoUnit{{'H', uint64(time.Hour)}, {'M', uint64(time.Minute)}, {'S', uint64(time.Second)}}
)

// parseISO parses what follows the 'P' of an ISO-8601 duration and returns
// its magnitude in nanoseconds (up to 1<<63, which only a negative duration
// may reach).
func parseISO(s string) (uint64, error) {
	const limit = uint64(1) << 63
	if s == "" {
		return 0, errors.New("no component after P; write e.g. PT1H or P1D")
	}
	var (
		total      uint64
		components int
		fractional bool // a fraction ends the duration: only the last component may have one
	)
	units := isoDateUnits
	next := 0 // index in units of the first unit still allowed
	inTime := false
	for s != "" {
		if s[0] == 'T' || s[0] == 't' {
			if inTime {
				return 0, errors.New("the time designator T appears twice")
			}
			if len(s) == 1 {
				return 0, errors.New("no time component after T; write e.g. PT30M")
			}
			inTime, units, next = true, isoTimeUnits, 0
			s = s[1:]
			continue
		}
		if fractional {
			return 0, errors.New("only the last component may have a fraction")
		}
		intPart, frac, scale, rest, err := isoNumber(s)
		if err != nil {
			return 0, err
		}
		if rest == "" {
			return 0, errors.New("number without unit at the end")
		}
		letter := upper(rest[0])
		s = rest[1:]
		i := unitIndex(units, letter)
		if i < 0 {
			if inTime {
				return 0, fmt.Errorf("unknown unit %q in the time part; use H, M or S", rest[0])
			}
			if letter == 'H' || letter == 'S' {
				return 0, fmt.Errorf("unit %q belongs after T, e.g. PT1%c", rest[0], letter)
			}
			return 0, fmt.Errorf("unknown unit %q in the date part; use W or D (or T for hours, minutes, seconds)", rest[0])
		}
		if units[i].ns == 0 {
			return 0, errMonthsYears
		}
		if i < next {
			return 0, fmt.Errorf("unit %c is repeated or out of order", letter)
		}
		next = i + 1
		components++
		fractional = scale > 1

		unit := units[i].ns
		if intPart > limit/unit {
			return 0, errDurationRange
		}
		v := intPart * unit
		if frac > 0 {
			// As time.ParseDuration does: float64 precision is ample because
			// frac/scale < 1 and unit is at most a week in nanoseconds.
			v += uint64(float64(frac) * (float64(unit) / scale))
			if v > limit {
				return 0, errDurationRange
			}
		}
		total += v
		if total > limit {
			return 0, errDurationRange
		}
	}
	if components == 0 {
		return 0, errors.New("no component after P; write e.g. PT1H or P1D")
	}
	return total, nil
}

// isoNumber reads digits with an optional fraction ('.' or ',') from the
// start of s. Digits past what a uint64 holds make intPart overflow to an
// error; fraction digits past float64 precision are dropped, as in
// time.ParseDuration.
func isoNumber(s string) (intPart, frac uint64, scale float64, rest string, err error) {
	i := 0
	for ; i < len(s) && isDigit(s[i]); i++ {
		if intPart > (1<<63)/10 {
			return 0, 0, 0, "", errDurationRange
		}
		intPart = intPart*10 + uint64(s[i]-'0')
	}
	digits := i
	scale = 1
	if i < len(s) && (s[i] == '.' || s[i] == ',') {
		i++
		fracStart := i
		overflow := false
		for ; i < len(s) && isDigit(s[i]); i++ {
			if overflow || frac > (1<<63-1)/10 {
				overflow = true
				continue
			}
			frac = frac*10 + uint64(s[i]-'0')
			scale *= 10
		}
		if i == fracStart {
			return 0, 0, 0, "", errors.New("decimal separator without digits after it")
		}
		digits += i - fracStart
	}
	if digits == 0 {
		if i < len(s) {
			return 0, 0, 0, "", fmt.Errorf("expected a number before %q", s[i])
		}
		return 0, 0, 0, "", errors.New("expected a number")
	}
	return intPart, frac, scale, s[i:], nil
}

func unitIndex(units []isoUnit, letter byte) int {
	for i, u := range units {
		if u.letter == letter {
			return i
		}
	}
	return -1
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}
