package inputs

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"
)

// coerceCase is one Coerce call: want is compared with reflect.DeepEqual, so
// the dynamic type of the result matters (int64, not int); err, when set, is
// the exact Error() text expected.
type coerceCase struct {
	name string
	decl Decl
	raw  any
	want any
	err  string
}

func runCoerce(t *testing.T, tests []coerceCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.decl
			if d.ID == "" {
				d.ID = "x"
			}
			got, err := d.Coerce(tt.raw)
			if tt.err != "" {
				if err == nil {
					t.Fatalf("Coerce(%#v) = %#v, want error %q", tt.raw, got, tt.err)
				}
				if err.Error() != tt.err {
					t.Fatalf("Coerce(%#v) error:\n got %q\nwant %q", tt.raw, err.Error(), tt.err)
				}
				var ie *InputError
				if !errors.As(err, &ie) || ie.ID != d.ID || ie.Type != d.Type {
					t.Fatalf("error %#v is not an *InputError for %s/%s", err, d.ID, d.Type)
				}
				if got != nil {
					t.Fatalf("Coerce returned %#v with its error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Coerce(%#v): unexpected error %v", tt.raw, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Coerce(%#v) = %#v (%T), want %#v (%T)", tt.raw, got, got, tt.want, tt.want)
			}
		})
	}
}

func TestCoerceString(t *testing.T) {
	str := Decl{Type: TypeString}
	lower := Decl{Type: TypeString, Validator: "[a-z]+"}
	alt := Decl{Type: TypeString, Validator: "a|b"} // alternation must be grouped by the anchoring
	runCoerce(t, []coerceCase{
		{"text", str, "hello", "hello", ""},
		{"empty", str, "", "", ""},
		{"blanks kept", str, "  a b ", "  a b ", ""},
		{"typed int", str, int64(12345), "12345", ""},
		{"typed float", str, 2.5, "2.5", ""},
		{"typed integral float", str, float64(10), "10", ""},
		{"json number", str, json.Number("007"), "007", ""},
		{"typed bool", str, true, "true", ""},
		{"list", str, []any{"a", "b"}, nil, "input `x` (STRING): expected a string, got a list"},
		{"object", str, map[string]any{"a": 1}, nil, "input `x` (STRING): expected a string, got an object"},
		{"null", str, nil, nil, "input `x` (STRING): a value is required, got null"},
		{"validator match", lower, "abc", "abc", ""},
		{"validator full match", lower, "abc1", nil, "input `x` (STRING): \"abc1\" does not match validator `[a-z]+`"},
		{"validator prefix only", lower, "1abc", nil, "input `x` (STRING): \"1abc\" does not match validator `[a-z]+`"},
		{"validator empty", lower, "", nil, "input `x` (STRING): \"\" does not match validator `[a-z]+`"},
		{"alternation a", alt, "a", "a", ""},
		{"alternation not ab", alt, "ab", nil, "input `x` (STRING): \"ab\" does not match validator `a|b`"},
		{"alternation not xb", alt, "xb", nil, "input `x` (STRING): \"xb\" does not match validator `a|b`"},
		{"long value shortened", str, []any{"0123456789012345678901234567890123456789012345678901234567890123456789"}, nil, "input `x` (STRING): expected a string, got a list"},
		{"broken validator", Decl{Type: TypeString, Validator: "("}, "a", nil, "input `x` (STRING): the declared validator is not a valid regular expression"},
	})
}

func TestCoerceLongValueIsShortened(t *testing.T) {
	d := Decl{ID: "x", Type: TypeString, Validator: "a"}
	_, err := d.Coerce("0123456789012345678901234567890123456789012345678901234567890123456789")
	want := "input `x` (STRING): \"0123456789012345678901234567890123456789012345678901234567890123…\" does not match validator `a`"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

func TestCoerceSecretNeverShowsValue(t *testing.T) {
	runCoerce(t, []coerceCase{
		{"ok", Decl{Type: TypeSecret}, "s3cr3t", "s3cr3t", ""},
		{"validator", Decl{Type: TypeSecret, Validator: "[a-z]+"}, "hunter2", nil, "input `x` (SECRET): value does not match validator `[a-z]+`"},
		{"list", Decl{Type: TypeSecret}, []any{"hunter2"}, nil, "input `x` (SECRET): expected a string, got a list"},
	})
	d := Decl{ID: "token", Type: TypeSecret, Validator: "[a-z]+"}
	_, err := d.Coerce("hunter2")
	var ie *InputError
	if !errors.As(err, &ie) {
		t.Fatalf("want *InputError, got %v", err)
	}
	if ie.Value != nil {
		t.Errorf("SECRET error carries the value %#v", ie.Value)
	}
}

func TestCoerceInt(t *testing.T) {
	i := Decl{Type: TypeInt}
	bounded := Decl{Type: TypeInt, Min: int64(1), Max: int64(10)}
	runCoerce(t, []coerceCase{
		{"text", i, "42", int64(42), ""},
		{"negative", i, "-7", int64(-7), ""},
		{"plus", i, "+7", int64(7), ""},
		{"blanks", i, " 42\n", int64(42), ""},
		{"max int64", i, "9223372036854775807", int64(math.MaxInt64), ""},
		{"min int64", i, "-9223372036854775808", int64(math.MinInt64), ""},
		{"typed int", i, 42, int64(42), ""},
		{"typed int64", i, int64(42), int64(42), ""},
		{"typed uint8", i, uint8(42), int64(42), ""},
		{"json float integral", i, float64(42), int64(42), ""},
		{"json number", i, json.Number("42"), int64(42), ""},
		{"json number integral float", i, json.Number("42.0"), int64(42), ""},
		{"not a number", i, "abc", nil, "input `x` (INT): \"abc\" is not an integer"},
		{"decimal text", i, "3.0", nil, "input `x` (INT): \"3.0\" is not an integer"},
		{"exponent text", i, "1e3", nil, "input `x` (INT): \"1e3\" is not an integer"},
		{"empty", i, "", nil, "input `x` (INT): \"\" is not an integer"},
		{"underscores", i, "1_000", nil, "input `x` (INT): \"1_000\" is not an integer"},
		{"overflow", i, "9223372036854775808", nil, "input `x` (INT): \"9223372036854775808\" is out of range for a 64-bit integer"},
		{"typed fraction", i, 3.5, nil, "input `x` (INT): 3.5 is not an integer"},
		{"typed float overflow", i, 1e19, nil, "input `x` (INT): 10000000000000000000 is out of range for a 64-bit integer"},
		{"typed uint64 overflow", i, uint64(math.MaxUint64), nil, "input `x` (INT): 18446744073709551615 is out of range for a 64-bit integer"},
		{"typed bool", i, true, nil, "input `x` (INT): true is not an integer"},
		{"list", i, []any{"1", "2"}, nil, "input `x` (INT): expected an integer, got a list"},
		{"min boundary", bounded, "1", int64(1), ""},
		{"max boundary", bounded, "10", int64(10), ""},
		{"below min", bounded, "0", nil, "input `x` (INT): 0 is less than the minimum 1"},
		{"above max", bounded, int64(11), nil, "input `x` (INT): 11 is greater than the maximum 10"},
		{"float bounds from yaml", Decl{Type: TypeInt, Min: float64(5)}, "4", nil, "input `x` (INT): 4 is less than the minimum 5"},
		{"only max", Decl{Type: TypeInt, Max: 3}, "-100", int64(-100), ""},
		{"broken bound", Decl{Type: TypeInt, Min: "one"}, "1", nil, "input `x` (INT): the declaration is invalid: min: \"one\" is not an integer"},
	})
}

func TestCoerceFloat(t *testing.T) {
	f := Decl{Type: TypeFloat}
	bounded := Decl{Type: TypeFloat, Min: 0, Max: 1.5}
	runCoerce(t, []coerceCase{
		{"text", f, "3.14", 3.14, ""},
		{"integer text", f, "3", 3.0, ""},
		{"exponent", f, "1e-3", 0.001, ""},
		{"negative", f, "-0.5", -0.5, ""},
		{"blanks", f, " 2.5 ", 2.5, ""},
		{"typed float", f, 2.5, 2.5, ""},
		{"typed int", f, int64(2), 2.0, ""},
		{"json number", f, json.Number("2.5"), 2.5, ""},
		{"not a number", f, "abc", nil, "input `x` (FLOAT): \"abc\" is not a number"},
		{"NaN", f, "NaN", nil, "input `x` (FLOAT): \"NaN\" is not a finite number"},
		{"Inf", f, "+Inf", nil, "input `x` (FLOAT): \"+Inf\" is not a finite number"},
		{"typed NaN", f, math.NaN(), nil, "input `x` (FLOAT): NaN is not a finite number"},
		{"hex", f, "0x1p-2", nil, "input `x` (FLOAT): \"0x1p-2\" is not a number"},
		{"overflow", f, "1e400", nil, "input `x` (FLOAT): \"1e400\" is out of range for a 64-bit float"},
		{"comma decimal", f, "3,14", nil, "input `x` (FLOAT): \"3,14\" is not a number"},
		{"bool", f, false, nil, "input `x` (FLOAT): false is not a number"},
		{"object", f, map[string]any{}, nil, "input `x` (FLOAT): expected a number, got an object"},
		{"min boundary", bounded, "0", 0.0, ""},
		{"max boundary", bounded, "1.5", 1.5, ""},
		{"below min", bounded, "-0.001", nil, "input `x` (FLOAT): -0.001 is less than the minimum 0"},
		{"above max", bounded, 1.51, nil, "input `x` (FLOAT): 1.51 is greater than the maximum 1.5"},
	})
}

func TestCoerceBoolean(t *testing.T) {
	b := Decl{Type: TypeBoolean}
	const hint = " is not a boolean (use true/false, yes/no or 1/0)"
	runCoerce(t, []coerceCase{
		{"true", b, "true", true, ""},
		{"TRUE", b, "TRUE", true, ""},
		{"Yes", b, "Yes", true, ""},
		{"1", b, "1", true, ""},
		{"false", b, "false", false, ""},
		{"No", b, " No ", false, ""},
		{"0", b, "0", false, ""},
		{"typed", b, false, false, ""},
		{"typed 1", b, float64(1), true, ""},
		{"typed 0", b, int64(0), false, ""},
		{"maybe", b, "maybe", nil, "input `x` (BOOLEAN): \"maybe\"" + hint},
		{"empty", b, "", nil, "input `x` (BOOLEAN): \"\"" + hint},
		{"on", b, "on", nil, "input `x` (BOOLEAN): \"on\"" + hint},
		{"typed 2", b, int64(2), nil, "input `x` (BOOLEAN): 2" + hint},
		{"list", b, []any{true}, nil, "input `x` (BOOLEAN): expected a boolean, got a list"},
	})
}

func TestCoerceDateTime(t *testing.T) {
	dt := Decl{Type: TypeDateTime}
	bounded := Decl{Type: TypeDateTime, After: "2024-01-01T00:00:00Z", Before: "2024-12-31T23:59:59Z"}
	const expect = " is not a date-time (expected RFC 3339, e.g. 2024-01-31T09:30:00Z)"
	runCoerce(t, []coerceCase{
		{"utc", dt, "2024-03-01T10:20:30Z", "2024-03-01T10:20:30Z", ""},
		{"offset normalised to utc", dt, "2024-03-01T10:20:30+02:00", "2024-03-01T08:20:30Z", ""},
		{"fraction", dt, "2024-03-01T10:20:30.250Z", "2024-03-01T10:20:30.25Z", ""},
		{"zero fraction dropped", dt, "2024-03-01T10:20:30.000Z", "2024-03-01T10:20:30Z", ""},
		{"no zone is utc", dt, "2024-03-01T10:20:30", "2024-03-01T10:20:30Z", ""},
		{"no zone with fraction", dt, "2024-03-01T10:20:30.5", "2024-03-01T10:20:30.5Z", ""},
		{"space form", dt, "2024-03-01 10:20:30", "2024-03-01T10:20:30Z", ""},
		{"blanks", dt, " 2024-03-01T10:20:30Z ", "2024-03-01T10:20:30Z", ""},
		{"typed time", dt, time.Date(2024, 3, 1, 12, 0, 0, 0, time.FixedZone("X", 3600)), "2024-03-01T11:00:00Z", ""},
		{"typed time out of range", dt, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), nil, "input `x` (DATETIME): \"10000-01-01T00:00:00Z\" is not a date-time (expected RFC 3339, e.g. 2024-01-31T09:30:00Z)"},
		{"year 0 moved before year 0", dt, "0000-01-01T00:30:00+01:00", nil, "input `x` (DATETIME): \"0000-01-01T00:30:00+01:00\" is not a date-time (out of range once converted to UTC: years are 0000 to 9999)"},
		{"date only", dt, "2024-03-01", nil, "input `x` (DATETIME): \"2024-03-01\"" + expect},
		{"no seconds", dt, "2024-03-01T10:20Z", nil, "input `x` (DATETIME): \"2024-03-01T10:20Z\"" + expect},
		{"bad month", dt, "2024-13-01T00:00:00Z", nil, "input `x` (DATETIME): \"2024-13-01T00:00:00Z\"" + expect},
		{"garbage", dt, "yesterday", nil, "input `x` (DATETIME): \"yesterday\"" + expect},
		{"number", dt, int64(1700000000), nil, "input `x` (DATETIME): 1700000000 is not a date-time"},
		{"after boundary", bounded, "2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", ""},
		{"before boundary", bounded, "2024-12-31T23:59:59Z", "2024-12-31T23:59:59Z", ""},
		{"bound with offset", bounded, "2024-01-01T01:00:00+01:00", "2024-01-01T00:00:00Z", ""},
		{"too early", bounded, "2023-12-31T23:59:59Z", nil, "input `x` (DATETIME): 2023-12-31T23:59:59Z must not be before 2024-01-01T00:00:00Z"},
		{"too late", bounded, "2025-01-01T00:00:00Z", nil, "input `x` (DATETIME): 2025-01-01T00:00:00Z must not be after 2024-12-31T23:59:59Z"},
	})
}

func TestCoerceDate(t *testing.T) {
	d := Decl{Type: TypeDate}
	bounded := Decl{Type: TypeDate, After: "2024-01-01", Before: "2024-01-31"}
	const expect = " is not a date (expected YYYY-MM-DD)"
	runCoerce(t, []coerceCase{
		{"date", d, "2024-02-29", "2024-02-29", ""},
		{"blanks", d, " 2024-02-29 ", "2024-02-29", ""},
		{"typed time", d, time.Date(2024, 2, 29, 23, 0, 0, 0, time.UTC), "2024-02-29", ""},
		{"not leap", d, "2023-02-29", nil, "input `x` (DATE): \"2023-02-29\"" + expect},
		{"one digit month", d, "2024-2-01", nil, "input `x` (DATE): \"2024-2-01\"" + expect},
		{"datetime", d, "2024-02-01T00:00:00Z", nil, "input `x` (DATE): \"2024-02-01T00:00:00Z\"" + expect},
		{"slashes", d, "01/02/2024", nil, "input `x` (DATE): \"01/02/2024\"" + expect},
		{"after boundary", bounded, "2024-01-01", "2024-01-01", ""},
		{"before boundary", bounded, "2024-01-31", "2024-01-31", ""},
		{"too early", bounded, "2023-12-31", nil, "input `x` (DATE): 2023-12-31 must not be before 2024-01-01"},
		{"too late", bounded, "2024-02-01", nil, "input `x` (DATE): 2024-02-01 must not be after 2024-01-31"},
	})
}

func TestCoerceTime(t *testing.T) {
	tm := Decl{Type: TypeTime}
	bounded := Decl{Type: TypeTime, After: "08:00", Before: "18:00:00"}
	const expect = " is not a time of day (expected HH:MM or HH:MM:SS)"
	runCoerce(t, []coerceCase{
		{"full", tm, "13:45:10", "13:45:10", ""},
		{"short", tm, "13:45", "13:45:00", ""},
		{"midnight", tm, "00:00", "00:00:00", ""},
		{"fraction kept", tm, "13:45:10.5", "13:45:10.5", ""},
		{"typed time", tm, time.Date(2024, 1, 1, 7, 8, 9, 0, time.UTC), "07:08:09", ""},
		{"hour 24", tm, "24:00", nil, "input `x` (TIME): \"24:00\"" + expect},
		{"minute 60", tm, "12:60", nil, "input `x` (TIME): \"12:60\"" + expect},
		{"with zone", tm, "12:00:00Z", nil, "input `x` (TIME): \"12:00:00Z\"" + expect},
		{"am/pm", tm, "3pm", nil, "input `x` (TIME): \"3pm\"" + expect},
		{"after boundary", bounded, "08:00:00", "08:00:00", ""},
		{"before boundary", bounded, "18:00", "18:00:00", ""},
		{"too early", bounded, "07:59:59", nil, "input `x` (TIME): 07:59:59 must not be before 08:00:00"},
		{"too late", bounded, "18:00:01", nil, "input `x` (TIME): 18:00:01 must not be after 18:00:00"},
	})
}

func TestCoerceDuration(t *testing.T) {
	d := Decl{Type: TypeDuration}
	bounded := Decl{Type: TypeDuration, Min: "PT5M", Max: "2h"}
	runCoerce(t, []coerceCase{
		{"iso", d, "PT1H30M", "PT1H30M", ""},
		{"iso minutes normalised", d, "PT90M", "PT1H30M", ""},
		{"iso day", d, "P1D", "PT24H", ""},
		{"iso day and hours", d, "P1DT2H", "PT26H", ""},
		{"go minutes", d, "90m", "PT1H30M", ""},
		{"go mixed", d, "1h30m", "PT1H30M", ""},
		{"go fraction", d, "1.5s", "PT1.5S", ""},
		{"zero", d, "0", "PT0S", ""},
		{"typed duration", d, 45 * time.Second, "PT45S", ""},
		{"months", d, "P1M", nil, "input `x` (DURATION): \"P1M\" is not a duration: years and months are not supported because their length varies; use days or weeks instead, e.g. P30D"},
		{"garbage", d, "soon", nil, "input `x` (DURATION): \"soon\" is not a duration: expected ISO-8601 (e.g. PT1H30M, P1D) or Go form (e.g. 1h30m, 90s)"},
		{"bare number", d, int64(60), nil, "input `x` (DURATION): 60 is not a duration (durations are text such as PT15M or 15m)"},
		{"min boundary", bounded, "5m", "PT5M", ""},
		{"max boundary", bounded, "PT2H", "PT2H", ""},
		{"too short", bounded, "PT4M59S", nil, "input `x` (DURATION): PT4M59S is shorter than the minimum PT5M"},
		{"too long", bounded, "P1D", nil, "input `x` (DURATION): PT24H is longer than the maximum PT2H"},
	})
}

func TestCoerceSelect(t *testing.T) {
	colors := []string{"red", "green", "blue"}
	sel := Decl{Type: TypeSelect, Values: colors}
	enum := Decl{Type: TypeEnum, Values: colors}
	custom := Decl{Type: TypeSelect, Values: colors, AllowCustomValue: true}
	nums := Decl{Type: TypeSelect, Values: []string{"1", "2"}}
	many := Decl{Type: TypeSelect, Values: []string{"a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9", "a10", "a11", "a12"}}
	runCoerce(t, []coerceCase{
		{"listed", sel, "green", "green", ""},
		{"not listed", sel, "purple", nil, "input `x` (SELECT): \"purple\" is not one of the allowed values: red, green, blue"},
		{"case differs", sel, "Red", nil, "input `x` (SELECT): \"Red\" is not one of the allowed values: red, green, blue; did you mean \"red\"?"},
		{"typo", sel, "bleu", nil, "input `x` (SELECT): \"bleu\" is not one of the allowed values: red, green, blue; did you mean \"blue\"?"},
		{"no trimming", sel, " red", nil, "input `x` (SELECT): \" red\" is not one of the allowed values: red, green, blue; did you mean \"red\"?"},
		{"enum listed", enum, "blue", "blue", ""},
		{"enum not listed", enum, "pink", nil, "input `x` (ENUM): \"pink\" is not one of the allowed values: red, green, blue"},
		{"custom allowed", custom, "purple", "purple", ""},
		{"typed number as text", nums, int64(2), "2", ""},
		{"list", sel, []any{"red"}, nil, "input `x` (SELECT): expected a string, got a list"},
		{"many values listed briefly", many, "b", nil, "input `x` (SELECT): \"b\" is not one of the allowed values: a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, … (2 more)"},
	})
}

func TestCoerceMultiSelect(t *testing.T) {
	vals := []string{"a", "b", "c", "x,y"}
	ms := Decl{Type: TypeMultiSelect, Values: vals}
	custom := Decl{Type: TypeMultiSelect, Values: vals, AllowCustomValue: true}
	runCoerce(t, []coerceCase{
		{"list", ms, []any{"a", "c"}, []any{"a", "c"}, ""},
		{"string slice", ms, []string{"b"}, []any{"b"}, ""},
		{"json text", ms, `["a", "b"]`, []any{"a", "b"}, ""},
		{"json text with comma value", ms, `["x,y"]`, []any{"x,y"}, ""},
		{"comma text", ms, "a, b,c", []any{"a", "b", "c"}, ""},
		{"single", ms, "a", []any{"a"}, ""},
		{"empty text", ms, "", []any{}, ""},
		{"empty pieces dropped", ms, "a,,b,", []any{"a", "b"}, ""},
		{"empty list", ms, []any{}, []any{}, ""},
		{"not listed", ms, "a,z", nil, "input `x` (MULTISELECT): \"z\" is not one of the allowed values: a, b, c, x,y"},
		{"several not listed", ms, []any{"z", "a", "w", "z"}, nil, "input `x` (MULTISELECT): \"z\", \"w\" are not among the allowed values: a, b, c, x,y"},
		{"custom", custom, "a,zz", []any{"a", "zz"}, ""},
		{"bad json", ms, `["a",`, nil, "input `x` (MULTISELECT): \"[\\\"a\\\",\" is not a valid JSON array: unexpected EOF"},
		{"object item", ms, []any{"a", map[string]any{}}, nil, "input `x` (MULTISELECT): item 2: expected a string, got an object"},
		{"typed number", ms, int64(1), nil, "input `x` (MULTISELECT): 1 is not a list of values"},
	})
}

func TestCoerceArray(t *testing.T) {
	strs := Decl{Type: TypeArray}
	ints := Decl{Type: TypeArray, ItemType: TypeInt}
	dates := Decl{Type: TypeArray, ItemType: TypeDate}
	jsons := Decl{Type: TypeArray, ItemType: TypeJSON}
	runCoerce(t, []coerceCase{
		{"strings", strs, []any{"a", "b"}, []any{"a", "b"}, ""},
		{"json text", strs, `["a","b"]`, []any{"a", "b"}, ""},
		{"numbers as strings", strs, `[1, 2.5]`, []any{"1", "2.5"}, ""},
		{"empty", strs, "[]", []any{}, ""},
		{"ints from text", ints, "[1, 2, 3]", []any{int64(1), int64(2), int64(3)}, ""},
		{"ints from cli repeats", ints, []any{"1", "2"}, []any{int64(1), int64(2)}, ""},
		{"ints typed", ints, []any{float64(1), int64(2)}, []any{int64(1), int64(2)}, ""},
		{"big int kept exact", ints, "[12345678901234567]", []any{int64(12345678901234567)}, ""},
		{"dates", dates, []any{"2024-01-02"}, []any{"2024-01-02"}, ""},
		{"json text string items stay strings", jsons, `["a", 1]`, []any{"a", int64(1)}, ""},
		{"json list string items are json text", jsons, []any{`{"a":1}`, `"s"`}, []any{map[string]any{"a": int64(1)}, "s"}, ""},
		{"json list bare word item", jsons, []any{"a"}, nil, "input `x` (ARRAY): item 1: \"a\" is not valid JSON: invalid character 'a' looking for beginning of value"},
		{"json items", jsons, `[{"a":1},[2]]`, []any{map[string]any{"a": int64(1)}, []any{int64(2)}}, ""},
		{"bad item", ints, []any{"1", "two"}, nil, "input `x` (ARRAY): item 2: \"two\" is not an integer"},
		{"bad date item", dates, `["2024-01-32"]`, nil, "input `x` (ARRAY): item 1: \"2024-01-32\" is not a date (expected YYYY-MM-DD)"},
		{"comma text", strs, "a,b", nil, "input `x` (ARRAY): \"a,b\" is not a JSON array: invalid character 'a' looking for beginning of value"},
		{"json scalar", ints, "1", nil, "input `x` (ARRAY): \"1\" is not a JSON array"},
		{"json object", strs, map[string]any{}, nil, "input `x` (ARRAY): expected a list, got an object"},
		{"unsupported item type", Decl{Type: TypeArray, ItemType: TypeSelect}, "[]", nil, "input `x` (ARRAY): the declaration is invalid: itemType SELECT is not supported"},
	})
}

func TestCoerceJSON(t *testing.T) {
	j := Decl{Type: TypeJSON}
	runCoerce(t, []coerceCase{
		{"object text", j, `{"a": 1, "b": [true, null, 2.5, "s"]}`, map[string]any{"a": int64(1), "b": []any{true, nil, 2.5, "s"}}, ""},
		{"array text", j, `[1]`, []any{int64(1)}, ""},
		{"string text", j, `"hi"`, "hi", ""},
		{"number text", j, ` 42 `, int64(42), ""},
		{"big int text", j, `9007199254740993`, int64(9007199254740993), ""},
		{"null text", j, `null`, nil, ""},
		{"nil", j, nil, nil, ""},
		{"typed map keeps float64", j, map[string]any{"a": float64(1), "b": 0.5, "c": 7}, map[string]any{"a": float64(1), "b": 0.5, "c": int64(7)}, ""},
		{"typed string map", j, map[string]string{"k": "v"}, map[string]any{"k": "v"}, ""},
		{"typed json number", j, []any{json.Number("3"), json.Number("3.5")}, []any{int64(3), 3.5}, ""},
		{"typed list", j, []string{"x"}, []any{"x"}, ""},
		{"typed scalar", j, true, true, ""},
		{"no html escaping", j, map[string]any{"h": "<a&b>"}, map[string]any{"h": "<a&b>"}, ""},
		{"invalid", j, `{"a":`, nil, "input `x` (JSON): \"{\\\"a\\\":\" is not valid JSON: unexpected EOF"},
		{"bare word", j, `hello`, nil, "input `x` (JSON): \"hello\" is not valid JSON: invalid character 'h' looking for beginning of value"},
		{"empty", j, ``, nil, "input `x` (JSON): \"\" is not valid JSON: empty JSON text"},
		{"trailing", j, `{} {}`, nil, "input `x` (JSON): \"{} {}\" is not valid JSON: unexpected text after the JSON value"},
		{"huge number", j, `1e400`, nil, "input `x` (JSON): \"1e400\" is not valid JSON: number 1e400 is out of range"},
		{"unrepresentable", j, map[string]any{"f": math.Inf(1)}, nil, "input `x` (JSON): the value cannot be represented as JSON: +Inf is not a finite number"},
		{"non-string keys", j, map[int]bool{1: true}, map[string]any{"1": true}, ""},
		{"unsupported type", j, make(chan int), nil, "input `x` (JSON): the value cannot be represented as JSON: json: unsupported type: chan int"},
	})
}

func TestCoerceJSONDoesNotModifyItsArgument(t *testing.T) {
	raw := map[string]any{"n": json.Number("1"), "l": []any{json.Number("2")}}
	d := Decl{ID: "x", Type: TypeJSON}
	if _, err := d.Coerce(raw); err != nil {
		t.Fatal(err)
	}
	if raw["n"] != json.Number("1") || raw["l"].([]any)[0] != json.Number("2") {
		t.Errorf("argument modified: %#v", raw)
	}
}

func TestCoerceURI(t *testing.T) {
	u := Decl{Type: TypeURI}
	https := Decl{Type: TypeURI, Validator: `https://.*`}
	runCoerce(t, []coerceCase{
		{"http", u, "https://example.com/a?b=c#d", "https://example.com/a?b=c#d", ""},
		{"trimmed", u, " s3://bucket/key ", "s3://bucket/key", ""},
		{"mailto", u, "mailto:ops@example.com", "mailto:ops@example.com", ""},
		{"file", u, "file:///tmp/x", "file:///tmp/x", ""},
		{"relative", u, "/a/b", nil, "input `x` (URI): \"/a/b\" is not an absolute URI: it needs a scheme, e.g. https://"},
		{"no scheme", u, "example.com", nil, "input `x` (URI): \"example.com\" is not an absolute URI: it needs a scheme, e.g. https://"},
		{"space", u, "https://example.com/a b", nil, "input `x` (URI): \"https://example.com/a b\" is not a valid URI: it contains whitespace or control characters"},
		{"bad host", u, "http://[::1", nil, "input `x` (URI): \"http://[::1\" is not a valid URI: missing ']' in host"},
		{"scheme only", u, "https://", nil, "input `x` (URI): \"https://\" is not a valid URI: nothing follows the scheme"},
		{"empty", u, "", nil, "input `x` (URI): \"\" is not a URI"},
		{"validator", https, "http://example.com", nil, "input `x` (URI): \"http://example.com\" does not match validator `https://.*`"},
		{"validator ok", https, "https://example.com", "https://example.com", ""},
		{"list", u, []any{}, nil, "input `x` (URI): expected a URI, got a list"},
	})
}

func TestCoerceEmail(t *testing.T) {
	e := Decl{Type: TypeEmail}
	corp := Decl{Type: TypeEmail, Validator: `.*@example\.com`}
	runCoerce(t, []coerceCase{
		{"plain", e, "ops@example.com", "ops@example.com", ""},
		{"trimmed", e, " ops@example.com ", "ops@example.com", ""},
		{"plus", e, "a.b+c@sub.example.org", "a.b+c@sub.example.org", ""},
		{"no at", e, "ops", nil, "input `x` (EMAIL): \"ops\" is not an email address"},
		{"two ats", e, "a@b@c", nil, "input `x` (EMAIL): \"a@b@c\" is not an email address"},
		{"with name", e, "Ops <ops@example.com>", nil, "input `x` (EMAIL): \"Ops <ops@example.com>\" is not a plain email address; write only the address, e.g. ops@example.com"},
		{"angle brackets", e, "<ops@example.com>", nil, "input `x` (EMAIL): \"<ops@example.com>\" is not a plain email address; write only the address, e.g. ops@example.com"},
		{"validator", corp, "ops@example.org", nil, "input `x` (EMAIL): \"ops@example.org\" does not match validator `.*@example\\.com`"},
		{"validator ok", corp, "ops@example.com", "ops@example.com", ""},
	})
}

func TestCoerceUnsupported(t *testing.T) {
	runCoerce(t, []coerceCase{
		{"file not a URI", Decl{Type: TypeFile}, "x", nil, "input `x` (FILE): want the relay:/// URI of a file in internal storage (give a local file as name=@path to `relay run` or `relay executions start`, or upload it with multipart/form-data)"},
		{"file", Decl{Type: TypeFile}, "relay:///ns/f/executions/e/inputs/x/a.csv", "relay:///ns/f/executions/e/inputs/x/a.csv", ""},
		{"kestra file", Decl{Type: TypeFile}, "kestra:///ns/f/executions/e/inputs/x/a.csv", "kestra:///ns/f/executions/e/inputs/x/a.csv", ""},
		{"unknown", Decl{Type: "NUMBER"}, "1", nil, "input `x` (NUMBER): unknown input type \"NUMBER\""},
	})
}
