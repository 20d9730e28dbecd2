package expr

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"math"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// filters is immutable after package initialization.
var filters = table("filter", []*builtin{
	{name: "date", params: []string{"format", "timeZone", "existingFormat"}, fn: fDate},
	{name: "dateAdd", params: []string{"amount", "unit"}, min: 2, fn: fDateAdd},
	{name: "timestamp", params: []string{"timeZone", "existingFormat"}, fn: fTimestamp},
	{name: "json", fn: fToJSON},
	{name: "toJson", fn: fToJSON},
	{name: "length", fn: fLength},
	{name: "default", params: []string{"default"}, min: 1, lenient: true, fn: fDefault},
	{name: "upper", fn: stringFilter(strings.ToUpper)},
	{name: "lower", fn: stringFilter(strings.ToLower)},
	{name: "capitalize", fn: stringFilter(capitalize)},
	{name: "title", fn: stringFilter(title)},
	{name: "trim", fn: stringFilter(func(s string) string { return strings.TrimSpace(s) })},
	{name: "slugify", fn: stringFilter(slugify)},
	{name: "replace", params: []string{"search", "replacement", "regexp"}, min: 1, fn: fReplace},
	{name: "split", params: []string{"delimiter", "limit"}, min: 1, fn: fSplit},
	{name: "join", params: []string{"separator"}, fn: fJoin},
	{name: "first", fn: fFirst},
	{name: "last", fn: fLast},
	{name: "keys", fn: fKeys},
	{name: "values", fn: fValues},
	{name: "number", params: []string{"type"}, fn: fNumber},
	{name: "abs", fn: fAbs},
	{name: "round", params: []string{"precision"}, fn: fRound},
	{name: "list", fn: fList},
	{name: "startsWith", params: []string{"prefix"}, min: 1, fn: fStartsWith},
	{name: "endsWith", params: []string{"suffix"}, min: 1, fn: fEndsWith},
	{name: "sha1", fn: hashFilter(sha1.New)},
	{name: "sha256", fn: hashFilter(sha256.New)},
	{name: "sha512", fn: hashFilter(sha512.New)},
	{name: "md5", fn: hashFilter(md5.New)},
	{name: "base64encode", fn: fBase64Encode},
	{name: "base64decode", fn: fBase64Decode},
	{name: "urlencode", fn: stringFilter(urlEncode)},
	{name: "urldecode", fn: fURLDecode},
	{name: "sort", fn: fSort},
	{name: "reverse", fn: fReverse},
	{name: "unique", fn: fUnique},
	{name: "slice", params: []string{"fromIndex", "toIndex"}, fn: fSlice},
	{name: "abbreviate", params: []string{"length"}, min: 1, fn: fAbbreviate},
	{name: "substringBefore", params: []string{"separator"}, min: 1, fn: substringFilter(false, false)},
	{name: "substringBeforeLast", params: []string{"separator"}, min: 1, fn: substringFilter(false, true)},
	{name: "substringAfter", params: []string{"separator"}, min: 1, fn: substringFilter(true, false)},
	{name: "substringAfterLast", params: []string{"separator"}, min: 1, fn: substringFilter(true, true)},
	{name: "string", fn: fString},
})

// ---- argument helpers ----

func strArg(args []any, i int, name, def string) (string, error) {
	v := arg(args, i)
	if v == nil {
		return def, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("argument `%s` must be a string, got %s", name, typeName(v))
	}
	return s, nil
}

func intArg(args []any, i int, name string, def int64) (int64, error) {
	v := arg(args, i)
	if v == nil {
		return def, nil
	}
	n, ok := toInt(v)
	if !ok {
		return 0, fmt.Errorf("argument `%s` must be an integer, got %s", name, typeName(v))
	}
	return n, nil
}

// inputString returns the filter input as text; non-strings are stringified
// so that `{{ 42 | upper }}` works like Pebble's toString coercion.
func inputString(in any) string {
	if s, ok := in.(string); ok {
		return s
	}
	return Stringify(in)
}

// stringFilter lifts a string function into a filter; null stays null.
func stringFilter(f func(string) string) func(*state, any, []any) (any, error) {
	return func(s *state, in any, _ []any) (any, error) {
		if in == nil {
			return nil, nil
		}
		str := inputString(in)
		if err := s.chargeBytes(len(str)); err != nil {
			return nil, err
		}
		out := f(str)
		if err := s.checkString(len(out)); err != nil {
			return nil, err
		}
		return out, nil
	}
}

// ---- dates ----

func dateArgs(s *state, args []any, fi, zi int) (format string, loc *time.Location, explicit bool, existing string, err error) {
	if format, err = strArg(args, fi, "format", "iso"); err != nil {
		return
	}
	if err = s.chargeBytes(len(format)); err != nil {
		return
	}
	var zone string
	if zone, err = strArg(args, zi, "timeZone", ""); err != nil {
		return
	}
	if loc, err = s.zone(zone); err != nil {
		return
	}
	existing, err = strArg(args, zi+1, "existingFormat", "")
	return format, loc, zone != "", existing, err
}

func fDate(s *state, in any, args []any) (any, error) {
	if in == nil {
		return nil, nil
	}
	format, loc, explicit, existing, err := dateArgs(s, args, 0, 1)
	if err != nil {
		return nil, err
	}
	t, err := toTime(in, existing, loc)
	if err != nil {
		return nil, err
	}
	return formatDate(t, format, loc, explicit)
}

func fDateAdd(_ *state, in any, args []any) (any, error) {
	if in == nil {
		return nil, nil
	}
	amount, err := intArg(args, 0, "amount", 0)
	if err != nil {
		return nil, err
	}
	unit, err := strArg(args, 1, "unit", "")
	if err != nil {
		return nil, err
	}
	t, err := toTime(in, "", time.UTC)
	if err != nil {
		return nil, err
	}
	return dateAdd(t, amount, unit)
}

func fTimestamp(s *state, in any, args []any) (any, error) {
	t, err := timestampArg(s, in, args)
	if err != nil || t == nil {
		return nil, err
	}
	return t.Unix(), nil
}

// timestampArg reads the input of the timestamp filters as a date, with
// their arguments timeZone and existingFormat; nil for a null input.
func timestampArg(s *state, in any, args []any) (*time.Time, error) {
	if in == nil {
		return nil, nil
	}
	zone, err := strArg(args, 0, "timeZone", "")
	if err != nil {
		return nil, err
	}
	loc, err := s.zone(zone)
	if err != nil {
		return nil, err
	}
	existing, err := strArg(args, 1, "existingFormat", "")
	if err != nil {
		return nil, err
	}
	t, err := toTime(in, existing, loc)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// ---- serialization and general ----

func fToJSON(s *state, in any, _ []any) (any, error) {
	out, err := toJSON(in, s.limits.MaxOutput)
	if err != nil {
		if errors.Is(err, errTooLarge) {
			return nil, &limitError{msg: fmt.Sprintf("JSON exceeds the limit of %d bytes", s.limits.MaxOutput)}
		}
		return nil, err
	}
	return out, s.chargeBytes(len(out))
}

func fString(s *state, in any, _ []any) (any, error) {
	out, err := appendText(nil, in, s.limits.MaxOutput)
	if err != nil || len(out) > s.limits.MaxOutput {
		if err == nil || errors.Is(err, errTooLarge) {
			return nil, &limitError{msg: fmt.Sprintf("string exceeds the limit of %d bytes", s.limits.MaxOutput)}
		}
		return nil, err
	}
	return string(out), s.chargeBytes(len(out))
}

func fLength(_ *state, in any, _ []any) (any, error) {
	switch x := in.(type) {
	case nil:
		return int64(0), nil
	case string:
		return int64(utf8.RuneCountInString(x)), nil
	case []any:
		return int64(len(x)), nil
	case map[string]any:
		return int64(len(x)), nil
	}
	if l, ok := toList(in); ok {
		return int64(len(l)), nil
	}
	if m, ok := toMap(in); ok {
		return int64(len(m)), nil
	}
	return nil, fmt.Errorf("expected a string, list or map, got %s", typeName(in))
}

func fDefault(_ *state, in any, args []any) (any, error) {
	if in == nil || in == "" {
		return args[0], nil
	}
	return in, nil
}

func capitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToTitle(r)) + s[n:]
}

// title upper-cases the first letter of every whitespace-separated word and
// leaves the rest alone, as Pebble does.
func title(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	next := true
	for _, r := range s {
		if unicode.IsSpace(r) {
			next = true
		} else if next {
			r = unicode.ToTitle(r)
			next = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// fReplace supports Jinja's replace('old', 'new') and Pebble's
// replace({'old': 'new', ...}) (applied in sorted key order); regexp=true
// treats the search strings as RE2 regular expressions with $1 references.
func fReplace(s *state, in any, args []any) (any, error) {
	if in == nil {
		return nil, nil
	}
	str := inputString(in)
	useRegexp := false
	if r := arg(args, 2); r != nil {
		b, ok := r.(bool)
		if !ok {
			return nil, fmt.Errorf("argument `regexp` must be a boolean, got %s", typeName(r))
		}
		useRegexp = b
	}
	var pairs [][2]string
	if m, ok := toMap(args[0]); ok {
		if arg(args, 1) != nil {
			return nil, errors.New("give either a map of replacements or a search and a replacement string")
		}
		for _, k := range sortedKeys(m) {
			pairs = append(pairs, [2]string{k, Stringify(norm(m[k]))})
		}
	} else {
		search, ok := args[0].(string)
		if !ok {
			return nil, fmt.Errorf("argument `search` must be a string or a map, got %s", typeName(args[0]))
		}
		repl, err := strArg(args, 1, "replacement", "")
		if err != nil {
			return nil, err
		}
		pairs = append(pairs, [2]string{search, repl})
	}
	for _, p := range pairs {
		if err := s.chargeBytes(len(str)); err != nil {
			return nil, err
		}
		if useRegexp {
			re, err := regexp.Compile(p[0])
			if err != nil {
				return nil, fmt.Errorf("invalid regexp %q: %w", p[0], err)
			}
			str = re.ReplaceAllString(str, p[1])
		} else {
			if p[0] == "" {
				continue
			}
			if n := strings.Count(str, p[0]); n > 0 {
				if err := s.checkString(len(str) + n*(len(p[1])-len(p[0]))); err != nil {
					return nil, err
				}
			}
			str = strings.ReplaceAll(str, p[0], p[1])
		}
		if err := s.checkString(len(str)); err != nil {
			return nil, err
		}
	}
	return str, nil
}

// fSplit splits on a literal delimiter with Java String.split semantics:
// without a limit trailing empty strings are removed; limit > 0 caps the
// number of parts.
func fSplit(s *state, in any, args []any) (any, error) {
	if in == nil {
		return nil, nil
	}
	str := inputString(in)
	delim, err := strArg(args, 0, "delimiter", "")
	if err != nil {
		return nil, err
	}
	limit, err := intArg(args, 1, "limit", 0)
	if err != nil {
		return nil, err
	}
	if err := s.chargeBytes(len(str)); err != nil {
		return nil, err
	}
	var parts []string
	switch {
	case delim == "":
		parts = strings.Split(str, "")
	case limit > 0:
		parts = strings.SplitN(str, delim, int(min(limit, math.MaxInt32)))
	default:
		parts = strings.Split(str, delim)
	}
	if limit == 0 && len(parts) > 1 {
		for len(parts) > 0 && parts[len(parts)-1] == "" {
			parts = parts[:len(parts)-1]
		}
	}
	if err := s.charge(len(parts)); err != nil {
		return nil, err
	}
	out := make([]any, len(parts))
	for i, p := range parts {
		out[i] = p
	}
	return out, nil
}

func listInput(in any) ([]any, error) {
	if in == nil {
		return nil, nil
	}
	l, ok := toList(in)
	if !ok {
		return nil, fmt.Errorf("expected a list, got %s", typeName(in))
	}
	return l, nil
}

func fJoin(s *state, in any, args []any) (any, error) {
	if in == nil {
		return nil, nil
	}
	sep, err := strArg(args, 0, "separator", "")
	if err != nil {
		return nil, err
	}
	l, err := listInput(in)
	if err != nil {
		return nil, err
	}
	if err := s.charge(len(l)); err != nil {
		return nil, err
	}
	var b []byte
	for i, e := range l {
		if i > 0 {
			b = append(b, sep...)
		}
		if b, err = appendText(b, e, s.limits.MaxOutput); err != nil {
			break
		}
		if len(b) > s.limits.MaxOutput {
			err = errTooLarge
			break
		}
	}
	if err != nil {
		if errors.Is(err, errTooLarge) {
			return nil, &limitError{msg: fmt.Sprintf("string exceeds the limit of %d bytes", s.limits.MaxOutput)}
		}
		return nil, err
	}
	return string(b), s.chargeBytes(len(b))
}

func fFirst(_ *state, in any, _ []any) (any, error) {
	if str, ok := in.(string); ok {
		r, n := utf8.DecodeRuneInString(str)
		if n == 0 {
			return nil, nil
		}
		return string(r), nil
	}
	l, err := listInput(in)
	if err != nil || len(l) == 0 {
		return nil, err
	}
	return norm(l[0]), nil
}

func fLast(_ *state, in any, _ []any) (any, error) {
	if str, ok := in.(string); ok {
		r, n := utf8.DecodeLastRuneInString(str)
		if n == 0 {
			return nil, nil
		}
		return string(r), nil
	}
	l, err := listInput(in)
	if err != nil || len(l) == 0 {
		return nil, err
	}
	return norm(l[len(l)-1]), nil
}

func mapInput(in any) (map[string]any, error) {
	m, ok := toMap(in)
	if !ok {
		return nil, fmt.Errorf("expected a map, got %s", typeName(in))
	}
	return m, nil
}

func fKeys(s *state, in any, _ []any) (any, error) {
	return mapSorted(s, in, func(k string, _ any) any { return k })
}

func fValues(s *state, in any, _ []any) (any, error) {
	return mapSorted(s, in, func(_ string, v any) any { return v })
}

// mapSorted lists pick(key, value) for each entry of a map in key order.
func mapSorted(s *state, in any, pick func(string, any) any) (any, error) {
	if in == nil {
		return nil, nil
	}
	m, err := mapInput(in)
	if err != nil {
		return nil, err
	}
	if err := s.charge(len(m)); err != nil {
		return nil, err
	}
	keys := sortedKeys(m)
	out := make([]any, len(keys))
	for i, k := range keys {
		out[i] = pick(k, m[k])
	}
	return out, nil
}

// fNumber parses a string into int64 (when integral) or float64; the
// optional type INT/LONG forces an integer and FLOAT/DOUBLE a float.
func fNumber(_ *state, in any, args []any) (any, error) {
	typ, err := strArg(args, 0, "type", "")
	if err != nil {
		return nil, err
	}
	var v any
	switch x := in.(type) {
	case nil:
		return nil, nil
	case int64, float64:
		v = x
	case bool:
		return nil, errors.New("cannot convert a boolean to a number")
	default:
		str := strings.TrimSpace(inputString(in))
		if i, err := strconv.ParseInt(str, 10, 64); err == nil {
			v = i
		} else if f, err := strconv.ParseFloat(str, 64); err == nil && !strings.ContainsAny(str, "xXpP_") &&
			!strings.EqualFold(str, "nan") && !strings.Contains(strings.ToLower(str), "inf") {
			v = f
		} else {
			return nil, fmt.Errorf("%q is not a number", str)
		}
	}
	switch strings.ToUpper(typ) {
	case "":
		return v, nil
	case "INT", "INTEGER", "LONG", "SHORT", "BYTE":
		if i, ok := v.(int64); ok {
			return i, nil
		}
		f := v.(float64)
		if math.IsNaN(f) || f >= math.MaxInt64 || f < math.MinInt64 {
			return nil, fmt.Errorf("%v does not fit in an integer", f)
		}
		return int64(f), nil // truncates like Java's intValue()
	case "FLOAT", "DOUBLE", "BIGDECIMAL":
		f, _ := toFloat(v)
		return f, nil
	}
	return nil, fmt.Errorf("unknown number type %q (use INT, LONG, FLOAT or DOUBLE)", typ)
}

func fAbs(_ *state, in any, _ []any) (any, error) {
	switch x := in.(type) {
	case nil:
		return nil, nil
	case int64:
		if x == math.MinInt64 {
			return -float64(x), nil
		}
		if x < 0 {
			return -x, nil
		}
		return x, nil
	case float64:
		return math.Abs(x), nil
	}
	return nil, fmt.Errorf("expected a number, got %s", typeName(in))
}

// fRound rounds half away from zero. With precision 0 (the default) the
// result is an integer when it fits.
func fRound(_ *state, in any, args []any) (any, error) {
	prec, err := intArg(args, 0, "precision", 0)
	if err != nil {
		return nil, err
	}
	switch x := in.(type) {
	case nil:
		return nil, nil
	case int64:
		return x, nil
	case float64:
		prec = max(-18, min(prec, 16))
		if prec <= 0 {
			p := math.Pow10(int(-prec))
			r := math.Round(x/p) * p
			if i, ok := toInt(r); ok {
				return i, nil
			}
			return r, nil
		}
		if prec > 15 {
			return x, nil
		}
		p := math.Pow10(int(prec))
		r := math.Round(x*p) / p
		if math.IsInf(r, 0) || math.IsNaN(r) {
			return x, nil
		}
		return r, nil
	}
	return nil, fmt.Errorf("expected a number, got %s", typeName(in))
}

func fList(s *state, in any, _ []any) (any, error) {
	switch x := in.(type) {
	case nil:
		return []any{}, nil
	case string:
		if err := s.chargeBytes(len(x)); err != nil {
			return nil, err
		}
		out := make([]any, 0, len(x))
		for _, r := range x {
			out = append(out, string(r))
		}
		return out, nil
	}
	if l, ok := toList(in); ok {
		return l, nil
	}
	if isMapValue(in) {
		return fKeys(s, in, nil)
	}
	return []any{in}, nil
}

func fStartsWith(_ *state, in any, args []any) (any, error) {
	p, err := strArg(args, 0, "prefix", "")
	if err != nil {
		return nil, err
	}
	return in != nil && strings.HasPrefix(inputString(in), p), nil
}

func fEndsWith(_ *state, in any, args []any) (any, error) {
	p, err := strArg(args, 0, "suffix", "")
	if err != nil {
		return nil, err
	}
	return in != nil && strings.HasSuffix(inputString(in), p), nil
}

// slugify lower-cases, folds common Latin accents to ASCII and joins the
// remaining letter/digit runs with '-'.
func slugify(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if f, ok := accentFold[r]; ok {
			for _, c := range f {
				if b.Len() > 0 && dash {
					b.WriteByte('-')
				}
				dash = false
				b.WriteRune(c)
			}
			continue
		}
		if r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			if b.Len() > 0 && dash {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			continue
		}
		dash = true
	}
	return b.String()
}

var accentFold = func() map[rune]string {
	m := map[rune]string{'ß': "ss", 'æ': "ae", 'œ': "oe", 'ø': "o", 'đ': "d", 'ł': "l", 'þ': "th", 'ð': "d"}
	groups := map[string]string{
		"a": "àáâãäåāăą", "c": "çćĉċč", "e": "èéêëēĕėęě", "g": "ĝğġģ", "h": "ĥħ",
		"i": "ìíîïĩīĭįı", "j": "ĵ", "k": "ķ", "l": "ĺļľŀ", "n": "ñńņňŉ", "o": "òóôõöōŏő",
		"r": "ŕŗř", "s": "śŝşš", "t": "ţťŧ", "u": "ùúûüũūŭůűų", "w": "ŵ", "y": "ýÿŷ", "z": "źżž",
	}
	for base, chars := range groups {
		for _, r := range chars {
			m[r] = base
		}
	}
	return m
}()

func hashFilter(newHash func() hash.Hash) func(*state, any, []any) (any, error) {
	return func(s *state, in any, _ []any) (any, error) {
		if in == nil {
			return nil, nil
		}
		str := inputString(in)
		if err := s.chargeBytes(len(str)); err != nil {
			return nil, err
		}
		h := newHash()
		h.Write([]byte(str))
		return hex.EncodeToString(h.Sum(nil)), nil
	}
}

func fBase64Encode(s *state, in any, _ []any) (any, error) {
	if in == nil {
		return nil, nil
	}
	str := inputString(in)
	if err := s.checkString(base64.StdEncoding.EncodedLen(len(str))); err != nil {
		return nil, err
	}
	return base64.StdEncoding.EncodeToString([]byte(str)), nil
}

func fBase64Decode(s *state, in any, _ []any) (any, error) {
	if in == nil {
		return nil, nil
	}
	str := strings.TrimSpace(inputString(in))
	if err := s.chargeBytes(len(str)); err != nil {
		return nil, err
	}
	b, err := base64.StdEncoding.DecodeString(str)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(str, "="))
	}
	if err != nil {
		return nil, fmt.Errorf("invalid base64: %w", err)
	}
	return string(b), nil
}

// urlEncode matches Java's URLEncoder (form encoding, as Pebble uses):
// letters, digits and .-*_ are kept, space becomes '+'.
func urlEncode(s string) string {
	const hexUpper = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-', c == '*', c == '_':
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(hexUpper[c>>4])
			b.WriteByte(hexUpper[c&0xf])
		}
	}
	return b.String()
}

func fURLDecode(s *state, in any, _ []any) (any, error) {
	if in == nil {
		return nil, nil
	}
	str := inputString(in)
	if err := s.chargeBytes(len(str)); err != nil {
		return nil, err
	}
	out, err := url.QueryUnescape(str)
	if err != nil {
		return nil, fmt.Errorf("invalid URL encoding: %w", err)
	}
	return out, nil
}

// fSort sorts numbers, strings or dates ascending (stable); mixed kinds fail.
func fSort(s *state, in any, _ []any) (any, error) {
	l, err := listInput(in)
	if err != nil || in == nil {
		return nil, err
	}
	n := len(l)
	if err := s.charge(n * (1 + bitsLen(n))); err != nil {
		return nil, err
	}
	out := make([]any, n)
	for i, e := range l {
		out[i] = norm(e)
	}
	var cmpErr error
	sort.SliceStable(out, func(i, j int) bool {
		c, err := compare(out[i], out[j])
		if err != nil && cmpErr == nil {
			cmpErr = err
		}
		return c < 0
	})
	if cmpErr != nil {
		return nil, cmpErr
	}
	return out, nil
}

func bitsLen(n int) int {
	b := 0
	for ; n > 0; n >>= 1 {
		b++
	}
	return b
}

func fReverse(s *state, in any, _ []any) (any, error) {
	if str, ok := in.(string); ok {
		if err := s.chargeBytes(len(str)); err != nil {
			return nil, err
		}
		r := []rune(str)
		for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
			r[i], r[j] = r[j], r[i]
		}
		return string(r), nil
	}
	l, err := listInput(in)
	if err != nil || in == nil {
		return nil, err
	}
	if err := s.charge(len(l)); err != nil {
		return nil, err
	}
	out := make([]any, len(l))
	for i, e := range l {
		out[len(l)-1-i] = e
	}
	return out, nil
}

// fUnique keeps the first occurrence of each value. Values are keyed by
// their kind and JSON form, so 1 and "1" stay distinct and the cost is linear.
func fUnique(s *state, in any, _ []any) (any, error) {
	l, err := listInput(in)
	if err != nil || in == nil {
		return nil, err
	}
	if err := s.charge(len(l)); err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(l))
	out := make([]any, 0, len(l))
	for _, e := range l {
		e = norm(e)
		kv := e
		if f, ok := e.(float64); ok { // 1 and 1.0 are the same value
			if i, ok := toInt(f); ok && math.Abs(f) < 1<<53 {
				kv = i
			}
		}
		key, err := toJSON(kv, s.limits.MaxOutput)
		if err != nil {
			return nil, err
		}
		if err := s.chargeBytes(len(key)); err != nil {
			return nil, err
		}
		key = typeName(kv) + ":" + key
		if !seen[key] {
			seen[key] = true
			out = append(out, e)
		}
	}
	return out, nil
}

// fSlice returns elements (or runes) [fromIndex, toIndex); negative indexes
// count from the end and out-of-range bounds are clamped.
func fSlice(s *state, in any, args []any) (any, error) {
	from, err := intArg(args, 0, "fromIndex", 0)
	if err != nil {
		return nil, err
	}
	bounds := func(n int) (int, int) {
		to, _ := intArg(args, 1, "toIndex", int64(n))
		clamp := func(i int64) int {
			if i < 0 {
				i += int64(n)
			}
			return int(max(0, min(i, int64(n))))
		}
		a, b := clamp(from), clamp(to)
		if b < a {
			b = a
		}
		return a, b
	}
	if _, err := intArg(args, 1, "toIndex", 0); err != nil {
		return nil, err
	}
	if str, ok := in.(string); ok {
		r := []rune(str)
		a, b := bounds(len(r))
		return string(r[a:b]), nil
	}
	l, err := listInput(in)
	if err != nil || in == nil {
		return nil, err
	}
	a, b := bounds(len(l))
	if err := s.charge(b - a); err != nil {
		return nil, err
	}
	return append([]any(nil), l[a:b]...), nil
}

// fAbbreviate shortens text longer than length runes to length runes ending
// in "..." (lengths under 4 just truncate).
func fAbbreviate(_ *state, in any, args []any) (any, error) {
	if in == nil {
		return nil, nil
	}
	n, err := intArg(args, 0, "length", 0)
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, errors.New("length must not be negative")
	}
	str := inputString(in)
	if int64(utf8.RuneCountInString(str)) <= n {
		return str, nil
	}
	r := []rune(str)
	if n < 4 {
		return string(r[:n]), nil
	}
	return string(r[:n-3]) + "...", nil
}

func substringFilter(after, last bool) func(*state, any, []any) (any, error) {
	return func(_ *state, in any, args []any) (any, error) {
		if in == nil {
			return nil, nil
		}
		sep, err := strArg(args, 0, "separator", "")
		if err != nil {
			return nil, err
		}
		str := inputString(in)
		i := strings.Index(str, sep)
		if last {
			i = strings.LastIndex(str, sep)
		}
		// Apache Commons semantics: before returns the input when the
		// separator is missing, after returns "".
		if i < 0 {
			if after {
				return "", nil
			}
			return str, nil
		}
		if after {
			return str[i+len(sep):], nil
		}
		return str[:i], nil
	}
}

// ---- tests (`x is name`) ----

type testDef struct {
	name    string
	lenient bool // undefined input is allowed (it is nil)
	fn      func(v any) bool
}

// tests is immutable after package initialization.
var tests = func() map[string]*testDef {
	list := []*testDef{
		// Pebble: a variable holding null is not "defined".
		{name: "defined", lenient: true, fn: func(v any) bool { return v != nil }},
		{name: "null", fn: func(v any) bool { return v == nil }},
		{name: "empty", fn: isEmpty},
		{name: "even", fn: func(v any) bool { i, ok := toInt(v); return ok && i%2 == 0 }},
		{name: "odd", fn: func(v any) bool { i, ok := toInt(v); return ok && i%2 != 0 }},
		{name: "iterable", fn: func(v any) bool { _, ok := toList(v); return ok || isMapValue(v) }},
		{name: "map", fn: isMapValue},
		{name: "number", fn: isNumber},
		{name: "string", fn: func(v any) bool { _, ok := v.(string); return ok }},
	}
	m := make(map[string]*testDef, len(list))
	for _, t := range list {
		m[t.name] = t
	}
	return m
}()

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	}
	if l, ok := toList(v); ok {
		return len(l) == 0
	}
	if m, ok := toMap(v); ok {
		return len(m) == 0
	}
	return false
}
