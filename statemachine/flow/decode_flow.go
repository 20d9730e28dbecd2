package flow

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/relayflow/relay/statemachine/inputs"
	"github.com/relayflow/relay/triggers/cron"
)

func suggest(name string, candidates []string) string { return inputs.Suggest(name, candidates) }

func parseDuration(s string) (time.Duration, error) { return inputs.ParseDuration(s) }

func (d *decoder) flow(root *yaml.Node) *Flow {
	f := &Flow{File: d.file, Source: d.src, Variables: map[string]*Property{}}
	entries := d.pairs(root, "")
	defs := FlowProps()
	for _, p := range entries {
		switch p.key {
		case "id":
			f.ID = d.identifier(p, "", idPattern, "flow id")
		case "namespace":
			f.Namespace = d.identifier(p, "", namespacePattern, "namespace")
		case "description":
			f.Description = d.text(p, "")
		case "labels":
			f.Labels = d.labels(p.v, "labels")
		case "inputs":
			f.Inputs, f.InputDefaults = d.inputDecls(p.v, "inputs")
		case "variables":
			if v := d.value(p.v, &Spec{Kind: KindMap}, true, "variables"); v != nil {
				for i, k := range v.keys {
					f.Variables[k] = v.vals[i]
				}
			}
		case "tasks":
			f.Tasks = d.taskList(p.v, "tasks", nil, 0)
			if emptyList(p.v) {
				d.errorf(nodePos(p.v), "tasks", "a flow needs at least one task")
			}
		case "errors":
			f.Errors = d.taskList(p.v, "errors", nil, 0)
		case "finally":
			f.Finally = d.taskList(p.v, "finally", nil, 0)
		case "outputs":
			f.Outputs = d.outputs(p.v, "outputs")
		case "triggers":
			f.Triggers = d.triggers(p.v, "triggers")
		case "concurrency":
			f.Concurrency = d.concurrency(p)
		case "retry":
			if v := d.value(p.v, &findProp(defs, "retry").Spec, false, "retry"); v != nil {
				f.Retry = d.retry(v)
			}
		case "sla":
			f.SLAs = d.slas(p)
		case "disabled":
			f.Disabled = d.flag(p, "")
		case "revision":
			d.notef(nodePos(p.k), "revision", "`revision` is ignored: the store assigns revisions when the flow is saved")
		default:
			d.unknownKey(p, "", "in a flow", propNames(defs), unsupportedFlowKeys)
		}
	}
	d.missing(nodePos(root), "", "the flow", entries, defs)
	return f
}

// identifier decodes an id-like string and checks it against pattern.
func (d *decoder) identifier(p pair, path string, pattern interface{ MatchString(string) bool }, what string) string {
	path = join(path, p.key)
	if p.v.Kind != yaml.ScalarNode || p.v.Tag == "!!null" {
		d.errorf(nodePos(p.v), path, "%s must be a string, not %s", what, kindName(p.v))
		return ""
	}
	s := p.v.Value
	switch {
	case len(s) > 100:
		d.errorf(nodePos(p.v), path, "%s is %d characters long; the limit is 100", what, len(s))
	case !pattern.MatchString(s):
		hint := ""
		if what == "namespace" && strings.ToLower(s) != s {
			hint = fmt.Sprintf("namespaces are lowercase: `%s`", strings.ToLower(s))
		}
		d.add(nodePos(p.v), path, hint, "%s `%s` must match %s", what, s, pattern)
	}
	return s
}

func (d *decoder) text(p pair, path string) string {
	if v := d.value(p.v, &Spec{Kind: KindString}, false, join(path, p.key)); v != nil {
		return v.String()
	}
	return ""
}

func (d *decoder) flag(p pair, path string) bool {
	if v := d.value(p.v, &Spec{Kind: KindBool}, false, join(path, p.key)); v != nil {
		b, _ := v.lit.(bool)
		return b
	}
	return false
}

// labels accepts a map or Kestra's list of {key, value}.
func (d *decoder) labels(n *yaml.Node, path string) []Label {
	var out []Label
	switch n.Kind {
	case yaml.MappingNode:
		for _, p := range d.pairs(n, path) {
			if p.v.Kind != yaml.ScalarNode {
				d.errorf(nodePos(p.v), join(path, p.key), "a label value must be a string, not %s", kindName(p.v))
				continue
			}
			out = append(out, Label{Key: p.key, Value: p.v.Value})
		}
	case yaml.SequenceNode:
		for i, e := range n.Content {
			if e = d.resolve(e); e == nil || !d.expectMapping(e, index(path, i), "a label") {
				continue
			}
			var l Label
			entries := d.pairs(e, index(path, i))
			for _, p := range entries {
				switch p.key {
				case "key":
					l.Key = p.v.Value
				case "value":
					l.Value = p.v.Value
				default:
					d.unknownKey(p, index(path, i), "in a label", []string{"key", "value"}, nil)
				}
			}
			if l.Key == "" {
				d.errorf(nodePos(e), index(path, i), "a label needs a `key`")
				continue
			}
			out = append(out, l)
		}
	default:
		d.errorf(nodePos(n), path, "labels must be a mapping or a list of {key, value}, not %s", kindName(n))
	}
	return out
}

// inputDecls decodes input declarations (flow inputs and pause onResume) and
// returns the compiled defaults by input id.
func (d *decoder) inputDecls(n *yaml.Node, path string) ([]*inputs.Decl, map[string]*Property) {
	if !d.expectList(n, path, "inputs") {
		return nil, nil
	}
	var decls []*inputs.Decl
	defaults := map[string]*Property{}
	seen := map[string]Pos{}
	fields := InputFields()
	for i, e := range n.Content {
		ipath := index(path, i)
		if e = d.resolve(e); e == nil || !d.expectMapping(e, ipath, "an input") {
			continue
		}
		entries := d.pairs(e, ipath)
		props := d.props(entries, fields, ipath, nil, func(p pair) {
			d.unknownKey(p, ipath, "in an input", propNames(fields), map[string]string{"name": "Kestra's older `name` is now `id`"})
		})
		d.missing(nodePos(e), ipath, "the input", entries, fields)
		decl := &inputs.Decl{
			ID:          props["id"].String(),
			Type:        inputs.Type(props["type"].String()),
			Description: props["description"].String(),
			Validator:   props["validator"].String(),
			After:       props["after"].String(),
			Before:      props["before"].String(),
			ItemType:    inputs.Type(props["itemType"].String()),
		}
		if decl.ID == "" {
			continue
		}
		if first, dup := seen[decl.ID]; dup {
			d.errorf(nodePos(e), ipath, "duplicate input id `%s` (first at %s)", decl.ID, first)
		}
		seen[decl.ID] = nodePos(e)
		if v := props["defaults"]; v != nil {
			decl.Defaults, decl.HasDefaults = v.Literal(), true
			defaults[decl.ID] = v
		}
		decl.Required = !decl.HasDefaults
		if v, ok := props["required"]; ok {
			decl.Required, _ = v.lit.(bool)
		}
		if v, ok := props["allowCustomValue"]; ok {
			decl.AllowCustomValue, _ = v.lit.(bool)
		}
		decl.Min, decl.Max = props["min"].Literal(), props["max"].Literal()
		for _, v := range props["values"].Items() {
			decl.Values = append(decl.Values, v.String())
		}
		present := make([]string, 0, len(entries))
		for _, p := range entries {
			if def := findProp(fields, p.key); def != nil {
				present = append(present, def.Name)
			}
		}
		for _, err := range decl.Check(present) {
			pos := nodePos(e)
			msg := err.Error()
			if de, ok := err.(*inputs.DeclError); ok {
				if v := props[de.Field]; v != nil {
					pos = v.Pos
				}
				msg = de.Msg
			}
			d.errorf(pos, ipath+" ("+decl.ID+")", "%s", msg)
		}
		decls = append(decls, decl)
	}
	return decls, defaults
}

func (d *decoder) outputs(n *yaml.Node, path string) []*Output {
	if n.Kind == yaml.MappingNode {
		d.add(nodePos(n), path, "write `outputs: [{id: name, type: STRING, value: \"{{ ... }}\"}]`", "flow outputs must be a list of {id, type, value}, not a mapping")
		return nil
	}
	if !d.expectList(n, path, "outputs") {
		return nil
	}
	var out []*Output
	seen := map[string]bool{}
	fields := outputFields()
	for i, e := range n.Content {
		opath := index(path, i)
		v := d.value(e, &Spec{Kind: KindObject, Fields: fields}, true, opath)
		if v == nil {
			continue
		}
		o := &Output{ID: v.Get("id").String(), Type: inputs.Type(v.Get("type").String()), Description: v.Get("description").String(), Value: v.Get("value"), Pos: v.Pos}
		if seen[o.ID] {
			d.errorf(v.Pos, opath, "duplicate output id `%s`", o.ID)
		}
		seen[o.ID] = true
		if o.Type != "" && !knownInputType(o.Type) {
			d.unknownInputType(v.Get("type"), opath+".type")
		}
		out = append(out, o)
	}
	return out
}

func knownInputType(t inputs.Type) bool {
	for _, ti := range inputs.Types() {
		if ti.Name == t && ti.Supported {
			return true
		}
	}
	return false
}

func (d *decoder) unknownInputType(p *Property, path string) {
	var names []string
	for _, ti := range inputs.Types() {
		if ti.Supported {
			names = append(names, string(ti.Name))
		}
	}
	hint := ""
	if s := suggest(p.String(), names); s != "" {
		hint = fmt.Sprintf("did you mean `%s`?", s)
	}
	d.add(p.Pos, path, hint, "unknown type `%s`; expected one of %s", p.String(), strings.Join(names, ", "))
}

func (d *decoder) concurrency(p pair) *Concurrency {
	v := d.value(p.v, &findProp(FlowProps(), "concurrency").Spec, false, "concurrency")
	if v == nil {
		return nil
	}
	c := &Concurrency{Behavior: BehaviorQueue}
	if l, ok := v.Get("limit").Literal().(int64); ok {
		c.Limit = int(l)
	}
	if b := v.Get("behavior"); b != nil {
		c.Behavior = b.String()
	}
	return c
}

// slas decodes the flow's SLAs and checks each has what its type needs.
func (d *decoder) slas(p pair) []*SLA {
	v := d.value(p.v, &findProp(FlowProps(), "sla").Spec, false, "sla")
	var out []*SLA
	seen := map[string]bool{}
	for _, e := range v.Items() {
		s := &SLA{ID: e.Get("id").String(), Type: e.Get("type").String(), Behavior: e.Get("behavior").String(), Assert: e.Get("assert"), Pos: e.Pos}
		if seen[s.ID] {
			d.errorf(e.Pos, e.Path, "duplicate SLA id `%s`", s.ID)
		}
		seen[s.ID] = true
		switch s.Type {
		case SLAMaxDuration:
			s.Duration, _ = parseDuration(e.Get("duration").String())
			if s.Duration <= 0 {
				d.errorf(e.Pos, e.Path, "a MAX_DURATION SLA needs a `duration` longer than zero")
			}
		case SLAAssertion:
			if s.Assert == nil || s.Assert.String() == "" && !s.Assert.IsDynamic() {
				d.errorf(e.Pos, e.Path, "an EXECUTION_ASSERTION SLA needs an `assert` expression")
			}
		}
		if l := e.Get("labels"); l != nil {
			s.Labels = d.slaLabels(l)
		}
		out = append(out, s)
	}
	return out
}

func (d *decoder) slaLabels(l *Property) []Label {
	var out []Label
	switch {
	case l.IsMap():
		for _, k := range l.Keys() {
			out = append(out, Label{Key: k, Value: l.Get(k).String()})
		}
	case l.IsList():
		for _, it := range l.Items() {
			if it.Get("key") == nil {
				d.errorf(it.Pos, it.Path, "a label is `{key, value}`")
				continue
			}
			out = append(out, Label{Key: it.Get("key").String(), Value: it.Get("value").String()})
		}
	default:
		d.errorf(l.Pos, l.Path, "labels are a map, or a list of `{key, value}`")
	}
	for _, lb := range out {
		if strings.HasPrefix(lb.Key, "system.") {
			d.errorf(l.Pos, l.Path, "%s is a system label, which Relay sets itself", lb.Key)
		}
	}
	return out
}

// retry turns a decoded retry object into a policy and checks it is complete.
func (d *decoder) retry(v *Property) *Retry {
	r := &Retry{DelayFactor: 2}
	dur := func(name string) time.Duration {
		p := v.Get(name)
		if p == nil {
			return 0
		}
		if s, ok := p.Literal().(string); ok {
			x, _ := parseDuration(s)
			return x
		}
		return 0
	}
	if n, ok := v.Get("maxAttempts").Literal().(int64); ok {
		r.MaxAttempts = int(n)
	}
	r.Interval, r.MaxInterval, r.MinInterval, r.MaxDuration = dur("interval"), dur("maxInterval"), dur("minInterval"), dur("maxDuration")
	if f, ok := v.Get("delayFactor").Literal().(float64); ok {
		r.DelayFactor = f
	}
	switch j := v.Get("jitter").Literal().(type) {
	case bool:
		if j {
			r.JitterFactor = 0.2
		}
	case string:
		r.Jitter = dur("jitter")
	}
	r.WarningOnRetry, _ = v.Get("warningOnRetry").Literal().(bool)
	r.Behavior = v.Get("behavior").String()
	if r.Behavior == "" {
		r.Behavior = RetryFailedTask
	}
	for _, e := range v.Get("delays").Items() {
		x, _ := parseDuration(e.String())
		r.Delays = append(r.Delays, x)
	}
	r.Type = v.Get("type").String()
	if r.Type == "" {
		r.Type = RetryConstant
		switch {
		case r.Delays != nil:
			r.Type = RetryDelays
		case v.Get("maxInterval") != nil || v.Get("delayFactor") != nil:
			r.Type = RetryExponential
		}
	}
	if r.Type == RetryDelays && r.MaxAttempts == 0 && r.MaxDuration == 0 {
		r.MaxAttempts = len(r.Delays) + 1 // one retry per delay listed
	}
	need := func(field string, ok bool) {
		if !ok {
			d.errorf(v.Pos, v.Path, "a %s retry needs `%s`", r.Type, field)
		}
	}
	switch r.Type {
	case RetryConstant:
		need("interval", r.Interval > 0)
	case RetryExponential:
		need("interval", r.Interval > 0)
		need("maxInterval", r.MaxInterval > 0)
		if r.MaxInterval > 0 && r.Interval > r.MaxInterval {
			d.errorf(v.Pos, v.Path, "`interval` (%s) is longer than `maxInterval` (%s)", r.Interval, r.MaxInterval)
		}
	case RetryDelays:
		need("delays", len(r.Delays) > 0)
	case RetryRandom:
		need("minInterval", r.MinInterval > 0)
		need("maxInterval", r.MaxInterval > 0)
		if r.MinInterval > r.MaxInterval && r.MaxInterval > 0 {
			d.errorf(v.Pos, v.Path, "`minInterval` (%s) is longer than `maxInterval` (%s)", r.MinInterval, r.MaxInterval)
		}
	}
	if r.Delays != nil && r.Type != RetryDelays {
		d.errorf(v.Pos, v.Path, "`delays` lists the waits of a `delays` retry; a %s retry computes them", r.Type)
	}
	if r.MaxAttempts == 0 && r.MaxDuration == 0 {
		d.errorf(v.Pos, v.Path, "a retry needs `maxAttempts` or `maxDuration`, or it would retry for ever")
	}
	return r
}

func (d *decoder) triggers(n *yaml.Node, path string) []*Trigger {
	if !d.expectList(n, path, "triggers") {
		return nil
	}
	var out []*Trigger
	seen := map[string]bool{}
	for i, e := range n.Content {
		ipath := index(path, i)
		if e = d.resolve(e); e == nil || !d.expectMapping(e, ipath, "a trigger") {
			continue
		}
		tr := &Trigger{Pos: nodePos(e)}
		entries := d.pairs(e, ipath)
		def, name := d.typeOf(entries, CategoryTrigger, nodePos(e), ipath)
		tr.Type, tr.TypeName = def, name
		defs := CommonTriggerProps()
		if def != nil {
			defs = append(defs, def.Props...)
		}
		props := d.props(entries, defs, ipath, func(p pair, pd *PropDef) bool {
			if pd.Name != "conditions" {
				return false
			}
			tr.Conditions = d.conditions(p.v, join(ipath, "conditions"))
			return true
		}, func(p pair) {
			if def != nil {
				d.unknownKey(p, ipath, fmt.Sprintf("for trigger type `%s`", name), propNames(defs), def.Unsupported)
			}
		})
		d.missing(tr.Pos, ipath, "the trigger", entries, defs)
		tr.ID = props["id"].String()
		tr.Description = props["description"].String()
		tr.Disabled, _ = props["disabled"].Literal().(bool)
		if v := props["logToFile"]; v != nil {
			if on, _ := v.Literal().(bool); on {
				d.notef(v.Pos, v.Path, "`logToFile` is ignored: Relay keeps every log line in its log store")
			}
		}
		for _, k := range []string{"id", "type", "description", "disabled", "logToFile"} {
			delete(props, k)
		}
		if tr.ID != "" && seen[tr.ID] {
			d.errorf(tr.Pos, ipath, "duplicate trigger id `%s`", tr.ID)
		}
		seen[tr.ID] = true
		if def != nil && def.Name == TriggerSchedule {
			d.checkCron(props)
		}
		tr.Props = props
		d.materializeDefaults(def, name, props, tr.Pos, ipath)
		out = append(out, tr)
	}
	return out
}

// checkCron parses a cron expression as the scheduler will, pointing at
// the bad field.
func (d *decoder) checkCron(props map[string]*Property) {
	c := props["cron"]
	if c == nil || c.IsDynamic() {
		return
	}
	ws, _ := props["withSeconds"].Literal().(bool)
	if _, err := cron.Parse(c.String(), ws); err != nil {
		pos := c.Pos
		var ce *cron.Error
		if errors.As(err, &ce) {
			pos = c.PosOf(ce.Offset)
		}
		d.errorf(pos, c.Path, "%v", err)
	}
}

func (d *decoder) conditions(n *yaml.Node, path string) []*Condition {
	if !d.expectList(n, path, "conditions") {
		return nil
	}
	var out []*Condition
	for i, e := range n.Content {
		ipath := index(path, i)
		if e = d.resolve(e); e == nil || !d.expectMapping(e, ipath, "a condition") {
			continue
		}
		entries := d.pairs(e, ipath)
		def, name := d.typeOf(entries, CategoryCondition, nodePos(e), ipath)
		defs := []*PropDef{static(required(str("type", "Condition type.")))}
		if def != nil {
			defs = append(defs, def.Props...)
		}
		props := d.props(entries, defs, ipath, nil, func(p pair) {
			if def != nil {
				d.unknownKey(p, ipath, fmt.Sprintf("for condition type `%s`", name), propNames(defs), nil)
			}
		})
		delete(props, "type")
		d.missing(nodePos(e), ipath, "the condition", entries, defs)
		out = append(out, &Condition{Type: def, TypeName: name, Props: props, Pos: nodePos(e)})
	}
	return out
}

// typeOf resolves the `type` entry of a task, trigger or condition.
func (d *decoder) typeOf(entries []pair, c Category, pos Pos, path string) (*TypeDef, string) {
	for _, p := range entries {
		if p.key != "type" {
			continue
		}
		if p.v.Kind != yaml.ScalarNode || p.v.Tag == "!!null" {
			d.errorf(nodePos(p.v), join(path, "type"), "type must be a string, not %s", kindName(p.v))
			return nil, ""
		}
		name := p.v.Value
		if def, ok := d.reg.Lookup(c, name); ok {
			return def, name
		}
		hint := ""
		if s := d.reg.suggestType(c, name); s != "" {
			hint = fmt.Sprintf("did you mean `%s`?", s)
		} else if strings.HasPrefix(name, "io.kestra.") {
			hint = fmt.Sprintf("Relay runs Kestra's core %ss; `relay docs` lists them", c)
		} else {
			hint = fmt.Sprintf("`relay docs` lists the %s types", c)
		}
		d.add(nodePos(p.v), join(path, "type"), hint, "%s type `%s` is not supported", c, name)
		return nil, name
	}
	return nil, ""
}

func (d *decoder) materializeDefaults(def *TypeDef, name string, props map[string]*Property, pos Pos, path string) {
	if def == nil {
		return
	}
	for _, pd := range def.Props {
		if _, ok := props[pd.Name]; ok {
			continue
		}
		v := pd.Default
		if ad, ok := def.AliasDefaults[name][pd.Name]; ok {
			v = ad
		}
		if v == nil {
			continue
		}
		if i, ok := v.(int); ok {
			v = int64(i)
		}
		props[pd.Name] = &Property{Pos: pos, Path: join(path, pd.Name), lit: v}
	}
}
