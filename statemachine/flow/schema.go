package flow

import (
	"bytes"
	"encoding/json"

	"github.com/relayflow/relay/statemachine/inputs"
)

// SchemaID is the $id of the generated JSON Schema.
const SchemaID = "https://relayflow.io/schemas/flow.schema.json"

// JSONSchema returns a JSON Schema (2020-12) of flow documents, generated
// from the same definitions the decoder uses, for editors to complete and
// check flow files. Expressions are accepted wherever a property is dynamic.
func JSONSchema() []byte {
	g := schemaGen{reg: Builtin}
	defs := obj{
		{"expression", obj{{"type", "string"}, {"pattern", `\{\{|\{%`}, {"description", "A template: `{{ expression }}` rendered at run time."}}},
		{"duration", obj{{"type", "string"}, {"pattern", `^(P(\d+W)?(\d+D)?(T(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?|(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+)$`}, {"description", "ISO-8601 (PT10S, P1D) or Go style (10s, 1h30m)."}}},
		{"task", g.dispatch(CategoryTask, obj{{"id", obj{{"type", "string"}}}}, []string{"id", "type"})},
		{"trigger", g.dispatch(CategoryTrigger, obj{{"id", obj{{"type", "string"}}}}, []string{"id", "type"})},
		{"condition", g.dispatch(CategoryCondition, nil, []string{"type"})},
		{"input", g.input()},
	}
	for _, c := range []Category{CategoryTask, CategoryTrigger, CategoryCondition} {
		for _, t := range g.reg.Types(c) {
			defs = append(defs, kv{string(c) + "." + t.Name, g.typeSchema(t)})
		}
	}
	root := obj{
		{"$schema", "https://json-schema.org/draft/2020-12/schema"},
		{"$id", SchemaID},
		{"title", "Relay flow"},
		{"description", "A Relay flow document (Kestra-compatible YAML)."},
	}
	root = append(root, g.object(FlowProps(), nil)...)
	root = append(root, kv{"$defs", defs})
	for i, e := range root {
		if e.k == "properties" {
			props := e.v.(obj)
			for j, p := range props {
				if p.k == "labels" {
					props[j].v = obj{{"description", "Labels: a map, or a list of `{key, value}`."}, {"anyOf", []any{
						obj{{"type", "object"}, {"additionalProperties", obj{{"type", "string"}}}},
						obj{{"type", "array"}, {"items", obj{{"type", "object"}, {"properties", obj{{"key", obj{{"type", "string"}}}, {"value", obj{{"type", "string"}}}}}, {"required", []string{"key"}}, {"additionalProperties", false}}}},
					}}}
				}
			}
			root[i].v = props
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(root); err != nil {
		panic(err) // the values above always encode
	}
	return buf.Bytes()
}

type schemaGen struct{ reg *Registry }

// dispatch selects the schema of a task, trigger or condition by its `type`.
func (g schemaGen) dispatch(c Category, extra obj, req []string) obj {
	var names []string
	var branches []any
	for _, t := range g.reg.Types(c) {
		spellings := append([]string{t.Name}, t.Aliases...)
		names = append(names, spellings...)
		branches = append(branches, obj{
			{"if", obj{{"properties", obj{{"type", obj{{"enum", spellings}}}}}, {"required", []string{"type"}}}},
			{"then", obj{{"$ref", "#/$defs/" + string(c) + "." + t.Name}}},
		})
	}
	props := append(obj{{"type", obj{{"enum", names}, {"description", "Type: a Relay name or one of its Kestra aliases."}}}}, extra...)
	return obj{{"type", "object"}, {"required", req}, {"properties", props}, {"allOf", branches}}
}

func (g schemaGen) typeSchema(t *TypeDef) obj {
	var common []*PropDef
	switch t.Category {
	case CategoryTask:
		common = commonTaskProps
	case CategoryTrigger:
		common = CommonTriggerProps()
	case CategoryCondition:
		common = []*PropDef{static(required(str("type", "Condition type.")))}
	}
	s := obj{{"description", t.Description}}
	return append(s, g.object(append(append([]*PropDef(nil), common...), t.Props...), t)...)
}

func (g schemaGen) object(props []*PropDef, t *TypeDef) obj {
	var ps obj
	var req []string
	for _, p := range props {
		s := g.prop(p)
		if p.Name == "type" && t != nil {
			s = obj{{"enum", append([]string{t.Name}, t.Aliases...)}, {"description", p.Description}}
		}
		ps = append(ps, kv{p.Name, s})
		for _, a := range p.Aliases {
			ps = append(ps, kv{a, append(obj{{"description", "Alias of `" + p.Name + "`."}}, s[1:]...)})
		}
		if p.Required && len(p.Aliases) == 0 {
			req = append(req, p.Name)
		}
	}
	out := obj{{"type", "object"}, {"properties", ps}}
	if len(req) > 0 {
		out = append(out, kv{"required", req})
	}
	return append(out, kv{"additionalProperties", false})
}

// prop returns a property's schema; the first entry is always its description.
func (g schemaGen) prop(p *PropDef) obj {
	s := obj{{"description", p.Description}}
	if p.Default != nil {
		s = append(s, kv{"default", p.Default})
	}
	return append(s, g.spec(&p.Spec, p.Dynamic)...)
}

func (g schemaGen) spec(s *Spec, dynamic bool) obj {
	var base obj
	switch s.Kind {
	case KindString:
		return obj{{"type", "string"}}
	case KindInt, KindNumber:
		base = obj{{"type", string(s.Kind)}}
		if s.HasMin {
			base = append(base, kv{"minimum", s.Min})
		}
	case KindBool:
		base = obj{{"type", "boolean"}}
	case KindDuration:
		base = obj{{"$ref", "#/$defs/duration"}}
		if s.BoolOr {
			base = obj{{"anyOf", []any{base, obj{{"type", "boolean"}}}}}
		}
	case KindEnum:
		base = obj{{"enum", s.Enum}}
	case KindList:
		elem := obj{}
		if s.Elem != nil {
			elem = g.spec(s.Elem, dynamic)
		}
		base = obj{{"type", "array"}, {"items", elem}}
		if s.MinItems > 0 {
			base = append(base, kv{"minItems", s.MinItems})
		}
		if s.Scalar {
			base = obj{{"anyOf", []any{elem, base}}}
		}
	case KindMap:
		elem := obj{}
		if s.Elem != nil {
			elem = g.spec(s.Elem, dynamic)
		}
		base = obj{{"type", "object"}, {"additionalProperties", elem}}
	case KindAny:
		return obj{}
	case KindObject:
		return g.object(s.Fields, nil)
	case KindTasks:
		base = obj{{"type", "array"}, {"items", obj{{"$ref", "#/$defs/task"}}}}
		if s.MinItems > 0 {
			base = append(base, kv{"minItems", s.MinItems})
		}
		return base
	case KindCases:
		return obj{{"type", "object"}, {"minProperties", 1}, {"additionalProperties", obj{{"type", "array"}, {"items", obj{{"$ref", "#/$defs/task"}}}, {"minItems", 1}}}}
	case KindDag:
		node := obj{{"type", "object"}, {"properties", obj{
			{"task", obj{{"$ref", "#/$defs/task"}}},
			{"dependsOn", obj{{"type", "array"}, {"items", obj{{"type", "string"}}}}},
		}}, {"required", []string{"task"}}, {"additionalProperties", false}}
		return obj{{"type", "array"}, {"minItems", 1}, {"items", node}}
	case KindInputs:
		return obj{{"type", "array"}, {"items", obj{{"$ref", "#/$defs/input"}}}}
	case KindTyped:
		return obj{{"$ref", "#/$defs/" + string(s.Category)}}
	}
	if dynamic {
		return obj{{"anyOf", []any{base, obj{{"$ref", "#/$defs/expression"}}}}}
	}
	return base
}

func (g schemaGen) input() obj {
	var types []string
	for _, t := range inputs.Types() {
		types = append(types, string(t.Name))
	}
	s := g.object(InputFields(), nil)
	for i, e := range s {
		if e.k != "properties" {
			continue
		}
		props := e.v.(obj)
		for j, p := range props {
			if p.k == "type" || p.k == "itemType" {
				props[j].v = obj{{"description", p.v.(obj)[0].v}, {"enum", types}}
			}
		}
		s[i].v = props
	}
	return s
}

// obj is a JSON object that keeps its key order, so the generated schema is
// stable and diffs of it are readable.
type obj []kv

type kv struct {
	k string
	v any
}

func (o obj) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, e := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, _ := json.Marshal(e.k)
		buf.Write(k)
		buf.WriteByte(':')
		var vb bytes.Buffer
		enc := json.NewEncoder(&vb)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(e.v); err != nil {
			return nil, err
		}
		buf.Write(bytes.TrimRight(vb.Bytes(), "\n"))
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}
