package expr

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/relayflow/relay/statemachine/inputs"
)

const (
	maxNesting = 200 // parser recursion: parentheses, unary operators, nested blocks
	maxHeight  = 500 // expression tree height, including long operator chains
)

type parser struct {
	src   string
	toks  []token
	p     int
	depth int
	// unknown collects the unknown function, filter and test names: the
	// parse goes on past them, so that the other mistakes of the template
	// are reported too.
	unknown []*SyntaxError
}

// unknownName records an unknown builtin and returns a stand-in that
// takes any arguments and fails if ever evaluated (a template with unknown
// names is never returned without its errors). It guards nothing: the
// references it is given are checked as any others.
func (ps *parser) unknownName(name token, kind string, table map[string]*builtin, unsupported map[string]string, other map[string]*builtin) *builtin {
	switch why, ok := unsupported[name.val]; {
	case ok:
		ps.unknown = append(ps.unknown, newSyntaxError(ps.src, name.pos, "%s `%s` is not supported by Relay: %s", kind, name.val, why))
	case other[name.val] != nil && kind == "function":
		ps.unknown = append(ps.unknown, newSyntaxError(ps.src, name.pos, "unknown function `%s` (`%s` is a filter: `value | %s`)", name.val, name.val, name.val))
	case other[name.val] != nil:
		ps.unknown = append(ps.unknown, newSyntaxError(ps.src, name.pos, "unknown filter `%s` (`%s` is a function: `%s(value)`)", name.val, name.val, name.val))
	default:
		ps.unknown = append(ps.unknown, newSyntaxError(ps.src, name.pos, "unknown %s `%s`%s", kind, name.val, didYouMean(name.val, table)))
	}
	return &builtin{name: name.val, kind: kind, variadic: true, fn: func(*state, any, []any) (any, error) {
		return nil, fmt.Errorf("unknown %s `%s`", kind, name.val)
	}}
}

// didYouMean suggests the closest known name.
func didYouMean(name string, table map[string]*builtin) string {
	names := make([]string, 0, len(table))
	for n := range table {
		names = append(names, n)
	}
	sort.Strings(names)
	if s := inputs.Suggest(name, names); s != "" {
		return " (did you mean `" + s + "`?)"
	}
	return ""
}

func (ps *parser) peek() token { return ps.toks[ps.p] }
func (ps *parser) next() token {
	t := ps.toks[ps.p]
	if t.kind != tEOF {
		ps.p++
	}
	return t
}

func (ps *parser) isOp(val string) bool {
	t := ps.toks[ps.p]
	return t.kind == tOp && t.val == val
}

func (ps *parser) isName(val string) bool {
	t := ps.toks[ps.p]
	return t.kind == tName && t.val == val
}

func (ps *parser) errf(off int, format string, args ...any) error {
	return newSyntaxError(ps.src, off, format, args...)
}

// describe renders a token for "unexpected X" messages.
func (ps *parser) describe(t token) string {
	switch t.kind {
	case tEOF:
		return "end of template"
	case tText:
		return "text"
	}
	return "`" + ps.src[t.pos:t.end] + "`"
}

func (ps *parser) unexpected(t token, expected string) error {
	return ps.errf(t.pos, "unexpected %s, expected %s", ps.describe(t), expected)
}

func (ps *parser) expectOp(val string) (token, error) {
	t := ps.peek()
	if t.kind != tOp || t.val != val {
		return t, ps.unexpected(t, "`"+val+"`")
	}
	return ps.next(), nil
}

func (ps *parser) expectClose(kind tokKind) error {
	t := ps.peek()
	if t.kind != kind {
		want := "`}}`"
		if kind == tStmtClose {
			want = "`%}`"
		}
		return ps.unexpected(t, want)
	}
	ps.next()
	return nil
}

func (ps *parser) enter(off int) error {
	ps.depth++
	if ps.depth > maxNesting {
		return ps.errf(off, "template nested too deeply (more than %d levels)", maxNesting)
	}
	return nil
}

func (ps *parser) leave() { ps.depth-- }

func (ps *parser) checkHeight(e expr) error {
	if e.height() > maxHeight {
		pos, _ := e.span()
		return ps.errf(pos, "expression too complex (more than %d levels)", maxHeight)
	}
	return nil
}

func maxH(es ...expr) int {
	h := 0
	for _, e := range es {
		if e != nil && e.height() > h {
			h = e.height()
		}
	}
	return h + 1
}

// parseBody parses nodes until EOF or one of the statement keywords in ends,
// which is consumed and returned (with its token) for the caller to finish.
func (ps *parser) parseBody(ends ...string) ([]node, token, error) {
	var nodes []node
	for {
		t := ps.next()
		switch t.kind {
		case tEOF:
			return nodes, t, nil
		case tText:
			nodes = append(nodes, &textNode{pos: t.pos, text: t.val})
		case tOutOpen:
			x, err := ps.parseExpr()
			if err != nil {
				return nil, t, err
			}
			if err := ps.expectClose(tOutClose); err != nil {
				return nil, t, err
			}
			nodes = append(nodes, &outputNode{x: x})
		case tStmtOpen:
			kw := ps.peek()
			if kw.kind != tName {
				return nil, t, ps.unexpected(kw, "statement name")
			}
			for _, e := range ends {
				if kw.val == e {
					ps.next()
					return nodes, kw, nil
				}
			}
			n, err := ps.parseStmt(t)
			if err != nil {
				return nil, t, err
			}
			nodes = append(nodes, n)
		default:
			return nil, t, ps.unexpected(t, "text or tag")
		}
	}
}

func (ps *parser) parseStmt(open token) (node, error) {
	kw := ps.next()
	if err := ps.enter(kw.pos); err != nil {
		return nil, err
	}
	defer ps.leave()
	switch kw.val {
	case "if":
		return ps.parseIf(open)
	case "for":
		return ps.parseFor(open)
	case "set":
		return ps.parseSet(open)
	case "filter":
		return ps.parseFilterTag(open)
	case "endfilter":
		return nil, ps.errf(kw.pos, "unexpected `endfilter` without matching `{%% filter %%}`")
	case "elseif", "elif", "else", "endif":
		return nil, ps.errf(kw.pos, "unexpected `%s` without matching `{%% if %%}`", kw.val)
	case "endfor":
		return nil, ps.errf(kw.pos, "unexpected `endfor` without matching `{%% for %%}`")
	case "endraw":
		return nil, ps.errf(kw.pos, "unexpected `endraw` without matching `{%% raw %%}`")
	}
	if why, ok := unsupportedStatements[kw.val]; ok {
		return nil, ps.errf(kw.pos, "statement `%s` is not supported by Relay: %s", kw.val, why)
	}
	return nil, ps.errf(kw.pos, "unknown statement `%s`", kw.val)
}

// unsupportedStatements are Pebble statements Relay does not run, with why.
var unsupportedStatements = map[string]string{
	"macro":      "a Relay template is one property value, with no other template to call a macro from; use {% set %} or a flow variable",
	"block":      "a Relay template is one property value: there are no templates to extend",
	"extends":    "a Relay template is one property value: there are no templates to extend",
	"include":    "a Relay template is one property value: there are no templates to include",
	"import":     "a Relay template is one property value: there are no templates to import",
	"from":       "a Relay template is one property value: there are no templates to import",
	"embed":      "a Relay template is one property value: there are no templates to embed",
	"parallel":   "rendering is pure and bounded; there is nothing to run in parallel",
	"cache":      "rendering is pure and bounded; there is nothing to cache",
	"autoescape": "Relay never escapes output (Kestra turns Pebble's escaping off too); use the escapeChar or escape filter",
	"verbatim":   "write {% raw %}...{% endraw %}",
	"flush":      "a render returns its whole output at once",
}

// parseFilterTag parses `{% filter f | g(args) %}body{% endfilter %}`: the
// body is rendered to text and passed through the filters.
func (ps *parser) parseFilterTag(open token) (node, error) {
	start := ps.peek()
	var chain expr = &blockExpr{base: base{pos: start.pos, end: start.pos, h: 1}}
	for {
		var err error
		if chain, err = ps.parseFilter(chain); err != nil {
			return nil, err
		}
		if !ps.isOp("|") {
			break
		}
		ps.next()
	}
	if err := ps.expectClose(tStmtClose); err != nil {
		return nil, err
	}
	body, end, err := ps.parseBody("endfilter")
	if err != nil {
		return nil, err
	}
	if end.kind == tEOF {
		return nil, ps.errf(open.pos, "unclosed `{%% filter %%}`, expected `{%% endfilter %%}`")
	}
	return &filterNode{pos: open.pos, body: body, chain: chain}, ps.expectClose(tStmtClose)
}

func (ps *parser) parseIf(open token) (node, error) {
	n := &ifNode{pos: open.pos}
	for {
		c, err := ps.parseExpr()
		if err != nil {
			return nil, err
		}
		if err := ps.expectClose(tStmtClose); err != nil {
			return nil, err
		}
		body, end, err := ps.parseBody("elseif", "elif", "else", "endif")
		if err != nil {
			return nil, err
		}
		n.conds = append(n.conds, c)
		n.thens = append(n.thens, body)
		switch end.val {
		case "elseif", "elif":
			continue
		case "else":
			if err := ps.expectClose(tStmtClose); err != nil {
				return nil, err
			}
			els, end, err := ps.parseBody("endif")
			if err != nil {
				return nil, err
			}
			if end.kind == tEOF {
				return nil, ps.errf(open.pos, "unclosed `{%% if %%}`, expected `{%% endif %%}`")
			}
			n.els = els
			if els == nil {
				n.els = []node{}
			}
		case "endif":
		default:
			return nil, ps.errf(open.pos, "unclosed `{%% if %%}`, expected `{%% endif %%}`")
		}
		return n, ps.expectClose(tStmtClose)
	}
}

func (ps *parser) parseFor(open token) (node, error) {
	n := &forNode{pos: open.pos}
	t := ps.next()
	if t.kind != tName || isKeyword(t.val) {
		return nil, ps.unexpected(t, "loop variable name")
	}
	n.val = t.val
	if ps.isOp(",") {
		ps.next()
		t2 := ps.next()
		if t2.kind != tName || isKeyword(t2.val) {
			return nil, ps.unexpected(t2, "loop variable name")
		}
		n.key, n.val = t.val, t2.val
	}
	if !ps.isName("in") {
		return nil, ps.unexpected(ps.peek(), "`in`")
	}
	ps.next()
	seq, err := ps.parseExpr()
	if err != nil {
		return nil, err
	}
	n.seq = seq
	if err := ps.expectClose(tStmtClose); err != nil {
		return nil, err
	}
	body, end, err := ps.parseBody("else", "endfor")
	if err != nil {
		return nil, err
	}
	n.body = body
	if end.val == "else" {
		if err := ps.expectClose(tStmtClose); err != nil {
			return nil, err
		}
		els, end2, err := ps.parseBody("endfor")
		if err != nil {
			return nil, err
		}
		end = end2
		n.els = els
	}
	if end.kind == tEOF {
		return nil, ps.errf(open.pos, "unclosed `{%% for %%}`, expected `{%% endfor %%}`")
	}
	n.usesLoop = mentionsLoop(n.body)
	return n, ps.expectClose(tStmtClose)
}

func (ps *parser) parseSet(open token) (node, error) {
	t := ps.next()
	if t.kind != tName || isKeyword(t.val) {
		return nil, ps.unexpected(t, "variable name")
	}
	if _, err := ps.expectOp("="); err != nil {
		return nil, err
	}
	x, err := ps.parseExpr()
	if err != nil {
		return nil, err
	}
	return &setNode{pos: open.pos, name: t.val, x: x}, ps.expectClose(tStmtClose)
}

var keywords = map[string]bool{
	"and": true, "or": true, "not": true, "in": true, "is": true, "contains": true,
}

func isKeyword(s string) bool { return keywords[s] }

// Binary operator precedences, following Pebble (and Kestra's `??`/`???`).
const (
	precOr       = 10
	precAnd      = 15
	precNot      = 17 // operand of `not` binds tighter than and/or only
	precContains = 20
	precCmp      = 30
	precAdd      = 40
	precMul      = 60
	precFilter   = 100 // `|` and `is`
	precConcat   = 110
	precCoalesce = 120 // `??`, `???`, `..`
)

// binaryAt returns the binary operator at the current token, its precedence
// and how many tokens it spans, or ok=false.
func (ps *parser) binaryAt() (op string, prec, ntok int, ok bool) {
	t := ps.peek()
	switch t.kind {
	case tOp:
		switch t.val {
		case "||":
			return "or", precOr, 1, true
		case "&&":
			return "and", precAnd, 1, true
		case "==", "!=", "<", ">", "<=", ">=":
			return t.val, precCmp, 1, true
		case "+", "-":
			return t.val, precAdd, 1, true
		case "*", "/", "//", "%":
			return t.val, precMul, 1, true
		case "|":
			return "|", precFilter, 1, true
		case "~":
			return "~", precConcat, 1, true
		case "??", "???", "..":
			return t.val, precCoalesce, 1, true
		}
	case tName:
		switch t.val {
		case "or", "and":
			if t.val == "or" {
				return "or", precOr, 1, true
			}
			return "and", precAnd, 1, true
		case "contains":
			return "contains", precContains, 1, true
		case "in":
			return "in", precCmp, 1, true
		case "equals": // Pebble's spelling of ==
			return "==", precCmp, 1, true
		case "isIn", "notIn": // Kestra's operators, comparing text forms
			return t.val, precCmp, 1, true
		case "is":
			return "is", precFilter, 1, true
		case "not":
			if n := ps.toks[ps.p+1]; n.kind == tName && n.val == "in" {
				return "not in", precCmp, 2, true
			}
		}
	}
	return "", 0, 0, false
}

var binOps = map[string]binOp{
	"+": opAdd, "-": opSub, "*": opMul, "/": opDiv, "//": opFloorDiv, "%": opMod,
	"~": opConcat, "==": opEq, "!=": opNe, "<": opLt, ">": opGt, "<=": opLe, ">=": opGe,
	"in": opIn, "not in": opNotIn, "contains": opContains, "..": opRange,
	"isIn": opIsIn, "notIn": opNotIsIn,
}

// parseExpr parses a full expression including the ternary operator.
func (ps *parser) parseExpr() (expr, error) {
	if err := ps.enter(ps.peek().pos); err != nil {
		return nil, err
	}
	defer ps.leave()
	c, err := ps.parseBinary(0)
	if err != nil {
		return nil, err
	}
	if !ps.isOp("?") {
		return c, nil
	}
	ps.next()
	a, err := ps.parseExpr()
	if err != nil {
		return nil, err
	}
	if _, err := ps.expectOp(":"); err != nil {
		return nil, err
	}
	b, err := ps.parseExpr()
	if err != nil {
		return nil, err
	}
	pos, _ := c.span()
	_, end := b.span()
	n := &condExpr{base: base{pos: pos, end: end, h: maxH(c, a, b)}, c: c, a: a, b: b}
	return n, ps.checkHeight(n)
}

// parseBinary is precedence climbing; all binary operators are left-associative.
func (ps *parser) parseBinary(minPrec int) (expr, error) {
	left, err := ps.parseUnary()
	if err != nil {
		return nil, err
	}
	for {
		op, prec, ntok, ok := ps.binaryAt()
		if !ok || prec < minPrec {
			return left, nil
		}
		opTok := ps.peek()
		ps.p += ntok
		pos, _ := left.span()
		switch op {
		case "|":
			left, err = ps.parseFilter(left)
		case "is":
			left, err = ps.parseTest(left)
		default:
			var right expr
			right, err = ps.parseBinary(prec + 1)
			if err != nil {
				return nil, err
			}
			_, end := right.span()
			b := base{pos: pos, end: end, h: maxH(left, right)}
			switch op {
			case "and", "or":
				left = &logicExpr{base: b, and: op == "and", l: left, r: right}
			case "??", "???":
				left = &coalesceExpr{base: b, l: left, r: right, undefOnly: op == "???"}
			default:
				bo, known := binOps[op]
				if !known {
					return nil, ps.errf(opTok.pos, "unknown operator `%s`", op)
				}
				left = &binExpr{base: b, op: bo, l: left, r: right}
			}
		}
		if err != nil {
			return nil, err
		}
		if err := ps.checkHeight(left); err != nil {
			return nil, err
		}
	}
}

func (ps *parser) parseUnary() (expr, error) {
	t := ps.peek()
	switch {
	case t.kind == tOp && (t.val == "-" || t.val == "+"):
		ps.next()
		if err := ps.enter(t.pos); err != nil {
			return nil, err
		}
		x, err := ps.parseUnary()
		ps.leave()
		if err != nil {
			return nil, err
		}
		// Fold negative number literals so `a[-1]` is a constant index.
		if lit, ok := x.(*litExpr); ok {
			switch v := lit.v.(type) {
			case int64:
				if t.val == "-" {
					v = -v
				}
				return &litExpr{base: base{pos: t.pos, end: lit.end, h: 1}, v: v}, nil
			case float64:
				if t.val == "-" {
					v = -v
				}
				return &litExpr{base: base{pos: t.pos, end: lit.end, h: 1}, v: v}, nil
			}
		}
		_, end := x.span()
		return &unaryExpr{base: base{pos: t.pos, end: end, h: maxH(x)}, op: t.val, x: x}, nil
	case t.kind == tOp && t.val == "!" || t.kind == tName && t.val == "not":
		ps.next()
		if err := ps.enter(t.pos); err != nil {
			return nil, err
		}
		x, err := ps.parseBinary(precNot)
		ps.leave()
		if err != nil {
			return nil, err
		}
		_, end := x.span()
		return &unaryExpr{base: base{pos: t.pos, end: end, h: maxH(x)}, op: "not", x: x}, nil
	}
	x, err := ps.parsePrimary()
	if err != nil {
		return nil, err
	}
	return ps.parsePostfix(x)
}

func (ps *parser) parsePrimary() (expr, error) {
	t := ps.next()
	b := base{pos: t.pos, end: t.end, h: 1}
	switch t.kind {
	case tInt:
		v, _ := strconv.ParseInt(t.val, 10, 64) // validated by the lexer
		return &litExpr{base: b, v: v}, nil
	case tFloat:
		v, _ := strconv.ParseFloat(t.val, 64)
		return &litExpr{base: b, v: v}, nil
	case tString:
		return &litExpr{base: b, v: t.val}, nil
	case tName:
		switch t.val {
		case "true", "True", "TRUE":
			return &litExpr{base: b, v: true}, nil
		case "false", "False", "FALSE":
			return &litExpr{base: b, v: false}, nil
		case "null", "Null", "NULL", "none", "None":
			return &litExpr{base: b, v: nil}, nil
		}
		if isKeyword(t.val) {
			return nil, ps.unexpected(t, "expression")
		}
		if ps.isOp("(") {
			return ps.parseCall(t)
		}
		return &identExpr{base: b, name: t.val}, nil
	case tOp:
		switch t.val {
		case "(":
			x, err := ps.parseExpr()
			if err != nil {
				return nil, err
			}
			if _, err := ps.expectOp(")"); err != nil {
				return nil, err
			}
			return x, nil
		case "[":
			return ps.parseList(t)
		case "{":
			return ps.parseMap(t)
		}
	}
	return nil, ps.unexpected(t, "expression")
}

func (ps *parser) parseList(open token) (expr, error) {
	n := &listExpr{}
	for !ps.isOp("]") {
		x, err := ps.parseExpr()
		if err != nil {
			return nil, err
		}
		n.items = append(n.items, x)
		if !ps.isOp(",") {
			break
		}
		ps.next()
	}
	closeTok, err := ps.expectOp("]")
	if err != nil {
		return nil, ps.unexpected(ps.peek(), "`,` or `]`")
	}
	n.base = base{pos: open.pos, end: closeTok.end, h: maxH(n.items...)}
	return n, ps.checkHeight(n)
}

func (ps *parser) parseMap(open token) (expr, error) {
	n := &mapExpr{}
	for !ps.isOp("}") {
		k, err := ps.parseExpr()
		if err != nil {
			return nil, err
		}
		if _, err := ps.expectOp(":"); err != nil {
			return nil, err
		}
		v, err := ps.parseExpr()
		if err != nil {
			return nil, err
		}
		n.keys = append(n.keys, k)
		n.vals = append(n.vals, v)
		if !ps.isOp(",") {
			break
		}
		ps.next()
	}
	closeTok, err := ps.expectOp("}")
	if err != nil {
		return nil, ps.unexpected(ps.peek(), "`,` or `}`")
	}
	n.base = base{pos: open.pos, end: closeTok.end, h: max(maxH(n.keys...), maxH(n.vals...))}
	return n, ps.checkHeight(n)
}

func (ps *parser) parsePostfix(x expr) (expr, error) {
	for {
		t := ps.peek()
		if t.kind != tOp {
			return x, nil
		}
		pos, _ := x.span()
		switch t.val {
		case ".":
			ps.next()
			nt := ps.next()
			if nt.kind != tName && nt.kind != tInt {
				return nil, ps.unexpected(nt, "attribute name")
			}
			x = &attrExpr{base: base{pos: pos, end: nt.end, h: maxH(x)}, x: x, name: nt.val}
		case "[":
			ps.next()
			idx, err := ps.parseExpr()
			if err != nil {
				return nil, err
			}
			ct, err := ps.expectOp("]")
			if err != nil {
				return nil, err
			}
			b := base{pos: pos, end: ct.end, h: maxH(x, idx)}
			if lit, ok := idx.(*litExpr); ok {
				if s, ok := lit.v.(string); ok {
					x = &attrExpr{base: b, x: x, name: s}
					break
				}
			}
			x = &indexExpr{base: b, x: x, idx: idx}
		case "(":
			return nil, ps.errf(t.pos, "method calls are not supported; use a filter (`x | name`) or a function (`name(x)`)")
		default:
			return x, nil
		}
		if err := ps.checkHeight(x); err != nil {
			return nil, err
		}
	}
}

type namedArg struct {
	name string
	pos  int
	x    expr
}

// parseArgs parses `(a, b, name=c)` including the parentheses.
func (ps *parser) parseArgs() (pos []expr, named []namedArg, end int, err error) {
	ps.next() // (
	for !ps.isOp(")") {
		t := ps.peek()
		if t.kind == tName && ps.toks[ps.p+1].kind == tOp && ps.toks[ps.p+1].val == "=" {
			ps.p += 2
			x, err := ps.parseExpr()
			if err != nil {
				return nil, nil, 0, err
			}
			named = append(named, namedArg{name: t.val, pos: t.pos, x: x})
		} else {
			if len(named) > 0 {
				return nil, nil, 0, ps.errf(t.pos, "positional argument after named argument")
			}
			x, err := ps.parseExpr()
			if err != nil {
				return nil, nil, 0, err
			}
			pos = append(pos, x)
		}
		if !ps.isOp(",") {
			break
		}
		ps.next()
	}
	ct := ps.peek()
	if ct.kind != tOp || ct.val != ")" {
		return nil, nil, 0, ps.unexpected(ct, "`,` or `)`")
	}
	ps.next()
	return pos, named, ct.end, nil
}

// bindArgs maps positional and named arguments onto the builtin's parameter
// list and checks arity, so that mistakes surface at parse time.
func (ps *parser) bindArgs(b *builtin, at token, pos []expr, named []namedArg) ([]expr, error) {
	what := b.kind + " `" + b.name + "`"
	if !b.variadic && len(pos) > len(b.params) {
		p, _ := pos[len(b.params)].span()
		return nil, ps.errf(p, "%s takes at most %d argument%s, got %d", what, len(b.params), plural(len(b.params)), len(pos))
	}
	args := pos
	for _, na := range named {
		i := -1
		for j, p := range b.params {
			if strings.EqualFold(p, na.name) {
				i = j
				break
			}
		}
		if i < 0 {
			return nil, ps.errf(na.pos, "%s has no argument `%s` (arguments: %s)", what, na.name, strings.Join(b.params, ", "))
		}
		for len(args) <= i {
			args = append(args, nil)
		}
		if args[i] != nil {
			return nil, ps.errf(na.pos, "%s: argument `%s` given twice", what, na.name)
		}
		args[i] = na.x
	}
	for i := 0; i < b.min; i++ {
		if i >= len(args) || args[i] == nil {
			return nil, ps.errf(at.pos, "%s requires argument `%s`", what, b.params[i])
		}
	}
	return args, nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func (ps *parser) parseCall(name token) (expr, error) {
	b := functions[name.val]
	if b == nil {
		b = ps.unknownName(name, "function", functions, unsupportedFunctions, filters)
	}
	pos, named, end, err := ps.parseArgs()
	if err != nil {
		return nil, err
	}
	args, err := ps.bindArgs(b, name, pos, named)
	if err != nil {
		return nil, err
	}
	n := &callExpr{base: base{pos: name.pos, end: end, h: maxH(args...)}, fn: b, args: args}
	return n, ps.checkHeight(n)
}

func (ps *parser) parseFilter(x expr) (expr, error) {
	name := ps.next()
	if name.kind != tName {
		return nil, ps.unexpected(name, "filter name")
	}
	b := filters[name.val]
	if b == nil {
		b = ps.unknownName(name, "filter", filters, unsupportedFilters, functions)
	}
	end := name.end
	var pos []expr
	var named []namedArg
	if ps.isOp("(") {
		var err error
		pos, named, end, err = ps.parseArgs()
		if err != nil {
			return nil, err
		}
	}
	args, err := ps.bindArgs(b, name, pos, named)
	if err != nil {
		return nil, err
	}
	start, _ := x.span()
	h := maxH(args...)
	if x.height()+1 > h {
		h = x.height() + 1
	}
	return &filterExpr{base: base{pos: start, end: end, h: h}, x: x, fn: b, args: args}, nil
}

func (ps *parser) parseTest(x expr) (expr, error) {
	negate := false
	if ps.isName("not") {
		ps.next()
		negate = true
	}
	name := ps.next()
	if name.kind != tName {
		return nil, ps.unexpected(name, "test name")
	}
	td := tests[name.val]
	if td == nil {
		return nil, ps.errf(name.pos, "unknown test `%s`", name.val)
	}
	start, _ := x.span()
	return &testExpr{base: base{pos: start, end: name.end, h: maxH(x)}, x: x, name: name.val, negate: negate, t: td}, nil
}

// mentionsLoop reports whether a for body reads the `loop` variable.
func mentionsLoop(body []node) bool {
	found := false
	walkNodes(body, func(e expr) {
		if id, ok := e.(*identExpr); ok && id.name == "loop" {
			found = true
		}
	})
	return found
}

// walkNodes calls f for every expression node in the template, depth first.
func walkNodes(nodes []node, f func(expr)) {
	for _, n := range nodes {
		switch n := n.(type) {
		case *outputNode:
			walkExpr(n.x, f)
		case *ifNode:
			for i, c := range n.conds {
				walkExpr(c, f)
				walkNodes(n.thens[i], f)
			}
			walkNodes(n.els, f)
		case *forNode:
			walkExpr(n.seq, f)
			walkNodes(n.body, f)
			walkNodes(n.els, f)
		case *setNode:
			walkExpr(n.x, f)
		case *filterNode:
			walkExpr(n.chain, f)
			walkNodes(n.body, f)
		}
	}
}

func walkExpr(e expr, f func(expr)) {
	if e == nil {
		return
	}
	f(e)
	for _, c := range children(e) {
		walkExpr(c, f)
	}
}

func children(e expr) []expr {
	switch n := e.(type) {
	case *attrExpr:
		return []expr{n.x}
	case *indexExpr:
		return []expr{n.x, n.idx}
	case *listExpr:
		return n.items
	case *mapExpr:
		return append(append([]expr{}, n.keys...), n.vals...)
	case *unaryExpr:
		return []expr{n.x}
	case *binExpr:
		return []expr{n.l, n.r}
	case *logicExpr:
		return []expr{n.l, n.r}
	case *condExpr:
		return []expr{n.c, n.a, n.b}
	case *coalesceExpr:
		return []expr{n.l, n.r}
	case *filterExpr:
		return append([]expr{n.x}, n.args...)
	case *callExpr:
		return n.args
	case *testExpr:
		return []expr{n.x}
	}
	return nil
}
