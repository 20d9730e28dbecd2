package inputs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Helpers that read raw values of either shape (text or typed JSON) and
// render values in messages.

// maxShown bounds how much of a value a message quotes: a multi-kilobyte JSON
// body in an error line helps nobody.
const maxShown = 64

// describe renders a raw value for a message: strings quoted as in Go,
// numbers and booleans as in JSON, lists and objects as compact JSON,
// shortened to about maxShown characters.
func describe(v any) string {
	var s string
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if utf8.RuneCountInString(x) > maxShown {
			x = string([]rune(x)[:maxShown]) + "…"
		}
		return strconv.Quote(x)
	case float64:
		s = formatFloat(x)
	case float32:
		s = formatFloat(float64(x))
	case time.Duration:
		s = FormatDuration(x)
	case time.Time:
		s = x.Format(time.RFC3339Nano)
	default:
		if b, err := json.Marshal(v); err == nil {
			s = string(b)
		} else {
			s = fmt.Sprint(v)
		}
	}
	if utf8.RuneCountInString(s) > maxShown {
		s = string([]rune(s)[:maxShown]) + "…"
	}
	return s
}

// formatFloat formats f the way encoding/json does, so numbers read the same
// in messages and in stored values.
func formatFloat(f float64) string {
	abs := math.Abs(f)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// shape names the kind of a raw value for "expected X, got Y" messages, or
// returns "" for scalars, which messages quote instead.
func shape(v any) string {
	if v == nil {
		return "null"
	}
	switch v.(type) {
	case string, json.Number, []byte:
		return ""
	}
	switch reflect.ValueOf(v).Kind() {
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return ""
}

// notA is the message for a value that is not what was expected: what is
// the expected kind with its article ("an integer").
func notA(raw any, what string) string {
	if s := shape(raw); s != "" {
		return "expected " + what + ", got " + s
	}
	return describe(raw) + " is not " + what
}

// asText reads a single text value. Numbers and booleans are accepted and
// written as in JSON, because JSON bodies often carry {"zip": 12345} for a
// STRING input and rejecting that helps nobody; lists and objects are not.
func asText(raw any) (string, bool) {
	switch x := raw.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case json.Number:
		return x.String(), true
	case float64:
		return formatFloat(x), true
	case float32:
		return formatFloat(float64(x)), true
	}
	if i, ok := intKind(raw); ok {
		return strconv.FormatInt(i, 10), true
	}
	if u, ok := raw.(uint64); ok {
		return strconv.FormatUint(u, 10), true
	}
	return "", false
}

// intKind converts Go integer kinds (what YAML and programmatic callers
// pass) to int64. uint64 values beyond int64 are not converted.
func intKind(raw any) (int64, bool) {
	switch x := raw.(type) {
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint:
		if uint64(x) <= math.MaxInt64 {
			return int64(x), true
		}
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), true
		}
	}
	return 0, false
}

// asInt64 reads an integer. Text must be a plain decimal integer ("3.0" is
// not one, as in Kestra); typed numbers may be integral floats, because JSON
// decoders hand every number over as a float64. The message is "" on
// success.
func asInt64(raw any) (int64, string) {
	const what = "an integer"
	if i, ok := intKind(raw); ok {
		return i, ""
	}
	switch x := raw.(type) {
	case string:
		i, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		if errors.Is(err, strconv.ErrRange) {
			return 0, describe(raw) + " is out of range for a 64-bit integer"
		}
		if err != nil {
			return 0, notA(raw, what)
		}
		return i, ""
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i, ""
		}
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return 0, notA(raw, what)
		}
		return floatToInt(f, raw)
	case float64:
		return floatToInt(x, raw)
	case float32:
		return floatToInt(float64(x), raw)
	case uint, uint64:
		return 0, describe(raw) + " is out of range for a 64-bit integer"
	}
	return 0, notA(raw, what)
}

func floatToInt(f float64, raw any) (int64, string) {
	if f != math.Trunc(f) || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, notA(raw, "an integer")
	}
	// -2^63 is exactly representable; 2^63 is the first float out of range.
	if f < math.MinInt64 || f >= math.MaxInt64 {
		return 0, describe(raw) + " is out of range for a 64-bit integer"
	}
	return int64(f), ""
}

// asFloat64 reads a finite number. Text must be decimal: hexadecimal floats,
// digit separators and the names of infinities and NaN, which
// strconv.ParseFloat accepts, are not numbers a flow author means.
func asFloat64(raw any) (float64, string) {
	const what = "a number"
	if i, ok := intKind(raw); ok {
		return float64(i), ""
	}
	var f float64
	switch x := raw.(type) {
	case string, json.Number:
		t := strings.TrimSpace(fmt.Sprint(x))
		if strings.ContainsAny(t, "xX_") {
			return 0, notA(raw, what)
		}
		var err error
		f, err = strconv.ParseFloat(t, 64)
		if errors.Is(err, strconv.ErrRange) {
			return 0, describe(raw) + " is out of range for a 64-bit float"
		}
		if err != nil {
			return 0, notA(raw, what)
		}
	case float64:
		f = x
	case float32:
		f = float64(x)
	case uint:
		f = float64(x)
	case uint64:
		f = float64(x)
	default:
		return 0, notA(raw, what)
	}
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, describe(raw) + " is not a finite number"
	}
	return f, ""
}

// asList returns the elements of a list value given as a Go slice.
func asList(raw any) ([]any, bool) {
	switch x := raw.(type) {
	case []any:
		return x, true
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out, true
	case string, []byte, nil:
		return nil, false
	}
	rv := reflect.ValueOf(raw)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil, false
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, true
}

// parseJSON parses one JSON document. Integers that fit become int64 and
// other numbers float64, so that 12345678901234567 survives (a float64 would
// round it) and templates compare integers as integers.
func parseJSON(text string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty JSON text")
		}
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("unexpected text after the JSON value")
	}
	return normalizeNumbers(v)
}

// normalizeJSON brings an already-typed value to the canonical JSON form:
// Go integers become int64, json.Numbers follow parseJSON's rule, float64
// stays float64 (a JSON body decoded into float64 no longer says whether 2
// was written 2 or 2.0, and turning floats into integers could change
// arithmetic in templates), and lists and maps are copied, never modified
// in place, since they belong to the caller. Other Go types (structs,
// []string, map[string]string...) make a round trip through encoding/json.
// Values JSON cannot represent (NaN, infinities, maps with non-string
// keys...) are an error.
func normalizeJSON(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, string:
		return x, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("%s is not a finite number", describe(x))
		}
		return x, nil
	case float32:
		return normalizeJSON(float64(x))
	case json.Number:
		return normalizeNumbers(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			n, err := normalizeJSON(e)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			n, err := normalizeJSON(e)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	}
	if i, ok := intKind(v); ok {
		return i, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return parseJSON(buf.String())
}

// normalizeNumbers replaces the json.Numbers in v, in place, by int64 or
// float64. A number too large for a float64 is an error rather than an
// infinity that could not be stored as JSON again.
func normalizeNumbers(v any) (any, error) {
	var err error
	switch x := v.(type) {
	case json.Number:
		if i, perr := strconv.ParseInt(string(x), 10, 64); perr == nil {
			return i, nil
		}
		f, perr := strconv.ParseFloat(string(x), 64)
		if perr != nil {
			return nil, fmt.Errorf("number %s is out of range", x)
		}
		return f, nil
	case []any:
		for i, e := range x {
			if x[i], err = normalizeNumbers(e); err != nil {
				return nil, err
			}
		}
	case map[string]any:
		for k, e := range x {
			if x[k], err = normalizeNumbers(e); err != nil {
				return nil, err
			}
		}
	}
	return v, nil
}
