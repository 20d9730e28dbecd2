package expr

import (
	"testing"
	"time"
)

func TestDateFormat(t *testing.T) {
	runRender(t, testEnv(), []renderCase{
		{"{{ now() | date }}", "2024-01-31T10:00:00.000000Z"},
		{"{{ now() | date('yyyy-MM-dd') }} {{ now() | date('yy/M/d') }}", "2024-01-31 24/1/31"},
		{"{{ now() | date('MMM MMMM MMMMM') }} {{ now() | date('EEE EEEE E') }}", "Jan January J Wed Wednesday Wed"},
		{"{{ now() | date('hh:mm a') }} {{ now() | dateAdd(5, 'HOURS') | date('hh:mm a h') }} {{ now() | dateAdd(-10, 'HOURS') | date('h a K k') }}", "10:00 AM 03:00 PM 3 12 AM 0 24"},
		{"{{ now() | date('H:m:s') }} {{ now() | date('D DDD Q QQQ QQQQ G') }} {{ now() | date('A') }}", "10:0:0 31 031 1 Q1 1st quarter AD 36000000"},
		{"{{ '2024-01-31T10:00:00.123456789Z' | date('ss.SSS SSSSSS n') }}", "00.123 123456 123456789"},
		{"{{ now() | date(\"yyyy-MM-dd'T'HH:mm\") }} {{ now() | date(\"h 'o''clock'\") }} {{ now() | date(\"''\") }} {{ now() | date('[yyyy]') }}", "2024-01-31T10:00 10 o'clock ' 2024"},
		// offsets and zones
		{"{{ now() | date('XXX XX X xxx xx x Z ZZZZ ZZZZZ z VV') }}", "Z Z Z +00:00 +0000 +00 +0000 GMT Z UTC UTC"},
		{"{{ now() | date('HH:mm XXX XX X Z ZZZZ ZZZZZ z zzzz VV O', 'Europe/Paris') }}", "11:00 +01:00 +0100 +01 +0100 GMT+01:00 +01:00 CET Europe/Paris Europe/Paris GMT+1"},
		{"{{ now() | date('HH:mm XXX X', timeZone='Asia/Kolkata') }} {{ now() | date(timezone='America/New_York', format='HH:mm') }}", "15:30 +05:30 +0530 05:00"},
		{"{{ now() | date('HH:mm', '+02:00') }} {{ now() | date('HH:mm', 'UTC+3') }} {{ now() | date('HH:mm XXX', 'GMT-01:30') }} {{ now() | date('HH:mm', 'Z') }}", "12:00 13:00 08:30 -01:30 10:00"},
		// named formats
		{"{{ now() | date('iso_sec') }} {{ now() | date('sql') }} {{ now() | date('sql_seq') }}", "2024-01-31T10:00:00Z 2024-01-31 10:00:00.000000 2024-01-31 10:00:00"},
		{"{{ now() | date('iso_date') }} {{ now() | date('iso_local_date') }} {{ now() | date('iso_date_time') }} {{ now() | date('iso_local_date_time') }}", "2024-01-31Z 2024-01-31 2024-01-31T10:00:00Z 2024-01-31T10:00:00"},
		{"{{ now() | date('iso_date_time', 'Europe/Paris') }} {{ now() | date('iso_offset_date_time', 'Europe/Paris') }} {{ now() | date('iso_zoned_date_time', '+02:00') }}", "2024-01-31T11:00:00+01:00[Europe/Paris] 2024-01-31T11:00:00+01:00 2024-01-31T12:00:00+02:00"},
		{"{{ now() | date('iso_instant', 'Europe/Paris') }} {{ '2024-01-31T10:00:00.5Z' | date('iso_instant') }} {{ '2024-01-31T10:00:00.0000005Z' | date('iso_instant') }}", "2024-01-31T10:00:00Z 2024-01-31T10:00:00.500Z 2024-01-31T10:00:00.000000500Z"},
		{"{{ now() | date('iso_time') }} {{ now() | date('iso_local_time') }} {{ now() | date('iso_offset_time', 'Europe/Paris') }}", "10:00:00Z 10:00:00 11:00:00+01:00"},
		{"{{ now() | date('iso_ordinal_date') }} {{ now() | date('iso_week_date') }}", "2024-031Z 2024-W05-3Z"},
		{"{{ now() | date('rfc_1123_date_time') }} {{ now() | date('rfc_1123_date_time', 'Europe/Paris') }}", "Wed, 31 Jan 2024 10:00:00 GMT Wed, 31 Jan 2024 11:00:00 +0100"},
		{"{{ '2024-01-31T10:00:00.25Z' | date('iso_date_time') }}", "2024-01-31T10:00:00.25Z"},
		// inputs
		{"{{ inputs.when | date('yyyy-MM-dd HH:mm XXX') }} {{ inputs.when | date('HH:mm XXX', 'Europe/Paris') }}", "2024-03-15 06:30 Z 07:30 +01:00"},
		{"{{ inputs.day | date('EEEE') }} {{ inputs.epoch | date('iso_sec') }} {{ 1706695200.5 | date('ss.SSS') }}", "Wednesday 2024-01-31T10:00:00Z 00.500"},
		{"{{ execution.startDate | date('yyyy') }} {{ inputs.ptr | date('MM') }}", "2024 01"},
		{"{{ '2024-01-31T10:00Z[UTC]' | date('HH:mm') }} {{ '2024-01-31T10:00:00+01:00[Europe/Paris]' | date('HH:mm') }}", "10:00 09:00"},
		{"{{ '2024-01-31T10:00:00+0100' | date('HH:mm') }} {{ '2024-01-31 10:00:00' | date('HH') }} {{ '2024-01-31T10:00:00.5' | date }}", "09:00 10 2024-01-31T10:00:00.500000Z"},
		{"{{ null | date('yyyy') }}|", "|"},
		// existingFormat
		{"{{ '31/01/2024 14:05' | date('iso_sec', existingFormat='dd/MM/yyyy HH:mm') }}", "2024-01-31T14:05:00Z"},
		{"{{ '20240131' | date('yyyy-MM-dd', existingFormat='yyyyMMdd') }} {{ '1/2/24' | date('yyyy-MM-dd', existingFormat='d/M/yy') }}", "2024-01-31 2024-02-01"},
		{"{{ 'Jan 5, 2024 3:07 PM' | date('iso_sec', existingFormat='MMM d, yyyy h:mm a') }}", "2024-01-05T15:07:00Z"},
		{"{{ 'Wednesday 31 January 2024' | date('iso_local_date', existingFormat='EEEE d MMMM yyyy') }}", "2024-01-31"},
		{"{{ '2024-01-31 10:00 +0200' | date('iso_sec', existingFormat='yyyy-MM-dd HH:mm Z') }}", "2024-01-31T08:00:00Z"},
		{"{{ '2024-01-31 10:00' | date('iso_sec', timeZone='Europe/Paris', existingFormat='yyyy-MM-dd HH:mm') }}", "2024-01-31T10:00:00+01:00"},
		{"{{ '2024-01-31T10:00:00.123Z' | date('SSS', existingFormat=\"yyyy-MM-dd'T'HH:mm:ss.SSSXXX\") }}", "123"},
		{"{{ '2024-01-31T10:00:00Z' | date('HH', existingFormat='iso') }}", "10"},
	})
}

func TestDateAdd(t *testing.T) {
	runRender(t, testEnv(), []renderCase{
		{"{{ now() | dateAdd(1, 'DAYS') }} {{ now() | dateAdd(-3, 'HOURS') }} {{ now() | dateAdd(2, 'WEEKS') }}", "2024-02-01T10:00:00Z 2024-01-31T07:00:00Z 2024-02-14T10:00:00Z"},
		{"{{ now() | dateAdd(1, 'MONTHS') }} {{ now() | dateAdd(-2, 'MONTHS') }} {{ now() | dateAdd(-13, 'MONTHS') }}", "2024-02-29T10:00:00Z 2023-11-30T10:00:00Z 2022-12-31T10:00:00Z"},
		{"{{ '2024-02-29' | dateAdd(1, 'YEARS') }} {{ now() | dateAdd(1, 'DECADES') | date('yyyy') }} {{ now() | dateAdd(1, 'CENTURIES') | date('yyyy') }}", "2025-02-28T00:00:00Z 2034 2124"},
		{"{{ now() | dateAdd(90, 'MINUTES') }} {{ now() | dateAdd(1500, 'MILLIS') }} {{ now() | dateAdd(1, 'NANOS') }} {{ now() | dateAdd(5, 'MICROS') }}", "2024-01-31T11:30:00Z 2024-01-31T10:00:01.500Z 2024-01-31T10:00:00.000000001Z 2024-01-31T10:00:00.000005Z"},
		{"{{ now() | dateAdd(1, 'HALF_DAYS') }} {{ now() | dateAdd(30, 'SECONDS') }} {{ now() | dateAdd(1, 'days') }}", "2024-01-31T22:00:00Z 2024-01-31T10:00:30Z 2024-02-01T10:00:00Z"},
		{"{{ inputs.when | dateAdd(1, 'DAYS') }}", "2024-03-16T08:30:00+02:00"},
		{"{{ now() | dateAdd(amount=1, unit='DAYS') | date('iso_local_date') }}", "2024-02-01"},
		{"{{ inputs.when | timestamp }} {{ '2024-01-31' | timestamp }} {{ '2024-01-31' | timestamp('Europe/Paris') }}", "1710484200 1706659200 1706655600"},
		{"{{ now() | dateAdd(1, 'DAYS') > now() }} {{ now() == now() | dateAdd(0, 'DAYS') }}", "true true"},
	})
}

func TestDateErrors(t *testing.T) {
	runEvalErrors(t, testEnv(), []errCase{
		{"{{ now() | dateAdd(1, 'FORTNIGHTS') }}", "unknown unit \"FORTNIGHTS\""},
		{"{{ now() | dateAdd('x', 'DAYS') }}", "argument `amount` must be an integer, got string"},
		{"{{ now() | dateAdd(9223372036854775807, 'HOURS') }}", "is too large"},
		{"{{ now() | dateAdd(9223372036854775807, 'YEARS') }}", "is too large"},
		{"{{ now() | date('HH', 'Mars/Base') }}", "unknown time zone \"Mars/Base\""},
		{"{{ now() | date('HH', 'Local') }}", "time zone `Local` is not allowed"},
		{"{{ now() | date('HH', '+99:00') }}", "invalid time zone offset"},
		{"{{ now() | date('ww') }}", "unsupported pattern letter 'w'"},
		{"{{ now() | date(\"'abc\") }}", "unterminated quote"},
		{"{{ 'nope' | date }}", "cannot parse \"nope\" as a date"},
		{"{{ '2024-13-01' | date }}", "cannot parse"},
		{"{{ '31/01' | date(existingFormat='dd/MM/yyyy') }}", "cannot parse \"31/01\" with format \"dd/MM/yyyy\""},
		{"{{ '31/13/2024' | date(existingFormat='dd/MM/yyyy') }}", "cannot parse"},
		{"{{ true | date }}", "expected a date, got boolean"},
		{"{{ now() | date(1) }}", "argument `format` must be a string, got integer"},
		{"{{ 1e300 | date }}", "cannot use"},
	})
}

func TestDateHelpers(t *testing.T) {
	// Month arithmetic across year boundaries and negative totals.
	base := time.Date(2024, 3, 31, 0, 0, 0, 0, time.UTC)
	cases := map[int]string{1: "2024-04-30", -1: "2024-02-29", -3: "2023-12-31", -27: "2021-12-31", 24: "2026-03-31", -24303: "-0002-12-31"}
	for n, want := range cases {
		if got := addMonths(base, n).Format("2006-01-02"); got != want {
			t.Errorf("addMonths(%d) = %s, want %s", n, got, want)
		}
	}
	for s, want := range map[string]int{"+01": 3600, "-0130": -5400, "+01:00:30": 3630, "+5": 18000} {
		if got, ok := parseOffset(s); !ok || got != want {
			t.Errorf("parseOffset(%q) = %d %v", s, got, ok)
		}
	}
	for _, s := range []string{"", "+", "01", "+1:2", "+ab", "+19"} {
		if _, ok := parseOffset(s); ok {
			t.Errorf("parseOffset(%q) accepted", s)
		}
	}
}
