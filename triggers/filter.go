package triggers

import (
	"fmt"
	"slices"
	"strings"
)

// Filter is a CloudEvents subscription filter (the dialects of the
// CloudEvents Subscriptions API): it matches the attributes of an event,
// context attributes and extensions alike, by name.
type Filter interface {
	Match(attrs Attributes) bool
	// exactType returns the event type the filter requires, if it pins
	// one: the trigger index files the trigger under it.
	exactType() (string, bool)
}

// Attributes returns an event's attribute by name ("type", "source",
// "subject", "id", "dataschema", "datacontenttype", or an extension) and
// whether the event has it.
type Attributes func(name string) (string, bool)

// ParseFilters reads the `filters` of an event trigger: a list of filter
// objects, all of which must match. Each object has exactly one dialect:
//
//	exact:  {attribute: value, ...}   every attribute equals its value
//	prefix: {attribute: value, ...}   every attribute starts with its value
//	suffix: {attribute: value, ...}   every attribute ends with its value
//	all:    [filter, ...]             every filter matches
//	any:    [filter, ...]             at least one filter matches
//	not:    filter                    the filter does not match
//
// Errors name the path of the bad element, from path.
func ParseFilters(v any, path string) (Filter, error) {
	if v == nil {
		return allFilter(nil), nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: expected a list of filters, got %s", path, kindOf(v))
	}
	return parseList(list, path)
}

func parseList(list []any, path string) (allFilter, error) {
	out := make(allFilter, 0, len(list))
	for i, e := range list {
		f, err := parseFilter(e, fmt.Sprintf("%s[%d]", path, i))
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// dialects lists the filter dialects Relay implements.
var dialects = []string{"exact", "prefix", "suffix", "all", "any", "not"}

func parseFilter(v any, path string) (Filter, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: expected a filter object (one of %s), got %s", path, strings.Join(dialects, ", "), kindOf(v))
	}
	if len(m) != 1 {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return nil, fmt.Errorf("%s: a filter has exactly one dialect (one of %s), got %d keys: %s", path, strings.Join(dialects, ", "), len(m), strings.Join(keys, ", "))
	}
	for dialect, arg := range m {
		p := path + "." + dialect
		switch dialect {
		case "exact", "prefix", "suffix":
			attrs, ok := arg.(map[string]any)
			if !ok || len(attrs) == 0 {
				return nil, fmt.Errorf("%s: expected a map of attribute names to values, got %s", p, kindOf(arg))
			}
			f := attrFilter{op: dialect}
			for _, name := range sortedKeys(attrs) {
				val, ok := scalarString(attrs[name])
				if !ok {
					return nil, fmt.Errorf("%s.%s: expected a string, got %s", p, name, kindOf(attrs[name]))
				}
				if err := checkAttrName(name); err != nil {
					return nil, fmt.Errorf("%s.%s: %w", p, name, err)
				}
				if val == "" && dialect != "exact" {
					return nil, fmt.Errorf("%s.%s: an empty %s matches everything; leave the attribute out", p, name, dialect)
				}
				f.names = append(f.names, strings.ToLower(name))
				f.values = append(f.values, val)
			}
			return f, nil
		case "all", "any":
			list, ok := arg.([]any)
			if !ok || len(list) == 0 {
				return nil, fmt.Errorf("%s: expected a non-empty list of filters, got %s", p, kindOf(arg))
			}
			fs, err := parseList(list, p)
			if err != nil {
				return nil, err
			}
			if dialect == "any" {
				return anyFilter(fs), nil
			}
			return fs, nil
		case "not":
			f, err := parseFilter(arg, p)
			if err != nil {
				return nil, err
			}
			return notFilter{f}, nil
		case "sql":
			return nil, fmt.Errorf("%s: the CloudEvents SQL dialect is not supported; use exact, prefix, suffix, all, any, not and the trigger's `condition` expression", p)
		default:
			return nil, fmt.Errorf("%s: unknown filter dialect `%s`; expected one of %s", p, dialect, strings.Join(dialects, ", "))
		}
	}
	panic("unreachable")
}

// checkAttrName checks a CloudEvents attribute name: lower-case letters and
// digits (upper case is accepted and folded).
func checkAttrName(name string) error {
	if name == "" || len(name) > 20 {
		return fmt.Errorf("`%s` is not a CloudEvents attribute name (1 to 20 letters and digits)", name)
	}
	for _, r := range strings.ToLower(name) {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return fmt.Errorf("`%s` is not a CloudEvents attribute name (letters and digits only)", name)
		}
	}
	return nil
}

type attrFilter struct {
	op     string // exact, prefix, suffix
	names  []string
	values []string
}

func (f attrFilter) Match(attrs Attributes) bool {
	for i, name := range f.names {
		got, ok := attrs(name)
		if !ok {
			return false
		}
		switch f.op {
		case "exact":
			ok = got == f.values[i]
		case "prefix":
			ok = strings.HasPrefix(got, f.values[i])
		case "suffix":
			ok = strings.HasSuffix(got, f.values[i])
		}
		if !ok {
			return false
		}
	}
	return true
}

func (f attrFilter) exactType() (string, bool) {
	if f.op != "exact" {
		return "", false
	}
	for i, n := range f.names {
		if n == "type" {
			return f.values[i], true
		}
	}
	return "", false
}

type allFilter []Filter

func (fs allFilter) Match(attrs Attributes) bool {
	for _, f := range fs {
		if !f.Match(attrs) {
			return false
		}
	}
	return true
}

// exactType: every filter must match, so one that pins the type pins it
// for all (two that pin different types never match; the first is used).
func (fs allFilter) exactType() (string, bool) {
	for _, f := range fs {
		if t, ok := f.exactType(); ok {
			return t, true
		}
	}
	return "", false
}

type anyFilter []Filter

func (fs anyFilter) Match(attrs Attributes) bool {
	for _, f := range fs {
		if f.Match(attrs) {
			return true
		}
	}
	return false
}

// exactType: an any pins a type only when every branch pins the same one.
func (fs anyFilter) exactType() (string, bool) {
	var want string
	for i, f := range fs {
		t, ok := f.exactType()
		if !ok || i > 0 && t != want {
			return "", false
		}
		want = t
	}
	return want, len(fs) > 0
}

type notFilter struct{ f Filter }

func (f notFilter) Match(attrs Attributes) bool { return !f.f.Match(attrs) }
func (notFilter) exactType() (string, bool)     { return "", false }

func scalarString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case int64, float64, bool, int:
		return fmt.Sprint(v), true
	}
	return "", false
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "nothing"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	case string:
		return "a string"
	}
	return fmt.Sprintf("%T", v)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
