package expr

import (
	"testing"
)

func TestDocsExamples(t *testing.T) {
	seen := map[string]bool{}
	for _, d := range Docs() {
		key := d.Kind + ":" + d.Name
		if seen[key] {
			t.Errorf("duplicate doc %s", key)
		}
		seen[key] = true
		if d.Signature == "" || d.Description == "" || d.Example == "" {
			t.Errorf("%s: incomplete doc", key)
		}
		tpl, err := Parse(d.Example)
		if err != nil {
			t.Errorf("%s: parse %q: %v", key, d.Example, err)
			continue
		}
		got, err := tpl.RenderString(DocsEnv())
		if err != nil {
			t.Errorf("%s: render %q: %v", key, d.Example, err)
			continue
		}
		if got != d.Result {
			t.Errorf("%s: %q rendered %q, doc says %q", key, d.Example, got, d.Result)
		}
	}
	for name := range functions {
		if !seen["function:"+name] {
			t.Errorf("function %s has no doc", name)
		}
	}
	for name := range filters {
		if !seen["filter:"+name] {
			t.Errorf("filter %s has no doc", name)
		}
	}
	for name := range tests {
		if !seen["test:"+name] {
			t.Errorf("test %s has no doc", name)
		}
	}
	for key := range seen {
		kind, name, _ := cut(key)
		var ok bool
		switch kind {
		case "function":
			ok = functions[name] != nil
		case "filter":
			ok = filters[name] != nil
		case "test":
			ok = tests[name] != nil
		case "operator":
			ok = true
		}
		if !ok {
			t.Errorf("doc %s documents nothing", key)
		}
	}
}

func cut(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func TestDocsSorted(t *testing.T) {
	d := Docs()
	for i := 1; i < len(d); i++ {
		a, b := d[i-1], d[i]
		if a.Kind > b.Kind || a.Kind == b.Kind && a.Name >= b.Name {
			t.Errorf("Docs not sorted at %d: %s/%s then %s/%s", i, a.Kind, a.Name, b.Kind, b.Name)
		}
	}
}
