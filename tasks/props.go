package tasks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/relayflow/relay/statemachine/expr"
)

// Property accessors. The state machine renders properties and fills their
// defaults but a property that is one expression renders to a typed value
// (`{{ 5 }}` is an int64), so the accessors are lenient where the meaning is
// clear (a scalar where a string is expected is printed as the template
// engine prints it) and strict where it is not (a map where a list is
// expected fails, naming the property).

// isScalar reports whether v is a value that prints unambiguously as text.
func isScalar(v any) bool {
	switch v.(type) {
	case string, bool, int64, float64, int, time.Time:
		return true
	}
	return false
}

// kindOf names the kind of a rendered value for error messages.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64, int, float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "a map"
	}
	return fmt.Sprintf("a %T", v)
}

// optString returns the property as text; absent or null is "".
func optString(props map[string]any, name string) (string, error) {
	v := props[name]
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	}
	if isScalar(v) {
		return expr.Stringify(v), nil
	}
	return "", propError(name, "want a string, got %s", kindOf(v))
}

// reqString is optString for a property that must not be empty.
func reqString(props map[string]any, name string) (string, error) {
	s, err := optString(props, name)
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", propError(name, "is required")
	}
	return s, nil
}

// optBool accepts a boolean or its text form ("true"/"false"), which is what
// a templated boolean renders to inside mixed text.
func optBool(props map[string]any, name string, def bool) (bool, error) {
	switch x := props[name].(type) {
	case nil:
		return def, nil
	case bool:
		return x, nil
	case string:
		switch x {
		case "true", "True", "TRUE":
			return true, nil
		case "false", "False", "FALSE", "":
			return false, nil
		}
	}
	return false, propError(name, "want a boolean, got %s", kindOf(props[name]))
}

// optStringMap returns a map of text values; scalar values are printed,
// containers fail.
func optStringMap(props map[string]any, name string) (map[string]string, error) {
	v := props[name]
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, propError(name, "want a map, got %s", kindOf(v))
	}
	out := make(map[string]string, len(m))
	for k, e := range m {
		switch {
		case e == nil:
			out[k] = ""
		case isScalar(e):
			out[k] = expr.Stringify(e)
		default:
			return nil, propError(name, "key %q: want a string, got %s", k, kindOf(e))
		}
	}
	return out, nil
}

// reqStringList returns a non-empty list of text values.
func reqStringList(props map[string]any, name string) ([]string, error) {
	v := props[name]
	l, ok := v.([]any)
	if !ok {
		if v == nil {
			return nil, propError(name, "is required")
		}
		return nil, propError(name, "want a list of strings, got %s", kindOf(v))
	}
	if len(l) == 0 {
		return nil, propError(name, "must hold at least one item")
	}
	out := make([]string, len(l))
	for i, e := range l {
		if !isScalar(e) {
			return nil, propError(name, "item %d: want a string, got %s", i, kindOf(e))
		}
		out[i] = expr.Stringify(e)
	}
	return out, nil
}

// maxJSONDepth bounds the nesting of decoded response bodies and payloads,
// which come from outside.
const maxJSONDepth = 1000

var errJSONTooDeep = errors.New("JSON nested too deeply")

// decodeJSON decodes one JSON document into the value kinds the expression
// engine computes with (integers as int64, other numbers as float64), so that
// outputs compare and print like rendered properties.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decoding JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("decoding JSON: data after the first value")
	}
	return normJSON(v, 0)
}

func normJSON(v any, depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, errJSONTooDeep
	}
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		f, err := x.Float64()
		if err != nil {
			return nil, fmt.Errorf("decoding JSON number %s: %w", x, err)
		}
		return f, nil
	case []any:
		for i, e := range x {
			n, err := normJSON(e, depth+1)
			if err != nil {
				return nil, err
			}
			x[i] = n
		}
	case map[string]any:
		for k, e := range x {
			n, err := normJSON(e, depth+1)
			if err != nil {
				return nil, err
			}
			x[k] = n
		}
	}
	return v, nil
}
