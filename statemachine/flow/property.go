package flow

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/relayflow/relay/statemachine/expr"
)

// Property is a property value as written in the flow, with every template
// inside it compiled once at decode time. The engine renders it with the
// execution's variables; nothing is parsed again at run time.
//
// A Property is a scalar (a literal or a template), a list or a map of
// Properties. Maps keep the order of the document.
type Property struct {
	Pos  Pos
	Path string // property path in the document, for error messages

	lit   any            // scalar literal: nil, bool, int64, float64, string
	tmpl  *expr.Template // set when the scalar is a string holding a template
	list  []*Property
	keys  []string
	vals  []*Property
	isMap bool
	// dynamic is true when a template appears anywhere inside.
	dynamic bool
	// How the scalar was written, to map template offsets to file positions.
	block, quoted bool
	indent        int
}

// PosOf returns the file position of a byte offset inside the template.
func (p *Property) PosOf(offset int) Pos {
	if p.tmpl == nil {
		return p.Pos
	}
	return mapOffset(p.tmpl.Source(), offset, p.Pos, p.block, p.quoted, p.indent)
}

// IsDynamic reports whether rendering can differ from the literal value.
func (p *Property) IsDynamic() bool { return p != nil && p.dynamic }

// IsList and IsMap tell the shape of the value as written.
func (p *Property) IsList() bool { return p != nil && p.list != nil }
func (p *Property) IsMap() bool  { return p != nil && p.isMap }

// Items returns the elements of a list value.
func (p *Property) Items() []*Property {
	if p == nil {
		return nil
	}
	return p.list
}

// Keys returns the keys of a map value in document order.
func (p *Property) Keys() []string {
	if p == nil {
		return nil
	}
	return p.keys
}

// Get returns the value of key in a map value, or nil.
func (p *Property) Get(key string) *Property {
	if p == nil {
		return nil
	}
	for i, k := range p.keys {
		if k == key {
			return p.vals[i]
		}
	}
	return nil
}

// Template returns the compiled template of a scalar string, or nil.
func (p *Property) Template() *expr.Template {
	if p == nil {
		return nil
	}
	return p.tmpl
}

// Literal returns the value as written, templates left as their source text.
func (p *Property) Literal() any {
	if p == nil {
		return nil
	}
	switch {
	case p.list != nil:
		out := make([]any, len(p.list))
		for i, e := range p.list {
			out[i] = e.Literal()
		}
		return out
	case p.isMap:
		out := make(map[string]any, len(p.keys))
		for i, k := range p.keys {
			out[k] = p.vals[i].Literal()
		}
		return out
	case p.tmpl != nil:
		return p.tmpl.Source()
	}
	return p.lit
}

// String returns a scalar literal as a string ("" for lists and maps).
func (p *Property) String() string {
	switch v := p.Literal().(type) {
	case string:
		return v
	case nil, []any, map[string]any:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

// Render evaluates every template inside the value. A string that is exactly
// one {{ expression }} yields the expression's typed value; other strings
// yield text. Errors name the property path and the expression.
func (p *Property) Render(env *expr.Env) (any, error) {
	if p == nil {
		return nil, nil
	}
	if !p.dynamic {
		return p.Literal(), nil
	}
	switch {
	case p.list != nil:
		out := make([]any, len(p.list))
		for i, e := range p.list {
			v, err := e.Render(env)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case p.isMap:
		out := make(map[string]any, len(p.keys))
		for i, k := range p.keys {
			v, err := p.vals[i].Render(env)
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	}
	v, err := p.tmpl.Render(env)
	if err != nil {
		return nil, fmt.Errorf("rendering %s (%s): %w", p.Path, snippet(p.tmpl.Source()), err)
	}
	return v, nil
}

// snippet shortens a template to one line for error messages.
func snippet(src string) string {
	s := strings.Join(strings.Fields(src), " ")
	if r := []rune(s); len(r) > 80 {
		s = string(r[:77]) + "..."
	}
	return "`" + s + "`"
}

// MarshalJSON writes the value as written.
func (p *Property) MarshalJSON() ([]byte, error) { return json.Marshal(p.Literal()) }
