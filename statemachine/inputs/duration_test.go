package inputs

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		in   string
		want time.Duration
	}{
		// ISO-8601
		{"PT1H30M", 90 * time.Minute},
		{"PT90M", 90 * time.Minute},
		{"P1D", day},
		{"P1DT2H", day + 2*time.Hour},
		{"P2W", 14 * day},
		{"P1W2D", 9 * day},
		{"PT0S", 0},
		{"P0D", 0},
		{"PT45S", 45 * time.Second},
		{"PT0.5S", 500 * time.Millisecond},
		{"PT0,25S", 250 * time.Millisecond},
		{"PT1.5H", 90 * time.Minute},
		{"P1.5D", 36 * time.Hour},
		{"PT1H0.5M", time.Hour + 30*time.Second},
		{"PT0.000000001S", time.Nanosecond},
		{"PT0.0000000019S", time.Nanosecond}, // digits past nanoseconds are dropped
		{"pt1h30m", 90 * time.Minute},        // lower case, as Java accepts
		{"P1dT1h", day + time.Hour},
		{"-PT1H", -time.Hour},
		{"+PT1H", time.Hour},
		{"  PT5M  ", 5 * time.Minute},
		{"PT2562047H47M16.854775807S", math.MaxInt64},
		{"-PT2562047H47M16.854775808S", math.MinInt64},
		{"P106751DT23H47M16.854775807S", math.MaxInt64},
		// Go form
		{"90m", 90 * time.Minute},
		{"1h30m", 90 * time.Minute},
		{"1.5s", 1500 * time.Millisecond},
		{"-2h", -2 * time.Hour},
		{"0", 0},
		{"300ms", 300 * time.Millisecond},
		{"2562047h47m16.854775807s", math.MaxInt64},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if err != nil {
			t.Errorf("ParseDuration(%q): unexpected error %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseDurationErrors(t *testing.T) {
	const goOrISO = "expected ISO-8601 (e.g. PT1H30M, P1D) or Go form (e.g. 1h30m, 90s)"
	tests := []struct {
		in   string
		want string
	}{
		{"", `invalid duration "": empty duration`},
		{"   ", `invalid duration "   ": empty duration`},
		{"P", `invalid duration "P": no component after P; write e.g. PT1H or P1D`},
		{"-P", `invalid duration "-P": no component after P; write e.g. PT1H or P1D`},
		{"PT", `invalid duration "PT": no time component after T; write e.g. PT30M`},
		{"P1DT", `invalid duration "P1DT": no time component after T; write e.g. PT30M`},
		{"P1M", `invalid duration "P1M": years and months are not supported because their length varies; use days or weeks instead, e.g. P30D`},
		{"P1Y", `invalid duration "P1Y": years and months are not supported because their length varies; use days or weeks instead, e.g. P30D`},
		{"P1Y2M3D", `invalid duration "P1Y2M3D": years and months are not supported because their length varies; use days or weeks instead, e.g. P30D`},
		{"P1H", `invalid duration "P1H": unit 'H' belongs after T, e.g. PT1H`},
		{"P1X", `invalid duration "P1X": unknown unit 'X' in the date part; use W or D (or T for hours, minutes, seconds)`},
		{"PT1D", `invalid duration "PT1D": unknown unit 'D' in the time part; use H, M or S`},
		{"PT30M1H", `invalid duration "PT30M1H": unit H is repeated or out of order`},
		{"PT1H1H", `invalid duration "PT1H1H": unit H is repeated or out of order`},
		{"P1D1W", `invalid duration "P1D1W": unit W is repeated or out of order`},
		{"PT1.5H30M", `invalid duration "PT1.5H30M": only the last component may have a fraction`},
		{"P1.5DT1H", `invalid duration "P1.5DT1H": only the last component may have a fraction`},
		{"PT1", `invalid duration "PT1": number without unit at the end`},
		{"PTH", `invalid duration "PTH": expected a number before 'H'`},
		{"PT1.H", `invalid duration "PT1.H": decimal separator without digits after it`},
		{"PT1HT1M", `invalid duration "PT1HT1M": the time designator T appears twice`},
		{"PT-1H", `invalid duration "PT-1H": expected a number before '-'`},
		{"PT2562047H47M16.854775808S", `invalid duration "PT2562047H47M16.854775808S": out of range (the limit is about 292 years)`},
		{"P106752D", `invalid duration "P106752D": out of range (the limit is about 292 years)`},
		{"PT99999999999999999999H", `invalid duration "PT99999999999999999999H": out of range (the limit is about 292 years)`},
		{"2d", `invalid duration "2d": the Go form has no day unit; write e.g. P2D or 48h`},
		{"1h2d", `invalid duration "1h2d": the Go form has no day unit; write e.g. P2D or 48h`},
		{"3w", `invalid duration "3w": the Go form has no week unit; write e.g. P2W or 336h`},
		{"abc", `invalid duration "abc": ` + goOrISO},
		{"10", `invalid duration "10": ` + goOrISO}, // Go requires a unit except for 0
		{"1h 30m", `invalid duration "1h 30m": ` + goOrISO},
		{"--1h", `invalid duration "--1h": ` + goOrISO},
		{"3000000h", `invalid duration "3000000h": ` + goOrISO}, // Go range overflow
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if err == nil {
			t.Errorf("ParseDuration(%q) = %v, want error %q", tt.in, got, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("ParseDuration(%q) error:\n got %q\nwant %q", tt.in, err.Error(), tt.want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "PT0S"},
		{time.Nanosecond, "PT0.000000001S"},
		{1500 * time.Millisecond, "PT1.5S"},
		{90 * time.Minute, "PT1H30M"},
		{time.Hour, "PT1H"},
		{36 * time.Hour, "PT36H"},
		{time.Hour + time.Second, "PT1H1S"},
		{-90 * time.Second, "-PT1M30S"},
		{math.MaxInt64, "PT2562047H47M16.854775807S"},
		{math.MinInt64, "-PT2562047H47M16.854775808S"},
	}
	for _, tt := range tests {
		if got := FormatDuration(tt.in); got != tt.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tt.in, got, tt.want)
		}
		back, err := ParseDuration(tt.want)
		if err != nil || back != tt.in {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.want, back, err, tt.in)
		}
	}
}

// FuzzParseDuration checks that no input panics, that errors always name the
// input, and that every accepted duration survives a FormatDuration round
// trip (the normalised form DURATION inputs store must parse back exactly).
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{
		"PT1H30M", "P1D", "P1DT2H", "P2W", "P1W2D", "PT0.5S", "PT0,5S", "-PT1H", "+P1D",
		"90m", "1h30m", "-1.5s", "0", "P", "PT", "P1M", "P1Y", "PT1.5H30M", "2d",
		"PT2562047H47M16.854775807S", "-PT2562047H47M16.854775808S", "P106752D",
		"PT99999999999999999999H", "PT0.99999999999999999999999S", "", " ", "p1dt1h",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "invalid duration ") {
				t.Fatalf("ParseDuration(%q): error %q lacks the prefix", s, err)
			}
			return
		}
		iso := FormatDuration(d)
		back, err := ParseDuration(iso)
		if err != nil {
			t.Fatalf("ParseDuration(%q) = %v, but its normal form %q does not parse: %v", s, d, iso, err)
		}
		if back != d {
			t.Fatalf("round trip of %q: %v -> %q -> %v", s, d, iso, back)
		}
	})
}
