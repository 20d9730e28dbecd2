package inputs

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/relayflow/relay/secrets"
)

// MaxValueBytes is the largest value an input takes, as text (JSON for
// lists and objects): the most a template renders (expr.Limits.MaxOutput),
// so that an input accepted is one the tasks can use.
const MaxValueBytes = 1 << 20

// valueSize is the size of a provided value as text, counted without
// encoding strings.
func valueSize(v any) int {
	switch x := v.(type) {
	case string:
		return len(x)
	case []byte:
		return len(x)
	case nil, bool, int, int64, float64:
		return 0
	}
	b, err := json.Marshal(v)
	if err != nil {
		return 0 // coercion reports it
	}
	return len(b)
}

// byteSize writes n in KiB or MiB.
func byteSize(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// ResolveOptions tunes Resolve.
type ResolveOptions struct {
	// RenderDefault renders a default that contains a template (for example
	// "{{ now() | dateAdd(-1, 'DAYS') }}"); the result is then coerced like
	// a provided value. It is called only for defaults with template syntax
	// ({{, {% or {#) somewhere inside, so literal defaults cost nothing. The
	// template engine lives in another package and needs the execution's
	// context (clock, variables), hence a callback. When nil, defaults are
	// used literally, templates included.
	RenderDefault func(d *Decl, v any) (any, error)
}

// Resolve checks a whole set of provided values against the declarations
// and returns the typed value of every declared input, keyed by id.
//
// A provided name that matches no declaration is an error (with a
// did-you-mean hint): a misspelt input silently falling back to its default
// is the kind of mistake that is found too late. A provided nil counts as not
// provided. A missing input takes its default (rendered, then coerced) when
// it has one, is an error when required, and is present in the result with a
// nil value otherwise, so that templates can test it without failing on a
// missing key.
//
// Every problem is reported, not only the first: the error is the
// errors.Join of one *InputError per problem (unknown names first, sorted,
// then declarations in order), and the map is nil. Declaration ids are
// assumed unique; the flow validator rejects duplicates.
func Resolve(decls []*Decl, provided map[string]any, opts ResolveOptions) (map[string]any, error) {
	var errs []error
	ids := make([]string, 0, len(decls))
	for _, d := range decls {
		ids = append(ids, d.ID)
	}

	var unknown []string
	for name := range provided {
		if !slices.Contains(ids, name) {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	for _, name := range unknown {
		// No Value: an unknown name might be a misspelt secret.
		errs = append(errs, &InputError{ID: name, Msg: unknownMsg(name, ids)})
	}

	out := make(map[string]any, len(decls))
	for _, d := range decls {
		if raw, ok := provided[d.ID]; ok && raw != nil {
			if s, sealed := raw.(string); sealed && d.Type == TypeSecret && secrets.IsMarker(s) {
				// checked in clear where it was given, then sealed
			} else if n := valueSize(raw); n > MaxValueBytes {
				// Checked on arrival, not when a task fails to render it.
				errs = append(errs, &InputError{ID: d.ID, Type: d.Type, Msg: fmt.Sprintf("the value is %s: an input is at most %s (what one template can render)", byteSize(n), byteSize(MaxValueBytes))})
				continue
			}
			v, ierr := d.coerce(raw)
			if ierr != nil {
				errs = append(errs, ierr)
				continue
			}
			out[d.ID] = v
			continue
		}
		switch {
		case d.Defaults != nil:
			v, ierr := d.resolveDefault(opts)
			if ierr != nil {
				errs = append(errs, ierr)
				continue
			}
			out[d.ID] = v
		case d.Required:
			errs = append(errs, &InputError{ID: d.ID, Type: d.Type, Msg: "a value is required and none was provided"})
		default:
			out[d.ID] = nil
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// resolveDefault renders (when needed) and coerces d's default. Messages say
// it is the default that is wrong: the person starting the flow did nothing
// wrong and should tell the flow's author.
func (d *Decl) resolveDefault(opts ResolveOptions) (any, *InputError) {
	v := d.Defaults
	if opts.RenderDefault != nil && containsTemplate(v) {
		r, err := opts.RenderDefault(d, v)
		if err != nil {
			return nil, d.fail(nil, "cannot render the default: "+err.Error())
		}
		v = r
		if v == nil {
			// A template may legitimately yield nothing (an optional
			// upstream value); that is the same as having no default.
			if d.Required {
				return nil, d.fail(nil, "a value is required and the default rendered to null")
			}
			return nil, nil
		}
	}
	res, ierr := d.coerce(v)
	if ierr != nil {
		ierr.Msg = "invalid default: " + ierr.Msg
		return nil, ierr
	}
	return res, nil
}

func unknownMsg(name string, ids []string) string {
	if len(ids) == 0 {
		return "unknown input: the flow declares no inputs"
	}
	if s := Suggest(name, ids); s != "" {
		return fmt.Sprintf("unknown input; did you mean `%s`?", s)
	}
	return "unknown input; the flow declares " + strings.Join(ids, ", ")
}

// ParseAssignments parses command-line style "key=value" arguments into the
// provided-values map Resolve takes. The value is everything after the first
// '=' and stays text (Resolve converts it to the declared type); it may be
// empty. A key given more than once collects its values, in order, into a
// []any, which is how a MULTISELECT or ARRAY input receives several values
// from repeated flags; for other types Resolve then reports that a single
// value was expected. Every malformed argument is reported, joined.
func ParseAssignments(kv []string) (map[string]any, error) {
	out := make(map[string]any, len(kv))
	var errs []error
	for _, arg := range kv {
		key, val, ok := strings.Cut(arg, "=")
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("input assignment %q: expected key=value", arg))
			continue
		case key == "":
			errs = append(errs, fmt.Errorf("input assignment %q: the key before '=' is empty", arg))
			continue
		}
		switch prev := out[key].(type) {
		case nil:
			out[key] = val
		case string:
			out[key] = []any{prev, val}
		case []any:
			out[key] = append(prev, val)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}
