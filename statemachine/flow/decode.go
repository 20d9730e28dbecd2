package flow

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/relayflow/relay/statemachine/expr"
)

// Limits that keep a hostile document from exhausting the decoder.
const (
	// MaxDocumentSize is the largest flow document accepted.
	MaxDocumentSize = 4 << 20
	// maxNodes bounds the nodes visited, aliases expanded, so an alias bomb
	// fails quickly instead of growing without end.
	maxNodes = 1_000_000
	// maxDepth bounds task nesting.
	maxDepth = 64
)

var (
	idPattern        = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]*$`)
	namespacePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	yamlLinePattern  = regexp.MustCompile(`line (\d+)(?:, column (\d+))?`)
)

// FlowProps are the top-level properties of a flow document.
func FlowProps() []*PropDef {
	return []*PropDef{
		static(required(str("id", "Flow id; matches `^[a-zA-Z0-9][a-zA-Z0-9._-]*$`, 1 to 100 characters."))),
		static(required(str("namespace", "Dotted lowercase namespace; matches `^[a-z0-9][a-z0-9._-]*$`."))),
		static(str("description", "Free text.")),
		{Name: "labels", Spec: Spec{Kind: KindMap, Elem: stringSpec}, Description: "Labels of the flow's executions: a map, or a list of `{key, value}`."},
		{Name: "inputs", Spec: Spec{Kind: KindInputs}, Description: "Typed inputs of the flow (see Inputs)."},
		mapOf("variables", nil, "Values read as `vars.<name>`; may be expressions."),
		tasks("tasks", 1, "The tasks of the flow, run in order."),
		tasks("errors", 0, "Tasks run when the execution fails."),
		tasks("finally", 0, "Tasks run at the end whatever the outcome."),
		{Name: "outputs", Spec: Spec{Kind: KindList, Elem: &Spec{Kind: KindObject, Fields: outputFields()}}, Description: "Flow outputs, rendered when the execution ends."},
		{Name: "triggers", Spec: Spec{Kind: KindList, Elem: &Spec{Kind: KindTyped, Category: CategoryTrigger}}, Description: "Triggers that start the flow."},
		object("concurrency", "Limit on executions of this flow running at once.",
			required(static(integer("limit", 1, "Most executions running at once."))),
			withDefault(enum("behavior", []string{BehaviorQueue, BehaviorCancel, BehaviorFail}, "What happens to an execution beyond the limit."), BehaviorQueue),
		),
		object("retry", "Default retry policy of the flow's tasks.", RetryFields()...),
		{Name: "sla", Spec: Spec{Kind: KindList, Elem: &Spec{Kind: KindObject, Fields: SLAFields()}}, Description: "Service level agreements (Kestra's): an execution that runs longer than a MAX_DURATION, or whose EXECUTION_ASSERTION renders false while it runs, violates it; the violation adds the SLA's `labels` and, by its `behavior`, fails (FAIL) or cancels (CANCEL) the execution as a kill does, or only labels it (NONE). A violation is applied once."},
		withDefault(boolean("disabled", "A disabled flow cannot be started."), false),
	}
}

// SLAFields are the properties of an SLA.
func SLAFields() []*PropDef {
	return []*PropDef{
		static(required(str("id", "SLA id, unique in the flow."))),
		required(enum("type", []string{SLAMaxDuration, SLAAssertion}, "MAX_DURATION: the execution must end within `duration` of its start (a durable timer). EXECUTION_ASSERTION: `assert` must render true after every change of the running execution.")),
		duration("duration", "MAX_DURATION: how long the execution may run."),
		str("assert", "EXECUTION_ASSERTION: an expression over the execution (`outputs`, `labels`, `execution`...) that must be true."),
		required(enum("behavior", []string{SLAFail, SLACancel, SLANone}, "What a violation does to the execution.")),
		{Name: "labels", Spec: Spec{Kind: KindAny}, Description: "Labels added to the execution on a violation: a map, or a list of `{key, value}`."},
	}
}

func outputFields() []*PropDef {
	return []*PropDef{
		static(required(str("id", "Output id."))),
		required(static(str("type", "Output type: one of the input types (STRING, INT, JSON, ...)."))),
		static(str("description", "Free text.")),
		required(anyValue("value", "Value; usually an expression over `outputs`.")),
	}
}

// InputFields are the properties of an input declaration; which apply
// depends on the input type (see the inputs reference).
func InputFields() []*PropDef {
	return []*PropDef{
		static(required(str("id", "Input id, read as `inputs.<id>`."))),
		required(static(str("type", "Input type."))),
		static(str("description", "Free text.")),
		boolean("required", "A value must be given; true unless `defaults` is set."),
		anyValue("defaults", "Value used when none is given; may be an expression."),
		static(str("validator", "STRING, SECRET, URI, EMAIL: regular expression the whole value must match.")),
		{Name: "min", Spec: Spec{Kind: KindAny}, Description: "INT, FLOAT, DURATION: least value allowed (inclusive)."},
		{Name: "max", Spec: Spec{Kind: KindAny}, Description: "INT, FLOAT, DURATION: greatest value allowed (inclusive)."},
		static(str("after", "DATETIME, DATE, TIME: earliest value allowed (inclusive).")),
		static(str("before", "DATETIME, DATE, TIME: latest value allowed (inclusive).")),
		static(listOf("values", stringSpec, "SELECT, ENUM, MULTISELECT: allowed values.")),
		boolean("allowCustomValue", "SELECT, MULTISELECT: accept values not in `values`."),
		static(str("itemType", "ARRAY: type of the items (default STRING).")),
	}
}

// unsupportedFlowKeys are Kestra flow properties Relay does not run.
var unsupportedFlowKeys = map[string]string{
	"pluginDefaults": "plugin defaults are not supported by Relay; set the properties on each task",
	"taskDefaults":   "task defaults are not supported by Relay; set the properties on each task",
	"listeners":      "listeners are not supported by Relay; use `errors` and `finally`",
	"afterExecution": "afterExecution is not supported by Relay; use `finally`",
	"workerGroup":    "worker groups are not supported by Relay",
	"errorHandling":  "Kestra names this block `errors`",
}

// Parse decodes and validates one flow document. file names the document in
// diagnostics. On failure the error is Diagnostics holding every problem
// found, each with its line and column.
func Parse(file string, src []byte) (*Flow, error) {
	d := &decoder{diagSink: diagSink{file: file}, src: src, reg: Builtin, ids: map[string]*Task{}}
	f := d.document()
	if f != nil {
		d.validate(f)
	}
	if len(d.diags) > 0 {
		return nil, d.diags.sorted()
	}
	f.Notes = d.notes.sorted()
	return f, nil
}

type decoder struct {
	diagSink
	src   []byte
	lines []string
	reg   *Registry
	nodes int
	ids   map[string]*Task
	// templates lists every decoded property, for the reference checks.
	templates []*Property
	// unchecked are properties rendered in another execution's context
	// (a Subflow's `outputs`), which the reference checks skip.
	unchecked map[*Property]bool
}

// uncheck excludes p and what it holds from the reference checks.
func (d *decoder) uncheck(p *Property) {
	if p == nil {
		return
	}
	if d.unchecked == nil {
		d.unchecked = map[*Property]bool{}
	}
	d.unchecked[p] = true
	for _, e := range p.Items() {
		d.uncheck(e)
	}
	for _, k := range p.Keys() {
		d.uncheck(p.Get(k))
	}
}

func nodePos(n *yaml.Node) Pos { return Pos{Line: n.Line, Col: n.Column} }

func (d *decoder) document() *Flow {
	if len(d.src) > MaxDocumentSize {
		d.errorf(Pos{1, 1}, "", "document is %d bytes, larger than the limit of %d", len(d.src), MaxDocumentSize)
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(d.src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.errorf(Pos{1, 1}, "", "the document is empty; a flow needs at least `id`, `namespace` and `tasks`")
		} else {
			d.yamlError(err)
		}
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.errorf(nodePos(&extra), "", "a file holds one flow; found a second YAML document")
	} else if !errors.Is(err, io.EOF) {
		d.yamlError(err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		d.errorf(nodePos(root), "", "a flow document is a mapping with `id`, `namespace` and `tasks`, not %s", kindName(root))
		return nil
	}
	return d.flow(root)
}

// yamlError turns a YAML syntax error into diagnostics. yaml.v3 reports lines
// but not columns, so the column is the first non-blank character.
func (d *decoder) yamlError(err error) {
	msgs := []string{err.Error()}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	for _, m := range msgs {
		m = strings.TrimPrefix(m, "yaml: ")
		pos := Pos{Line: 1, Col: 1}
		if sm := yamlLinePattern.FindStringSubmatch(m); sm != nil {
			pos.Line, _ = strconv.Atoi(sm[1])
			pos.Col = d.indentOf(pos.Line) + 1
			m = strings.TrimSpace(strings.Replace(m, sm[0]+":", "", 1))
		}
		hint := ""
		if strings.HasPrefix(strings.TrimLeft(d.line(pos.Line), " "), "\t") {
			hint = "YAML indents with spaces, never tabs: replace the tabs at the start of the line"
		} else if q, ok := d.unclosedQuote(pos.Line); ok && (strings.Contains(m, "end of stream") || strings.Contains(m, "quoted scalar")) {
			pos, hint = q, "the string quoted here is not closed: add the closing quote"
		}
		d.add(pos, "", hint, "invalid YAML: %s", m)
	}
}

// unclosedQuote finds, at or before line, the last value that opens a
// quote it does not close on its line: where a scanner that ran to the
// end of the file, or into the next key, really failed.
func (d *decoder) unclosedQuote(line int) (Pos, bool) {
	for n := min(line, len(strings.Split(string(d.src), "\n"))); n >= 1; n-- {
		l := d.line(n)
		for _, lead := range []string{": ", "- "} {
			i := strings.Index(l, lead)
			if i < 0 {
				continue
			}
			v := strings.TrimSpace(l[i+len(lead):])
			if v == "" || (v[0] != '"' && v[0] != '\'') {
				continue
			}
			q := v[0]
			closed := false
			for j := 1; j < len(v); j++ {
				if q == '"' && v[j] == '\\' {
					j++
					continue
				}
				if v[j] == q {
					if q == '\'' && j+1 < len(v) && v[j+1] == '\'' {
						j++
						continue
					}
					closed = true
					break
				}
			}
			if !closed {
				return Pos{Line: n, Col: strings.Index(l, v) + 1}, true
			}
			break
		}
	}
	return Pos{}, false
}

func (d *decoder) line(n int) string {
	if d.lines == nil {
		d.lines = strings.Split(string(d.src), "\n")
	}
	if n < 1 || n > len(d.lines) {
		return ""
	}
	return d.lines[n-1]
}

func (d *decoder) indentOf(line int) int {
	l := d.line(line)
	return len(l) - len(strings.TrimLeft(l, " \t"))
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "empty"
		}
		return fmt.Sprintf("the %s %q", scalarKind(n), n.Value)
	}
	return "an unknown node"
}

func scalarKind(n *yaml.Node) string {
	switch n.Tag {
	case "!!int":
		return "integer"
	case "!!float":
		return "number"
	case "!!bool":
		return "boolean"
	}
	return "string"
}

// resolve follows aliases and counts nodes; it returns nil past the limit.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	d.nodes++
	if d.nodes == maxNodes {
		d.errorf(nodePos(n), "", "document expands to more than %d YAML nodes (alias expansion?)", maxNodes)
	}
	if d.nodes >= maxNodes {
		return nil
	}
	return n
}

// pair is one key/value of a mapping with merge keys expanded.
type pair struct {
	key string
	k   *yaml.Node
	v   *yaml.Node
}

// pairs returns a mapping's entries, reporting duplicate and non-string keys.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var out []pair
	seen := map[string]*yaml.Node{}
	var collect func(m *yaml.Node, merged bool)
	collect = func(m *yaml.Node, merged bool) {
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], d.resolve(m.Content[i+1])
			if v == nil {
				return
			}
			if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
				switch v.Kind {
				case yaml.MappingNode:
					collect(v, true)
				case yaml.SequenceNode:
					for _, e := range v.Content {
						if e = d.resolve(e); e != nil && e.Kind == yaml.MappingNode {
							collect(e, true)
						}
					}
				}
				continue
			}
			if k.Kind != yaml.ScalarNode {
				d.errorf(nodePos(k), path, "keys must be strings, not %s", kindName(k))
				continue
			}
			if first, dup := seen[k.Value]; dup {
				if !merged {
					d.errorf(nodePos(k), join(path, k.Value), "duplicate key `%s` (first at %s)", k.Value, nodePos(first))
				}
				continue
			}
			seen[k.Value] = k
			out = append(out, pair{key: k.Value, k: k, v: v})
		}
	}
	collect(n, false)
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// expectMapping reports n unless it is a mapping. A plain scalar starting
// with `{{` that YAML read as a flow mapping gets a hint to quote it.
func (d *decoder) expectMapping(n *yaml.Node, path, what string) bool {
	if n.Kind == yaml.MappingNode {
		return true
	}
	d.errorf(nodePos(n), path, "%s must be a mapping, not %s", what, kindName(n))
	return false
}

func (d *decoder) expectList(n *yaml.Node, path, what string) bool {
	if n.Kind == yaml.SequenceNode {
		return true
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return false
	}
	d.errorf(nodePos(n), path, "%s must be a list, not %s", what, kindName(n))
	return false
}

// unknownKey reports a key no definition accepts, with a suggestion.
func (d *decoder) unknownKey(p pair, path, where string, known []string, unsupported map[string]string) {
	if why, ok := unsupported[p.key]; ok {
		d.errorf(nodePos(p.k), join(path, p.key), "property `%s` is not supported: %s", p.key, why)
		return
	}
	hint := ""
	if s := suggest(p.key, known); s != "" {
		hint = fmt.Sprintf("did you mean `%s`?", s)
	}
	d.add(nodePos(p.k), join(path, p.key), hint, "unknown property `%s` %s", p.key, where)
}

// props decodes the entries of a mapping against defs. Properties of the
// kinds that hold tasks are left to the caller through special.
func (d *decoder) props(entries []pair, defs []*PropDef, path string, special func(pair, *PropDef) bool, unknown func(pair)) map[string]*Property {
	out := map[string]*Property{}
	given := map[*PropDef]bool{}
	for _, p := range entries {
		def := findProp(defs, p.key)
		if def == nil {
			unknown(p)
			continue
		}
		if given[def] {
			d.errorf(nodePos(p.k), join(path, p.key), "`%s` is given twice (as `%s` and an alias)", def.Name, p.key)
			continue
		}
		given[def] = true
		if special != nil && special(p, def) {
			continue
		}
		if v := d.value(p.v, &def.Spec, def.Dynamic, join(path, p.key)); v != nil {
			out[def.Name] = v
		}
	}
	return out
}

// missing reports required properties that are absent.
func (d *decoder) missing(pos Pos, path, what string, entries []pair, defs []*PropDef) {
	for _, def := range defs {
		if !def.Required {
			continue
		}
		found := false
		for _, p := range entries {
			if findProp(defs, p.key) == def {
				found = true
				break
			}
		}
		if !found && !misspelt(entries, defs, def) {
			d.errorf(pos, path, "%s is missing required property `%s`", what, def.Name)
		}
	}
}

// misspelt reports whether an unknown key of entries is a likely misspelling
// of def; its unknown-property error already suggests def.
func misspelt(entries []pair, defs []*PropDef, def *PropDef) bool {
	names := append([]string{def.Name}, def.Aliases...)
	for _, p := range entries {
		if findProp(defs, p.key) == nil && suggest(p.key, names) != "" {
			return true
		}
	}
	return false
}

// value decodes a property value of any non-task kind into a Property.
func (d *decoder) value(n *yaml.Node, spec *Spec, dynamic bool, path string) *Property {
	n = d.resolve(n)
	if n == nil {
		return nil
	}
	p := &Property{Pos: nodePos(n), Path: path}
	d.templates = append(d.templates, p)
	switch n.Kind {
	case yaml.ScalarNode:
		return d.scalar(n, p, spec, dynamic)
	case yaml.SequenceNode:
		elem := (*Spec)(nil)
		switch spec.Kind {
		case KindList:
			elem = spec.Elem
		case KindAny:
		default:
			d.wrongKind(n, spec, path)
			return nil
		}
		p.list = make([]*Property, 0, len(n.Content))
		for i, e := range n.Content {
			es := elem
			if es == nil {
				es = &Spec{Kind: KindAny}
			}
			if v := d.value(e, es, dynamic, index(path, i)); v != nil {
				p.list = append(p.list, v)
				p.dynamic = p.dynamic || v.dynamic
			}
		}
		if spec.MinItems > 0 && len(p.list) < spec.MinItems {
			d.errorf(p.Pos, path, "needs at least %d item(s)", spec.MinItems)
		}
		return p
	case yaml.MappingNode:
		if spec.Kind != KindObject && spec.Kind != KindMap && spec.Kind != KindAny {
			d.wrongKind(n, spec, path)
			return nil
		}
		p.isMap = true
		entries := d.pairs(n, path)
		switch spec.Kind {
		case KindObject:
			for _, e := range entries {
				def := findProp(spec.Fields, e.key)
				if def == nil {
					d.unknownKey(e, path, "here", propNames(spec.Fields), nil)
					continue
				}
				if v := d.value(e.v, &def.Spec, def.Dynamic, join(path, e.key)); v != nil {
					p.keys = append(p.keys, def.Name)
					p.vals = append(p.vals, v)
					p.dynamic = p.dynamic || v.dynamic
				}
			}
			d.missing(p.Pos, path, "this object", entries, spec.Fields)
		default:
			elem := spec.Elem
			if elem == nil {
				elem = &Spec{Kind: KindAny}
			}
			for _, e := range entries {
				if v := d.value(e.v, elem, dynamic, join(path, e.key)); v != nil {
					p.keys = append(p.keys, e.key)
					p.vals = append(p.vals, v)
					p.dynamic = p.dynamic || v.dynamic
				}
			}
		}
		return p
	}
	return nil
}

func (d *decoder) wrongKind(n *yaml.Node, spec *Spec, path string) {
	hint := ""
	if n.Kind == yaml.MappingNode && strings.Contains(d.line(n.Line), "{{") {
		hint = "YAML reads an unquoted `{{ ... }}` as a mapping: put the expression in quotes"
	}
	d.add(nodePos(n), path, hint, "expected %s, got %s", describeSpec(spec), kindName(n))
}

func describeSpec(s *Spec) string {
	switch s.Kind {
	case KindEnum:
		return "one of " + strings.Join(s.Enum, ", ")
	case KindList:
		if s.Scalar {
			return "a string or a list"
		}
		return "a list"
	case KindMap, KindObject:
		return "a mapping"
	case KindInt:
		return "an integer"
	case KindNumber:
		return "a number"
	case KindBool:
		return "true or false"
	case KindDuration:
		if s.BoolOr {
			return "a duration (PT10S, 10s) or true/false"
		}
		return "a duration (PT10S, 10s)"
	}
	return "a " + string(s.Kind)
}

// scalar checks a scalar against its spec and compiles any template in it.
func (d *decoder) scalar(n *yaml.Node, p *Property, spec *Spec, dynamic bool) *Property {
	p.lit = scalarValue(n)
	text, isString := p.lit.(string)
	if isString && n.Tag == "!!str" && looksLikeTemplate(text) {
		if !dynamic {
			d.errorf(p.Pos, p.Path, "this property does not accept expressions")
			return nil
		}
		t, err := expr.Parse(text)
		if err != nil {
			var ses *expr.SyntaxErrors
			var se *expr.SyntaxError
			switch {
			case errors.As(err, &ses):
				for _, se := range ses.List {
					d.errorf(d.templatePos(n, se.Offset), p.Path, "invalid expression: %s", se.Msg)
				}
			case errors.As(err, &se):
				d.errorf(d.templatePos(n, se.Offset), p.Path, "invalid expression: %s", se.Msg)
			default:
				d.errorf(p.Pos, p.Path, "invalid expression: %s", err.Error())
			}
			if t == nil {
				return nil
			}
			// Unknown names only: the references are checked too, all
			// mistakes at once. The flow is invalid and never runs.
		}
		p.tmpl = t
		p.dynamic = true
		p.block, p.quoted = n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0, n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0
		if p.block {
			p.indent = d.indentOf(n.Line + 1)
		}
		return p
	}
	if p.lit == nil && spec.Kind != KindAny {
		d.errorf(p.Pos, p.Path, "expected %s, got nothing", describeSpec(spec))
		return nil
	}
	switch spec.Kind {
	case KindString:
		// Numbers and booleans are kept as written: `version: 1.10` is "1.10".
		p.lit = n.Value
	case KindInt:
		if _, ok := p.lit.(int64); !ok {
			d.wrongKind(n, spec, p.Path)
			return nil
		}
	case KindNumber:
		switch v := p.lit.(type) {
		case int64:
			p.lit = float64(v)
		case float64:
		default:
			d.wrongKind(n, spec, p.Path)
			return nil
		}
	case KindBool:
		if _, ok := p.lit.(bool); !ok {
			d.wrongKind(n, spec, p.Path)
			return nil
		}
	case KindDuration:
		if _, ok := p.lit.(bool); ok && spec.BoolOr {
			break
		}
		if _, err := parseDuration(n.Value); err != nil {
			d.errorf(p.Pos, p.Path, "%v", err)
			return nil
		}
		p.lit = n.Value
	case KindEnum:
		if !contains(spec.Enum, n.Value) {
			hint := ""
			for _, e := range spec.Enum {
				if strings.EqualFold(e, n.Value) {
					hint = fmt.Sprintf("did you mean `%s`?", e)
				}
			}
			d.add(p.Pos, p.Path, hint, "`%s` is not one of %s", n.Value, strings.Join(spec.Enum, ", "))
			return nil
		}
		p.lit = n.Value
	case KindList:
		if !spec.Scalar {
			d.wrongKind(n, spec, p.Path)
			return nil
		}
		elem := spec.Elem
		if elem == nil {
			elem = &Spec{Kind: KindAny}
		}
		return d.scalar(n, p, elem, dynamic)
	case KindMap, KindObject:
		d.wrongKind(n, spec, p.Path)
		return nil
	}
	if spec.HasMin {
		if f, ok := toFloat(p.lit); ok && f < spec.Min {
			d.errorf(p.Pos, p.Path, "must be at least %v, got %v", spec.Min, p.lit)
			return nil
		}
	}
	return p
}

func looksLikeTemplate(s string) bool {
	return strings.Contains(s, "{{") || strings.Contains(s, "{%") || strings.Contains(s, "{#")
}

func scalarValue(n *yaml.Node) any {
	switch n.Tag {
	case "!!null":
		return nil
	case "!!bool":
		var b bool
		if n.Decode(&b) == nil {
			return b
		}
	case "!!int":
		var i int64
		if n.Decode(&i) == nil {
			return i
		}
		var f float64
		if n.Decode(&f) == nil {
			return f
		}
	case "!!float":
		var f float64
		if n.Decode(&f) == nil {
			return f
		}
	}
	return n.Value
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// templatePos maps a byte offset inside a scalar's text to a file position.
// Plain and quoted scalars on one line map exactly; block scalars map by line
// and the block's indentation.
func (d *decoder) templatePos(n *yaml.Node, offset int) Pos {
	block := n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0
	quoted := n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0
	indent := 0
	if block {
		indent = d.indentOf(n.Line + 1)
	}
	return mapOffset(n.Value, offset, nodePos(n), block, quoted, indent)
}

func mapOffset(text string, offset int, at Pos, block, quoted bool, indent int) Pos {
	if offset < 0 {
		offset = 0
	}
	if offset > len(text) {
		offset = len(text)
	}
	before := text[:offset]
	line := strings.Count(before, "\n")
	col := offset - strings.LastIndex(before, "\n") // 1-based
	switch {
	case block:
		return Pos{Line: at.Line + 1 + line, Col: indent + col}
	case line == 0:
		q := 0
		if quoted {
			q = 1
		}
		return Pos{Line: at.Line, Col: at.Col + q + col - 1}
	default:
		return Pos{Line: at.Line + line, Col: col}
	}
}
