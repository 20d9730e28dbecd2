package expr

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Named formats accepted by the date filter, as in Kestra.
var namedDateFormats = map[string]string{
	"iso":     "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX",
	"iso_sec": "yyyy-MM-dd'T'HH:mm:ssXXX",
	"sql":     "yyyy-MM-dd HH:mm:ss.SSSSSS",
	"sql_seq": "yyyy-MM-dd HH:mm:ss",
}

// loadZone resolves a time zone argument. Empty means UTC: rendering must not
// depend on the host's local zone.
func loadZone(name string) (*time.Location, error) {
	switch name {
	case "", "Z", "UTC", "GMT", "UT", "Etc/UTC":
		return time.UTC, nil
	case "Local":
		return nil, errors.New("time zone `Local` is not allowed; name a zone such as Europe/Paris")
	}
	off := name
	for _, p := range []string{"UTC", "GMT", "UT"} {
		if strings.HasPrefix(off, p) && len(off) > len(p) && (off[len(p)] == '+' || off[len(p)] == '-') {
			off = off[len(p):]
			break
		}
	}
	if off[0] == '+' || off[0] == '-' {
		if secs, ok := parseOffset(off); ok {
			return time.FixedZone(offsetID(secs), secs), nil
		}
		return nil, fmt.Errorf("invalid time zone offset %q", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q", name)
	}
	return loc, nil
}

// parseOffset parses +H, +HH, +HHMM, +HH:MM, +HH:MM:SS into seconds east of UTC.
func parseOffset(s string) (int, bool) {
	if len(s) < 2 || (s[0] != '+' && s[0] != '-') {
		return 0, false
	}
	sign := 1
	if s[0] == '-' {
		sign = -1
	}
	body := s[1:]
	switch len(body) {
	case 5, 8: // HH:MM, HH:MM:SS
		if body[2] != ':' || len(body) == 8 && body[5] != ':' {
			return 0, false
		}
	}
	digits := strings.ReplaceAll(body, ":", "")
	if len(digits) != len(body) && len(body) != 5 && len(body) != 8 {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	var h, m, sec int
	switch len(digits) {
	case 1, 2:
		h, _ = strconv.Atoi(digits)
	case 4:
		h, _ = strconv.Atoi(digits[:2])
		m, _ = strconv.Atoi(digits[2:])
	case 6:
		h, _ = strconv.Atoi(digits[:2])
		m, _ = strconv.Atoi(digits[2:4])
		sec, _ = strconv.Atoi(digits[4:])
	default:
		return 0, false
	}
	if h > 18 || m > 59 || sec > 59 {
		return 0, false
	}
	return sign * (h*3600 + m*60 + sec), true
}

// offsetID formats an offset like Java's ZoneOffset.getId(): Z or +HH:MM[:SS].
func offsetID(secs int) string {
	if secs == 0 {
		return "Z"
	}
	return formatOffset(secs, true, true)
}

func formatOffset(secs int, colon, withSeconds bool) string {
	sign := byte('+')
	if secs < 0 {
		sign = '-'
		secs = -secs
	}
	b := []byte{sign}
	b = appendPad(b, int64(secs/3600), 2)
	if colon {
		b = append(b, ':')
	}
	b = appendPad(b, int64(secs/60%60), 2)
	if withSeconds && secs%60 != 0 {
		if colon {
			b = append(b, ':')
		}
		b = appendPad(b, int64(secs%60), 2)
	}
	return string(b)
}

func appendPad(b []byte, v int64, width int) []byte {
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	s := strconv.FormatInt(v, 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// toTime converts a date filter input: time.Time, an ISO-8601 / RFC 3339
// string (date-only means midnight), epoch seconds, or a string in
// existingFormat (a Java pattern). Zone-less inputs are taken in loc.
func toTime(v any, existingFormat string, loc *time.Location) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x, nil
	case int64:
		return time.Unix(x, 0).UTC(), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) || math.Abs(x) > 1e15 {
			return time.Time{}, fmt.Errorf("cannot use %v as epoch seconds", x)
		}
		sec, frac := math.Modf(x)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	case string:
		if existingFormat != "" && !strings.HasPrefix(existingFormat, "iso") {
			if f, ok := namedDateFormats[existingFormat]; ok {
				existingFormat = f
			}
			return parseJava(x, existingFormat, loc)
		}
		return parseISO(x, loc)
	}
	return time.Time{}, fmt.Errorf("expected a date, got %s", typeName(v))
}

var isoLayouts = []string{
	"2006-01-02T15:04:05Z07:00",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05Z07",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05Z0700",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04",
	"2006-01-02Z07:00",
	"2006-01-02",
}

// parseISO parses the ISO-8601 forms Kestra produces, including Java's
// ZonedDateTime.toString() with a trailing [Zone/Id].
func parseISO(s string, loc *time.Location) (time.Time, error) {
	str := strings.TrimSpace(s)
	if i := strings.IndexByte(str, '['); i > 0 && strings.HasSuffix(str, "]") {
		if l, err := loadZone(str[i+1 : len(str)-1]); err == nil {
			loc = l
		}
		str = str[:i]
	}
	for _, layout := range isoLayouts {
		if t, err := time.ParseInLocation(layout, str, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot parse %q as a date (expected ISO-8601 such as 2024-01-31T10:00:00Z or 2024-01-31)", s)
}

var chronoUnits = map[string]time.Duration{
	"NANOS": time.Nanosecond, "MICROS": time.Microsecond, "MILLIS": time.Millisecond,
	"SECONDS": time.Second, "MINUTES": time.Minute, "HOURS": time.Hour, "HALF_DAYS": 12 * time.Hour,
}

// dateAdd adds amount units (Java ChronoUnit names) to t. Calendar units keep
// the local time of day; months and years clamp the day to the month's end
// (Jan 31 + 1 month = Feb 29), as java.time does.
func dateAdd(t time.Time, amount int64, unit string) (time.Time, error) {
	u := strings.ToUpper(unit)
	if d, ok := chronoUnits[u]; ok {
		if amount > math.MaxInt64/int64(d) || amount < math.MinInt64/int64(d) {
			return time.Time{}, fmt.Errorf("amount %d %s is too large", amount, u)
		}
		return t.Add(time.Duration(amount) * d), nil
	}
	const maxYears = 1_000_000
	switch u {
	case "DAYS", "WEEKS":
		if u == "WEEKS" {
			amount *= 7
		}
		if amount > maxYears*366 || amount < -maxYears*366 {
			return time.Time{}, fmt.Errorf("amount %d %s is too large", amount, u)
		}
		return t.AddDate(0, 0, int(amount)), nil
	case "MONTHS", "YEARS", "DECADES", "CENTURIES", "MILLENNIA":
		months := amount
		switch u {
		case "YEARS":
			months = amount * 12
		case "DECADES":
			months = amount * 120
		case "CENTURIES":
			months = amount * 1200
		case "MILLENNIA":
			months = amount * 12000
		}
		if amount > maxYears || amount < -maxYears || months > maxYears*12 || months < -maxYears*12 {
			return time.Time{}, fmt.Errorf("amount %d %s is too large", amount, u)
		}
		return addMonths(t, int(months)), nil
	}
	return time.Time{}, fmt.Errorf("unknown unit %q (use NANOS, MICROS, MILLIS, SECONDS, MINUTES, HOURS, HALF_DAYS, DAYS, WEEKS, MONTHS or YEARS)", unit)
}

func addMonths(t time.Time, n int) time.Time {
	y, m, d := t.Date()
	total := y*12 + int(m) - 1 + n
	ny, nm := total/12, time.Month(total%12+1)
	if total%12 < 0 {
		ny, nm = (total-11)/12, time.Month(total%12+13)
	}
	if last := daysIn(ny, nm); d > last {
		d = last
	}
	return time.Date(ny, nm, d, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
}

func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// formatDate renders t in loc with a Kestra format name or a Java
// DateTimeFormatter pattern.
func formatDate(t time.Time, format string, loc *time.Location, explicitZone bool) (string, error) {
	t = t.In(loc)
	if f, ok := namedDateFormats[format]; ok {
		format = f
	}
	_, off := t.Zone()
	switch format {
	case "iso_date_time", "iso_zoned_date_time", "iso_offset_date_time":
		s := localDateTime(t) + offsetID(off)
		if format != "iso_offset_date_time" && explicitZone && isRegion(loc) {
			s += "[" + loc.String() + "]"
		}
		return s, nil
	case "iso_local_date_time":
		return localDateTime(t), nil
	case "iso_date":
		return t.Format("2006-01-02") + offsetID(off), nil
	case "iso_local_date":
		return t.Format("2006-01-02"), nil
	case "iso_time", "iso_offset_time":
		return localTime(t) + offsetID(off), nil
	case "iso_local_time":
		return localTime(t), nil
	case "iso_instant":
		u := t.UTC()
		s := u.Format("2006-01-02T15:04:05")
		if ns := u.Nanosecond(); ns != 0 {
			switch {
			case ns%1e6 == 0:
				s += fmt.Sprintf(".%03d", ns/1e6)
			case ns%1e3 == 0:
				s += fmt.Sprintf(".%06d", ns/1e3)
			default:
				s += fmt.Sprintf(".%09d", ns)
			}
		}
		return s + "Z", nil
	case "iso_ordinal_date":
		return fmt.Sprintf("%04d-%03d%s", t.Year(), t.YearDay(), offsetID(off)), nil
	case "iso_week_date":
		y, w := t.ISOWeek()
		wd := int(t.Weekday())
		if wd == 0 {
			wd = 7
		}
		return fmt.Sprintf("%04d-W%02d-%d%s", y, w, wd, offsetID(off)), nil
	case "rfc_1123_date_time":
		z := "GMT"
		if off != 0 {
			z = formatOffset(off, false, false)
		}
		return t.Format("Mon, 2 Jan 2006 15:04:05 ") + z, nil
	}
	return formatJava(t, format)
}

func isRegion(loc *time.Location) bool {
	name := loc.String()
	return name != "UTC" && name != "" && name[0] != '+' && name[0] != '-' && name != "Z"
}

// localDateTime is Java's ISO_LOCAL_DATE_TIME: fraction only when non-zero,
// without trailing zeros.
func localDateTime(t time.Time) string { return t.Format("2006-01-02T") + localTime(t) }

func localTime(t time.Time) string { return t.Format("15:04:05.999999999") }

var (
	monthNames = [...]string{"January", "February", "March", "April", "May", "June", "July",
		"August", "September", "October", "November", "December"}
	dayNames = [...]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
)

// patternItem is one element of a Java DateTimeFormatter pattern: either a
// run of one letter (letter != 0) or literal text.
type patternItem struct {
	letter  byte
	count   int
	literal string
}

// splitPattern tokenizes a Java pattern. Optional-section brackets are
// dropped: every field is always available when formatting.
func splitPattern(p string) ([]patternItem, error) {
	var items []patternItem
	for i := 0; i < len(p); {
		c := p[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(p) && p[j] == c {
				j++
			}
			items = append(items, patternItem{letter: c, count: j - i})
			i = j
		case c == '\'':
			j := i + 1
			var lit strings.Builder
			for {
				if j >= len(p) {
					return nil, fmt.Errorf("unterminated quote in date pattern %q", p)
				}
				if p[j] == '\'' {
					if j+1 < len(p) && p[j+1] == '\'' {
						lit.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				lit.WriteByte(p[j])
				j++
			}
			if j == i+1 {
				lit.WriteByte('\'') // '' is a literal quote
			}
			items = append(items, patternItem{literal: lit.String()})
			i = j + 1
		case c == '[' || c == ']':
			i++
		default:
			j := i
			for j < len(p) && !(p[j] >= 'a' && p[j] <= 'z' || p[j] >= 'A' && p[j] <= 'Z') && p[j] != '\'' && p[j] != '[' && p[j] != ']' {
				j++
			}
			items = append(items, patternItem{literal: p[i:j]})
			i = j
		}
	}
	return items, nil
}

// formatJava formats t with a Java DateTimeFormatter pattern (English names).
func formatJava(t time.Time, pattern string) (string, error) {
	items, err := splitPattern(pattern)
	if err != nil {
		return "", err
	}
	var b []byte
	_, off := t.Zone()
	for _, it := range items {
		if it.letter == 0 {
			b = append(b, it.literal...)
			continue
		}
		n := it.count
		switch it.letter {
		case 'y', 'u':
			if n == 2 {
				b = appendPad(b, int64(t.Year()%100), 2)
			} else {
				b = appendPad(b, int64(t.Year()), n)
			}
		case 'M', 'L':
			b = appendText3(b, int(t.Month()), n, monthNames[t.Month()-1])
		case 'd':
			b = appendPad(b, int64(t.Day()), min(n, 2))
		case 'D':
			b = appendPad(b, int64(t.YearDay()), n)
		case 'E':
			name := dayNames[t.Weekday()]
			switch {
			case n <= 3:
				b = append(b, name[:3]...)
			case n == 4:
				b = append(b, name...)
			default:
				b = append(b, name[:1]...)
			}
		case 'a':
			if t.Hour() < 12 {
				b = append(b, "AM"...)
			} else {
				b = append(b, "PM"...)
			}
		case 'H':
			b = appendPad(b, int64(t.Hour()), n)
		case 'k':
			h := t.Hour()
			if h == 0 {
				h = 24
			}
			b = appendPad(b, int64(h), n)
		case 'h':
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			b = appendPad(b, int64(h), n)
		case 'K':
			b = appendPad(b, int64(t.Hour()%12), n)
		case 'm':
			b = appendPad(b, int64(t.Minute()), n)
		case 's':
			b = appendPad(b, int64(t.Second()), n)
		case 'S':
			frac := fmt.Sprintf("%09d", t.Nanosecond())
			if n > len(frac) {
				frac += strings.Repeat("0", n-len(frac))
			}
			b = append(b, frac[:n]...)
		case 'n':
			b = appendPad(b, int64(t.Nanosecond()), n)
		case 'A':
			y, m, d := t.Date()
			b = appendPad(b, t.Sub(time.Date(y, m, d, 0, 0, 0, 0, t.Location())).Milliseconds(), n)
		case 'N':
			y, m, d := t.Date()
			b = appendPad(b, t.Sub(time.Date(y, m, d, 0, 0, 0, 0, t.Location())).Nanoseconds(), n)
		case 'Q', 'q':
			q := (int(t.Month())-1)/3 + 1
			switch {
			case n <= 2:
				b = appendPad(b, int64(q), n)
			case n == 3:
				b = append(b, 'Q')
				b = strconv.AppendInt(b, int64(q), 10)
			default:
				b = append(b, [...]string{"1st", "2nd", "3rd", "4th"}[q-1]+" quarter"...)
			}
		case 'G':
			if n == 4 {
				b = append(b, "Anno Domini"...)
			} else {
				b = append(b, "AD"...)
			}
		case 'V':
			b = append(b, t.Location().String()...)
		case 'z':
			name, _ := t.Zone()
			if n == 4 {
				name = t.Location().String()
			}
			if name == "" {
				name = offsetID(off)
			}
			b = append(b, name...)
		case 'X', 'x':
			if off == 0 && it.letter == 'X' {
				b = append(b, 'Z')
				break
			}
			switch n {
			case 1:
				s := formatOffset(off, false, false)
				if off%3600 == 0 {
					s = s[:3]
				}
				b = append(b, s...)
			case 2:
				b = append(b, formatOffset(off, false, false)...)
			case 3:
				b = append(b, formatOffset(off, true, false)...)
			case 4:
				b = append(b, formatOffset(off, false, true)...)
			default:
				b = append(b, formatOffset(off, true, true)...)
			}
		case 'Z':
			switch {
			case n <= 3:
				b = append(b, formatOffset(off, false, false)...)
			case n == 4:
				b = append(b, "GMT"...)
				if off != 0 {
					b = append(b, formatOffset(off, true, true)...)
				}
			default:
				if off == 0 {
					b = append(b, 'Z')
				} else {
					b = append(b, formatOffset(off, true, true)...)
				}
			}
		case 'O':
			b = append(b, "GMT"...)
			if off != 0 {
				if n == 4 {
					b = append(b, formatOffset(off, true, true)...)
				} else {
					s := formatOffset(off, true, true)
					h, _ := strconv.Atoi(s[1:3])
					b = append(b, s[0])
					b = strconv.AppendInt(b, int64(h), 10)
					if rest := s[3:]; rest != ":00" {
						b = append(b, rest...)
					}
				}
			}
		default:
			return "", fmt.Errorf("unsupported pattern letter %q in date format %q", it.letter, pattern)
		}
	}
	return string(b), nil
}

// appendText3 is Java's rule for month-like fields: 1-2 letters numeric,
// 3 short name, 4 full name, 5 narrow.
func appendText3(b []byte, num, n int, name string) []byte {
	switch {
	case n <= 2:
		return appendPad(b, int64(num), n)
	case n == 3:
		return append(b, name[:3]...)
	case n == 4:
		return append(b, name...)
	}
	return append(b, name[:1]...)
}

// parseJava parses s with a Java pattern (numeric fields, month and day
// names, AM/PM, offsets and zone ids). Missing fields default to the start
// of the day in loc.
func parseJava(s, pattern string, loc *time.Location) (time.Time, error) {
	items, err := splitPattern(pattern)
	if err != nil {
		return time.Time{}, err
	}
	year, month, day, hour, minute, sec, nsec := 1970, 1, 1, 0, 0, 0, 0
	pm, hasAmPm, hour12 := false, false, false
	var zone *time.Location
	fail := func() (time.Time, error) {
		return time.Time{}, fmt.Errorf("cannot parse %q with format %q", s, pattern)
	}
	p := 0
	num := func(minW, maxW int) (int, bool) {
		j := p
		if j < len(s) && (s[j] == '-' || s[j] == '+') && minW > 2 {
			j++
		}
		k := j
		for k < len(s) && k-j < maxW && isDigit(s[k]) {
			k++
		}
		if k-j < minW {
			return 0, false
		}
		v, err := strconv.Atoi(s[p:k])
		if err != nil {
			return 0, false
		}
		p = k
		return v, true
	}
	for idx, it := range items {
		if it.letter == 0 {
			if !strings.HasPrefix(s[p:], it.literal) {
				return fail()
			}
			p += len(it.literal)
			continue
		}
		n := it.count
		// Numeric widths: two or more letters are fixed width (so yyyyMMdd
		// works); one letter accepts one or two digits; years are open-ended
		// unless another field follows immediately.
		minW, maxW := n, n
		if n == 1 {
			maxW = 2
			if it.letter == 'D' {
				maxW = 3
			}
		}
		if it.letter == 'y' || it.letter == 'u' {
			if n == 2 {
				minW, maxW = 2, 2
			} else {
				minW, maxW = min(n, 4), 9
				if idx+1 < len(items) && items[idx+1].letter != 0 {
					maxW = max(n, 4)
				}
			}
		}
		var ok bool
		switch it.letter {
		case 'y', 'u':
			year, ok = num(minW, maxW)
			if ok && n == 2 {
				year += 2000
			}
		case 'M', 'L':
			if n >= 3 {
				month, ok = parseName(s, &p, monthNames[:], n == 3)
			} else {
				month, ok = num(minW, maxW)
			}
		case 'd':
			day, ok = num(minW, maxW)
		case 'D':
			var yd int
			yd, ok = num(minW, maxW)
			if ok {
				month, day = 1, yd
			}
		case 'H', 'k':
			hour, ok = num(minW, maxW)
			if ok && it.letter == 'k' && hour == 24 {
				hour = 0
			}
		case 'h', 'K':
			hour, ok = num(minW, maxW)
			hour12 = true
		case 'm':
			minute, ok = num(minW, maxW)
		case 's':
			sec, ok = num(minW, maxW)
		case 'S':
			j := p
			for j < len(s) && j-p < n && isDigit(s[j]) {
				j++
			}
			if j-p != n {
				return fail()
			}
			frac := s[p:j] + strings.Repeat("0", 9)
			nsec, _ = strconv.Atoi(frac[:9])
			p, ok = j, true
		case 'a':
			switch {
			case strings.HasPrefix(strings.ToUpper(s[p:]), "AM"):
				ok, hasAmPm = true, true
			case strings.HasPrefix(strings.ToUpper(s[p:]), "PM"):
				ok, hasAmPm, pm = true, true, true
			}
			p += 2
		case 'E':
			_, ok = parseName(s, &p, dayNames[:], n <= 3)
		case 'X', 'x', 'Z':
			if p < len(s) && s[p] == 'Z' {
				zone, ok = time.UTC, true
				p++
				break
			}
			j := p
			if j < len(s) && (s[j] == '+' || s[j] == '-') {
				j++
				for j < len(s) && (isDigit(s[j]) || s[j] == ':') {
					j++
				}
			}
			var secs int
			if secs, ok = parseOffset(s[p:j]); ok {
				zone = time.FixedZone(offsetID(secs), secs)
				p = j
			}
		case 'V', 'z':
			j := p
			for j < len(s) && s[j] != ' ' && s[j] != ']' && s[j] != ')' {
				j++
			}
			if l, err := loadZone(s[p:j]); err == nil {
				zone, ok, p = l, true, j
			}
		default:
			return time.Time{}, fmt.Errorf("unsupported pattern letter %q in date format %q", it.letter, pattern)
		}
		if !ok {
			return fail()
		}
	}
	if p != len(s) {
		return fail()
	}
	if hour12 || hasAmPm {
		hour %= 12
		if pm {
			hour += 12
		}
	}
	if zone == nil {
		zone = loc
	}
	if month < 1 || month > 12 || day < 1 || day > 366 || hour > 23 || minute > 59 || sec > 60 {
		return fail()
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, zone), nil
}

func parseName(s string, p *int, names []string, short bool) (int, bool) {
	for i, name := range names {
		if short {
			name = name[:3]
		}
		if len(s)-*p >= len(name) && strings.EqualFold(s[*p:*p+len(name)], name) {
			*p += len(name)
			return i + 1, true
		}
	}
	return 0, false
}
