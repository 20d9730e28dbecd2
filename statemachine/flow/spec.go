package flow

import (
	"sort"
	"strings"
)

// Kind is the shape of a property value. The decoder, the validator, the JSON
// Schema and the reference docs are all derived from the same Specs, so they
// cannot disagree about what a flow may contain.
type Kind string

const (
	KindString   Kind = "string"
	KindInt      Kind = "integer"
	KindNumber   Kind = "number"
	KindBool     Kind = "boolean"
	KindDuration Kind = "duration" // ISO-8601 (PT10S, P1D) or Go style (10s)
	KindEnum     Kind = "enum"
	KindList     Kind = "list"   // items of Spec.Elem
	KindMap      Kind = "map"    // string keys, values of Spec.Elem (nil: any value)
	KindAny      Kind = "any"    // any YAML value
	KindObject   Kind = "object" // fixed Spec.Fields
	KindTasks    Kind = "tasks"  // a list of tasks
	KindCases    Kind = "cases"  // map of case value to a list of tasks (flow.switch)
	KindDag      Kind = "dag"    // list of {task, dependsOn} (flow.dag)
	KindInputs   Kind = "inputs" // list of input declarations (flow.pause onResume)
	KindTyped    Kind = "typed"  // object whose `type` names a definition of Spec.Category
)

// Spec describes the values a property accepts.
type Spec struct {
	Kind     Kind
	Elem     *Spec      // KindList, KindMap
	Fields   []*PropDef // KindObject
	Enum     []string   // KindEnum
	Category Category   // KindTyped
	// MinItems is the least number of items of a list, tasks or cases value.
	MinItems int
	// Scalar lets a list property be written as a single item.
	Scalar bool
	// Min is the least value of an integer or number, when HasMin.
	Min    float64
	HasMin bool
	// BoolOr lets a property of another kind also be written as a boolean
	// (retry `jitter: true`).
	BoolOr bool
}

// PropDef is one property of a task, trigger, condition or nested object.
type PropDef struct {
	Name        string
	Aliases     []string // other spellings accepted, Kestra's and the seed articles'
	Spec        Spec
	Required    bool
	Default     any    // documented default, nil when none
	Dynamic     bool   // the value may contain {{ }} expressions, rendered at run time
	Description string // one sentence for the reference and the schema
}

// Category says where a type name may be used.
type Category string

const (
	CategoryTask      Category = "task"
	CategoryTrigger   Category = "trigger"
	CategoryCondition Category = "condition"
)

// TypeDef is a task, trigger or condition type.
type TypeDef struct {
	Name        string // Relay's canonical short name, e.g. "log"
	Category    Category
	Aliases     []string // Kestra's names, accepted as they are
	Flowable    bool     // a task that schedules other tasks instead of doing work
	Description string
	Props       []*PropDef
	Outputs     []OutputDef
	// AliasDefaults overrides property defaults when the type is written with
	// one of its aliases: EachParallel is a ForEach whose concurrency is
	// unlimited, EachSequential one whose concurrency is 1.
	AliasDefaults map[string]map[string]any
	// Unsupported names properties Kestra has on this type that Relay does not
	// run, with the reason; they are reported instead of being ignored.
	Unsupported map[string]string
}

// OutputDef is one output a task type produces.
type OutputDef struct {
	Name        string
	Kind        Kind
	Description string
}

// Prop returns the property named name or one of its aliases.
func (t *TypeDef) Prop(name string) *PropDef { return findProp(t.Props, name) }

// OutputNames lists the declared output names.
func (t *TypeDef) OutputNames() []string {
	names := make([]string, len(t.Outputs))
	for i, o := range t.Outputs {
		names[i] = o.Name
	}
	return names
}

func findProp(props []*PropDef, name string) *PropDef {
	for _, p := range props {
		if p.Name == name {
			return p
		}
		for _, a := range p.Aliases {
			if a == name {
				return p
			}
		}
	}
	return nil
}

func propNames(props []*PropDef) []string {
	var names []string
	for _, p := range props {
		names = append(names, p.Name)
		names = append(names, p.Aliases...)
	}
	return names
}

// Registry resolves type names and aliases. Lookups are exact: Kestra type
// names are case sensitive and so are Relay's.
type Registry struct {
	byName map[Category]map[string]*TypeDef
	defs   []*TypeDef
}

// NewRegistry indexes defs by canonical name and alias.
func NewRegistry(defs ...*TypeDef) *Registry {
	r := &Registry{byName: map[Category]map[string]*TypeDef{}}
	for _, d := range defs {
		m := r.byName[d.Category]
		if m == nil {
			m = map[string]*TypeDef{}
			r.byName[d.Category] = m
		}
		m[d.Name] = d
		for _, a := range d.Aliases {
			m[a] = d
		}
		r.defs = append(r.defs, d)
	}
	return r
}

// Lookup finds the definition of a type name or alias in a category.
func (r *Registry) Lookup(c Category, name string) (*TypeDef, bool) {
	d, ok := r.byName[c][name]
	return d, ok
}

// Types returns the definitions of a category sorted by canonical name.
func (r *Registry) Types(c Category) []*TypeDef {
	var out []*TypeDef
	for _, d := range r.defs {
		if d.Category == c {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// names lists every accepted spelling in a category, for suggestions.
func (r *Registry) names(c Category) []string {
	var out []string
	for n := range r.byName[c] {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// suggestType finds the closest known spelling of an unknown type name
// (or a few, joined by "` or `").
// Dotted names are compared within their package, so a misspelt
// `io.kestra.plugin.core.log.Logs` suggests the Log task but a real plugin
// of another package, such as `...scripts.python.Commands`, suggests nothing;
// a name whose last segment is known but whose package is misspelt suggests
// the known name.
func (r *Registry) suggestType(c Category, name string) string {
	pkg, last := splitType(name)
	var samePkg, sameLast []string
	for _, n := range r.names(c) {
		np, nl := splitType(n)
		if np == pkg {
			samePkg = append(samePkg, nl)
		}
		if strings.EqualFold(nl, last) && pkg != "" && oneSegmentTypo(pkg, np) {
			sameLast = append(sameLast, n)
		}
	}
	if s := suggest(last, samePkg); s != "" {
		if pkg == "" {
			return s
		}
		return pkg + "." + s
	}
	if len(sameLast) > 0 {
		return suggest(name, sameLast)
	}
	// A Relay name's first part alone (`http` for http.request): the types
	// that have it, when they are few (`shell.commands` or `shell.script`).
	var prefixed []string
	for _, d := range r.Types(c) {
		if strings.HasPrefix(strings.ToLower(d.Name), strings.ToLower(name)+".") {
			prefixed = append(prefixed, d.Name)
		}
	}
	if len(prefixed) > 0 && len(prefixed) <= 3 {
		sort.Strings(prefixed)
		return strings.Join(prefixed, "` or `")
	}
	return ""
}

// oneSegmentTypo reports whether two dotted packages differ in one segment
// only, by a likely typo (`core.flows` for `core.flow`), and not by being
// different packages (`scripts.python` and `scripts.shell`).
func oneSegmentTypo(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	if len(as) != len(bs) {
		return false
	}
	diff := 0
	for i := range as {
		if as[i] != bs[i] {
			diff++
			if diff > 1 || suggest(as[i], []string{bs[i]}) == "" {
				return false
			}
		}
	}
	return true
}

func splitType(name string) (pkg, last string) {
	i := strings.LastIndex(name, ".")
	if i < 0 {
		return "", name
	}
	return name[:i], name[i+1:]
}
