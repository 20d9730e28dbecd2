package expr

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxValueDepth bounds recursion over nested values (printing, comparing,
// exporting); it also stops cyclic values handed in through Env.Vars.
const maxValueDepth = 1000

var errTooDeep = errors.New("value nested too deeply")

// stringifyLimit caps Stringify output so that a cyclic or enormous value
// cannot exhaust memory.
const stringifyLimit = 64 << 20

// norm converts scalar Go values to the canonical kinds the engine computes
// with: nil, bool, int64, float64, string, time.Time. Containers are left as
// they are and converted lazily by toList/toMap/mapGet.
func norm(v any) any {
	switch x := v.(type) {
	case nil, bool, int64, float64, string, []any, map[string]any, time.Time:
		return v
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case int16:
		return int64(x)
	case int8:
		return int64(x)
	case uint:
		return uintValue(uint64(x))
	case uint64:
		return uintValue(x)
	case uint32:
		return int64(x)
	case uint16:
		return int64(x)
	case uint8:
		return int64(x)
	case float32:
		return float64(x)
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		if f, err := x.Float64(); err == nil {
			return f
		}
		return string(x)
	case *time.Time:
		if x == nil {
			return nil
		}
		return *x
	case time.Duration:
		return int64(x)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String:
		return rv.String()
	case reflect.Bool:
		return rv.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return uintValue(rv.Uint())
	case reflect.Float32, reflect.Float64:
		return rv.Float()
	case reflect.Pointer, reflect.Interface:
		// Follow a few pointers only: a self-referencing pointer must not
		// recurse forever.
		for i := 0; i < 8 && (rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface); i++ {
			if rv.IsNil() {
				return nil
			}
			rv = rv.Elem()
		}
		if rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
			return v
		}
		return norm(rv.Interface())
	}
	return v
}

func uintValue(u uint64) any {
	if u > math.MaxInt64 {
		return float64(u)
	}
	return int64(u)
}

// typeName is the user-facing name of a value's kind, used in error messages.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case int64:
		return "integer"
	case float64:
		return "float"
	case string:
		return "string"
	case time.Time:
		return "date"
	}
	if _, ok := toList(v); ok {
		return "list"
	}
	if isMapValue(v) {
		return "map"
	}
	return fmt.Sprintf("%T", v)
}

// toList returns v as a []any when it is a list (any slice or array kind).
func toList(v any) ([]any, bool) {
	switch x := v.(type) {
	case []any:
		return x, true
	case nil, string, map[string]any:
		return nil, false
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out, true
	case []map[string]any:
		out := make([]any, len(x))
		for i, m := range x {
			out[i] = m
		}
		return out, true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil, false
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, true
}

// listAt returns element i (negative counts from the end) of any list kind
// without converting it, so indexing a large []string stays O(1).
func listAt(v any, i int64) (elem any, length int, isList, inRange bool) {
	switch x := v.(type) {
	case []any:
		elem, length, inRange = sliceAt(x, i)
		return elem, length, true, inRange
	case []string:
		elem, length, inRange = sliceAt(x, i)
		return elem, length, true, inRange
	case nil, string, map[string]any, int64, float64, bool:
		return nil, 0, false, false
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil, 0, false, false
	}
	length = rv.Len()
	if i < 0 {
		i += int64(length)
	}
	if i >= 0 && i < int64(length) {
		return rv.Index(int(i)).Interface(), length, true, true
	}
	return nil, length, true, false
}

// sliceAt returns element i of x, negative i counting from the end.
func sliceAt[T any](x []T, i int64) (elem any, length int, inRange bool) {
	length = len(x)
	if i < 0 {
		i += int64(length)
	}
	if i >= 0 && i < int64(length) {
		return x[i], length, true
	}
	return nil, length, false
}

// sizeOf estimates the work a builtin may do on v: elements of a collection
// or 64-byte chunks of a string.
func sizeOf(v any) int {
	switch x := v.(type) {
	case nil, bool, int64, float64, time.Time:
		return 0
	case string:
		return len(x) / 64
	case []any:
		return len(x)
	case map[string]any:
		return len(x)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array, reflect.Map, reflect.String:
		return rv.Len()
	}
	return 0
}

func isMapValue(v any) bool {
	switch v.(type) {
	case map[string]any, map[string]string:
		return true
	case nil, string, []any:
		return false
	}
	return reflect.ValueOf(v).Kind() == reflect.Map
}

// toMap returns v as a map[string]any when it is any map kind; non-string
// keys are formatted with fmt.
func toMap(v any) (map[string]any, bool) {
	switch x := v.(type) {
	case map[string]any:
		return x, true
	case nil, string, []any:
		return nil, false
	case map[string]string:
		out := make(map[string]any, len(x))
		for k, s := range x {
			out[k] = s
		}
		return out, true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Map {
		return nil, false
	}
	out := make(map[string]any, rv.Len())
	it := rv.MapRange()
	for it.Next() {
		k := it.Key()
		var ks string
		if k.Kind() == reflect.String {
			ks = k.String()
		} else {
			ks = fmt.Sprint(k.Interface())
		}
		out[ks] = it.Value().Interface()
	}
	return out, true
}

// mapGet looks key up in any map kind without converting the whole map.
// isMap reports whether v was a map at all.
func mapGet(v any, key string) (val any, found, isMap bool) {
	switch x := v.(type) {
	case map[string]any:
		val, found = x[key]
		return val, found, true
	case map[string]string:
		s, ok := x[key]
		return s, ok, true
	case nil, string, []any, int64, float64, bool:
		return nil, false, false
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Map {
		return nil, false, false
	}
	if rv.Type().Key().Kind() == reflect.String {
		e := rv.MapIndex(reflect.ValueOf(key).Convert(rv.Type().Key()))
		if !e.IsValid() {
			return nil, false, true
		}
		return e.Interface(), true, true
	}
	m, _ := toMap(v)
	val, found = m[key]
	return val, found, true
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Truthy is the truthiness used by if, ternaries, and/or/not and by callers
// for conditions (runIf, Switch...):
//   - nil (null/undefined) is false;
//   - a bool is itself;
//   - numbers are true when non-zero;
//   - strings are false when empty or equal, ignoring case and surrounding
//     whitespace, to "false", "0", "no", "off" or "null" (conditions often
//     arrive as rendered text) and true otherwise;
//   - lists and maps are true when non-empty;
//   - anything else (dates...) is true.
func Truthy(v any) bool {
	switch x := norm(v).(type) {
	case nil:
		return false
	case bool:
		return x
	case int64:
		return x != 0
	case float64:
		return x != 0 && !math.IsNaN(x)
	case string:
		s := strings.TrimSpace(x)
		if len(s) > 5 {
			return true
		}
		switch strings.ToLower(s) {
		case "", "false", "0", "no", "off", "null":
			return false
		}
		return true
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array, reflect.Map:
		return rv.Len() > 0
	}
	return true
}

// Stringify is how a value prints inside mixed text: strings as is, nil as "",
// integers in decimal, floats in their shortest form without trailing zeros
// (exponent notation below 1e-7 or from 1e21), booleans as true/false, dates as
// RFC 3339 (fractional seconds only when non-zero), lists and maps as compact
// JSON with sorted keys.
func Stringify(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	// Errors (too deep or cyclic values) leave the partial text; Stringify
	// is a total function for callers that only need a display form.
	b, _ := appendText(nil, v, stringifyLimit)
	return string(b)
}

// appendText appends the Stringify form of v, failing once the result would
// exceed limit bytes.
func appendText(b []byte, v any, limit int) ([]byte, error) {
	switch x := norm(v).(type) {
	case nil:
		return b, nil
	case string:
		return append(b, x...), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case float64:
		return appendFloat(b, x, false), nil
	case time.Time:
		return appendDate(b, x), nil
	default:
		if !isMapValue(x) {
			if _, ok := toList(x); !ok {
				return append(b, fmt.Sprint(x)...), nil
			}
		}
		w := jsonWriter{b: b, limit: len(b) + limit}
		if limit > math.MaxInt-len(b) {
			w.limit = math.MaxInt
		}
		err := w.value(x, 0)
		return w.b, err
	}
}

// appendDate writes a date as Java's Instant and OffsetDateTime print it,
// which is what Kestra shows: seconds always, then a fraction in groups of
// three digits (milli, micro or nanoseconds) only when it is not zero.
func appendDate(b []byte, t time.Time) []byte {
	b = t.AppendFormat(b, "2006-01-02T15:04:05")
	switch ns := t.Nanosecond(); {
	case ns == 0:
	case ns%1_000_000 == 0:
		b = appendPad(append(b, '.'), int64(ns/1_000_000), 3)
	case ns%1_000 == 0:
		b = appendPad(append(b, '.'), int64(ns/1_000), 6)
	default:
		b = appendPad(append(b, '.'), int64(ns), 9)
	}
	return t.AppendFormat(b, "Z07:00")
}

// formatInstant is appendDate as a string.
func formatInstant(t time.Time) string { return string(appendDate(nil, t)) }

// FormatDate prints a date as expressions print it (see appendDate).
func FormatDate(t time.Time) string { return formatInstant(t) }

func appendFloat(b []byte, f float64, jsonMode bool) []byte {
	switch {
	case math.IsNaN(f):
		if jsonMode {
			return append(b, "null"...)
		}
		return append(b, "NaN"...)
	case math.IsInf(f, 1):
		if jsonMode {
			return append(b, "null"...)
		}
		return append(b, "Infinity"...)
	case math.IsInf(f, -1):
		if jsonMode {
			return append(b, "null"...)
		}
		return append(b, "-Infinity"...)
	}
	if a := math.Abs(f); a != 0 && (a < 1e-7 || a >= 1e21) {
		return strconv.AppendFloat(b, f, 'g', -1, 64)
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}

// jsonWriter writes compact JSON with sorted map keys and without HTML
// escaping; it enforces a size limit and a nesting limit as it goes.
type jsonWriter struct {
	b     []byte
	limit int
}

var errTooLarge = errors.New("value too large")

func (w *jsonWriter) value(v any, depth int) error {
	if depth > maxValueDepth {
		return errTooDeep
	}
	if len(w.b) > w.limit {
		return errTooLarge
	}
	switch x := norm(v).(type) {
	case nil:
		w.b = append(w.b, "null"...)
	case bool:
		w.b = strconv.AppendBool(w.b, x)
	case int64:
		w.b = strconv.AppendInt(w.b, x, 10)
	case float64:
		w.b = appendFloat(w.b, x, true)
	case string:
		w.b = appendJSONString(w.b, x)
	case time.Time:
		w.b = append(w.b, '"')
		w.b = appendDate(w.b, x)
		w.b = append(w.b, '"')
	case []any:
		return w.list(x, depth)
	case map[string]any:
		return w.obj(x, depth)
	default:
		if l, ok := toList(x); ok {
			return w.list(l, depth)
		}
		if m, ok := toMap(x); ok {
			return w.obj(m, depth)
		}
		w.b = appendJSONString(w.b, fmt.Sprint(x))
	}
	return nil
}

func (w *jsonWriter) list(l []any, depth int) error {
	w.b = append(w.b, '[')
	for i, e := range l {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		if err := w.value(e, depth+1); err != nil {
			return err
		}
	}
	w.b = append(w.b, ']')
	return nil
}

func (w *jsonWriter) obj(m map[string]any, depth int) error {
	w.b = append(w.b, '{')
	for i, k := range sortedKeys(m) {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.b = appendJSONString(w.b, k)
		w.b = append(w.b, ':')
		if err := w.value(m[k], depth+1); err != nil {
			return err
		}
	}
	w.b = append(w.b, '}')
	return nil
}

const hexDigits = "0123456789abcdef"

func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// toJSON serializes v compactly (sorted keys, no HTML escaping).
func toJSON(v any, limit int) (string, error) {
	w := jsonWriter{limit: limit}
	if err := w.value(v, 0); err != nil {
		return "", err
	}
	return string(w.b), nil
}

// fromJSON parses JSON text; integral numbers become int64, others float64.
func fromJSON(s string) (any, error) {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, errors.New("unexpected data after JSON value")
	}
	return NormalizeJSON(v), nil
}

// NormalizeJSON turns the json.Number values of a value decoded with
// UseNumber into int64 when integral and float64 otherwise, through lists
// and maps (in place), so decoded JSON has the engine's value types.
func NormalizeJSON(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i, e := range x {
			x[i] = NormalizeJSON(e)
		}
	case map[string]any:
		for k, e := range x {
			x[k] = NormalizeJSON(e)
		}
	}
	return v
}

// export deep-converts a value into the canonical result kinds for Render:
// containers become []any / map[string]any and dates RFC 3339 strings. Values
// that are already canonical are returned without copying.
func export(v any, depth int) (any, bool, error) {
	if depth > maxValueDepth {
		return nil, false, errTooDeep
	}
	switch x := norm(v).(type) {
	case nil, bool, int64, float64, string:
		return x, v != any(x), nil
	case time.Time:
		return formatInstant(x), true, nil
	case []any:
		var out []any
		for i, e := range x {
			ne, changed, err := export(e, depth+1)
			if err != nil {
				return nil, false, err
			}
			if changed && out == nil {
				out = make([]any, len(x))
				copy(out, x[:i])
			}
			if out != nil {
				out[i] = ne
			}
		}
		if out == nil {
			return x, false, nil
		}
		return out, true, nil
	case map[string]any:
		var out map[string]any
		for k, e := range x {
			ne, changed, err := export(e, depth+1)
			if err != nil {
				return nil, false, err
			}
			if changed && out == nil {
				out = make(map[string]any, len(x))
				for k2, e2 := range x {
					out[k2] = e2
				}
			}
			if out != nil {
				out[k] = ne
			}
		}
		if out == nil {
			return x, false, nil
		}
		return out, true, nil
	default:
		if l, ok := toList(x); ok {
			out, _, err := export(l, depth)
			return out, true, err
		}
		if m, ok := toMap(x); ok {
			out, _, err := export(m, depth)
			return out, true, err
		}
		return fmt.Sprint(x), true, nil
	}
}

// toInt converts integral numbers (and floats with no fraction) to int64.
func toInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case float64:
		if x == math.Trunc(x) && x >= math.MinInt64 && x < math.MaxInt64 {
			return int64(x), true
		}
	}
	return 0, false
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

func isNumber(v any) bool {
	switch v.(type) {
	case int64, float64:
		return true
	}
	return false
}

// equal is deep equality with numeric widening (1 == 1.0). budget is
// decremented per element visited so that comparing huge values is charged.
func equal(a, b any, depth int, budget *int) (bool, error) {
	*budget--
	if *budget < 0 {
		return false, errBudget
	}
	if depth > maxValueDepth {
		return false, errTooDeep
	}
	a, b = norm(a), norm(b)
	switch x := a.(type) {
	case nil:
		return b == nil, nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y, nil
	case int64:
		switch y := b.(type) {
		case int64:
			return x == y, nil
		case float64:
			return float64(x) == y, nil
		}
		return false, nil
	case float64:
		switch y := b.(type) {
		case int64:
			return x == float64(y), nil
		case float64:
			return x == y, nil
		}
		return false, nil
	case string:
		y, ok := b.(string)
		if ok {
			*budget -= min(len(x), len(y)) / 64
		}
		return ok && x == y, nil
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y), nil
	}
	if la, ok := toList(a); ok {
		lb, ok := toList(b)
		if !ok || len(la) != len(lb) {
			return false, nil
		}
		for i := range la {
			if eq, err := equal(la[i], lb[i], depth+1, budget); err != nil || !eq {
				return false, err
			}
		}
		return true, nil
	}
	if ma, ok := toMap(a); ok {
		mb, ok := toMap(b)
		if !ok || len(ma) != len(mb) {
			return false, nil
		}
		for k, va := range ma {
			vb, found := mb[k]
			if !found {
				return false, nil
			}
			if eq, err := equal(va, vb, depth+1, budget); err != nil || !eq {
				return false, err
			}
		}
		return true, nil
	}
	return reflect.DeepEqual(a, b), nil
}

// compare orders numbers, strings and dates; other kinds are an error.
func compare(a, b any) (int, error) {
	switch x := a.(type) {
	case int64:
		switch y := b.(type) {
		case int64:
			return cmp3(x, y), nil
		case float64:
			return cmpFloat(float64(x), y), nil
		}
	case float64:
		switch y := b.(type) {
		case int64:
			return cmpFloat(x, float64(y)), nil
		case float64:
			return cmpFloat(x, y), nil
		}
	case string:
		if y, ok := b.(string); ok {
			return strings.Compare(x, y), nil
		}
	case time.Time:
		if y, ok := b.(time.Time); ok {
			return x.Compare(y), nil
		}
	}
	return 0, fmt.Errorf("cannot compare %s with %s", typeName(a), typeName(b))
}

func cmp3[T int64 | string](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
