package ui_test

import (
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/relayflow/relay/statemachine"
)

// themes reads the colour variables of the light (:root) and dark
// (:root[data-theme="dark"]) themes from the stylesheet.
func themes(t *testing.T) map[string]map[string]string {
	t.Helper()
	css, err := os.ReadFile("web/src/styles.css")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	blocks := regexp.MustCompile(`(?s)(:root(?:\[data-theme="dark"\])?) \{(.*?)\n\}`).FindAllSubmatch(css, -1)
	for _, b := range blocks {
		name := "light"
		if string(b[1]) != ":root" {
			name = "dark"
		}
		vars := map[string]string{}
		for _, m := range regexp.MustCompile(`--([a-z-]+):\s*(#[0-9a-fA-F]{6});`).FindAllSubmatch(b[2], -1) {
			vars[string(m[1])] = string(m[2])
		}
		out[name] = vars
	}
	return out
}

func luminance(hex string) float64 {
	var c [3]float64
	for i := range 3 {
		v, _ := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		s := float64(v) / 255
		if s <= 0.03928 {
			c[i] = s / 12.92
		} else {
			c[i] = math.Pow((s+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*c[0] + 0.7152*c[1] + 0.0722*c[2]
}

func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// Every pair of text and background colour the pages use meets WCAG AA
// for normal text (4.5:1), in both themes.
func TestThemes_textContrastMeetsWCAGAA(t *testing.T) {
	pairs := [][2]string{
		{"fg", "bg"}, {"fg", "bg-soft"}, {"fg", "bg-hover"}, {"fg", "code-bg"}, {"fg-soft", "bg"}, {"fg-soft", "bg-soft"},
		{"accent", "bg"}, {"accent", "bg-soft"}, {"accent-fg", "accent"}, {"danger", "bg"}, {"danger", "failed-bg"},
		{"success", "success-bg"}, {"warning", "warning-bg"}, {"failed", "failed-bg"}, {"running", "running-bg"},
		{"paused", "paused-bg"}, {"retrying", "retrying-bg"}, {"killed", "killed-bg"}, {"pending", "pending-bg"},
		{"success", "code-bg"}, {"running", "code-bg"}, {"warning", "code-bg"}, {"retrying", "code-bg"}, {"fg-soft", "code-bg"},
		{"warning", "bg"}, {"failed", "bg"}, {"running", "bg"},
	}
	th := themes(t)
	if len(th) != 2 {
		t.Fatalf("found themes %v, want light and dark", th)
	}
	for name, vars := range th {
		if len(vars) < 25 {
			t.Fatalf("%s: read %d colours from the stylesheet, want 25 or more", name, len(vars))
		}
		for _, p := range pairs {
			fg, bg := vars[p[0]], vars[p[1]]
			if fg == "" || bg == "" {
				t.Errorf("%s: no --%s or --%s", name, p[0], p[1])
				continue
			}
			if r := contrast(fg, bg); r < 4.5 {
				t.Errorf("%s: --%s %s on --%s %s: %.2f:1, want 4.5:1 or more", name, p[0], fg, p[1], bg, r)
			}
		}
	}
}

// states are every execution and task-run state of the state machine's
// tables (docs/states.md).
func states() (exec, run []string) {
	for _, tr := range statemachine.ExecTransitions {
		for _, s := range append(slices.Clone(tr.From), tr.To) {
			if !slices.Contains(exec, string(s)) {
				exec = append(exec, string(s))
			}
		}
	}
	for _, tr := range statemachine.RunTransitions {
		for _, s := range append(slices.Clone(tr.From), tr.To) {
			if !slices.Contains(run, string(s)) {
				run = append(run, string(s))
			}
		}
	}
	return exec, run
}

// allStates is every state, of executions or of task runs, once.
func allStates() []string {
	exec, run := states()
	all := slices.Clone(exec)
	for _, s := range run {
		if !slices.Contains(all, s) {
			all = append(all, s)
		}
	}
	return all
}

// rules maps each selector of the stylesheet to its declarations
// (property: value).
func rules(t *testing.T) map[string]map[string]string {
	t.Helper()
	css, err := os.ReadFile("web/src/styles.css")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for _, m := range regexp.MustCompile(`([^{}]+)\{([^{}]*)\}`).FindAllStringSubmatch(string(css), -1) {
		decls := map[string]string{}
		for _, d := range strings.Split(m[2], ";") {
			if k, v, ok := strings.Cut(d, ":"); ok {
				decls[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
		sels := m[1]
		if i := strings.LastIndex(sels, "*/"); i >= 0 {
			sels = sels[i+2:]
		}
		for _, sel := range strings.Split(sels, ",") {
			out[strings.Join(strings.Fields(sel), " ")] = decls
		}
	}
	return out
}

// colourVar reads the variable name of a declaration var(--name).
func colourVar(decl string) string {
	m := regexp.MustCompile(`^var\(--([a-z-]+)\)$`).FindStringSubmatch(decl)
	if m == nil {
		return ""
	}
	return m[1]
}

// Every state the state machine has is shown in colours that meet WCAG
// AA in both themes: its badge's text on the badge (4.5:1), its count on
// its box in the topology (4.5:1, task-run states), and its colour on the
// page, as the Gantt chart's bars are drawn (3:1, graphics).
func TestThemes_everyStateHasColoursThatMeetWCAGAA(t *testing.T) {
	th := themes(t)
	css := rules(t)
	exec, run := states()
	if !slices.Contains(exec, "RETRYING") || !slices.Contains(run, "CRASHED") {
		t.Fatalf("read states %v and %v from the state machine", exec, run)
	}
	check := func(what, fg, bg string, min float64) {
		t.Helper()
		if fg == "" || bg == "" {
			t.Errorf("%s: no colour (var(--name)) in the stylesheet", what)
			return
		}
		for name, vars := range th {
			if vars[fg] == "" || vars[bg] == "" {
				t.Errorf("%s, %s theme: no --%s or --%s", what, name, fg, bg)
			} else if r := contrast(vars[fg], vars[bg]); r < min {
				t.Errorf("%s, %s theme: --%s %s on --%s %s: %.2f:1, want %.1f:1 or more", what, name, fg, vars[fg], bg, vars[bg], r, min)
			}
		}
	}
	for _, s := range allStates() {
		badge := css[".st-"+s]
		check(s+" badge", colourVar(badge["color"]), colourVar(badge["background"]), 4.5)
		check(s+" on the page", colourVar(badge["color"]), "bg", 3)
	}
	for _, s := range run {
		box := css[".topology .node.s-"+s+" rect"]
		count := css[".topology .c-"+s]
		check(s+" count in the topology", colourVar(count["fill"]), colourVar(box["fill"]), 4.5)
	}
}

// The pages list every state: the executions' state filter, the task
// runs' one, which states have ended, the colours the Gantt chart draws
// them in and what each means (a test, since the pages are not Go).
func TestPages_listEveryState(t *testing.T) {
	js, err := os.ReadFile("web/src/format.js")
	if err != nil {
		t.Fatal(err)
	}
	list := func(name string) string {
		m := regexp.MustCompile(`(?s)export const ` + name + ` = (?:new Set\()?[\[{](.*?)[\]}]`).FindSubmatch(js)
		if m == nil {
			t.Fatalf("format.js has no %s", name)
		}
		return string(m[1])
	}
	has := func(text, s string) bool {
		return regexp.MustCompile(`(?m)(^|[\s'{,])'?` + s + `'?[,:\s]`).MatchString(text + ",")
	}
	exec, run := states()
	for _, s := range exec {
		if !has(list("execStates"), s) {
			t.Errorf("execStates (the executions' state filter) lacks %s", s)
		}
	}
	for _, s := range run {
		if !has(list("runStates"), s) {
			t.Errorf("runStates (the task runs' state filter) lacks %s", s)
		}
	}
	for _, s := range allStates() {
		if !has(list("stateColour"), s) {
			t.Errorf("stateColour (the Gantt chart's colours) lacks %s", s)
		}
		if !has(list("meaning"), s) {
			t.Errorf("meaning (the state badges' tooltips) lacks %s", s)
		}
	}
	for _, s := range exec {
		if ended := statemachine.ExecState(s).Terminal(); ended != has(list("terminal"), s) {
			t.Errorf("terminal says execution state %s has ended: %v, want %v", s, !ended, ended)
		}
	}
	for _, s := range run {
		if ended := statemachine.RunState(s).Terminal(); ended != has(list("terminal"), s) && !slices.Contains(exec, s) {
			t.Errorf("terminal says task-run state %s has ended: %v, want %v", s, !ended, ended)
		}
	}
}
