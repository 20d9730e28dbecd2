package api_test

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/relayflow/relay/api"
)

var update = flag.Bool("update", false, "rewrite the generated part of docs/api.md")

const (
	routesBegin = "<!-- routes: generated from api.Routes by `go test ./api -run TestDocs -update` -->\n"
	routesEnd   = "<!-- end of routes -->\n"
)

// TestDocs fails when the route table of docs/api.md differs from the
// routes the handler serves.
func TestDocs(t *testing.T) {
	const file = "../docs/api.md"
	doc, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString(routesBegin + "\n| Method | Path | What it does |\n|---|---|---|\n")
	for _, r := range api.Routes {
		method, path, _ := strings.Cut(r.Pattern, " ")
		fmt.Fprintf(&b, "| %s | `%s` | %s |\n", method, path, r.Doc)
	}
	b.WriteString("\n" + routesEnd)
	before, rest, ok1 := strings.Cut(string(doc), routesBegin)
	_, after, ok2 := strings.Cut(rest, routesEnd)
	if !ok1 || !ok2 {
		t.Fatalf("%s lacks the markers of the generated route table", file)
	}
	want := before + b.String() + after
	if want == string(doc) {
		return
	}
	if *update {
		if err := os.WriteFile(file, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is out of date with api.Routes: run `go test ./api -run TestDocs -update`", file)
}
