package inputs

import (
	"errors"
	"reflect"
	"testing"
)

// fuzzDecls covers every supported type, with the constraints that have
// code paths of their own.
var fuzzDecls = []*Decl{
	{ID: "s", Type: TypeString, Validator: `[a-z]*`},
	{ID: "sec", Type: TypeSecret},
	{ID: "i", Type: TypeInt, Min: int64(-5), Max: int64(1 << 40)},
	{ID: "f", Type: TypeFloat, Min: -1.5},
	{ID: "b", Type: TypeBoolean},
	{ID: "dt", Type: TypeDateTime, After: "1900-01-01T00:00:00Z"},
	{ID: "dt2", Type: TypeDateTime},
	{ID: "d", Type: TypeDate},
	{ID: "t", Type: TypeTime},
	{ID: "du", Type: TypeDuration, Max: "P7D"},
	{ID: "sel", Type: TypeSelect, Values: []string{"a", "b"}},
	{ID: "ms", Type: TypeMultiSelect, Values: []string{"a", "b"}, AllowCustomValue: true},
	{ID: "ai", Type: TypeArray, ItemType: TypeInt},
	{ID: "ad", Type: TypeArray, ItemType: TypeDuration},
	{ID: "aj", Type: TypeArray, ItemType: TypeJSON},
	{ID: "j", Type: TypeJSON},
	{ID: "u", Type: TypeURI},
	{ID: "e", Type: TypeEmail},
}

// FuzzCoerce checks that Coerce never panics, that its errors are
// *InputError, and that canonical values are a fixed point: coercing a
// coerced value gives it back unchanged. The last property is what lets
// executions store typed inputs and resolve them again (on restart or
// replay) without drift.
func FuzzCoerce(f *testing.F) {
	for _, s := range []string{
		"", "a", "42", "-5", "3.5", "1e400", "NaN", "true", "Yes", "2024-02-29", "2024-02-29T10:00:00+05:00",
		"0000-01-01T00:30:00+01:00", "9999-12-31T23:30:00-01:00", "13:45", "13:45:10.123", "PT1H", "90m", "P1W",
		"a,b", `["a","b"]`, `[1,2]`, `["PT1M"]`, `{"a":[1,2.5,null]}`, "https://x.y/z", "mailto:a@b", "a@b.c",
		"Bob <a@b.c>", "[", "\x00", "2.0", `[1.0, 2e3]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, d := range fuzzDecls {
			v, err := d.Coerce(s)
			if err != nil {
				var ie *InputError
				if !errors.As(err, &ie) {
					t.Fatalf("%s: error %v is %T", d.Type, err, err)
				}
				continue
			}
			if (d.Type == TypeJSON || d.ItemType == TypeJSON) && hasString(v) {
				continue // strings given to JSON are JSON text: not a fixed point, by design
			}
			again, err := d.Coerce(v)
			if err != nil {
				t.Fatalf("%s: %q -> %#v, which is rejected: %v", d.Type, s, v, err)
			}
			if !reflect.DeepEqual(again, v) {
				t.Fatalf("%s: %q -> %#v -> %#v", d.Type, s, v, again)
			}
		}
	})
}

func hasString(v any) bool {
	switch x := v.(type) {
	case string:
		return true
	case []any:
		for _, e := range x {
			if hasString(e) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if hasString(e) {
				return true
			}
		}
	}
	return false
}
