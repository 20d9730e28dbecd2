package expr

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	_ "time/tzdata" // deterministic zone data for tests
)

var testNow = time.Date(2024, 1, 31, 10, 0, 0, 0, time.UTC)

type point struct{ X, Y int }

func testEnv() *Env {
	return &Env{
		Vars: map[string]any{
			"inputs": map[string]any{
				"name":   "Relay",
				"n":      3,
				"i32":    int32(-4),
				"u8":     uint8(200),
				"f":      2.5,
				"f32":    float32(0.5),
				"jint":   json.Number("12"),
				"jflt":   json.Number("1.25"),
				"items":  []string{"a", "b"},
				"nums":   []int{3, 1, 2},
				"rows":   []map[string]any{{"id": 1}, {"id": 2}},
				"labels": map[string]string{"team": "data", "env": "prod"},
				"empty":  "",
				"nil":    nil,
				"flag":   true,
				"no":     "false",
				"when":   "2024-03-15T08:30:00+02:00",
				"day":    "2024-02-28",
				"epoch":  int64(1706695200),
				"pt":     point{1, 2},
				"ptr":    &testNow,
			},
			"outputs": map[string]any{
				"extract-data": map[string]any{"uri": "s3://bucket/data.csv"},
				"task1":        map[string]any{"value": 42, "vars": map[string]any{"count": "7"}},
				"each": map[string]any{
					"outer": map[string]any{"inner": map[string]any{"v1": map[string]any{"x": 1}}},
				},
			},
			"execution": map[string]any{"id": "exec-1", "startDate": testNow},
			"taskrun":   map[string]any{"value": "v1"},
			"parents": []any{
				map[string]any{"taskrun": map[string]any{"value": "inner"}},
				map[string]any{"taskrun": map[string]any{"value": "outer"}},
			},
		},
		Now:  testNow,
		UUID: func() string { return "uuid-1" },
		Secret: func(name string) (string, error) {
			if name == "missing" {
				return "", errors.New("no such secret")
			}
			return "secret-" + name, nil
		},
	}
}

type renderCase struct {
	src  string
	want string
}

func runRender(t *testing.T, env *Env, cases []renderCase) {
	t.Helper()
	for _, c := range cases {
		tpl, err := Parse(c.src)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.src, err)
			continue
		}
		got, err := tpl.RenderString(env)
		if err != nil {
			t.Errorf("RenderString(%q): %v", c.src, err)
			continue
		}
		if got != c.want {
			t.Errorf("RenderString(%q) = %q, want %q", c.src, got, c.want)
		}
	}
}

type errCase struct {
	src  string
	want string // substring of Error()
}

// runEvalErrors checks that rendering fails with an *EvalError whose text
// contains want.
func runEvalErrors(t *testing.T, env *Env, cases []errCase) {
	t.Helper()
	for _, c := range cases {
		tpl, err := Parse(c.src)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.src, err)
			continue
		}
		got, err := tpl.RenderString(env)
		if err == nil {
			t.Errorf("RenderString(%q) = %q, want error containing %q", c.src, got, c.want)
			continue
		}
		var ee *EvalError
		if !errors.As(err, &ee) {
			t.Errorf("RenderString(%q): error %T is not *EvalError", c.src, err)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("RenderString(%q) error = %q, want it to contain %q", c.src, err.Error(), c.want)
		}
	}
}
