package inputs

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// joinedErrors returns the messages of an errors.Join result, checking that
// each is an *InputError.
func joinedErrors(t *testing.T, err error) []string {
	t.Helper()
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %v (%T) is not joined", err, err)
	}
	var out []string
	for _, e := range j.Unwrap() {
		var ie *InputError
		if !errors.As(e, &ie) {
			t.Errorf("%v is %T, want *InputError", e, e)
		}
		out = append(out, e.Error())
	}
	return out
}

func TestResolve(t *testing.T) {
	decls := []*Decl{
		{ID: "name", Type: TypeString, Required: true},
		{ID: "count", Type: TypeInt, Defaults: int64(3), HasDefaults: true},
		{ID: "env", Type: TypeSelect, Values: []string{"dev", "prod"}, Defaults: "dev", HasDefaults: true},
		{ID: "notify", Type: TypeBoolean},
		{ID: "tags", Type: TypeMultiSelect, Values: []string{"a", "b"}, Required: false},
		{ID: "when", Type: TypeDate, Required: true, Defaults: "2024-01-01", HasDefaults: true},
	}
	tests := []struct {
		name     string
		provided map[string]any
		want     map[string]any
	}{
		{
			"defaults and nils",
			map[string]any{"name": "job"},
			map[string]any{"name": "job", "count": int64(3), "env": "dev", "notify": nil, "tags": nil, "when": "2024-01-01"},
		},
		{
			"everything given as text",
			map[string]any{"name": "job", "count": "7", "env": "prod", "notify": "yes", "tags": "a,b", "when": "2024-05-06"},
			map[string]any{"name": "job", "count": int64(7), "env": "prod", "notify": true, "tags": []any{"a", "b"}, "when": "2024-05-06"},
		},
		{
			"typed values from a JSON body",
			map[string]any{"name": "job", "count": float64(8), "notify": false, "tags": []any{"b"}},
			map[string]any{"name": "job", "count": int64(8), "env": "dev", "notify": false, "tags": []any{"b"}, "when": "2024-01-01"},
		},
		{
			"nil counts as not provided",
			map[string]any{"name": "job", "count": nil, "notify": nil},
			map[string]any{"name": "job", "count": int64(3), "env": "dev", "notify": nil, "tags": nil, "when": "2024-01-01"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resolve(decls, tt.provided, ResolveOptions{})
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestResolveReportsEveryFailure(t *testing.T) {
	decls := []*Decl{
		{ID: "name", Type: TypeString, Required: true},
		{ID: "count", Type: TypeInt, Required: true, Min: int64(1)},
		{ID: "env", Type: TypeSelect, Values: []string{"dev", "prod"}, Required: true},
		{ID: "token", Type: TypeSecret, Validator: "[a-z]+", Required: true},
		{ID: "ratio", Type: TypeFloat, Defaults: "high", HasDefaults: true},
		{ID: "ok", Type: TypeBoolean, Required: false},
	}
	provided := map[string]any{
		"count": "0",
		"env":   "staging",
		"token": "S3CRET",
		"nmae":  "typo",
		"zzz":   "1",
		"evn":   "x",
		"ok":    "true",
	}
	got, err := Resolve(decls, provided, ResolveOptions{})
	if got != nil {
		t.Errorf("map returned with errors: %v", got)
	}
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		"input `evn`: unknown input; did you mean `env`?",
		"input `nmae`: unknown input; did you mean `name`?",
		"input `zzz`: unknown input; the flow declares name, count, env, token, ratio, ok",
		"input `name` (STRING): a value is required and none was provided",
		"input `count` (INT): 0 is less than the minimum 1",
		"input `env` (SELECT): \"staging\" is not one of the allowed values: dev, prod",
		"input `token` (SECRET): value does not match validator `[a-z]+`",
		"input `ratio` (FLOAT): invalid default: \"high\" is not a number",
	}
	if msgs := joinedErrors(t, err); !reflect.DeepEqual(msgs, want) {
		t.Errorf("errors:\n got %q\nwant %q", msgs, want)
	}
	if strings.Contains(err.Error(), "S3CRET") {
		t.Error("the secret leaked into the error")
	}
}

func TestResolveNoDeclarations(t *testing.T) {
	_, err := Resolve(nil, map[string]any{"a": "1"}, ResolveOptions{})
	if err == nil || err.Error() != "input `a`: unknown input: the flow declares no inputs" {
		t.Errorf("got %v", err)
	}
	got, err := Resolve(nil, nil, ResolveOptions{})
	if err != nil || len(got) != 0 || got == nil {
		t.Errorf("got %#v, %v; want an empty map", got, err)
	}
}

func TestResolveRenderDefault(t *testing.T) {
	decls := []*Decl{
		{ID: "day", Type: TypeDate, Defaults: "{{ now() | dateAdd(-1, 'DAYS') }}", HasDefaults: true},
		{ID: "literal", Type: TypeString, Defaults: "plain", HasDefaults: true},
		{ID: "list", Type: TypeArray, ItemType: TypeInt, Defaults: []any{"{{ vars.a }}", int64(2)}, HasDefaults: true},
		{ID: "opt", Type: TypeString, Required: false, Defaults: "{{ trigger.x }}", HasDefaults: true},
	}
	var calls []string
	render := func(d *Decl, v any) (any, error) {
		calls = append(calls, d.ID)
		switch d.ID {
		case "day":
			return "2024-02-28", nil
		case "list":
			return []any{int64(1), int64(2)}, nil
		case "opt":
			return nil, nil // rendered to nothing: the input is nil
		}
		return nil, errors.New("unexpected")
	}
	got, err := Resolve(decls, map[string]any{}, ResolveOptions{RenderDefault: render})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"day": "2024-02-28", "literal": "plain", "list": []any{int64(1), int64(2)}, "opt": nil}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
	if want := []string{"day", "list", "opt"}; !reflect.DeepEqual(calls, want) {
		t.Errorf("RenderDefault called for %v, want %v (literal defaults are not rendered)", calls, want)
	}

	// A provided value wins: no rendering.
	calls = nil
	if _, err := Resolve(decls[:1], map[string]any{"day": "2020-01-01"}, ResolveOptions{RenderDefault: render}); err != nil || calls != nil {
		t.Errorf("got %v, calls %v", err, calls)
	}
}

func TestResolveRenderDefaultErrors(t *testing.T) {
	decls := []*Decl{
		{ID: "a", Type: TypeDate, Defaults: "{{ broken }}", HasDefaults: true},
		{ID: "b", Type: TypeInt, Defaults: "{{ vars.n }}", HasDefaults: true},
		{ID: "c", Type: TypeString, Required: true, Defaults: "{{ vars.none }}", HasDefaults: true},
	}
	render := func(d *Decl, v any) (any, error) {
		switch d.ID {
		case "a":
			return nil, errors.New("unknown variable `broken`")
		case "b":
			return "x", nil
		}
		return nil, nil
	}
	_, err := Resolve(decls, nil, ResolveOptions{RenderDefault: render})
	want := []string{
		"input `a` (DATE): cannot render the default: unknown variable `broken`",
		"input `b` (INT): invalid default: \"x\" is not an integer",
		"input `c` (STRING): a value is required and the default rendered to null",
	}
	if msgs := joinedErrors(t, err); !reflect.DeepEqual(msgs, want) {
		t.Errorf("errors:\n got %q\nwant %q", msgs, want)
	}

	// Without a renderer the template text is the value, and a DATE rejects it.
	_, err = Resolve(decls[:1], nil, ResolveOptions{})
	if err == nil || err.Error() != "input `a` (DATE): invalid default: \"{{ broken }}\" is not a date (expected YYYY-MM-DD)" {
		t.Errorf("got %v", err)
	}
}

func TestResolveWithAssignments(t *testing.T) {
	decls := []*Decl{
		{ID: "ids", Type: TypeArray, ItemType: TypeInt, Required: true},
		{ID: "tags", Type: TypeMultiSelect, Values: []string{"a", "b", "c"}, Required: true},
		{ID: "name", Type: TypeString, Required: true},
	}
	provided, err := ParseAssignments([]string{"ids=1", "ids=2", "tags=a", "tags=c", "name=x"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Resolve(decls, provided, ResolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"ids": []any{int64(1), int64(2)}, "tags": []any{"a", "c"}, "name": "x"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}

	provided, _ = ParseAssignments([]string{"ids=[1]", "tags=a", "name=x", "name=y"})
	_, err = Resolve(decls, provided, ResolveOptions{})
	if err == nil || err.Error() != "input `name` (STRING): expected a string, got a list" {
		t.Errorf("got %v", err)
	}
}

func TestParseAssignments(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want map[string]any
		err  string
	}{
		{"empty", nil, map[string]any{}, ""},
		{"simple", []string{"a=1", "b=two"}, map[string]any{"a": "1", "b": "two"}, ""},
		{"first equals splits", []string{"q=x=y"}, map[string]any{"q": "x=y"}, ""},
		{"empty value", []string{"a="}, map[string]any{"a": ""}, ""},
		{"value kept verbatim", []string{"a= spaced "}, map[string]any{"a": " spaced "}, ""},
		{"repeated", []string{"t=a", "x=1", "t=b", "t=c"}, map[string]any{"t": []any{"a", "b", "c"}, "x": "1"}, ""},
		{"json value", []string{`j={"a":1}`}, map[string]any{"j": `{"a":1}`}, ""},
		{"errors joined", []string{"novalue", "=v", "ok=1"}, nil,
			"input assignment \"novalue\": expected key=value\ninput assignment \"=v\": the key before '=' is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAssignments(tt.in)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("got error %v, want %q", err, tt.err)
				}
				if got != nil {
					t.Errorf("map returned with error: %v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestInputErrorWithoutType(t *testing.T) {
	e := &InputError{ID: "x", Msg: "unknown input"}
	if got, want := e.Error(), "input `x`: unknown input"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestResolve_refusesValuesLargerThanATemplateRenders(t *testing.T) {
	decls := []*Decl{{ID: "big", Type: TypeString}, {ID: "doc", Type: TypeJSON}, {ID: "ok", Type: TypeString}}
	big := strings.Repeat("x", MaxValueBytes+1)
	_, err := Resolve(decls, map[string]any{"big": big, "doc": map[string]any{"a": big}, "ok": strings.Repeat("y", MaxValueBytes)}, ResolveOptions{})
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	if strings.Count(msg, "an input is at most 1 MiB") != 2 || strings.Contains(msg, "ok") || strings.Contains(msg, "xxxx") {
		t.Errorf("error: %.300s", msg)
	}
}
