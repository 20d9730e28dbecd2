package inputs

import (
	"errors"
	"reflect"
	"testing"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		decl    Decl
		present []string
		want    []string // exact Error() texts, in order
	}{
		{"minimal string", Decl{ID: "name", Type: TypeString}, []string{"id", "type"}, nil},
		{"every common property", Decl{ID: "n", Type: TypeInt, Description: "d", Required: false, Defaults: int64(3), HasDefaults: true},
			[]string{"id", "type", "description", "required", "defaults"}, nil},
		{"missing id", Decl{Type: TypeString}, nil, []string{"input ``: id: an id is required"}},
		{"bad id", Decl{ID: "my input", Type: TypeString}, nil,
			[]string{"input `my input`: id: \"my input\" is not a valid id: use letters, digits, '.', '_' and '-', starting with a letter or digit"}},
		{"id with dots and dashes", Decl{ID: "a.b-c_d1", Type: TypeString}, nil, nil},
		{"missing type", Decl{ID: "x"}, nil,
			[]string{"input `x`: type: a type is required, one of STRING, SECRET, INT, FLOAT, BOOLEAN, DATETIME, DATE, TIME, DURATION, SELECT, ENUM, MULTISELECT, ARRAY, JSON, URI, EMAIL, FILE"}},
		{"misspelt type", Decl{ID: "x", Type: "STRNG"}, nil, []string{"input `x`: type: unknown type \"STRNG\"; did you mean STRING?"}},
		{"lower-case type", Decl{ID: "x", Type: "int"}, nil, []string{"input `x`: type: unknown type \"int\"; did you mean INT?"}},
		{"unrelated type", Decl{ID: "x", Type: "BLOB"}, nil,
			[]string{"input `x`: type: unknown type \"BLOB\"; use one of STRING, SECRET, INT, FLOAT, BOOLEAN, DATETIME, DATE, TIME, DURATION, SELECT, ENUM, MULTISELECT, ARRAY, JSON, URI, EMAIL, FILE"}},
		{"file", Decl{ID: "f", Type: TypeFile}, nil, nil},
		{"unknown type still reports unknown keys", Decl{ID: "x", Type: "STRNG"}, []string{"validtor", "min"},
			[]string{"input `x`: type: unknown type \"STRNG\"; did you mean STRING?", "input `x`: validtor: unknown property; did you mean `validator`?"}},
		{"bad validator", Decl{ID: "x", Type: TypeString, Validator: "[a-"}, nil,
			[]string{"input `x`: validator: not a valid regular expression: error parsing regexp: missing closing ]: `[a-`"}},
		{"validator lookahead is not RE2", Decl{ID: "x", Type: TypeString, Validator: "(?=a)"}, nil,
			[]string{"input `x`: validator: not a valid regular expression: error parsing regexp: invalid or unsupported Perl syntax: `(?=`"}},
		{"validator on INT", Decl{ID: "x", Type: TypeInt, Validator: "\\d+"}, nil,
			[]string{"input `x`: validator: does not apply to INT inputs (only to STRING, SECRET, URI, EMAIL)"}},
		{"min on STRING from present only", Decl{ID: "x", Type: TypeString}, []string{"min"},
			[]string{"input `x`: min: does not apply to STRING inputs (only to INT, FLOAT, DURATION)"}},
		{"unknown property", Decl{ID: "x", Type: TypeString}, []string{"id", "type", "defualts", "colour"},
			[]string{"input `x`: defualts: unknown property; did you mean `defaults`?", "input `x`: colour: unknown property"}},
		{"present repeated once reported", Decl{ID: "x", Type: TypeBoolean}, []string{"values", "values"},
			[]string{"input `x`: values: does not apply to BOOLEAN inputs (only to SELECT, ENUM, MULTISELECT)"}},
		{"int min > max", Decl{ID: "x", Type: TypeInt, Min: int64(10), Max: int64(5)}, nil, []string{"input `x`: min: min 10 is greater than max 5"}},
		{"int min == max", Decl{ID: "x", Type: TypeInt, Min: int64(5), Max: int64(5)}, nil, nil},
		{"int fractional min", Decl{ID: "x", Type: TypeInt, Min: 1.5}, nil, []string{"input `x`: min: 1.5 is not an integer"}},
		{"int text max", Decl{ID: "x", Type: TypeInt, Max: "ten"}, nil, []string{"input `x`: max: \"ten\" is not an integer"}},
		{"float min > max", Decl{ID: "x", Type: TypeFloat, Min: 1.5, Max: int64(1)}, nil, []string{"input `x`: min: min 1.5 is greater than max 1"}},
		{"duration bounds", Decl{ID: "x", Type: TypeDuration, Min: "PT1M", Max: "1h"}, nil, nil},
		{"duration min > max", Decl{ID: "x", Type: TypeDuration, Min: "P1D", Max: "1h"}, nil, []string{"input `x`: min: min PT24H is greater than max PT1H"}},
		{"duration bad bound", Decl{ID: "x", Type: TypeDuration, Max: "P1M"}, nil,
			[]string{"input `x`: max: \"P1M\" is not a duration: years and months are not supported because their length varies; use days or weeks instead, e.g. P30D"}},
		{"duration numeric bound", Decl{ID: "x", Type: TypeDuration, Max: int64(60)}, nil,
			[]string{"input `x`: max: 60 is not a duration (durations are text such as PT15M or 15m)"}},
		{"datetime after > before", Decl{ID: "x", Type: TypeDateTime, After: "2024-02-01T00:00:00Z", Before: "2024-01-01T00:00:00+01:00"}, nil,
			[]string{"input `x`: after: after 2024-02-01T00:00:00Z is later than before 2023-12-31T23:00:00Z"}},
		{"date bad after", Decl{ID: "x", Type: TypeDate, After: "2024-01-01T00:00:00Z"}, nil,
			[]string{"input `x`: after: \"2024-01-01T00:00:00Z\" is not a date (expected YYYY-MM-DD)"}},
		{"time bad before", Decl{ID: "x", Type: TypeTime, Before: "25:00"}, nil,
			[]string{"input `x`: before: \"25:00\" is not a time of day (expected HH:MM or HH:MM:SS)"}},
		{"time bounds", Decl{ID: "x", Type: TypeTime, After: "08:00", Before: "17:30"}, nil, nil},
		{"after on DURATION", Decl{ID: "x", Type: TypeDuration, After: "PT1M"}, nil,
			[]string{"input `x`: after: does not apply to DURATION inputs (only to DATETIME, DATE, TIME)"}},
		{"select without values", Decl{ID: "x", Type: TypeSelect}, nil, []string{"input `x`: values: at least one value is required for SELECT inputs"}},
		{"multiselect empty values", Decl{ID: "x", Type: TypeMultiSelect, Values: []string{}}, []string{"values"},
			[]string{"input `x`: values: at least one value is required for MULTISELECT inputs"}},
		{"enum duplicates", Decl{ID: "x", Type: TypeEnum, Values: []string{"a", "b", "a", "a"}}, nil,
			[]string{"input `x`: values: \"a\" is listed twice", "input `x`: values: \"a\" is listed twice"}},
		{"allowCustomValue on STRING", Decl{ID: "x", Type: TypeString, AllowCustomValue: true}, nil,
			[]string{"input `x`: allowCustomValue: does not apply to STRING inputs (only to SELECT, ENUM, MULTISELECT)"}},
		{"array item type", Decl{ID: "x", Type: TypeArray, ItemType: TypeInt}, []string{"itemType"}, nil},
		{"array unknown item type", Decl{ID: "x", Type: TypeArray, ItemType: "INTEGER"}, nil, []string{"input `x`: itemType: unknown type \"INTEGER\""}},
		{"array misspelt item type", Decl{ID: "x", Type: TypeArray, ItemType: "FLAOT"}, nil, []string{"input `x`: itemType: unknown type \"FLAOT\"; did you mean FLOAT?"}},
		{"array of selects", Decl{ID: "x", Type: TypeArray, ItemType: TypeSelect}, nil,
			[]string{"input `x`: itemType: SELECT cannot be the type of ARRAY elements; use one of STRING, INT, FLOAT, BOOLEAN, DATETIME, DATE, TIME, DURATION, JSON, URI, EMAIL"}},
		{"itemType on JSON", Decl{ID: "x", Type: TypeJSON, ItemType: TypeInt}, nil,
			[]string{"input `x`: itemType: does not apply to JSON inputs (only to ARRAY)"}},
		{"good default", Decl{ID: "x", Type: TypeInt, Defaults: "5", HasDefaults: true, Min: int64(1)}, nil, nil},
		{"bad default", Decl{ID: "x", Type: TypeInt, Defaults: "five", HasDefaults: true}, nil, []string{"input `x`: defaults: \"five\" is not an integer"}},
		{"default out of bounds", Decl{ID: "x", Type: TypeInt, Defaults: int64(0), HasDefaults: true, Min: int64(1)}, nil,
			[]string{"input `x`: defaults: 0 is less than the minimum 1"}},
		{"default not in values", Decl{ID: "x", Type: TypeSelect, Values: []string{"a"}, Defaults: "b", HasDefaults: true}, nil,
			[]string{"input `x`: defaults: \"b\" is not one of the allowed values: a"}},
		{"default list for multiselect", Decl{ID: "x", Type: TypeMultiSelect, Values: []string{"a", "b"}, Defaults: []any{"a", "b"}, HasDefaults: true}, nil, nil},
		{"template default not checked", Decl{ID: "x", Type: TypeDate, Defaults: "{{ now() | date('yyyy-MM-dd') }}", HasDefaults: true}, nil, nil},
		{"template inside list default not checked", Decl{ID: "x", Type: TypeArray, ItemType: TypeInt, Defaults: []any{"{{ vars.n }}"}, HasDefaults: true}, nil, nil},
		{"template inside map default not checked", Decl{ID: "x", Type: TypeInt, Defaults: map[string]any{"k": "{{ vars.n }}"}, HasDefaults: true}, nil, nil},
		{"map default for INT", Decl{ID: "x", Type: TypeInt, Defaults: map[string]any{"k": "v"}, HasDefaults: true}, nil,
			[]string{"input `x`: defaults: expected an integer, got an object"}},
		{"null default", Decl{ID: "x", Type: TypeInt, HasDefaults: true}, []string{"defaults"}, nil},
		{"secret default against validator", Decl{ID: "x", Type: TypeSecret, Validator: "[a-z]+", Defaults: "ABC", HasDefaults: true}, nil,
			[]string{"input `x`: defaults: value does not match validator `[a-z]+`"}},
		{"default not checked when declaration is broken", Decl{ID: "x", Type: TypeString, Validator: "(", Defaults: "a", HasDefaults: true}, nil,
			[]string{"input `x`: validator: not a valid regular expression: error parsing regexp: missing closing ): `(`"}},
		{"several problems at once", Decl{ID: "", Type: TypeInt, Min: int64(3), Max: int64(1), Validator: "x", Defaults: "a"}, []string{"colour"},
			[]string{
				"input ``: id: an id is required",
				"input ``: colour: unknown property",
				"input ``: validator: does not apply to INT inputs (only to STRING, SECRET, URI, EMAIL)",
				"input ``: min: min 3 is greater than max 1",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := tt.decl.Check(tt.present)
			var got []string
			for _, err := range errs {
				var de *DeclError
				if !errors.As(err, &de) {
					t.Errorf("error %v is %T, want *DeclError", err, err)
				}
				got = append(got, err.Error())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Check:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestCheckErrorFields(t *testing.T) {
	d := Decl{ID: "n", Type: TypeInt, Min: int64(9), Max: int64(1)}
	errs := d.Check(nil)
	if len(errs) != 1 {
		t.Fatalf("got %v", errs)
	}
	want := &DeclError{ID: "n", Field: "min", Msg: "min 9 is greater than max 1"}
	if !reflect.DeepEqual(errs[0], want) {
		t.Errorf("got %#v, want %#v", errs[0], want)
	}
}

func TestDeclErrorWithoutField(t *testing.T) {
	e := &DeclError{ID: "x", Msg: "broken"}
	if got, want := e.Error(), "input `x`: broken"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestTypes(t *testing.T) {
	types := Types()
	var names []string
	props := map[Type][]string{}
	for _, ti := range types {
		names = append(names, string(ti.Name))
		if ti.Description == "" {
			t.Errorf("%s has no description", ti.Name)
		}
		for _, p := range ti.Properties {
			if p.Description == "" {
				t.Errorf("%s.%s has no description", ti.Name, p.Name)
			}
			props[ti.Name] = append(props[ti.Name], p.Name)
		}
		if !ti.Supported {
			t.Errorf("%s is not supported", ti.Name)
		}
		if !ti.Name.Known() {
			t.Errorf("%s is not Known", ti.Name)
		}
	}
	wantNames := []string{"STRING", "SECRET", "INT", "FLOAT", "BOOLEAN", "DATETIME", "DATE", "TIME", "DURATION", "SELECT", "ENUM", "MULTISELECT", "ARRAY", "JSON", "URI", "EMAIL", "FILE"}
	if !reflect.DeepEqual(names, wantNames) {
		t.Errorf("type names %v, want %v", names, wantNames)
	}
	wantProps := map[Type][]string{
		TypeString:      {"validator"},
		TypeSecret:      {"validator"},
		TypeInt:         {"min", "max"},
		TypeFloat:       {"min", "max"},
		TypeDateTime:    {"after", "before"},
		TypeDate:        {"after", "before"},
		TypeTime:        {"after", "before"},
		TypeDuration:    {"min", "max"},
		TypeSelect:      {"values", "allowCustomValue"},
		TypeEnum:        {"values", "allowCustomValue"},
		TypeMultiSelect: {"values", "allowCustomValue"},
		TypeArray:       {"itemType"},
		TypeURI:         {"validator"},
		TypeEmail:       {"validator"},
	}
	if !reflect.DeepEqual(props, wantProps) {
		t.Errorf("properties %v, want %v", props, wantProps)
	}

	// The result is a copy.
	types[0].Properties[0].Name = "changed"
	types[0].Name = "changed"
	if again := Types(); again[0].Name != TypeString || again[0].Properties[0].Name != "validator" {
		t.Error("Types returned shared state")
	}
	if Type("string").Known() {
		t.Error("type names must be case-sensitive")
	}

	var common []string
	for _, p := range CommonProperties() {
		common = append(common, p.Name)
	}
	if want := []string{"id", "type", "description", "required", "defaults"}; !reflect.DeepEqual(common, want) {
		t.Errorf("common properties %v, want %v", common, want)
	}
}
