package expr

import (
	"errors"
	"strings"
	"time"
)

// Env is everything a render may observe. Rendering never reads the clock,
// the environment, files or the network: time, secrets and UUIDs come from here.
type Env struct {
	// Vars holds the root variables: inputs, outputs, vars, flow, execution,
	// task, taskrun, parents, parent, trigger, labels...
	Vars map[string]any
	// Lookup, when set, resolves root variables that Vars does not hold. It
	// lets a caller build a variable only when a template reads it.
	Lookup func(name string) (any, bool)
	// Now is the value of now(); zero makes now() fail with "now() is not available".
	Now time.Time
	// Secret resolves secret('NAME'); nil makes secret() fail.
	Secret func(name string) (string, error)
	// Read returns the content of a file of internal storage for
	// read(uri); nil makes read() fail.
	Read func(uri string) (string, error)
	// FileSize reads the size of a file of internal storage (uri), and
	// whether it exists, for fileExists(), fileSize() and isFileEmpty();
	// nil makes them fail.
	FileSize func(uri string) (size int64, found bool, err error)
	// UUID generates uuid(); nil makes uuid() fail.
	UUID func() string
	// Rand draws the random numbers of randomInt(), id(), ksuid() and
	// nanoId(); nil makes them fail. The state machine seeds it from the
	// event, so a render is the same every time the event is applied.
	Rand func() uint64
	// KV reads kv('key', namespace): the value stored under key in
	// namespace, and whether there is one; nil makes kv() fail.
	KV func(namespace, key string) (value any, found bool, err error)
	// ErrorLogs returns errorLogs(): the ERROR log lines of the execution
	// so far; nil makes errorLogs() fail.
	ErrorLogs func() []any
	// Loop holds the values of the ForEach iterations the render is in,
	// outermost first; currentEachOutput() indexes outputs by them. When
	// nil, currentEachOutput() reads parents and taskrun instead.
	Loop []any
	// Limits bounds the work of one render; zero fields take defaults.
	Limits Limits
}

// Limits bounds a single render.
type Limits struct {
	MaxSteps  int // evaluated nodes, loop iterations and builtin work units; default 1,000,000
	MaxOutput int // bytes of rendered output and of any single string value; default 1 MiB
	MaxRange  int // elements produced by range() or `..`; default 100,000
}

const (
	defaultMaxSteps  = 1_000_000
	defaultMaxOutput = 1 << 20
	defaultMaxRange  = 100_000
)

func (l Limits) withDefaults() Limits {
	if l.MaxSteps <= 0 {
		l.MaxSteps = defaultMaxSteps
	}
	if l.MaxOutput <= 0 {
		l.MaxOutput = defaultMaxOutput
	}
	if l.MaxRange <= 0 {
		l.MaxRange = defaultMaxRange
	}
	return l
}

// Ref is a statically visible variable path read by a template.
type Ref struct {
	Path   []string // root identifier then constant attribute/subscript names
	Offset int      // byte offset of the root identifier in the template source
	// Guarded is set for a read that may be undefined without an error:
	// the left side of ?? and ???, the operand of `is defined`, the input
	// of the default filter.
	Guarded bool
}

// Template is a parsed template. It is immutable and safe for concurrent use.
type Template struct {
	src     string
	nodes   []node
	literal bool
	single  expr // non-nil when the template is exactly one {{ expr }}
	refs    []Ref
}

// Parse compiles a template once. Errors are *SyntaxError.
func Parse(src string) (*Template, error) {
	toks, hasTags, err := lex(src)
	if err != nil {
		return nil, err
	}
	t := &Template{src: src, literal: !hasTags}
	if t.literal {
		return t, nil
	}
	ps := &parser{src: src, toks: toks}
	nodes, _, err := ps.parseBody()
	if err != nil {
		if len(ps.unknown) > 0 { // the unknown names came first in the text
			return nil, &SyntaxErrors{List: append(ps.unknown, asSyntaxError(src, err))}
		}
		return nil, err
	}
	t.nodes = nodes
	t.single = singleExpr(nodes)
	t.refs = collectRefs(nodes)
	if len(ps.unknown) > 0 {
		// The rest parsed: the template comes back with the errors, so
		// that its references can be checked too, but it must not run.
		return t, &SyntaxErrors{List: ps.unknown}
	}
	return t, nil
}

// SyntaxErrors lists several mistakes of one template (unknown names, then
// at most one syntax error). Parse returns the template with it when
// everything else parsed, for its references to be checked; such a
// template must not be rendered.
type SyntaxErrors struct{ List []*SyntaxError }

func (e *SyntaxErrors) Error() string {
	msgs := make([]string, len(e.List))
	for i, se := range e.List {
		msgs[i] = se.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap gives errors.As the first error.
func (e *SyntaxErrors) Unwrap() []error {
	out := make([]error, len(e.List))
	for i, se := range e.List {
		out[i] = se
	}
	return out
}

func asSyntaxError(src string, err error) *SyntaxError {
	var se *SyntaxError
	if errors.As(err, &se) {
		return se
	}
	return &SyntaxError{Src: src, Line: 1, Col: 1, Msg: err.Error()}
}

// singleExpr returns the expression of a template made of one output tag
// surrounded only by whitespace.
func singleExpr(nodes []node) expr {
	var found expr
	for _, n := range nodes {
		switch n := n.(type) {
		case *textNode:
			if strings.Trim(n.text, spaceChars) != "" {
				return nil
			}
		case *outputNode:
			if found != nil {
				return nil
			}
			found = n.x
		default:
			return nil
		}
	}
	return found
}

// Source returns the template text as given to Parse.
func (t *Template) Source() string { return t.src }

// IsLiteral reports whether the template has no tags at all; it then renders
// to Source() unchanged.
func (t *Template) IsLiteral() bool { return t.literal }

// IsSingleExpr reports whether the template is exactly one {{ expr }} with only
// whitespace around it; Render then returns the expression's typed value.
func (t *Template) IsSingleExpr() bool { return t.single != nil }

// References returns the variable paths the template reads that are visible
// statically (see Ref). Names bound by {% for %} and {% set %} are excluded.
func (t *Template) References() []Ref {
	out := make([]Ref, len(t.refs))
	for i, r := range t.refs {
		out[i] = Ref{Path: append([]string(nil), r.Path...), Offset: r.Offset, Guarded: r.Guarded}
	}
	return out
}

// Render evaluates the template. A single-expression template returns its typed
// value (nil, bool, int64, float64, string, []any or map[string]any; dates become
// RFC 3339 strings); any other template returns a string. Errors are *EvalError.
func (t *Template) Render(env *Env) (any, error) {
	if t.literal {
		return t.src, nil
	}
	if t.single != nil {
		s := newState(t, env)
		v, err := t.single.eval(s)
		if err != nil {
			return nil, err
		}
		return s.export(t.single, v)
	}
	return t.RenderString(env)
}

// RenderString evaluates the template and always returns text; a
// single-expression template yields Stringify of its value.
func (t *Template) RenderString(env *Env) (string, error) {
	if t.literal {
		return t.src, nil
	}
	s := newState(t, env)
	s.out = make([]byte, 0, len(t.src)+64)
	if err := s.exec(t.nodes); err != nil {
		return "", err
	}
	return string(s.out), nil
}

func newState(t *Template, env *Env) *state {
	s := &state{src: t.src}
	if env != nil {
		s.env = env
		s.vars = env.Vars
		s.limits = env.Limits.withDefaults()
	} else {
		s.env = &Env{}
		s.limits = Limits{}.withDefaults()
	}
	return s
}

// collectRefs walks the template in source order, tracking names bound by
// for/set so that local variables are not reported.
func collectRefs(nodes []node) []Ref {
	r := &refCollector{bound: map[string]int{}}
	r.walk(nodes)
	return r.out
}

type refCollector struct {
	bound map[string]int // name -> number of live bindings
	out   []Ref
	guard int // > 0 inside an operand whose undefined reads are not errors
}

// walk visits nodes and returns the names they `set`, still bound: if-bodies
// share the enclosing scope while a for body is its own scope (as in Pebble).
func (r *refCollector) walk(nodes []node) (sets []string) {
	for _, n := range nodes {
		switch n := n.(type) {
		case *outputNode:
			r.expr(n.x)
		case *ifNode:
			for i, c := range n.conds {
				r.expr(c)
				sets = append(sets, r.walk(n.thens[i])...)
			}
			sets = append(sets, r.walk(n.els)...)
		case *forNode:
			r.expr(n.seq)
			names := []string{n.val, "loop"}
			if n.key != "" {
				names = append(names, n.key)
			}
			for _, name := range names {
				r.bound[name]++
			}
			r.unbind(append(names, r.walk(n.body)...))
			r.unbind(r.walk(n.els))
		case *setNode:
			r.expr(n.x)
			r.bound[n.name]++
			sets = append(sets, n.name)
		case *filterNode:
			r.expr(n.chain)
			sets = append(sets, r.walk(n.body)...)
		}
	}
	return sets
}

func (r *refCollector) unbind(names []string) {
	for _, name := range names {
		r.bound[name]--
	}
}

func (r *refCollector) expr(e expr) {
	switch n := e.(type) {
	case nil:
	case *identExpr:
		if r.bound[n.name] == 0 {
			r.out = append(r.out, Ref{Path: []string{n.name}, Offset: n.pos, Guarded: r.guard > 0})
		}
	case *attrExpr, *indexExpr:
		r.chain(e)
	case *coalesceExpr:
		r.guarded(n.l)
		r.expr(n.r)
	case *testExpr:
		if n.t.lenient {
			r.guarded(n.x)
		} else {
			r.expr(n.x)
		}
	case *filterExpr:
		if n.fn.lenient {
			r.guarded(n.x)
		} else {
			r.expr(n.x)
		}
		for _, a := range n.args {
			r.expr(a)
		}
	default:
		for _, c := range children(e) {
			r.expr(c)
		}
	}
}

func (r *refCollector) guarded(e expr) {
	r.guard++
	r.expr(e)
	r.guard--
}

// chain reports the constant prefix of an access chain such as
// outputs['a-b'].uri[0] and walks any computed subscripts.
func (r *refCollector) chain(e expr) {
	var levels []expr // outermost first
	cur := e
	for {
		switch n := cur.(type) {
		case *attrExpr:
			levels = append(levels, n)
			cur = n.x
			continue
		case *indexExpr:
			levels = append(levels, n)
			cur = n.x
			continue
		}
		break
	}
	root, isIdent := cur.(*identExpr)
	if !isIdent {
		r.expr(cur)
	}
	at := len(r.out) // the chain's own ref goes before refs in its subscripts
	var path []string
	constant := isIdent && r.bound[root.name] == 0
	if constant {
		path = []string{root.name}
	}
	for i := len(levels) - 1; i >= 0; i-- {
		switch n := levels[i].(type) {
		case *attrExpr:
			if constant {
				path = append(path, n.name)
			}
		case *indexExpr:
			constant = false
			r.expr(n.idx)
		}
	}
	if path != nil {
		r.out = append(r.out, Ref{})
		copy(r.out[at+1:], r.out[at:])
		r.out[at] = Ref{Path: path, Offset: root.pos, Guarded: r.guard > 0}
	}
}
