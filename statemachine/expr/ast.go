package expr

// Template-level nodes. Rendering walks them with a type switch (see exec).
type node interface{}

type textNode struct {
	pos  int
	text string
}

type outputNode struct{ x expr }

type ifNode struct {
	pos   int
	conds []expr   // if, elseif...
	thens [][]node // one body per cond
	els   []node   // else body, may be nil
}

type forNode struct {
	pos      int
	key, val string // key is "" for `for x in seq`
	seq      expr
	body     []node
	els      []node
	usesLoop bool // the body mentions `loop`; avoids building it otherwise
}

type setNode struct {
	pos  int
	name string
	x    expr
}

// filterNode is `{% filter chain %}body{% endfilter %}`: chain is a filter
// expression over a blockExpr, which evaluates to the rendered body.
type filterNode struct {
	pos   int
	body  []node
	chain expr
}

// expr is an expression node. Every node knows its source span so errors
// can quote it; h is the tree height, bounded at parse time so that
// evaluation recursion stays shallow.
type expr interface {
	eval(s *state) (any, error)
	span() (pos, end int)
	height() int
}

type base struct {
	pos, end int
	h        int
}

func (b *base) span() (int, int) { return b.pos, b.end }
func (b *base) height() int      { return b.h }

// blockExpr is the rendered body of the enclosing {% filter %} statement.
type blockExpr struct {
	base
}

type litExpr struct {
	base
	v any
}

type identExpr struct {
	base
	name string
}

// attrExpr is `x.name` or `x['name']` (a constant string subscript).
type attrExpr struct {
	base
	x    expr
	name string
}

// indexExpr is `x[idx]` with a computed or integer subscript.
type indexExpr struct {
	base
	x, idx expr
}

type listExpr struct {
	base
	items []expr
}

type mapExpr struct {
	base
	keys, vals []expr
}

type unaryExpr struct {
	base
	op string // "-", "+", "not"
	x  expr
}

type binOp uint8

const (
	opAdd binOp = iota
	opSub
	opMul
	opDiv
	opFloorDiv
	opMod
	opConcat
	opEq
	opNe
	opLt
	opGt
	opLe
	opGe
	opIn
	opNotIn
	opContains
	opRange
	opIsIn
	opNotIsIn
)

var binOpNames = [...]string{
	opAdd: "+", opSub: "-", opMul: "*", opDiv: "/", opFloorDiv: "//", opMod: "%",
	opConcat: "~", opEq: "==", opNe: "!=", opLt: "<", opGt: ">", opLe: "<=", opGe: ">=",
	opIn: "in", opNotIn: "not in", opContains: "contains", opRange: "..",
	opIsIn: "isIn", opNotIsIn: "notIn",
}

type binExpr struct {
	base
	op   binOp
	l, r expr
}

// logicExpr is `and` / `or`, which short-circuit.
type logicExpr struct {
	base
	and  bool
	l, r expr
}

type condExpr struct {
	base
	c, a, b expr
}

// coalesceExpr is `l ?? r` (undefOnly=false) or `l ??? r` (undefOnly=true).
type coalesceExpr struct {
	base
	l, r      expr
	undefOnly bool
}

type filterExpr struct {
	base
	x    expr
	fn   *builtin
	args []expr // positional after binding named arguments; nil = not given
}

type callExpr struct {
	base
	fn   *builtin
	args []expr
}

type testExpr struct {
	base
	x      expr
	name   string
	negate bool
	t      *testDef
}
