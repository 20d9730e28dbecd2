package ui_test

import (
	"math"
	"os"
	"regexp"
	"strconv"
	"testing"
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
			t.Fatalf("%s: read %d colours from the stylesheet, want its 28", name, len(vars))
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
