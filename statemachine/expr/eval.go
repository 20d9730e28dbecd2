package expr

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/relayflow/relay/secrets"
)

// state is the per-render evaluation context. Templates are immutable, so
// everything that changes during a render lives here.
type state struct {
	src    string
	env    *Env
	vars   map[string]any
	locals []binding // for/set variables, innermost last
	scope  int       // index in locals where the current for-scope starts
	steps  int
	limits Limits
	out    []byte
	zones  map[string]*time.Location // per-render cache for the date filters
	block  []string                  // bodies of the enclosing {% filter %} statements
	depth  int                       // nesting of render() calls
}

type binding struct {
	name string
	val  any
}

// limitError is returned by builtins that exceed a limit; it matches ErrLimit
// and carries the user-facing message.
type limitError struct{ msg string }

func (e *limitError) Error() string        { return e.msg }
func (e *limitError) Is(target error) bool { return target == ErrLimit }

var errBudget = &limitError{msg: "evaluation step budget exhausted"}

func (s *state) stepsExceeded() *limitError {
	return &limitError{msg: fmt.Sprintf("template exceeds %d evaluation steps", s.limits.MaxSteps)}
}

// tick counts one evaluation step for node e.
func (s *state) tick(e expr) error {
	s.steps++
	if s.steps > s.limits.MaxSteps {
		pos, _ := e.span()
		return s.limitAt(pos, s.stepsExceeded())
	}
	return nil
}

// charge accounts for n units of work done inside a builtin (elements
// produced or visited, or bytes/64 processed).
func (s *state) charge(n int) error {
	s.steps += n
	if s.steps > s.limits.MaxSteps || n < 0 {
		return s.stepsExceeded()
	}
	return nil
}

// chargeBytes charges for processing n bytes of string data.
func (s *state) chargeBytes(n int) error { return s.charge(n/64 + 1) }

// checkString enforces MaxOutput on any string value produced.
func (s *state) checkString(n int) error {
	if n > s.limits.MaxOutput {
		return &limitError{msg: fmt.Sprintf("string of %d bytes exceeds the limit of %d bytes", n, s.limits.MaxOutput)}
	}
	return s.chargeBytes(n)
}

// stringify is Stringify bounded by MaxOutput and charged for its size.
func (s *state) stringify(v any) (string, error) {
	if str, ok := v.(string); ok {
		return str, nil
	}
	b, err := appendText(nil, v, s.limits.MaxOutput)
	if err == nil && len(b) > s.limits.MaxOutput {
		err = errTooLarge
	}
	if err != nil {
		if errors.Is(err, errTooLarge) {
			return "", &limitError{msg: fmt.Sprintf("string exceeds the limit of %d bytes", s.limits.MaxOutput)}
		}
		return "", err
	}
	return string(b), s.chargeBytes(len(b))
}

// zone resolves a time zone name once per render; loading reads tz data.
func (s *state) zone(name string) (*time.Location, error) {
	if loc, ok := s.zones[name]; ok {
		return loc, nil
	}
	loc, err := loadZone(name)
	if err != nil {
		return nil, err
	}
	if s.zones == nil {
		s.zones = map[string]*time.Location{}
	}
	s.zones[name] = loc
	return loc, nil
}

func (s *state) budget() int { return s.limits.MaxSteps - s.steps }

func (s *state) limitAt(pos int, le *limitError) *EvalError {
	return &EvalError{Src: s.src, Offset: pos, Msg: le.msg, Err: ErrLimit}
}

func (s *state) text(e expr) string {
	pos, end := e.span()
	return s.src[pos:end]
}

func (s *state) errf(e expr, format string, args ...any) *EvalError {
	pos, _ := e.span()
	return &EvalError{Src: s.src, Offset: pos, Msg: fmt.Sprintf(format, args...)}
}

func (s *state) undef(e expr, format string, args ...any) *EvalError {
	pos, _ := e.span()
	return &EvalError{Src: s.src, Offset: pos, Msg: fmt.Sprintf(format, args...), Err: ErrUndefined}
}

// wrap turns an error from a builtin or value helper into an EvalError at e.
func (s *state) wrap(e expr, what string, err error) error {
	var ee *EvalError
	if errors.As(err, &ee) {
		return err
	}
	pos, _ := e.span()
	var le *limitError
	if errors.As(err, &le) {
		if le == errBudget {
			le = s.stepsExceeded()
		}
		return s.limitAt(pos, le)
	}
	return &EvalError{Src: s.src, Offset: pos, Msg: what, Err: err}
}

func isUndefined(err error) bool {
	ee, ok := err.(*EvalError)
	return ok && ee.Err == ErrUndefined
}

func (s *state) lookup(name string) (any, bool) {
	for i := len(s.locals) - 1; i >= 0; i-- {
		if s.locals[i].name == name {
			return s.locals[i].val, true
		}
	}
	return s.root(name)
}

// root resolves a root variable from Env.Vars, then Env.Lookup.
func (s *state) root(name string) (any, bool) {
	if v, ok := s.vars[name]; ok {
		return v, true
	}
	if s.env != nil && s.env.Lookup != nil {
		return s.env.Lookup(name)
	}
	return nil, false
}

// set binds name in the current scope (Pebble: a set inside a loop does not
// leak out of it).
func (s *state) set(name string, v any) {
	for i := len(s.locals) - 1; i >= s.scope; i-- {
		if s.locals[i].name == name {
			s.locals[i].val = v
			return
		}
	}
	s.locals = append(s.locals, binding{name, v})
}

func (s *state) export(e expr, v any) (any, error) {
	out, _, err := export(v, 0)
	if err != nil {
		return nil, s.wrap(e, "cannot return the value of `"+s.text(e)+"`", err)
	}
	return out, nil
}

// ---- statements ----

func (s *state) write(pos int, str string) error {
	if len(s.out)+len(str) > s.limits.MaxOutput {
		return s.outputExceeded(pos)
	}
	s.out = append(s.out, str...)
	return nil
}

func (s *state) outputExceeded(pos int) error {
	return s.limitAt(pos, &limitError{msg: fmt.Sprintf("template output exceeds %d bytes", s.limits.MaxOutput)})
}

func (s *state) exec(nodes []node) error {
	for _, n := range nodes {
		s.steps++
		if s.steps > s.limits.MaxSteps {
			return s.limitAt(nodePos(n), s.stepsExceeded())
		}
		switch n := n.(type) {
		case *textNode:
			if err := s.write(n.pos, n.text); err != nil {
				return err
			}
		case *outputNode:
			v, err := n.x.eval(s)
			if err != nil {
				return err
			}
			if str, ok := v.(string); ok {
				if err := s.write(n.pos(), str); err != nil {
					return err
				}
				continue
			}
			out, err := appendText(s.out, v, s.limits.MaxOutput-len(s.out))
			if err != nil || len(out) > s.limits.MaxOutput {
				if err == nil || errors.Is(err, errTooLarge) {
					return s.outputExceeded(n.pos())
				}
				return s.wrap(n.x, "cannot print `"+s.text(n.x)+"`", err)
			}
			s.out = out
		case *ifNode:
			if err := s.execIf(n); err != nil {
				return err
			}
		case *forNode:
			if err := s.execFor(n); err != nil {
				return err
			}
		case *setNode:
			v, err := n.x.eval(s)
			if err != nil {
				return err
			}
			s.set(n.name, v)
		case *filterNode:
			if err := s.execFilter(n); err != nil {
				return err
			}
		}
	}
	return nil
}

// execFilter renders a {% filter %} body to text, then applies its filters.
func (s *state) execFilter(n *filterNode) error {
	saved := s.out
	s.out = nil
	err := s.exec(n.body)
	body := string(s.out)
	s.out = saved
	if err != nil {
		return err
	}
	s.block = append(s.block, body)
	v, err := n.chain.eval(s)
	s.block = s.block[:len(s.block)-1]
	if err != nil {
		return err
	}
	str, err := s.stringify(v)
	if err != nil {
		return s.wrap(n.chain, "cannot print the filtered block", err)
	}
	return s.write(n.pos, str)
}

func (n *blockExpr) eval(s *state) (any, error) {
	if err := s.tick(n); err != nil {
		return nil, err
	}
	return s.block[len(s.block)-1], nil
}

func (n *outputNode) pos() int { p, _ := n.x.span(); return p }

func nodePos(n node) int {
	switch n := n.(type) {
	case *outputNode:
		return n.pos()
	case *ifNode:
		return n.pos
	case *forNode:
		return n.pos
	case *setNode:
		return n.pos
	case *filterNode:
		return n.pos
	case *textNode:
		return n.pos
	}
	return 0
}

func (s *state) execIf(n *ifNode) error {
	for i, c := range n.conds {
		v, err := c.eval(s)
		if err != nil {
			return err
		}
		if Truthy(v) {
			return s.exec(n.thens[i])
		}
	}
	return s.exec(n.els)
}

func (s *state) execFor(n *forNode) error {
	seq, err := n.seq.eval(s)
	if err != nil {
		return err
	}
	var items []any
	var keys []string
	var m map[string]any
	if seq != nil {
		if l, ok := toList(seq); ok {
			items = l
		} else if mm, ok := toMap(seq); ok {
			m = mm
			keys = sortedKeys(m)
		} else {
			return s.errf(n.seq, "cannot iterate over %s `%s`", typeName(seq), s.text(n.seq))
		}
	}
	length := len(items)
	if m != nil {
		length = len(keys)
	}
	if length == 0 {
		return s.exec(n.els)
	}
	if err := s.charge(length); err != nil {
		return s.limitAt(n.pos, err.(*limitError))
	}
	savedScope, base := s.scope, len(s.locals)
	s.scope = base
	defer func() {
		clear(s.locals[base:])
		s.locals = s.locals[:base]
		s.scope = savedScope
	}()
	// Fixed slots for the loop variables, updated in place each iteration.
	s.locals = append(s.locals, binding{name: n.val})
	if n.key != "" {
		s.locals = append(s.locals, binding{name: n.key})
	}
	if n.usesLoop {
		s.locals = append(s.locals, binding{name: "loop"})
	}
	for i := 0; i < length; i++ {
		var key, val any
		if m != nil {
			k := keys[i]
			if n.key != "" {
				key, val = k, norm(m[k])
			} else {
				// Pebble iterates map entries; expose them as {key, value}.
				val = map[string]any{"key": k, "value": m[k]}
			}
		} else {
			key, val = int64(i), norm(items[i])
		}
		j := base
		s.locals[j].val = val
		j++
		if n.key != "" {
			s.locals[j].val = key
			j++
		}
		if n.usesLoop {
			s.locals[j].val = map[string]any{
				"index":    int64(i),
				"revindex": int64(length - 1 - i),
				"length":   int64(length),
				"first":    i == 0,
				"last":     i == length-1,
			}
		}
		if err := s.exec(n.body); err != nil {
			return err
		}
	}
	return nil
}

// ---- expressions ----

func (n *litExpr) eval(s *state) (any, error) {
	if err := s.tick(n); err != nil {
		return nil, err
	}
	return n.v, nil
}

func (n *identExpr) eval(s *state) (any, error) {
	if err := s.tick(n); err != nil {
		return nil, err
	}
	v, ok := s.lookup(n.name)
	if !ok {
		return nil, s.undef(n, "variable `%s` is not defined", n.name)
	}
	return norm(v), nil
}

func (n *attrExpr) eval(s *state) (any, error) {
	if err := s.tick(n); err != nil {
		return nil, err
	}
	x, err := n.x.eval(s)
	if err != nil {
		return nil, err
	}
	return s.attr(n, n.x, x, n.name)
}

// attr reads key from container x (the value of expression of), for node n.
func (s *state) attr(n, of expr, x any, key string) (any, error) {
	if val, found, isMap := mapGet(x, key); isMap {
		if !found {
			return nil, s.undef(n, "variable `%s` is not defined", s.text(n))
		}
		return norm(val), nil
	}
	if x == nil {
		return nil, s.undef(n, "cannot read `%s` of `%s`: it is null", key, s.text(of))
	}
	if i, err := strconv.ParseInt(key, 10, 64); err == nil {
		if v, isList, err := s.index(n, of, x, i); isList {
			return v, err
		}
	}
	return nil, s.undef(n, "cannot read `%s` of %s `%s`", key, typeName(x), s.text(of))
}

// index reads element i of x when x is a list; isList is false otherwise.
func (s *state) index(n, of expr, x any, i int64) (v any, isList bool, err error) {
	elem, length, isList, inRange := listAt(x, i)
	if !isList {
		return nil, false, nil
	}
	if !inRange {
		return nil, true, s.undef(n, "index %d is out of range for `%s` (length %d)", i, s.text(of), length)
	}
	return norm(elem), true, nil
}

func (n *indexExpr) eval(s *state) (any, error) {
	if err := s.tick(n); err != nil {
		return nil, err
	}
	x, err := n.x.eval(s)
	if err != nil {
		return nil, err
	}
	k, err := n.idx.eval(s)
	if err != nil {
		return nil, err
	}
	switch key := k.(type) {
	case string:
		return s.attr(n, n.x, x, key)
	case int64, float64:
		i, ok := toInt(key)
		if !ok {
			break
		}
		if str, isStr := x.(string); isStr {
			if err := s.chargeBytes(len(str)); err != nil {
				return nil, s.limitAt(n.pos, err.(*limitError))
			}
			r := []rune(str)
			j := i
			if j < 0 {
				j += int64(len(r))
			}
			if j < 0 || j >= int64(len(r)) {
				return nil, s.undef(n, "index %d is out of range for `%s` (length %d)", i, s.text(n.x), len(r))
			}
			return string(r[j]), nil
		}
		if v, isList, err := s.index(n, n.x, x, i); isList {
			return v, err
		}
		return s.attr(n, n.x, x, strconv.FormatInt(i, 10))
	}
	return nil, s.errf(n, "cannot index `%s` with %s `%s`", s.text(n.x), typeName(k), s.text(n.idx))
}

func (n *listExpr) eval(s *state) (any, error) {
	if err := s.tick(n); err != nil {
		return nil, err
	}
	out := make([]any, len(n.items))
	for i, it := range n.items {
		v, err := it.eval(s)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func (n *mapExpr) eval(s *state) (any, error) {
	if err := s.tick(n); err != nil {
		return nil, err
	}
	out := make(map[string]any, len(n.keys))
	for i, ke := range n.keys {
		k, err := ke.eval(s)
		if err != nil {
			return nil, err
		}
		switch k.(type) {
		case string, int64, float64, bool:
		default:
			return nil, s.errf(ke, "map key `%s` must be a string, got %s", s.text(ke), typeName(k))
		}
		v, err := n.vals[i].eval(s)
		if err != nil {
			return nil, err
		}
		out[Stringify(k)] = v
	}
	return out, nil
}

func (n *unaryExpr) eval(s *state) (any, error) {
	if err := s.tick(n); err != nil {
		return nil, err
	}
	x, err := n.x.eval(s)
	if err != nil {
		return nil, err
	}
	switch n.op {
	case "not":
		return !Truthy(x), nil
	case "-":
		switch v := x.(type) {
		case int64:
			if v == math.MinInt64 {
				return -float64(v), nil
			}
			return -v, nil
		case float64:
			return -v, nil
		}
	case "+":
		if isNumber(x) {
			return x, nil
		}
	}
	return nil, s.errf(n, "invalid operand for unary `%s`: %s `%s`", n.op, typeName(x), s.text(n.x))
}

func (n *logicExpr) eval(s *state) (any, error) {
	if err := s.tick(n); err != nil {
		return nil, err
	}
	l, err := n.l.eval(s)
	if err != nil {
		return nil, err
	}
	lt := Truthy(l)
	if n.and != lt { // and: false short-circuits; or: true short-circuits
		return lt, nil
	}
	r, err := n.r.eval(s)
	if err != nil {
		return nil, err
	}
	return Truthy(r), nil
}

func (n *condExpr) eval(s *state) (any, error) {
	if err := s.tick(n); err != nil {
		return nil, err
	}
	c, err := n.c.eval(s)
	if err != nil {
		return nil, err
	}
	if Truthy(c) {
		return n.a.eval(s)
	}
	return n.b.eval(s)
}

func (n *coalesceExpr) eval(s *state) (any, error) {
	if err := s.tick(n); err != nil {
		return nil, err
	}
	v, err := n.l.eval(s)
	if err != nil {
		if !isUndefined(err) {
			return nil, err
		}
		return n.r.eval(s)
	}
	if v == nil && !n.undefOnly {
		return n.r.eval(s)
	}
	return v, nil
}

func (n *filterExpr) eval(s *state) (any, error) {
	if err := s.tick(n); err != nil {
		return nil, err
	}
	in, err := n.x.eval(s)
	if err != nil {
		if !n.fn.lenient || !isUndefined(err) {
			return nil, err
		}
		in = nil
	}
	// Builtins are at most linear in their input (sort charges its extra
	// log factor itself), so charging the input size bounds their work.
	if c := sizeOf(in); c > 0 {
		if err := s.charge(c); err != nil {
			return nil, s.limitAt(n.pos, err.(*limitError))
		}
	}
	args, err := s.evalArgs(n.args)
	if err != nil {
		return nil, err
	}
	if !secretPassthrough[n.fn.name] && readsSecret(in, args...) {
		return nil, s.errf(n, "filter `%s` on `%s`: %s", n.fn.name, s.text(n.x), errSecretRead)
	}
	v, err := n.fn.fn(s, in, args)
	if err != nil {
		return nil, s.wrap(n, fmt.Sprintf("filter `%s` on `%s`", n.fn.name, s.text(n.x)), err)
	}
	return v, nil
}

func (n *callExpr) eval(s *state) (any, error) {
	if err := s.tick(n); err != nil {
		return nil, err
	}
	args, err := s.evalArgs(n.args)
	if err != nil {
		return nil, err
	}
	if readsSecret(nil, args...) {
		return nil, s.errf(n, "function `%s`: %s", n.fn.name, errSecretRead)
	}
	v, err := n.fn.fn(s, nil, args)
	if err != nil {
		return nil, s.wrap(n, fmt.Sprintf("function `%s`", n.fn.name), err)
	}
	return v, nil
}

// Secrets render to sealed markers that only the worker opens (package
// secrets): a template may place them in text (`~`, `+` on strings,
// interpolation, lists and maps) and pass them through the filters below,
// but nothing may read them, since the value is not there to read.
const errSecretRead = "a secret can only be inserted into text as it is: its value is read by the worker when the task runs, not by expressions"

var secretPassthrough = map[string]bool{"default": true, "join": true, "string": true}

func readsSecret(in any, args ...any) bool {
	if secrets.ContainsValue(in) {
		return true
	}
	for _, a := range args {
		if secrets.ContainsValue(a) {
			return true
		}
	}
	return false
}

func (s *state) evalArgs(args []expr) ([]any, error) {
	if len(args) == 0 {
		return nil, nil
	}
	out := make([]any, len(args))
	for i, a := range args {
		if a == nil {
			continue
		}
		v, err := a.eval(s)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func (n *testExpr) eval(s *state) (any, error) {
	if err := s.tick(n); err != nil {
		return nil, err
	}
	v, err := n.x.eval(s)
	if err != nil {
		if !n.t.lenient || !isUndefined(err) {
			return nil, err
		}
		v = nil
	}
	return n.t.fn(v) != n.negate, nil
}

func (n *binExpr) eval(s *state) (any, error) {
	if err := s.tick(n); err != nil {
		return nil, err
	}
	l, err := n.l.eval(s)
	if err != nil {
		return nil, s.hyphenHint(n, err)
	}
	r, err := n.r.eval(s)
	if err != nil {
		return nil, s.hyphenHint(n, err)
	}
	v, err := s.binary(n, l, r)
	if err != nil {
		return nil, s.wrap(n, fmt.Sprintf("`%s`", s.text(n)), err)
	}
	return v, nil
}

func (s *state) binary(n *binExpr, l, r any) (any, error) {
	if n.op != opConcat && n.op != opAdd && readsSecret(l, r) {
		return nil, errors.New(errSecretRead)
	}
	switch n.op {
	case opAdd, opSub, opMul, opDiv, opFloorDiv, opMod:
		if n.op == opAdd {
			if v, ok, err := s.addNonNumeric(l, r); ok || err != nil {
				return v, err
			}
		}
		return s.arith(n, l, r)
	case opConcat:
		ls, err := s.stringify(l)
		if err != nil {
			return nil, err
		}
		rs, err := s.stringify(r)
		if err != nil {
			return nil, err
		}
		if err := s.checkString(len(ls) + len(rs)); err != nil {
			return nil, err
		}
		return ls + rs, nil
	case opEq, opNe:
		budget := s.budget()
		eq, err := equal(l, r, 0, &budget)
		s.steps = s.limits.MaxSteps - budget
		if err != nil {
			return nil, err
		}
		return eq == (n.op == opEq), nil
	case opLt, opGt, opLe, opGe:
		if err := s.charge(sizeOf(l)); err != nil {
			return nil, err
		}
		c, err := compare(l, r)
		if err != nil {
			return nil, err
		}
		switch n.op {
		case opLt:
			return c < 0, nil
		case opGt:
			return c > 0, nil
		case opLe:
			return c <= 0, nil
		}
		return c >= 0, nil
	case opIn, opNotIn:
		in, err := s.contains(r, l)
		if err != nil {
			return nil, err
		}
		return in == (n.op == opIn), nil
	case opContains:
		return s.contains(l, r)
	case opIsIn, opNotIsIn:
		in, err := s.isIn(l, r)
		if err != nil {
			return nil, err
		}
		return in == (n.op == opIsIn), nil
	case opRange:
		return s.rangeList(l, r, int64(1))
	}
	return nil, fmt.Errorf("unknown operator")
}

// addNonNumeric implements Pebble's `+` on strings (concatenation) and lists
// (concatenation, or appending a single element).
func (s *state) addNonNumeric(l, r any) (any, bool, error) {
	_, ls := l.(string)
	_, rs := r.(string)
	if ls || rs {
		a, err := s.stringify(l)
		if err != nil {
			return nil, true, err
		}
		b, err := s.stringify(r)
		if err != nil {
			return nil, true, err
		}
		if err := s.checkString(len(a) + len(b)); err != nil {
			return nil, true, err
		}
		return a + b, true, nil
	}
	la, ok := toList(l)
	if !ok {
		return nil, false, nil
	}
	add := []any{r}
	if lb, ok := toList(r); ok {
		add = lb
	}
	if err := s.charge(len(la) + len(add)); err != nil {
		return nil, true, err
	}
	out := make([]any, 0, len(la)+len(add))
	return append(append(out, la...), add...), true, nil
}

var errDivZero = errors.New("division by zero")

func (s *state) arith(n *binExpr, l, r any) (any, error) {
	a, aInt := l.(int64)
	b, bInt := r.(int64)
	if aInt && bInt {
		switch n.op {
		case opAdd:
			if c := a + b; (c > a) == (b > 0) {
				return c, nil
			}
			return float64(a) + float64(b), nil
		case opSub:
			if c := a - b; (c < a) == (b > 0) {
				return c, nil
			}
			return float64(a) - float64(b), nil
		case opMul:
			if a == 0 || b == 0 {
				return int64(0), nil
			}
			c := a * b
			if c/b == a && !(a == -1 && b == math.MinInt64) && !(b == -1 && a == math.MinInt64) {
				return c, nil
			}
			return float64(a) * float64(b), nil
		case opDiv:
			if b == 0 {
				return nil, errDivZero
			}
			if a%b == 0 && !(a == math.MinInt64 && b == -1) {
				return a / b, nil
			}
			return float64(a) / float64(b), nil
		case opFloorDiv:
			if b == 0 {
				return nil, errDivZero
			}
			if a == math.MinInt64 && b == -1 {
				return -float64(a), nil
			}
			q := a / b
			if (a%b != 0) && ((a < 0) != (b < 0)) {
				q--
			}
			return q, nil
		case opMod:
			if b == 0 {
				return nil, errDivZero
			}
			if b == -1 {
				return int64(0), nil
			}
			return a % b, nil
		}
	}
	x, xok := toFloat(l)
	y, yok := toFloat(r)
	if !xok || !yok {
		return nil, fmt.Errorf("invalid operands for `%s`: %s and %s", binOpNames[n.op], typeName(l), typeName(r))
	}
	switch n.op {
	case opAdd:
		return x + y, nil
	case opSub:
		return x - y, nil
	case opMul:
		return x * y, nil
	case opDiv:
		if y == 0 {
			return nil, errDivZero
		}
		return x / y, nil
	case opFloorDiv:
		if y == 0 {
			return nil, errDivZero
		}
		return math.Floor(x / y), nil
	case opMod:
		if y == 0 {
			return nil, errDivZero
		}
		return math.Mod(x, y), nil
	}
	return nil, fmt.Errorf("unknown operator")
}

// contains reports whether hay contains needle: list membership, map key,
// substring, or (list contains list) all elements.
func (s *state) contains(hay, needle any) (bool, error) {
	switch h := hay.(type) {
	case nil:
		return false, nil
	case string:
		n, err := s.stringify(needle)
		if err != nil {
			return false, err
		}
		if err := s.chargeBytes(len(h)); err != nil {
			return false, err
		}
		return strings.Contains(h, n), nil
	}
	if l, ok := toList(hay); ok {
		if nl, ok := toList(needle); ok {
			for _, e := range nl {
				if in, err := s.listHas(l, e); err != nil || !in {
					return false, err
				}
			}
			return true, nil
		}
		return s.listHas(l, needle)
	}
	if isMapValue(hay) {
		switch needle.(type) {
		case string, int64, float64, bool:
		default:
			return false, nil
		}
		_, found, _ := mapGet(hay, Stringify(needle))
		return found, nil
	}
	return false, fmt.Errorf("cannot look for a value in %s", typeName(hay))
}

func (s *state) listHas(l []any, v any) (bool, error) {
	budget := s.budget()
	defer func() { s.steps = s.limits.MaxSteps - budget }()
	for _, e := range l {
		eq, err := equal(e, v, 0, &budget)
		if err != nil {
			return false, err
		}
		if eq {
			return true, nil
		}
	}
	return false, nil
}

// rangeList builds the inclusive integer range [from, to] with step.
func (s *state) rangeList(from, to, step any) ([]any, error) {
	a, ok1 := toInt(from)
	b, ok2 := toInt(to)
	st, ok3 := toInt(step)
	if !ok1 || !ok2 || !ok3 {
		return nil, fmt.Errorf("range bounds must be integers, got %s, %s and %s", typeName(from), typeName(to), typeName(step))
	}
	if st == 0 {
		return nil, errors.New("range step must not be zero")
	}
	var n uint64
	if st > 0 && a <= b {
		n = (uint64(b-a))/uint64(st) + 1
	} else if st < 0 && a >= b {
		n = (uint64(a-b))/uint64(-st) + 1
	}
	if n > uint64(s.limits.MaxRange) {
		return nil, &limitError{msg: fmt.Sprintf("range of %d elements exceeds the limit of %d", n, s.limits.MaxRange)}
	}
	if err := s.charge(int(n)); err != nil {
		return nil, err
	}
	out := make([]any, n)
	for i := range out {
		out[i] = a + int64(i)*st
	}
	return out, nil
}

// hyphenHint improves "not defined" errors for ids containing '-', which
// parse as subtraction: outputs.transform-data.rowCount.
func (s *state) hyphenHint(n *binExpr, err error) error {
	ee, ok := err.(*EvalError)
	if n.op != opSub || !ok || ee.Err != ErrUndefined {
		return err
	}
	sugg, ok := bracketHyphens(s.text(n))
	if !ok {
		return err
	}
	msg := ee.Msg
	if i := strings.Index(msg, " (use "); i >= 0 {
		msg = msg[:i] // an inner subtraction already hinted; the outer text is more complete
	}
	return &EvalError{Src: ee.Src, Offset: ee.Offset, Msg: msg + " (use " + sugg + " for ids containing '-')", Err: ErrUndefined}
}

// bracketHyphens rewrites `a.b-c.d` as `a['b-c'].d`; ok is false when the
// text is not a plain dotted path with a hyphenated segment.
func bracketHyphens(text string) (string, bool) {
	parts := strings.Split(text, ".")
	if len(parts) < 2 || !isIdent(parts[0]) {
		return "", false
	}
	var b strings.Builder
	b.WriteString(parts[0])
	hyphen := false
	for _, p := range parts[1:] {
		if p == "" || strings.HasPrefix(p, "-") || strings.HasSuffix(p, "-") {
			return "", false
		}
		for _, r := range p {
			if r != '-' && r != '_' && !isAlnum(r) {
				return "", false
			}
		}
		if strings.Contains(p, "-") {
			hyphen = true
			b.WriteString("['" + p + "']")
		} else {
			b.WriteString("." + p)
		}
	}
	return b.String(), hyphen
}

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

func isIdent(s string) bool {
	if s == "" || !utf8.ValidString(s) {
		return false
	}
	for i, r := range s {
		if r == '_' || isAlnum(r) && (i > 0 || r > '9') {
			continue
		}
		return false
	}
	return true
}
