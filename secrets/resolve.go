package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Lookup finds the value of the secret called name in a namespace's
// backend.
type Lookup func(ctx context.Context, namespace, name string) (string, error)

// ErrNotFound is wrapped by a Lookup when the backend has no such secret.
var ErrNotFound = errors.New("secret not found")

// Resolve returns v (a rendered property: string, []any, map[string]any,
// nested) with every marker replaced by its clear value, looking names up
// with lookup, and a Masker that hides those values again. v is not
// changed. It is the worker's, called just before a task runs.
func (k *Keyring) Resolve(ctx context.Context, namespace string, v any, lookup Lookup) (any, *Masker, error) {
	m := &Masker{}
	cache := map[string]string{}
	out, err := walk(v, func(s string) (string, error) {
		return replace(s, func(marker string) (string, error) {
			if v, ok := cache[marker]; ok {
				return v, nil
			}
			o, err := k.Open(namespace, marker)
			if err != nil {
				return "", err
			}
			val := o.Value
			if o.Name != "" {
				if lookup == nil {
					return "", fmt.Errorf("secret %s: no secrets backend is configured", o.Name)
				}
				if val, err = lookup(ctx, namespace, o.Name); err != nil {
					return "", fmt.Errorf("secret %s of namespace %s: %w", o.Name, namespace, err)
				}
			}
			cache[marker] = val
			m.Add(val)
			return val, nil
		})
	})
	if err != nil {
		return nil, nil, err
	}
	return out, m, nil
}

// Masker replaces known secret values with Mask in text and values. The
// zero Masker (and a nil one) masks markers only. Add is not safe for
// concurrent use; the other methods are, once the values are added.
//
// Besides each value as it is, a masker hides the forms in which a
// script's output most often carries it: each line of a multi-line value
// (logs are read line by line) and the value escaped in a JSON string.
// A value transformed otherwise (base64, a hash) is not hidden.
type Masker struct {
	values []string // as added
	forms  []string // what is replaced, longest first
	r      *strings.Replacer
}

// NewMasker returns a masker that hides values: a runner that runs an
// attempt away from its worker masks with the values the worker opened.
func NewMasker(values ...string) *Masker {
	m := &Masker{}
	for _, v := range values {
		m.Add(v)
	}
	return m
}

// Add makes the masker hide value (an empty value hides nothing).
func (m *Masker) Add(value string) {
	if value == "" || slices.Contains(m.values, value) {
		return
	}
	m.values = append(m.values, value)
	forms := []string{value}
	if q, err := json.Marshal(value); err == nil && string(q[1:len(q)-1]) != value {
		forms = append(forms, string(q[1:len(q)-1]))
	}
	if strings.ContainsAny(value, "\n\r") {
		for _, l := range strings.FieldsFunc(value, func(r rune) bool { return r == '\n' || r == '\r' }) {
			if strings.TrimSpace(l) != "" {
				forms = append(forms, l)
			}
		}
	}
	for _, f := range forms {
		if !slices.Contains(m.forms, f) {
			m.forms = append(m.forms, f)
		}
	}
	// Longer forms first, so that a secret containing another is hidden
	// whole.
	sort.SliceStable(m.forms, func(i, j int) bool { return len(m.forms[i]) > len(m.forms[j]) })
	pairs := make([]string, 0, 2*len(m.forms))
	for _, f := range m.forms {
		pairs = append(pairs, f, Mask)
	}
	m.r = strings.NewReplacer(pairs...)
}

// Values are the values the masker hides, as they were added.
func (m *Masker) Values() []string {
	if m == nil {
		return nil
	}
	return slices.Clone(m.values)
}

// Len is how many values the masker hides.
func (m *Masker) Len() int {
	if m == nil {
		return 0
	}
	return len(m.values)
}

// Piece is Text for a piece cut out of a longer text (a long line read
// in chunks, the head of a line cut short): a secret may straddle the
// cut. With cutStart, a start of s that ends a hidden form is masked; with
// cutEnd, an end of s that begins one. It may mask a few characters that
// were no secret, never leave part of one.
func (m *Masker) Piece(s string, cutStart, cutEnd bool) string {
	s = m.Text(s)
	if m == nil || len(m.forms) == 0 {
		return s
	}
	if cutEnd {
		if n := m.longestOverlap(s, func(f string, k int) bool { return strings.HasSuffix(s, f[:k]) }); n > 0 {
			s = s[:len(s)-n] + Mask
		}
	}
	if cutStart {
		if n := m.longestOverlap(s, func(f string, k int) bool { return strings.HasPrefix(s, f[len(f)-k:]) }); n > 0 {
			s = Mask + s[n:]
		}
	}
	return s
}

// longestOverlap is the largest k (shorter than the form, at most len(s))
// for which match(form, k) holds for some form.
func (m *Masker) longestOverlap(s string, match func(form string, k int) bool) int {
	best := 0
	for _, f := range m.forms {
		for k := min(len(f)-1, len(s)); k > best; k-- {
			if match(f, k) {
				best = k
				break
			}
		}
	}
	return best
}

// Text returns s with every known value, and every marker, replaced with
// Mask.
func (m *Masker) Text(s string) string {
	s = MaskText(s)
	if m == nil || m.r == nil {
		return s
	}
	return m.r.Replace(s)
}

// Value returns v (JSON-like) with Text applied to every string and map
// key; v is not changed.
func (m *Masker) Value(v any) any {
	switch x := v.(type) {
	case string:
		return m.Text(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = m.Value(e)
		}
		return out
	case map[string]any:
		if x == nil {
			return x
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[m.Text(k)] = m.Value(e)
		}
		return out
	}
	return v
}
