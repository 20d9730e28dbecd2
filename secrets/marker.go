package secrets

import (
	"strings"
)

// Mask is what a secret shows as wherever a person can see it.
const Mask = "******"

const (
	markerOpen  = "[[relay-secret:"
	markerClose = "]]"
)

// Contains reports whether s holds a marker.
func Contains(s string) bool { return strings.Contains(s, markerOpen) }

// ContainsValue reports whether a JSON-like value (string, []any,
// map[string]any, nested) holds a marker in any of its strings. It looks
// maxDepth levels deep and at maxVisits values, so that cyclic values
// (which templates can build from their variables) end: a marker past
// that is not found, and at worst garbled by a filter, never revealed.
func ContainsValue(v any) bool {
	budget := maxVisits
	return containsValue(v, maxDepth, &budget)
}

const (
	maxDepth  = 64
	maxVisits = 1 << 20
)

func containsValue(v any, depth int, budget *int) bool {
	*budget--
	if depth == 0 || *budget < 0 {
		return false
	}
	switch x := v.(type) {
	case string:
		return Contains(x)
	case []any:
		for _, e := range x {
			if containsValue(e, depth-1, budget) {
				return true
			}
		}
	case map[string]any:
		for k, e := range x {
			if Contains(k) || containsValue(e, depth-1, budget) {
				return true
			}
		}
	}
	return false
}

// IsMarker reports whether s is exactly one marker.
func IsMarker(s string) bool {
	tok, rest, ok := cut(s)
	return ok && tok == s && rest == ""
}

// cut finds the first marker in s: it returns the marker's text and what
// follows it.
func cut(s string) (marker, rest string, ok bool) {
	i := strings.Index(s, markerOpen)
	if i < 0 {
		return "", "", false
	}
	j := strings.Index(s[i+len(markerOpen):], markerClose)
	if j < 0 {
		return "", "", false
	}
	end := i + len(markerOpen) + j + len(markerClose)
	return s[i:end], s[end:], true
}

// replace calls f on every marker of s and puts what it returns in its
// place.
func replace(s string, f func(marker string) (string, error)) (string, error) {
	if !Contains(s) {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, markerOpen)
		m, rest, ok := cut(s)
		if !ok {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		v, err := f(m)
		if err != nil {
			return "", err
		}
		b.WriteString(v)
		s = rest
	}
}

// MaskText replaces every marker of s with Mask.
func MaskText(s string) string {
	out, _ := replace(s, func(string) (string, error) { return Mask, nil })
	return out
}

// MaskValue returns v with every marker in its strings (and map keys)
// replaced with Mask. v is not changed: values holding no marker are
// returned as they are, others are copied.
func MaskValue(v any) any {
	out, _ := walk(v, func(s string) (string, error) { return MaskText(s), nil })
	return out
}

// walk applies f to every string of a JSON-like value, copying only what
// changes.
func walk(v any, f func(string) (string, error)) (any, error) {
	switch x := v.(type) {
	case string:
		if !Contains(x) {
			return x, nil
		}
		return f(x)
	case []any:
		if !ContainsValue(x) {
			return x, nil
		}
		out := make([]any, len(x))
		for i, e := range x {
			w, err := walk(e, f)
			if err != nil {
				return nil, err
			}
			out[i] = w
		}
		return out, nil
	case map[string]any:
		if !ContainsValue(x) {
			return x, nil
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			w, err := walk(e, f)
			if err != nil {
				return nil, err
			}
			if Contains(k) {
				if k, err = f(k); err != nil {
					return nil, err
				}
			}
			out[k] = w
		}
		return out, nil
	}
	return v, nil
}

// MaskMap is MaskValue for a map of values (inputs, outputs).
func MaskMap(m map[string]any) map[string]any {
	if !ContainsValue(m) {
		return m
	}
	return MaskValue(m).(map[string]any)
}
