package inputs

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/relayflow/relay/secrets"
)

// Coerce converts one provided value to the declared type and checks it
// against the declaration's constraints. raw is either text (command line,
// HTTP form, CloudEvent data) or an already-typed value (a JSON body or a
// YAML default): both are accepted for every type. The result is the
// canonical typed value templates see:
//
//	STRING, SECRET, URI, EMAIL  string
//	INT                         int64
//	FLOAT                       float64
//	BOOLEAN                     bool (true/false, yes/no, 1/0, any case)
//	DATETIME                    string, RFC 3339 in UTC
//	DATE                        string, YYYY-MM-DD
//	TIME                        string, HH:MM:SS (with a fraction if one was given)
//	DURATION                    string, ISO-8601 as FormatDuration writes it
//	SELECT, ENUM                string, one of Values
//	MULTISELECT                 []any of strings
//	ARRAY                       []any of ItemType's canonical values
//	JSON                        nil, bool, int64, float64, string, []any or map[string]any
//
// A nil raw value is an error, except for JSON where it is the JSON null.
// Canonical values coerce to themselves, so stored values can be checked
// again, with one exception: for JSON, a string raw value is always JSON
// text, so a JSON input whose value is a string is not a fixed point.
// Errors are *InputError. Coerce assumes nothing about the declaration having
// passed Check: a broken declaration gives an error, never a panic.
func (d *Decl) Coerce(raw any) (any, error) {
	v, err := d.coerce(raw)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// coerce returns a typed *InputError so that callers inside the package can
// rewrite its message (defaults, array items) without errors.As.
func (d *Decl) coerce(raw any) (any, *InputError) {
	if raw == nil && d.Type != TypeJSON {
		return nil, d.fail(nil, "a value is required, got null")
	}
	switch d.Type {
	case TypeString, TypeSecret:
		s, ok := asText(raw)
		if !ok {
			return nil, d.fail(raw, notA(raw, "a string"))
		}
		if d.Type == TypeSecret && secrets.IsMarker(s) {
			return s, nil // sealed where it was given, once checked there
		}
		return d.validate(s, raw)
	case TypeURI:
		return d.coerceURI(raw)
	case TypeEmail:
		return d.coerceEmail(raw)
	case TypeInt:
		return d.coerceInt(raw)
	case TypeFloat:
		return d.coerceFloat(raw)
	case TypeBoolean:
		return d.coerceBool(raw)
	case TypeDateTime, TypeDate, TypeTime:
		return d.coerceTemporal(raw)
	case TypeDuration:
		return d.coerceDuration(raw)
	case TypeSelect, TypeEnum:
		s, ok := asText(raw)
		if !ok {
			return nil, d.fail(raw, notA(raw, "a string"))
		}
		if msg := d.notAllowed([]string{s}); msg != "" {
			return nil, d.fail(raw, msg)
		}
		return s, nil
	case TypeMultiSelect:
		return d.coerceMultiSelect(raw)
	case TypeArray:
		return d.coerceArray(raw)
	case TypeJSON:
		return d.coerceJSON(raw)
	case TypeFile:
		return d.coerceFile(raw)
	}
	return nil, d.fail(raw, fmt.Sprintf("unknown input type %q", string(d.Type)))
}

// coerceFile accepts the URI of a file in internal storage: what the CLI
// (--input name=@path) and the API (multipart/form-data) store an
// uploaded file as, or the URI of a file an earlier execution produced.
func (d *Decl) coerceFile(raw any) (any, *InputError) {
	s, ok := raw.(string)
	if !ok {
		return nil, d.fail(raw, "want the relay:/// URI of a file in internal storage")
	}
	if !strings.HasPrefix(s, "relay:///") && !strings.HasPrefix(s, "kestra:///") {
		return nil, d.fail(raw, "want the relay:/// URI of a file in internal storage (give a local file as name=@path to `relay run` or `relay executions start`, or upload it with multipart/form-data)")
	}
	return s, nil
}

// fail builds the error for raw, dropping the value of secrets.
func (d *Decl) fail(raw any, msg string) *InputError {
	if d.Type == TypeSecret {
		raw = nil
	}
	return &InputError{ID: d.ID, Type: d.Type, Value: raw, Msg: msg}
}

// show quotes a text value for a message, except a secret's.
func (d *Decl) show(s string) string {
	if d.Type == TypeSecret {
		return "value"
	}
	return describe(s)
}

// validator compiles the declared validator anchored at both ends: Kestra
// (Java's String.matches) requires the whole value to match, and flows
// written for it rely on "[a-z]+" rejecting "abc1".
func (d *Decl) validator() (*regexp.Regexp, error) {
	if d.Validator == "" {
		return nil, nil
	}
	// Compiling the pattern alone first makes syntax errors quote the
	// author's pattern rather than the anchored wrapper; a valid pattern
	// stays valid once wrapped.
	if _, err := regexp.Compile(d.Validator); err != nil {
		return nil, err
	}
	return regexp.Compile(`^(?:` + d.Validator + `)$`)
}

// validate applies the validator to the canonical text s.
func (d *Decl) validate(s string, raw any) (any, *InputError) {
	re, err := d.validator()
	if err != nil {
		return nil, d.fail(raw, "the declared validator is not a valid regular expression")
	}
	if re != nil && !re.MatchString(s) {
		return nil, d.fail(raw, fmt.Sprintf("%s does not match validator `%s`", d.show(s), d.Validator))
	}
	return s, nil
}

func (d *Decl) coerceURI(raw any) (any, *InputError) {
	s, ok := asText(raw)
	if !ok {
		return nil, d.fail(raw, notA(raw, "a URI"))
	}
	s = strings.TrimSpace(s)
	if msg := checkURI(s); msg != "" {
		return nil, d.fail(raw, describe(s)+" "+msg)
	}
	return d.validate(s, raw)
}

// checkURI returns why s is not an absolute URI, or "". Whitespace is
// rejected although net/url tolerates it in paths, because RFC 3986 does not
// allow it and it usually means two values were pasted together.
func checkURI(s string) string {
	if s == "" {
		return "is not a URI"
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }); i >= 0 {
		return "is not a valid URI: it contains whitespace or control characters"
	}
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "is not a valid URI: " + err.Error()
	}
	if u.Scheme == "" {
		return "is not an absolute URI: it needs a scheme, e.g. https://"
	}
	if u.Opaque == "" && u.Host == "" && u.Path == "" {
		return "is not a valid URI: nothing follows the scheme"
	}
	return ""
}

func (d *Decl) coerceEmail(raw any) (any, *InputError) {
	s, ok := asText(raw)
	if !ok {
		return nil, d.fail(raw, notA(raw, "an email address"))
	}
	s = strings.TrimSpace(s)
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, d.fail(raw, describe(s)+" is not an email address")
	}
	// Only the bare address: "Bob <bob@example.com>" would break every
	// consumer that expects an address it can put in a To header itself.
	if a.Name != "" || a.Address != s {
		return nil, d.fail(raw, fmt.Sprintf("%s is not a plain email address; write only the address, e.g. %s", describe(s), a.Address))
	}
	return d.validate(s, raw)
}

func (d *Decl) coerceInt(raw any) (any, *InputError) {
	i, msg := asInt64(raw)
	if msg != "" {
		return nil, d.fail(raw, msg)
	}
	lo, hi, err := intBounds(d)
	if err != nil {
		return nil, d.fail(raw, invalidDecl(err))
	}
	if lo != nil && i < *lo {
		return nil, d.fail(raw, fmt.Sprintf("%d is less than the minimum %d", i, *lo))
	}
	if hi != nil && i > *hi {
		return nil, d.fail(raw, fmt.Sprintf("%d is greater than the maximum %d", i, *hi))
	}
	return i, nil
}

func (d *Decl) coerceFloat(raw any) (any, *InputError) {
	f, msg := asFloat64(raw)
	if msg != "" {
		return nil, d.fail(raw, msg)
	}
	lo, hi, err := floatBounds(d)
	if err != nil {
		return nil, d.fail(raw, invalidDecl(err))
	}
	if lo != nil && f < *lo {
		return nil, d.fail(raw, fmt.Sprintf("%s is less than the minimum %s", formatFloat(f), formatFloat(*lo)))
	}
	if hi != nil && f > *hi {
		return nil, d.fail(raw, fmt.Sprintf("%s is greater than the maximum %s", formatFloat(f), formatFloat(*hi)))
	}
	return f, nil
}

func (d *Decl) coerceBool(raw any) (any, *InputError) {
	const msg = " is not a boolean (use true/false, yes/no or 1/0)"
	switch x := raw.(type) {
	case bool:
		return x, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "yes", "1":
			return true, nil
		case "false", "no", "0":
			return false, nil
		}
		return nil, d.fail(raw, describe(raw)+msg)
	}
	if shape(raw) != "" {
		return nil, d.fail(raw, notA(raw, "a boolean"))
	}
	// Typed numbers: 1 and 0 only, the numeric spellings text accepts.
	if i, m := asInt64(raw); m == "" && (i == 0 || i == 1) {
		return i == 1, nil
	}
	return nil, d.fail(raw, describe(raw)+msg)
}

func (d *Decl) coerceTemporal(raw any) (any, *InputError) {
	tp, _ := temporalOf(d.Type)
	t, msg := tp.read(raw)
	if msg != "" {
		return nil, d.fail(raw, msg)
	}
	after, before, err := temporalBounds(d)
	if err != nil {
		return nil, d.fail(raw, invalidDecl(err))
	}
	// Bounds are inclusive, as in Kestra: only values strictly outside fail.
	if after != nil && t.Before(*after) {
		return nil, d.fail(raw, fmt.Sprintf("%s must not be before %s", tp.format(t), tp.format(*after)))
	}
	if before != nil && t.After(*before) {
		return nil, d.fail(raw, fmt.Sprintf("%s must not be after %s", tp.format(t), tp.format(*before)))
	}
	return tp.format(t), nil
}

func (d *Decl) coerceDuration(raw any) (any, *InputError) {
	var v time.Duration
	switch x := raw.(type) {
	case time.Duration:
		v = x
	case string:
		var err error
		if v, err = parseDuration(x); err != nil {
			return nil, d.fail(raw, describe(raw)+" is not a duration: "+err.Error())
		}
	default:
		// A bare number has no unit, and guessing seconds or milliseconds
		// would silently be wrong for someone.
		return nil, d.fail(raw, notA(raw, "a duration")+" (durations are text such as PT15M or 15m)")
	}
	lo, hi, err := durationBounds(d)
	if err != nil {
		return nil, d.fail(raw, invalidDecl(err))
	}
	if lo != nil && v < *lo {
		return nil, d.fail(raw, fmt.Sprintf("%s is shorter than the minimum %s", FormatDuration(v), FormatDuration(*lo)))
	}
	if hi != nil && v > *hi {
		return nil, d.fail(raw, fmt.Sprintf("%s is longer than the maximum %s", FormatDuration(v), FormatDuration(*hi)))
	}
	return FormatDuration(v), nil
}

// notAllowed returns why some of vals are not among d.Values, or "".
func (d *Decl) notAllowed(vals []string) string {
	if d.AllowCustomValue {
		return ""
	}
	var bad []string
	for _, v := range vals {
		if !slices.Contains(d.Values, v) && !slices.Contains(bad, v) {
			bad = append(bad, v)
		}
	}
	switch len(bad) {
	case 0:
		return ""
	case 1:
		msg := describe(bad[0]) + " is not one of the allowed values: " + listValues(d.Values)
		if s := Suggest(bad[0], d.Values); s != "" {
			msg += "; did you mean " + describe(s) + "?"
		}
		return msg
	}
	quoted := make([]string, len(bad))
	for i, b := range bad {
		quoted[i] = describe(b)
	}
	return strings.Join(quoted, ", ") + " are not among the allowed values: " + listValues(d.Values)
}

// listValues lists allowed values for a message, at most ten of them.
func listValues(vals []string) string {
	const most = 10
	if len(vals) == 0 {
		return "(none declared)"
	}
	if len(vals) <= most {
		return strings.Join(vals, ", ")
	}
	return fmt.Sprintf("%s, … (%d more)", strings.Join(vals[:most], ", "), len(vals)-most)
}

// coerceMultiSelect accepts a list, a JSON array text or a comma-separated
// text. The comma form is what command lines and form fields produce; values
// that contain commas must use the JSON form.
func (d *Decl) coerceMultiSelect(raw any) (any, *InputError) {
	items, ok := asList(raw)
	if !ok {
		s, isText := raw.(string)
		if !isText {
			return nil, d.fail(raw, notA(raw, "a list of values"))
		}
		if t := strings.TrimSpace(s); strings.HasPrefix(t, "[") {
			v, err := parseJSON(t)
			if err != nil {
				return nil, d.fail(raw, describe(raw)+" is not a valid JSON array: "+err.Error())
			}
			items, _ = v.([]any)
		} else {
			items = []any{}
			for part := range strings.SplitSeq(s, ",") {
				if p := strings.TrimSpace(part); p != "" {
					items = append(items, p)
				}
			}
		}
	}
	out := make([]any, len(items))
	vals := make([]string, len(items))
	for i, it := range items {
		s, ok := asText(it)
		if !ok {
			return nil, d.fail(it, fmt.Sprintf("item %d: %s", i+1, notA(it, "a string")))
		}
		out[i], vals[i] = s, s
	}
	if msg := d.notAllowed(vals); msg != "" {
		return nil, d.fail(raw, msg)
	}
	return out, nil
}

// coerceArray accepts a list or a JSON array text, and coerces each element
// to ItemType. Comma-separated text is not accepted, unlike MULTISELECT:
// elements such as JSON objects or free text may contain commas. Elements of
// a list are coerced like top-level values, so with itemType JSON a string
// element is JSON text (as repeated command-line values are); elements of a
// JSON array text are JSON values already.
func (d *Decl) coerceArray(raw any) (any, *InputError) {
	item := &Decl{ID: d.ID, Type: d.itemType()}
	if !slices.Contains(arrayItemTypes, item.Type) {
		return nil, d.fail(raw, fmt.Sprintf("the declaration is invalid: itemType %s is not supported", item.Type))
	}
	items, ok := asList(raw)
	fromText := !ok
	if fromText {
		s, isText := raw.(string)
		if !isText {
			return nil, d.fail(raw, notA(raw, "a list"))
		}
		v, err := parseJSON(s)
		if err != nil {
			return nil, d.fail(raw, describe(raw)+" is not a JSON array: "+err.Error())
		}
		if items, ok = v.([]any); !ok {
			return nil, d.fail(raw, describe(raw)+" is not a JSON array")
		}
	}
	out := make([]any, len(items))
	for i, it := range items {
		if fromText && item.Type == TypeJSON {
			// Already parsed, and canonical: a string element is a JSON
			// string, not JSON text to parse again.
			out[i] = it
			continue
		}
		v, ierr := item.coerce(it)
		if ierr != nil {
			return nil, d.fail(it, fmt.Sprintf("item %d: %s", i+1, ierr.Msg))
		}
		out[i] = v
	}
	return out, nil
}

// itemType is the element type of an ARRAY, STRING when not declared.
func (d *Decl) itemType() Type {
	if d.ItemType == "" {
		return TypeString
	}
	return d.ItemType
}

// coerceJSON parses text as JSON and normalises typed values to the same
// form. A JSON input given the text `"a"` gets the string a; the text a
// (unquoted) is not JSON and is rejected rather than guessed at.
func (d *Decl) coerceJSON(raw any) (any, *InputError) {
	if s, ok := raw.(string); ok {
		v, err := parseJSON(s)
		if err != nil {
			return nil, d.fail(raw, describe(raw)+" is not valid JSON: "+err.Error())
		}
		return v, nil
	}
	v, err := normalizeJSON(raw)
	if err != nil {
		return nil, d.fail(raw, "the value cannot be represented as JSON: "+err.Error())
	}
	return v, nil
}

// invalidDecl is the message when the declaration itself is broken (Check
// would have said so) and the value cannot be judged.
func invalidDecl(err *DeclError) string {
	return "the declaration is invalid: " + err.Field + ": " + err.Msg
}
