package expr

import (
	"errors"
	"fmt"
)

// builtin is a function or filter. Arguments are bound to params at parse
// time (positional first, then named, case-insensitively), so fn receives
// them by position; an argument not given is nil.
type builtin struct {
	name     string
	kind     string // "function" or "filter"
	params   []string
	min      int  // required leading arguments
	variadic bool // accepts any number of positional arguments
	lenient  bool // filter input may be undefined (it is then nil)
	fn       func(s *state, in any, args []any) (any, error)
}

func table(kind string, list []*builtin) map[string]*builtin {
	m := make(map[string]*builtin, len(list))
	for _, b := range list {
		b.kind = kind
		m[b.name] = b
	}
	return m
}

func arg(args []any, i int) any {
	if i < len(args) {
		return args[i]
	}
	return nil
}

// functions is immutable after package initialization.
var functions = table("function", []*builtin{
	{name: "now", fn: fnNow},
	{name: "range", params: []string{"start", "end", "step"}, min: 2, fn: fnRange},
	{name: "uuid", fn: fnUUID},
	{name: "secret", params: []string{"key"}, min: 1, fn: fnSecret},
	{name: "read", params: []string{"path"}, min: 1, fn: fnRead},
	{name: "fromJson", params: []string{"json"}, min: 1, fn: fnFromJSON},
	{name: "json", params: []string{"json"}, min: 1, fn: fnFromJSON},
	{name: "currentEachOutput", params: []string{"outputs"}, min: 1, fn: fnCurrentEachOutput},
	{name: "max", params: []string{"values"}, min: 1, variadic: true, fn: fnMax},
	{name: "min", params: []string{"values"}, min: 1, variadic: true, fn: fnMin},
})

func fnNow(s *state, _ any, _ []any) (any, error) {
	if s.env.Now.IsZero() {
		return nil, errors.New("now() is not available")
	}
	return s.env.Now, nil
}

func fnRange(s *state, _ any, args []any) (any, error) {
	step := arg(args, 2)
	if step == nil {
		step = int64(1)
	}
	return s.rangeList(args[0], args[1], step)
}

func fnUUID(s *state, _ any, _ []any) (any, error) {
	if s.env.UUID == nil {
		return nil, errors.New("uuid() is not available")
	}
	return s.env.UUID(), nil
}

func fnSecret(s *state, _ any, args []any) (any, error) {
	name, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("secret name must be a string, got %s", typeName(args[0]))
	}
	if s.env.Secret == nil {
		return nil, errors.New("secret() is not available")
	}
	v, err := s.env.Secret(name)
	if err != nil {
		return nil, fmt.Errorf("secret %q: %w", name, err)
	}
	return v, nil
}

func fnRead(s *state, _ any, args []any) (any, error) {
	uri, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("read() wants a file URI, got %s", typeName(args[0]))
	}
	if s.env.Read == nil {
		return nil, errors.New("read() is not available")
	}
	v, err := s.env.Read(uri)
	if err != nil {
		return nil, fmt.Errorf("read(%q): %w", uri, err)
	}
	if err := s.chargeBytes(len(v)); err != nil {
		return nil, err
	}
	return v, nil
}

func fnFromJSON(s *state, _ any, args []any) (any, error) {
	switch x := args[0].(type) {
	case nil:
		return nil, nil
	case string:
		if err := s.chargeBytes(len(x)); err != nil {
			return nil, err
		}
		v, err := fromJSON(x)
		if err != nil {
			return nil, fmt.Errorf("invalid JSON: %w", err)
		}
		return v, nil
	}
	return nil, fmt.Errorf("expected a JSON string, got %s", typeName(args[0]))
}

// fnCurrentEachOutput follows Kestra: inside nested ForEach loops, outputs are
// keyed by each loop's current value, outermost first. The values are
// Env.Loop when the caller gives them; otherwise parents[0] is the closest
// parent, so the walk goes from the last parent to the first, then uses
// taskrun.value. Levels whose value is not a key are skipped.
func fnCurrentEachOutput(s *state, _ any, args []any) (any, error) {
	cur := args[0]
	if !isMapValue(cur) {
		return nil, fmt.Errorf("expected a map of outputs, got %s", typeName(cur))
	}
	step := func(tr any) {
		v, found, _ := mapGet(tr, "value")
		if !found {
			return
		}
		key := Stringify(norm(v))
		if next, found, isMap := mapGet(cur, key); isMap && found {
			cur = norm(next)
		}
	}
	if s.env.Loop != nil {
		for _, v := range s.env.Loop {
			if next, found, isMap := mapGet(cur, Stringify(norm(v))); isMap && found {
				cur = norm(next)
			}
		}
		return cur, nil
	}
	p, _ := s.root("parents")
	if parents, ok := toList(p); ok {
		for i := len(parents) - 1; i >= 0; i-- {
			if tr, found, _ := mapGet(parents[i], "taskrun"); found {
				step(tr)
			}
		}
	}
	if tr, ok := s.root("taskrun"); ok {
		step(tr)
	}
	return cur, nil
}

func fnMax(s *state, _ any, args []any) (any, error) { return extreme(s, args, 1) }
func fnMin(s *state, _ any, args []any) (any, error) { return extreme(s, args, -1) }

// extreme returns the largest (sign 1) or smallest (sign -1) argument; a
// single list argument is expanded.
func extreme(s *state, args []any, sign int) (any, error) {
	vals := args
	if len(args) == 1 {
		if l, ok := toList(args[0]); ok {
			vals = l
		}
	}
	if len(vals) == 0 {
		return nil, errors.New("no values")
	}
	if err := s.charge(len(vals)); err != nil {
		return nil, err
	}
	best := norm(vals[0])
	for _, v := range vals[1:] {
		v = norm(v)
		c, err := compare(v, best)
		if err != nil {
			return nil, err
		}
		if c*sign > 0 {
			best = v
		}
	}
	return best, nil
}
