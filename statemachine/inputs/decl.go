package inputs

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Decl is the declaration of one flow input, as written in the flow's
// `inputs` list. The flow decoder fills it; property names in the document
// are the lower-camel-case names given in each field's comment.
type Decl struct {
	ID          string // id
	Type        Type   // type
	Description string // description
	// Required (required) means a value must be provided or come from
	// Defaults. The decoder computes the default: true unless defaults is
	// set, as in Kestra.
	Required bool
	// Defaults (defaults) is the value used when none is provided, as
	// decoded from YAML (string, int64, float64, bool, []any,
	// map[string]any). A string holding a template ("{{ ... }}") is rendered
	// by ResolveOptions.RenderDefault when the execution starts; other
	// values are used literally. A nil Defaults means there is no default,
	// whatever HasDefaults says (`defaults: null` declares none).
	Defaults any
	// HasDefaults records that the defaults key was written.
	HasDefaults bool
	// Validator (validator) is a regular expression, in RE2 syntax, that
	// the whole value must match (as with Java's String.matches in Kestra),
	// for STRING, SECRET, URI and EMAIL.
	Validator string
	// Min and Max (min, max) bound INT and FLOAT values (numbers) and
	// DURATION values (duration text, ISO-8601 or Go form), inclusively.
	Min, Max any
	// After and Before (after, before) bound DATETIME, DATE and TIME values,
	// inclusively, written in the format of the type.
	After, Before string
	// Values (values) are the allowed values of SELECT, ENUM and
	// MULTISELECT.
	Values []string
	// AllowCustomValue (allowCustomValue) lets SELECT, ENUM and MULTISELECT
	// accept values that are not in Values; Values are then suggestions.
	AllowCustomValue bool
	// ItemType (itemType) is the type of an ARRAY's elements; STRING when
	// empty.
	ItemType Type
}

// idPattern is Kestra's rule for input ids: ids become template paths
// ({{ inputs.my-id }} must still be addressable as inputs['my-id']) and file
// and URL components.
var idPattern = regexp.MustCompile(`^[a-zA-Z0-9][.a-zA-Z0-9_-]*$`)

// Check returns the static errors of the declaration, each a *DeclError, or
// nil when it is sound. It runs when a flow is saved so that mistakes show
// up then, all at once, instead of when someone first starts the flow.
//
// present lists the property names written in the document for this input
// (the flow decoder knows them; order does not matter and it may be nil).
// Check uses it to report properties that mean nothing for the type, which
// would otherwise be silently ignored (a validator on an INT, say), and
// names that are no property at all, with a did-you-mean hint; the flow
// decoder therefore need not report unknown input properties itself.
// Properties set to a non-zero value in d count as present even if not
// listed.
//
// Checked: id syntax; type (unknown, with a suggestion; FILE unsupported);
// the validator compiles; min, max, after and before parse and min <= max,
// after <= before; SELECT, ENUM and MULTISELECT list values, without
// duplicates; itemType is a valid element type; a literal (non-template)
// default coerces to the type.
func (d *Decl) Check(present []string) []error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &DeclError{ID: d.ID, Field: field, Msg: fmt.Sprintf(format, args...)})
	}

	if d.ID == "" {
		add(propID, "an id is required")
	} else if !idPattern.MatchString(d.ID) {
		add(propID, "%q is not a valid id: use letters, digits, '.', '_' and '-', starting with a letter or digit", d.ID)
	}

	info, known := lookupType(d.Type)
	switch {
	case d.Type == "":
		add(propType, "a type is required, one of %s", strings.Join(typeNames(true), ", "))
	case !known:
		if s := Suggest(string(d.Type), typeNames(true)); s != "" {
			add(propType, "unknown type %q; did you mean %s?", string(d.Type), s)
		} else {
			add(propType, "unknown type %q; use one of %s", string(d.Type), strings.Join(typeNames(true), ", "))
		}
	case !info.Supported:
		add(propType, "type %s is not supported", info.Name)
	}

	errs = append(errs, d.checkPresent(present, known)...)
	if !known || !info.Supported {
		// Type-specific checks need a usable type; what was found so far is
		// all that can be said.
		return errs
	}

	before := len(errs)
	errs = append(errs, d.checkProperties()...)
	if len(errs) == before && d.Defaults != nil && !containsTemplate(d.Defaults) {
		// Only with a sound declaration: otherwise the default's error would
		// merely repeat the declaration's.
		if _, ierr := d.coerce(d.Defaults); ierr != nil {
			add(propDefaults, "%s", ierr.Msg)
		}
	}
	return errs
}

// checkPresent reports present properties that are unknown or do not apply
// to the type. Applicability can only be judged when the type is known.
func (d *Decl) checkPresent(present []string, known bool) []error {
	var errs []error
	all := allPropNames()
	for _, key := range d.presentKeys(present) {
		switch {
		case slices.ContainsFunc(commonProps, func(p PropInfo) bool { return p.Name == key }):
		case !slices.Contains(all, key):
			msg := "unknown property"
			if s := Suggest(key, all); s != "" {
				msg += fmt.Sprintf("; did you mean `%s`?", s)
			}
			errs = append(errs, &DeclError{ID: d.ID, Field: key, Msg: msg})
		case known && !d.Type.accepts(key):
			errs = append(errs, &DeclError{ID: d.ID, Field: key, Msg: fmt.Sprintf(
				"does not apply to %s inputs (only to %s)", d.Type, strings.Join(typesAccepting(key), ", "))})
		}
	}
	return errs
}

// presentKeys merges the keys the decoder saw with the properties set in d,
// without repeats, in a stable order.
func (d *Decl) presentKeys(present []string) []string {
	var keys []string
	addKey := func(k string) {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	for _, k := range present {
		addKey(k)
	}
	set := []struct {
		name string
		on   bool
	}{
		{propValidator, d.Validator != ""},
		{propMin, d.Min != nil},
		{propMax, d.Max != nil},
		{propAfter, d.After != ""},
		{propBefore, d.Before != ""},
		{propValues, d.Values != nil},
		{propAllowCustomValue, d.AllowCustomValue},
		{propItemType, d.ItemType != ""},
	}
	for _, s := range set {
		if s.on {
			addKey(s.name)
		}
	}
	return keys
}

// checkProperties checks the values of the type-specific properties that
// apply to d.Type. Those that do not apply were reported by checkPresent.
func (d *Decl) checkProperties() []error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &DeclError{ID: d.ID, Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if d.Type.accepts(propValidator) {
		if _, err := d.validator(); err != nil {
			add(propValidator, "not a valid regular expression: %v", err)
		}
	}

	var derr *DeclError
	switch d.Type {
	case TypeInt:
		_, _, derr = intBounds(d)
	case TypeFloat:
		_, _, derr = floatBounds(d)
	case TypeDuration:
		_, _, derr = durationBounds(d)
	case TypeDateTime, TypeDate, TypeTime:
		_, _, derr = temporalBounds(d)
	}
	if derr != nil {
		errs = append(errs, derr)
	}

	if d.Type.isSelect() {
		if len(d.Values) == 0 {
			add(propValues, "at least one value is required for %s inputs", d.Type)
		}
		for i, v := range d.Values {
			if slices.Contains(d.Values[:i], v) {
				add(propValues, "%s is listed twice", describe(v))
			}
		}
	}

	if d.Type == TypeArray && d.ItemType != "" && !slices.Contains(arrayItemTypes, d.ItemType) {
		switch {
		case !d.ItemType.Known():
			msg := fmt.Sprintf("unknown type %q", string(d.ItemType))
			if s := Suggest(string(d.ItemType), typeStrings(arrayItemTypes)); s != "" {
				msg += fmt.Sprintf("; did you mean %s?", s)
			}
			add(propItemType, "%s", msg)
		default:
			add(propItemType, "%s cannot be the type of ARRAY elements; use one of %s", d.ItemType, joinTypes(arrayItemTypes))
		}
	}
	return errs
}

// The bound readers below serve both Check (which reports their error) and
// Coerce (which needs the values). A nil pointer means no bound.

func intBounds(d *Decl) (lo, hi *int64, err *DeclError) {
	read := func(field string, v any) (*int64, *DeclError) {
		if v == nil {
			return nil, nil
		}
		i, msg := asInt64(v)
		if msg != "" {
			return nil, &DeclError{ID: d.ID, Field: field, Msg: msg}
		}
		return &i, nil
	}
	if lo, err = read(propMin, d.Min); err != nil {
		return nil, nil, err
	}
	if hi, err = read(propMax, d.Max); err != nil {
		return nil, nil, err
	}
	if lo != nil && hi != nil && *lo > *hi {
		return nil, nil, &DeclError{ID: d.ID, Field: propMin, Msg: fmt.Sprintf("min %d is greater than max %d", *lo, *hi)}
	}
	return lo, hi, nil
}

func floatBounds(d *Decl) (lo, hi *float64, err *DeclError) {
	read := func(field string, v any) (*float64, *DeclError) {
		if v == nil {
			return nil, nil
		}
		f, msg := asFloat64(v)
		if msg != "" {
			return nil, &DeclError{ID: d.ID, Field: field, Msg: msg}
		}
		return &f, nil
	}
	if lo, err = read(propMin, d.Min); err != nil {
		return nil, nil, err
	}
	if hi, err = read(propMax, d.Max); err != nil {
		return nil, nil, err
	}
	if lo != nil && hi != nil && *lo > *hi {
		return nil, nil, &DeclError{ID: d.ID, Field: propMin, Msg: fmt.Sprintf("min %s is greater than max %s", formatFloat(*lo), formatFloat(*hi))}
	}
	return lo, hi, nil
}

func durationBounds(d *Decl) (lo, hi *time.Duration, err *DeclError) {
	read := func(field string, v any) (*time.Duration, *DeclError) {
		switch x := v.(type) {
		case nil:
			return nil, nil
		case time.Duration:
			return &x, nil
		case string:
			dur, perr := parseDuration(x)
			if perr != nil {
				return nil, &DeclError{ID: d.ID, Field: field, Msg: describe(x) + " is not a duration: " + perr.Error()}
			}
			return &dur, nil
		}
		return nil, &DeclError{ID: d.ID, Field: field, Msg: notA(v, "a duration") + " (durations are text such as PT15M or 15m)"}
	}
	if lo, err = read(propMin, d.Min); err != nil {
		return nil, nil, err
	}
	if hi, err = read(propMax, d.Max); err != nil {
		return nil, nil, err
	}
	if lo != nil && hi != nil && *lo > *hi {
		return nil, nil, &DeclError{ID: d.ID, Field: propMin, Msg: fmt.Sprintf("min %s is greater than max %s", FormatDuration(*lo), FormatDuration(*hi))}
	}
	return lo, hi, nil
}

func temporalBounds(d *Decl) (after, before *time.Time, err *DeclError) {
	tp, _ := temporalOf(d.Type)
	read := func(field, s string) (*time.Time, *DeclError) {
		if s == "" {
			return nil, nil
		}
		t, msg := tp.read(s)
		if msg != "" {
			return nil, &DeclError{ID: d.ID, Field: field, Msg: msg}
		}
		return &t, nil
	}
	if after, err = read(propAfter, d.After); err != nil {
		return nil, nil, err
	}
	if before, err = read(propBefore, d.Before); err != nil {
		return nil, nil, err
	}
	if after != nil && before != nil && after.After(*before) {
		return nil, nil, &DeclError{ID: d.ID, Field: propAfter, Msg: fmt.Sprintf("after %s is later than before %s", tp.format(*after), tp.format(*before))}
	}
	return after, before, nil
}

// containsTemplate reports whether a default holds template syntax anywhere,
// in which case it can only be checked once rendered.
func containsTemplate(v any) bool {
	switch x := v.(type) {
	case string:
		return strings.Contains(x, "{{") || strings.Contains(x, "{%") || strings.Contains(x, "{#")
	case []any:
		return slices.ContainsFunc(x, containsTemplate)
	case map[string]any:
		for _, e := range x {
			if containsTemplate(e) {
				return true
			}
		}
	}
	return false
}
