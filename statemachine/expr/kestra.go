package expr

import (
	"context"
	"errors"
	"fmt"
	"html"
	"math"
	"math/big"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/itchyny/gojq"
	"gopkg.in/yaml.v3"
)

// The functions, filters and tests below complete Pebble's and Kestra's
// lists (docs/reference.md lists them all). Those Relay does not run are
// named in unsupportedFunctions and unsupportedFilters, so a flow that
// uses one is rejected at validation with the reason, not with "unknown".

func init() {
	for _, b := range []*builtin{
		{name: "render", params: []string{"expression", "recursive"}, min: 1, fn: fnRender},
		{name: "renderOnce", params: []string{"expression"}, min: 1, fn: fnRenderOnce},
		{name: "yaml", params: []string{"yaml"}, min: 1, fn: fnYAML},
		{name: "jsonDecode", params: []string{"json"}, min: 1, fn: fnFromJSON},
		{name: "errorLogs", fn: fnErrorLogs},
		{name: "kv", params: []string{"key", "namespace", "errorOnMissing"}, min: 1, fn: fnKV},
		{name: "fileExists", params: []string{"path"}, min: 1, fn: fileFn(func(size int64, found bool) (any, error) { return found, nil })},
		{name: "fileSize", params: []string{"path"}, min: 1, fn: fileFn(func(size int64, found bool) (any, error) { return size, errIfMissing(found) })},
		{name: "isFileEmpty", params: []string{"path"}, min: 1, fn: fileFn(func(size int64, found bool) (any, error) { return size == 0, errIfMissing(found) })},
		{name: "randomInt", params: []string{"lower", "upper"}, min: 2, fn: fnRandomInt},
		{name: "id", fn: fnID},
		{name: "ksuid", fn: fnKSUID},
		{name: "nanoId", params: []string{"length", "alphabet"}, fn: fnNanoID},
		{name: "printContext", fn: fnPrintContext},
		{name: "fetchContext", fn: fnPrintContext},
		{name: "isWeekend", params: []string{"date"}, min: 1, fn: dateFn(func(t time.Time, _ []any) (any, error) {
			return t.Weekday() == time.Saturday || t.Weekday() == time.Sunday, nil
		})},
		{name: "dayOfWeek", params: []string{"date"}, min: 1, fn: dateFn(func(t time.Time, _ []any) (any, error) {
			return strings.ToUpper(t.Weekday().String()), nil
		})},
		{name: "dayOfMonth", params: []string{"date"}, min: 1, fn: dateFn(func(t time.Time, _ []any) (any, error) { return int64(t.Day()), nil })},
		{name: "monthOfYear", params: []string{"date"}, min: 1, fn: dateFn(func(t time.Time, _ []any) (any, error) { return int64(t.Month()), nil })},
		{name: "hourOfDay", params: []string{"date"}, min: 1, fn: dateFn(func(t time.Time, _ []any) (any, error) { return int64(t.Hour()), nil })},
		{name: "isDayWeekInMonth", params: []string{"date", "dayOfWeek", "position"}, min: 3, fn: dateFn(isDayWeekInMonth)},
		{name: "isLastWorkingDay", params: []string{"date", "workingDays"}, min: 1, fn: dateFn(isLastWorkingDay)},
		{name: "isDateBetween", params: []string{"date", "start", "end"}, min: 3, fn: dateFn(func(t time.Time, args []any) (any, error) {
			a, err := toTime(args[1], "", time.UTC)
			if err != nil {
				return nil, fmt.Errorf("start: %w", err)
			}
			b, err := toTime(args[2], "", time.UTC)
			if err != nil {
				return nil, fmt.Errorf("end: %w", err)
			}
			return t.After(a) && t.Before(b), nil
		})},
		{name: "isDateBefore", params: []string{"date", "other"}, min: 2, fn: dateFn(func(t time.Time, args []any) (any, error) {
			o, err := toTime(args[1], "", time.UTC)
			return err == nil && t.Before(o), err
		})},
		{name: "isDateAfter", params: []string{"date", "other"}, min: 2, fn: dateFn(func(t time.Time, args []any) (any, error) {
			o, err := toTime(args[1], "", time.UTC)
			return err == nil && t.After(o), err
		})},
	} {
		b.kind = "function"
		functions[b.name] = b
	}
	for _, b := range []*builtin{
		{name: "jq", params: []string{"expression"}, min: 1, lenient: false, fn: fJQ},
		{name: "chunk", params: []string{"size"}, min: 1, fn: fChunk},
		{name: "distinct", fn: fUnique},
		{name: "flatten", fn: fFlatten},
		{name: "merge", params: []string{"items"}, min: 1, fn: fMerge},
		{name: "rsort", fn: fRSort},
		{name: "indent", params: []string{"amount", "prefix"}, min: 1, fn: indentFilter(false)},
		{name: "nindent", params: []string{"amount", "prefix"}, min: 1, fn: indentFilter(true)},
		{name: "yaml", fn: fToYAML},
		{name: "escapeChar", params: []string{"type"}, min: 1, fn: fEscapeChar},
		{name: "escape", params: []string{"strategy"}, fn: fEscape},
		{name: "raw", fn: func(_ *state, in any, _ []any) (any, error) { return in, nil }},
		{name: "numberFormat", params: []string{"pattern"}, min: 1, fn: fNumberFormat},
		{name: "numberformat", params: []string{"pattern"}, min: 1, fn: fNumberFormat},
		{name: "timestampMilli", params: []string{"timeZone", "existingFormat"}, fn: timestampIn(time.Time.UnixMilli)},
		{name: "timestampMicro", params: []string{"timeZone", "existingFormat"}, fn: timestampIn(time.Time.UnixMicro)},
		{name: "timestampNano", params: []string{"timeZone", "existingFormat"}, fn: timestampIn(time.Time.UnixNano)},
		{name: "jsonEncode", fn: fToJSON},
		{name: "regexMatch", params: []string{"regex"}, min: 1, fn: fRegexMatch},
		{name: "regexExtract", params: []string{"regex", "group"}, min: 1, fn: fRegexExtract},
		{name: "regexReplace", params: []string{"regex", "replacement"}, min: 2, fn: fRegexReplace},
	} {
		b.kind = "filter"
		filters[b.name] = b
	}
	now := functions["now"]
	now.params = []string{"timeZone"}
	now.fn = fnNowIn
	tests["json"] = &testDef{name: "json", fn: isJSON}
}

// unsupportedFunctions are Kestra's functions Relay does not run, with why.
var unsupportedFunctions = map[string]string{
	"fileURI":         "namespace files are not supported by Relay; files handed between tasks are in internal storage, under the relay:// URIs of task outputs and FILE inputs",
	"encrypt":         "Relay keeps no encryption key for expressions; store the value as a secret and read it with secret()",
	"decrypt":         "Relay keeps no encryption key for expressions; store the value as a secret and read it with secret()",
	"fromIon":         "Relay's values are JSON, not Ion; use fromJson()",
	"ionDecode":       "Relay's values are JSON, not Ion; use fromJson()",
	"credential":      "credentials are a Kestra Enterprise feature; use secret()",
	"appLink":         "Kestra Enterprise Apps do not exist in Relay",
	"http":            "expressions never do I/O in Relay; use an http.request task and read its outputs",
	"randomPort":      "expressions are rendered by the executor, not where the port would be used",
	"tasksWithState":  "it would read every task run of the execution at each render (Relay keeps the cost of a step independent of the execution's size); use errorLogs() or the outputs of the tasks",
	"iterationOutput": "Kestra 2's Loop task does not exist in Relay; read ForEach outputs as outputs.t[value] or with currentEachOutput()",
	"loopOutputs":     "Kestra 2's Loop task does not exist in Relay; read ForEach outputs as outputs.t[value] or with currentEachOutput()",
	"parentOutput":    "Kestra 2's Loop task does not exist in Relay; read ForEach outputs as outputs.t[value] or with currentEachOutput()",
	"isPublicHoliday": "Relay has no public holiday calendars",
	"block":           "a Relay template is one property value: there are no blocks to render",
	"parent":          "a Relay template is one property value: there are no parent templates (the variable `parent` is the enclosing task run)",
	"i18n":            "Relay has no message bundles",
}

// unsupportedFilters are Kestra's filters Relay does not run, with why.
var unsupportedFilters = map[string]string{
	"className": "Java class names mean nothing in Relay; use the tests `is number`, `is string`, `is map`, `is iterable`",
	"toIon":     "Relay's values are JSON, not Ion; use toJson",
}

// UnsupportedFunctions and UnsupportedFilters return the names Relay
// rejects with a reason, for the reference.
func UnsupportedFunctions() map[string]string { return unsupportedFunctions }
func UnsupportedFilters() map[string]string   { return unsupportedFilters }

// ---- functions ----

func fnNowIn(s *state, _ any, args []any) (any, error) {
	if s.env.Now.IsZero() {
		return nil, errors.New("now() is not available")
	}
	zone, err := strArg(args, 0, "timeZone", "")
	if err != nil || zone == "" {
		return s.env.Now, err
	}
	loc, err := s.zone(zone)
	if err != nil {
		return nil, err
	}
	return s.env.Now.In(loc), nil
}

// maxRenderDepth bounds render() inside render() and the passes of a
// recursive render.
const maxRenderDepth = 10

// fnRender renders a string as a template with the same variables (Kestra
// renders expressions once; render() renders a value that holds one).
// Recursive rendering repeats while the result still holds tags. A single
// expression keeps its type, as everywhere in Relay.
func fnRender(s *state, _ any, args []any) (any, error) {
	recursive := true
	if r := arg(args, 1); r != nil {
		b, ok := r.(bool)
		if !ok {
			return nil, fmt.Errorf("argument `recursive` must be a boolean, got %s", typeName(r))
		}
		recursive = b
	}
	v := args[0]
	for pass := 0; ; pass++ {
		str, ok := v.(string)
		if !ok || pass > 0 && (!recursive || !looksLikeTemplate(str)) {
			return v, nil
		}
		if pass >= maxRenderDepth || s.depth >= maxRenderDepth {
			return nil, fmt.Errorf("render(): still holds expressions after %d passes", maxRenderDepth)
		}
		t, err := Parse(str)
		if err != nil {
			return nil, fmt.Errorf("render(): %w", err)
		}
		sub := newState(t, s.env)
		sub.limits, sub.steps, sub.depth, sub.zones = s.limits, s.steps, s.depth+1, s.zones
		v, err = renderIn(t, sub)
		s.steps = sub.steps
		if err != nil {
			return nil, fmt.Errorf("render(): %w", err)
		}
	}
}

func fnRenderOnce(s *state, in any, args []any) (any, error) {
	return fnRender(s, in, []any{args[0], false})
}

// renderIn is Template.Render on a prepared state.
func renderIn(t *Template, s *state) (any, error) {
	if t.literal {
		return t.src, nil
	}
	if t.single != nil {
		v, err := t.single.eval(s)
		if err != nil {
			return nil, err
		}
		return s.export(t.single, v)
	}
	s.out = make([]byte, 0, len(t.src)+64)
	if err := s.exec(t.nodes); err != nil {
		return nil, err
	}
	return string(s.out), nil
}

func looksLikeTemplate(s string) bool {
	return strings.Contains(s, "{{") || strings.Contains(s, "{%") || strings.Contains(s, "{#")
}

func fnYAML(s *state, _ any, args []any) (any, error) {
	str, ok := args[0].(string)
	if !ok {
		if args[0] == nil {
			return nil, nil
		}
		return nil, fmt.Errorf("expected a YAML string, got %s", typeName(args[0]))
	}
	if err := s.chargeBytes(len(str)); err != nil {
		return nil, err
	}
	var v any
	if err := yaml.Unmarshal([]byte(str), &v); err != nil {
		return nil, fmt.Errorf("invalid YAML: %w", err)
	}
	return fromYAML(v, 0)
}

// fromYAML turns what yaml.v3 decodes into the engine's value kinds.
func fromYAML(v any, depth int) (any, error) {
	if depth > maxValueDepth {
		return nil, errTooDeep
	}
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			ne, err := fromYAML(e, depth+1)
			if err != nil {
				return nil, err
			}
			x[k] = ne
		}
		return x, nil
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			ne, err := fromYAML(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[Stringify(norm(k))] = ne
		}
		return out, nil
	case []any:
		for i, e := range x {
			ne, err := fromYAML(e, depth+1)
			if err != nil {
				return nil, err
			}
			x[i] = ne
		}
		return x, nil
	}
	return norm(v), nil
}

func fnErrorLogs(s *state, _ any, _ []any) (any, error) {
	if s.env.ErrorLogs == nil {
		return nil, errors.New("errorLogs() is not available here")
	}
	logs := s.env.ErrorLogs()
	if logs == nil {
		logs = []any{}
	}
	return logs, s.charge(len(logs))
}

// fileFn is a function over a file of internal storage (Kestra's
// fileExists, fileSize, isFileEmpty): path is a relay:// or kestra:// URI
// of the execution's namespace. Namespace files, which Kestra also reads
// by a plain path, do not exist in Relay.
func fileFn(result func(size int64, found bool) (any, error)) func(*state, any, []any) (any, error) {
	return func(s *state, _ any, args []any) (any, error) {
		uri, ok := args[0].(string)
		if !ok {
			return nil, fmt.Errorf("the path must be a file URI, got %s", typeName(args[0]))
		}
		if !strings.HasPrefix(uri, "relay://") && !strings.HasPrefix(uri, "kestra://") {
			return nil, fmt.Errorf("%q is not a file of internal storage (relay:// or kestra://): namespace files are not supported by Relay", uri)
		}
		if s.env.FileSize == nil {
			return nil, errors.New("files are not available here: this deployment has no internal storage")
		}
		size, found, err := s.env.FileSize(uri)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", uri, err)
		}
		v, err := result(size, found)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", uri, err)
		}
		return v, nil
	}
}

func errIfMissing(found bool) error {
	if !found {
		return errors.New("no such file")
	}
	return nil
}

// fnKV reads the KV store: kv(key, namespace=flow.namespace,
// errorOnMissing=true), as Kestra's kv() function.
func fnKV(s *state, _ any, args []any) (any, error) {
	key, ok := args[0].(string)
	if !ok || key == "" {
		return nil, fmt.Errorf("the key must be a non-empty string, got %s", typeName(args[0]))
	}
	ns, err := strArg(args, 1, "namespace", "")
	if err != nil {
		return nil, err
	}
	if ns == "" {
		if f, ok := s.root("flow"); ok {
			if n, found, _ := mapGet(f, "namespace"); found {
				ns = Stringify(n)
			}
		}
	}
	errorOnMissing := true
	if e := arg(args, 2); e != nil {
		b, ok := e.(bool)
		if !ok {
			return nil, fmt.Errorf("argument `errorOnMissing` must be a boolean, got %s", typeName(e))
		}
		errorOnMissing = b
	}
	if s.env.KV == nil {
		return nil, errors.New("kv() is not available here")
	}
	v, found, err := s.env.KV(ns, key)
	if err != nil {
		return nil, fmt.Errorf("reading key %q of namespace %s: %w", key, ns, err)
	}
	if !found {
		if errorOnMissing {
			return nil, fmt.Errorf("namespace %s has no key %q (pass errorOnMissing=false to read null)", ns, key)
		}
		return nil, nil
	}
	return norm(v), nil
}

func (s *state) random() (uint64, error) {
	if s.env.Rand == nil {
		return 0, errors.New("random values are not available here")
	}
	return s.env.Rand(), nil
}

// fnRandomInt draws an integer in [lower, upper), as Kestra's randomInt.
func fnRandomInt(s *state, _ any, args []any) (any, error) {
	lo, ok1 := toInt(args[0])
	hi, ok2 := toInt(args[1])
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("bounds must be integers, got %s and %s", typeName(args[0]), typeName(args[1]))
	}
	if hi <= lo {
		return nil, fmt.Errorf("upper bound %d must be greater than lower bound %d", hi, lo)
	}
	r, err := s.random()
	if err != nil {
		return nil, err
	}
	return lo + int64(r%uint64(hi-lo)), nil
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// encode62 writes n bytes of big-endian data in base 62, left-padded with
// '0' to width.
func encode62(b []byte, width int) string {
	n := new(big.Int).SetBytes(b)
	out := []byte(n.Text(62))
	for i, c := range out { // big.Int's digits are 0-9a-zA-Z; base62 puts capitals first
		switch {
		case c >= 'a' && c <= 'z':
			out[i] = base62[10+c-'a']
		case c >= 'A' && c <= 'Z':
			out[i] = base62[36+c-'A']
		}
	}
	if len(out) < width {
		out = append([]byte(strings.Repeat("0", width-len(out))), out...)
	}
	return string(out)
}

func (s *state) randomBytes(n int) ([]byte, error) {
	b := make([]byte, 0, n+8)
	for len(b) < n {
		r, err := s.random()
		if err != nil {
			return nil, err
		}
		for i := 0; i < 8; i++ {
			b = append(b, byte(r>>(8*i)))
		}
	}
	return b[:n], nil
}

// fnID is a short unique id: 128 random bits in base 62 (22 characters),
// the form of Kestra's ids.
func fnID(s *state, _ any, _ []any) (any, error) {
	b, err := s.randomBytes(16)
	if err != nil {
		return nil, err
	}
	return encode62(b, 22), nil
}

// ksuidEpoch is the KSUID epoch, 2014-05-13T16:53:20Z.
const ksuidEpoch = 1400000000

// fnKSUID is a K-sortable id: 4 bytes of seconds since the KSUID epoch
// (from now()) then 16 random bytes, 27 characters of base 62.
func fnKSUID(s *state, _ any, _ []any) (any, error) {
	if s.env.Now.IsZero() {
		return nil, errors.New("ksuid() needs now(), which is not available")
	}
	r, err := s.randomBytes(16)
	if err != nil {
		return nil, err
	}
	ts := uint32(s.env.Now.Unix() - ksuidEpoch)
	b := append([]byte{byte(ts >> 24), byte(ts >> 16), byte(ts >> 8), byte(ts)}, r...)
	return encode62(b, 27), nil
}

const nanoAlphabet = "_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

func fnNanoID(s *state, _ any, args []any) (any, error) {
	n, err := intArg(args, 0, "length", 21)
	if err != nil {
		return nil, err
	}
	alphabet, err := strArg(args, 1, "alphabet", nanoAlphabet)
	if err != nil {
		return nil, err
	}
	runes := []rune(alphabet)
	if n <= 0 || n > 1024 || len(runes) == 0 {
		return nil, fmt.Errorf("length must be between 1 and 1024 and the alphabet not empty")
	}
	out := make([]rune, n)
	for i := range out {
		r, err := s.random()
		if err != nil {
			return nil, err
		}
		out[i] = runes[r%uint64(len(runes))]
	}
	return string(out), nil
}

// contextRoots are the variables printContext() shows, when defined.
var contextRoots = []string{"flow", "execution", "inputs", "outputs", "vars", "labels", "trigger", "task", "taskrun", "parents", "parent", "envs", "globals"}

func fnPrintContext(s *state, _ any, _ []any) (any, error) {
	out := map[string]any{}
	for k, v := range s.vars {
		out[k] = v
	}
	for _, name := range contextRoots {
		if _, ok := out[name]; ok {
			continue
		}
		if v, ok := s.root(name); ok {
			out[name] = v
		}
	}
	return out, s.charge(sizeOf(out))
}

// dateFn lifts a function of a date (its first argument) into a builtin.
func dateFn(f func(t time.Time, args []any) (any, error)) func(*state, any, []any) (any, error) {
	return func(_ *state, _ any, args []any) (any, error) {
		t, err := toTime(args[0], "", time.UTC)
		if err != nil {
			return nil, err
		}
		return f(t, args)
	}
}

var weekdays = map[string]time.Weekday{
	"SUNDAY": time.Sunday, "MONDAY": time.Monday, "TUESDAY": time.Tuesday, "WEDNESDAY": time.Wednesday,
	"THURSDAY": time.Thursday, "FRIDAY": time.Friday, "SATURDAY": time.Saturday,
}

func weekday(v any) (time.Weekday, error) {
	d, ok := weekdays[strings.ToUpper(strings.TrimSpace(Stringify(v)))]
	if !ok {
		return 0, fmt.Errorf("%q is not a day of the week (MONDAY ... SUNDAY)", Stringify(v))
	}
	return d, nil
}

func isDayWeekInMonth(t time.Time, args []any) (any, error) {
	d, err := weekday(args[1])
	if err != nil {
		return nil, err
	}
	if t.Weekday() != d {
		return false, nil
	}
	pos := strings.ToUpper(Stringify(args[2]))
	nth := (t.Day()-1)/7 + 1
	switch pos {
	case "FIRST":
		return nth == 1, nil
	case "SECOND":
		return nth == 2, nil
	case "THIRD":
		return nth == 3, nil
	case "FOURTH":
		return nth == 4, nil
	case "LAST":
		return t.Day()+7 > daysIn(t.Year(), t.Month()), nil
	}
	return nil, fmt.Errorf("position %q is not one of FIRST, SECOND, THIRD, FOURTH, LAST", pos)
}

func isLastWorkingDay(t time.Time, args []any) (any, error) {
	working := map[time.Weekday]bool{time.Monday: true, time.Tuesday: true, time.Wednesday: true, time.Thursday: true, time.Friday: true}
	if w := arg(args, 1); w != nil {
		working = map[time.Weekday]bool{}
		for _, name := range strings.Split(Stringify(w), ",") {
			d, err := weekday(name)
			if err != nil {
				return nil, err
			}
			working[d] = true
		}
	}
	if !working[t.Weekday()] {
		return false, nil
	}
	for day := t.Day() + 1; day <= daysIn(t.Year(), t.Month()); day++ {
		if working[time.Date(t.Year(), t.Month(), day, 0, 0, 0, 0, t.Location()).Weekday()] {
			return false, nil
		}
	}
	return true, nil
}

// ---- filters ----

// jqTimeout stops a jq program that does not end (jq has loops and
// recursion that no step budget can reach into). It is the only place a
// render depends on elapsed time, and only to fail.
const jqTimeout = time.Second

var (
	jqCacheMu sync.Mutex
	jqCache   = map[string]*gojq.Code{}
)

// jqCompile compiles a jq program once. now is given as $__now, and the
// builtins that read the clock or the host's time zone are redefined, so
// jq stays as pure as the rest of the render; env and input read nothing.
func jqCompile(src string) (*gojq.Code, error) {
	jqCacheMu.Lock()
	defer jqCacheMu.Unlock()
	if c, ok := jqCache[src]; ok {
		return c, nil
	}
	q, err := gojq.Parse("def now: $__now; def localtime: gmtime; def strflocaltime(f): strftime(f); " + src)
	if err != nil {
		return nil, fmt.Errorf("invalid jq expression %q: %w", src, err)
	}
	c, err := gojq.Compile(q, gojq.WithVariables([]string{"$__now"}), gojq.WithEnvironLoader(func() []string { return nil }))
	if err != nil {
		return nil, fmt.Errorf("invalid jq expression %q: %w", src, err)
	}
	if len(jqCache) >= 256 {
		clear(jqCache)
	}
	jqCache[src] = c
	return c, nil
}

// fJQ applies a jq program with gojq (a maintained Go implementation of
// jq) and returns the list of its results, as Kestra's jq filter does:
// `| first` takes the only one.
func fJQ(s *state, in any, args []any) (any, error) {
	src, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("the jq expression must be a string, got %s", typeName(args[0]))
	}
	code, err := jqCompile(src)
	if err != nil {
		return nil, err
	}
	input, err := toJQ(in, 0)
	if err != nil {
		return nil, err
	}
	var now any = 0.0
	if !s.env.Now.IsZero() {
		now = float64(s.env.Now.UnixNano()) / 1e9
	}
	ctx, cancel := context.WithTimeout(context.Background(), jqTimeout)
	defer cancel()
	iter := code.RunWithContext(ctx, input, now)
	out := []any{}
	for {
		v, ok := iter.Next()
		if !ok {
			break
		}
		if err, ok := v.(error); ok {
			var halt *gojq.HaltError
			if errors.As(err, &halt) && halt.Value() == nil {
				break
			}
			if errors.Is(err, context.DeadlineExceeded) {
				return nil, &limitError{msg: fmt.Sprintf("jq expression %q ran longer than %s", src, jqTimeout)}
			}
			return nil, fmt.Errorf("jq expression %q: %w", src, err)
		}
		if err := s.charge(1 + sizeOf(v)); err != nil {
			return nil, err
		}
		out = append(out, fromJQ(v))
	}
	return out, nil
}

// toJQ converts a value to the kinds gojq takes (int, float64, string,
// bool, nil, []any, map[string]any).
func toJQ(v any, depth int) (any, error) {
	if depth > maxValueDepth {
		return nil, errTooDeep
	}
	switch x := norm(v).(type) {
	case nil, bool, string, float64:
		return x, nil
	case int64:
		if x > math.MaxInt || x < math.MinInt {
			return float64(x), nil
		}
		return int(x), nil
	case time.Time:
		return formatInstant(x), nil
	default:
		if l, ok := toList(x); ok {
			out := make([]any, len(l))
			for i, e := range l {
				c, err := toJQ(e, depth+1)
				if err != nil {
					return nil, err
				}
				out[i] = c
			}
			return out, nil
		}
		if m, ok := toMap(x); ok {
			out := make(map[string]any, len(m))
			for k, e := range m {
				c, err := toJQ(e, depth+1)
				if err != nil {
					return nil, err
				}
				out[k] = c
			}
			return out, nil
		}
		return Stringify(x), nil
	}
}

// fromJQ converts gojq's results back to the engine's kinds.
func fromJQ(v any) any {
	switch x := v.(type) {
	case int:
		return int64(x)
	case *big.Int:
		if x.IsInt64() {
			return x.Int64()
		}
		f, _ := new(big.Float).SetInt(x).Float64()
		return f
	case []any:
		for i, e := range x {
			x[i] = fromJQ(e)
		}
		return x
	case map[string]any:
		for k, e := range x {
			x[k] = fromJQ(e)
		}
		return x
	}
	return v
}

func fChunk(s *state, in any, args []any) (any, error) {
	l, err := listInput(in)
	if err != nil || in == nil {
		return nil, err
	}
	size, err := intArg(args, 0, "size", 0)
	if err != nil {
		return nil, err
	}
	if size <= 0 {
		return nil, fmt.Errorf("size must be greater than 0, got %d", size)
	}
	out := []any{}
	for i := 0; i < len(l); i += int(size) {
		end := min(i+int(size), len(l))
		out = append(out, append([]any(nil), l[i:end]...))
	}
	return out, s.charge(len(l))
}

func fFlatten(s *state, in any, _ []any) (any, error) {
	l, err := listInput(in)
	if err != nil || in == nil {
		return nil, err
	}
	out := []any{}
	for _, e := range l {
		if inner, ok := toList(e); ok {
			if err := s.charge(len(inner)); err != nil {
				return nil, err
			}
			out = append(out, inner...)
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

// fMerge merges two lists (concatenation) or two maps (the argument's
// entries win), as Pebble's merge.
func fMerge(s *state, in any, args []any) (any, error) {
	if l, ok := toList(in); ok {
		other, ok := toList(args[0])
		if !ok {
			other = []any{args[0]}
		}
		if err := s.charge(len(l) + len(other)); err != nil {
			return nil, err
		}
		return append(append([]any{}, l...), other...), nil
	}
	if m, ok := toMap(in); ok {
		other, ok := toMap(args[0])
		if !ok {
			return nil, fmt.Errorf("a map merges with a map, not %s", typeName(args[0]))
		}
		out := make(map[string]any, len(m)+len(other))
		for k, v := range m {
			out[k] = v
		}
		for k, v := range other {
			out[k] = v
		}
		return out, s.charge(len(out))
	}
	if in == nil {
		return args[0], nil
	}
	return nil, fmt.Errorf("expected a list or a map, got %s", typeName(in))
}

func fRSort(s *state, in any, args []any) (any, error) {
	v, err := fSort(s, in, args)
	if err != nil || v == nil {
		return v, err
	}
	l := v.([]any)
	for i, j := 0, len(l)-1; i < j; i, j = i+1, j-1 {
		l[i], l[j] = l[j], l[i]
	}
	return l, nil
}

// indentFilter indents every line but the first by amount spaces (or
// prefix repeated); nindent starts with a newline and indents every line.
func indentFilter(newline bool) func(*state, any, []any) (any, error) {
	return func(s *state, in any, args []any) (any, error) {
		if in == nil {
			return nil, nil
		}
		n, err := intArg(args, 0, "amount", 0)
		if err != nil {
			return nil, err
		}
		if n < 0 || n > 1000 {
			return nil, fmt.Errorf("amount must be between 0 and 1000, got %d", n)
		}
		unit, err := strArg(args, 1, "prefix", " ")
		if err != nil {
			return nil, err
		}
		pad := strings.Repeat(unit, int(n))
		str := inputString(in)
		lines := strings.Split(str, "\n")
		for i := range lines {
			if i > 0 || newline {
				lines[i] = pad + lines[i]
			}
		}
		out := strings.Join(lines, "\n")
		if newline {
			out = "\n" + out
		}
		return out, s.checkString(len(out))
	}
}

// fToYAML writes a value as YAML text (the yaml function parses it back).
func fToYAML(s *state, in any, _ []any) (any, error) {
	v, _, err := export(in, 0)
	if err != nil {
		return nil, err
	}
	b, err := yaml.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("writing YAML: %w", err)
	}
	return string(b), s.checkString(len(b))
}

// fEscapeChar escapes quotes for a single-quoted, a double-quoted or a
// shell single-quoted string, as Kestra's escapeChar.
func fEscapeChar(s *state, in any, args []any) (any, error) {
	if in == nil {
		return nil, nil
	}
	typ, err := strArg(args, 0, "type", "")
	if err != nil {
		return nil, err
	}
	str := inputString(in)
	var out string
	switch strings.ToLower(typ) {
	case "single":
		out = strings.ReplaceAll(strings.ReplaceAll(str, `\`, `\\`), "'", `\'`)
	case "double":
		out = strings.ReplaceAll(strings.ReplaceAll(str, `\`, `\\`), `"`, `\"`)
	case "shell":
		out = strings.ReplaceAll(str, "'", `'\''`)
	default:
		return nil, fmt.Errorf("type %q is not one of single, double, shell", typ)
	}
	return out, s.checkString(len(out))
}

// fEscape is Pebble's escape filter: html (the default) or json.
func fEscape(s *state, in any, args []any) (any, error) {
	if in == nil {
		return nil, nil
	}
	strategy, err := strArg(args, 0, "strategy", "html")
	if err != nil {
		return nil, err
	}
	str := inputString(in)
	var out string
	switch strategy {
	case "html":
		out = html.EscapeString(str)
	case "json":
		out = string(appendJSONString(nil, str))
		out = out[1 : len(out)-1]
	default:
		return nil, fmt.Errorf("escaping strategy %q is not supported (html or json)", strategy)
	}
	return out, s.checkString(len(out))
}

// fNumberFormat formats a number with a java.text.DecimalFormat pattern:
// `#` and `0` digits, one `.`, `,` grouping, and literal prefix and suffix
// (a trailing `%` multiplies by 100). Rounding is half-even, as Java's.
func fNumberFormat(s *state, in any, args []any) (any, error) {
	if in == nil {
		return nil, nil
	}
	pattern, err := strArg(args, 0, "pattern", "")
	if err != nil {
		return nil, err
	}
	f, ok := toFloat(in)
	if !ok {
		str, isStr := in.(string)
		if v, err := strconv.ParseFloat(strings.TrimSpace(str), 64); isStr && err == nil {
			f = v
		} else {
			return nil, fmt.Errorf("expected a number, got %s", typeName(in))
		}
	}
	return decimalFormat(f, pattern)
}

func decimalFormat(f float64, pattern string) (string, error) {
	start := strings.IndexAny(pattern, "#0,.")
	if start < 0 {
		return "", fmt.Errorf("pattern %q has no digits (# or 0)", pattern)
	}
	end := start
	for end < len(pattern) && strings.IndexByte("#0,.", pattern[end]) >= 0 {
		end++
	}
	prefix, num, suffix := pattern[:start], pattern[start:end], pattern[end:]
	if strings.Contains(suffix, "%") || strings.Contains(prefix, "%") {
		f *= 100
	}
	intPart, fracPart, _ := strings.Cut(num, ".")
	minFrac := strings.Count(fracPart, "0")
	maxFrac := len(fracPart) - strings.Count(fracPart, ",")
	minInt := strings.Count(intPart, "0")
	group := 0
	if i := strings.LastIndexByte(intPart, ','); i >= 0 {
		group = len(intPart) - i - 1
	}
	neg := f < 0 || f == 0 && math.Signbit(f)
	f = math.Abs(f)
	// Half-even rounding at maxFrac decimals.
	scaled := f * math.Pow10(maxFrac)
	r := math.RoundToEven(scaled)
	digits := strconv.FormatFloat(r, 'f', 0, 64)
	for len(digits) <= maxFrac {
		digits = "0" + digits
	}
	ip, fp := digits[:len(digits)-maxFrac], digits[len(digits)-maxFrac:]
	for len(fp) > minFrac && strings.HasSuffix(fp, "0") {
		fp = fp[:len(fp)-1]
	}
	ip = strings.TrimLeft(ip, "0")
	for len(ip) < minInt {
		ip = "0" + ip
	}
	if group > 0 && len(ip) > group {
		var b strings.Builder
		for i, c := range ip {
			if i > 0 && (len(ip)-i)%group == 0 {
				b.WriteByte(',')
			}
			b.WriteRune(c)
		}
		ip = b.String()
	}
	out := ip
	if fp != "" {
		out += "." + fp
	}
	if out == "" {
		out = "0"
	}
	if neg && strings.Trim(out, "0.,") != "" {
		out = "-" + out
	}
	return prefix + out + suffix, nil
}

// timestampIn is the timestamp filter in another unit: Kestra's
// timestampMilli, timestampMicro and timestampNano.
func timestampIn(unit func(time.Time) int64) func(*state, any, []any) (any, error) {
	return func(s *state, in any, args []any) (any, error) {
		t, err := timestampArg(s, in, args)
		if err != nil || t == nil {
			return nil, err
		}
		return unit(*t), nil
	}
}

var (
	regexMu    sync.Mutex
	regexCache = map[string]*regexp.Regexp{}
)

// compileRegex compiles an RE2 expression once (Java's regular
// expressions without backreferences and lookaround).
func compileRegex(src string) (*regexp.Regexp, error) {
	regexMu.Lock()
	defer regexMu.Unlock()
	if re, ok := regexCache[src]; ok {
		return re, nil
	}
	re, err := regexp.Compile(src)
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression %q: %w", src, err)
	}
	if len(regexCache) >= 256 {
		clear(regexCache)
	}
	regexCache[src] = re
	return re, nil
}

func regexArgs(s *state, in any, args []any) (string, *regexp.Regexp, error) {
	src, err := strArg(args, 0, "regex", "")
	if err != nil {
		return "", nil, err
	}
	re, err := compileRegex(src)
	if err != nil {
		return "", nil, err
	}
	str := inputString(in)
	return str, re, s.chargeBytes(len(str))
}

// fRegexMatch reports whether the whole text matches, as Java's matches().
func fRegexMatch(s *state, in any, args []any) (any, error) {
	if in == nil {
		return false, nil
	}
	str, re, err := regexArgs(s, in, args)
	if err != nil {
		return nil, err
	}
	loc := re.FindStringIndex(str)
	if loc != nil && loc[0] == 0 && loc[1] == len(str) {
		return true, nil
	}
	full, err := compileRegex(`^(?:` + re.String() + `)$`)
	if err != nil {
		return nil, err
	}
	return full.MatchString(str), nil
}

// fRegexExtract returns a group (0: the whole match) of the first match,
// or null.
func fRegexExtract(s *state, in any, args []any) (any, error) {
	if in == nil {
		return nil, nil
	}
	str, re, err := regexArgs(s, in, args)
	if err != nil {
		return nil, err
	}
	group, err := intArg(args, 1, "group", 0)
	if err != nil {
		return nil, err
	}
	if group < 0 || int(group) > re.NumSubexp() {
		return nil, fmt.Errorf("the expression has %d group(s), not %d", re.NumSubexp(), group)
	}
	m := re.FindStringSubmatch(str)
	if m == nil {
		return nil, nil
	}
	return m[group], nil
}

func fRegexReplace(s *state, in any, args []any) (any, error) {
	if in == nil {
		return nil, nil
	}
	str, re, err := regexArgs(s, in, args)
	if err != nil {
		return nil, err
	}
	repl, err := strArg(args, 1, "replacement", "")
	if err != nil {
		return nil, err
	}
	out := re.ReplaceAllString(str, repl)
	return out, s.checkString(len(out))
}

// ---- tests ----

// isJSON is Kestra's `is json`: a string that parses as JSON.
func isJSON(v any) bool {
	str, ok := v.(string)
	if !ok {
		return false
	}
	_, err := fromJSON(str)
	return err == nil
}

// ---- operators ----

// isIn is Kestra's isIn: whether the text form of v equals that of an
// element of a list, or of a key or a value of a map.
func (s *state) isIn(v, in any) (bool, error) {
	if v == nil || in == nil {
		return false, nil
	}
	text := Stringify(v)
	if l, ok := toList(in); ok {
		if err := s.charge(len(l)); err != nil {
			return false, err
		}
		for _, e := range l {
			if Stringify(norm(e)) == text {
				return true, nil
			}
		}
		return false, nil
	}
	if m, ok := toMap(in); ok {
		if err := s.charge(len(m)); err != nil {
			return false, err
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if k == text || Stringify(norm(m[k])) == text {
				return true, nil
			}
		}
	}
	return false, nil
}
