package secrets

import (
	"context"
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
// concurrent use; Text and Value are, once the values are added.
type Masker struct {
	values []string
	r      *strings.Replacer
}

// Add makes the masker hide value (an empty value hides nothing).
func (m *Masker) Add(value string) {
	if value == "" || slices.Contains(m.values, value) {
		return
	}
	m.values = append(m.values, value)
	// Longer values first, so that a secret containing another is hidden
	// whole.
	vs := append([]string(nil), m.values...)
	sort.Slice(vs, func(i, j int) bool { return len(vs[i]) > len(vs[j]) })
	pairs := make([]string, 0, 2*len(vs))
	for _, v := range vs {
		pairs = append(pairs, v, Mask)
	}
	m.r = strings.NewReplacer(pairs...)
}

// Len is how many values the masker hides.
func (m *Masker) Len() int {
	if m == nil {
		return 0
	}
	return len(m.values)
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
