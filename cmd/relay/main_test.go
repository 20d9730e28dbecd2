package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestValidate_examplesPass(t *testing.T) {
	code, out, errOut := runCLI(t, "validate", "../../examples/flows")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "ok    ../../examples/flows/hello.yaml  (getting_started/hello_world, 3 tasks)") {
		t.Errorf("output lacks the hello flow:\n%s", out)
	}
}

func TestValidate_brokenFlowExitsOneWithPositions(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "broken.yaml")
	src := "id: f\nnamespace: n\ntasks:\n  - id: t\n    type: log\n    mesage: hi\n"
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCLI(t, "validate", file)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{file + ":6:5: t.mesage: unknown property `mesage`", "did you mean `message`?", "1 problem in 1 of 1 file"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestValidate_jsonOutput(t *testing.T) {
	code, out, _ := runCLI(t, "validate", "--output", "json", "../../statemachine/flow/testdata/invalid/dag_cycle.yaml")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	var results []fileResult
	if err := json.Unmarshal([]byte(out), &results); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if len(results) != 1 || len(results[0].Diagnostics) == 0 || results[0].Diagnostics[0].Pos.Line == 0 {
		t.Errorf("results = %+v", results)
	}
}

func TestValidate_usageErrorsExitTwo(t *testing.T) {
	tests := map[string][]string{
		"missing file":   {"validate", "does-not-exist.yaml"},
		"no arguments":   {"validate"},
		"empty dir":      {"validate", t.TempDir()},
		"unknown format": {"validate", "-o", "xml", "../../examples/flows/hello.yaml"},
	}
	for name, args := range tests {
		t.Run(name, func(t *testing.T) {
			code, _, errOut := runCLI(t, args...)
			if code != 2 {
				t.Errorf("exit %d, want 2 (stderr %q)", code, errOut)
			}
			if !strings.HasPrefix(errOut, "relay: ") {
				t.Errorf("stderr = %q, want a relay: message", errOut)
			}
		})
	}
}

func TestSchemaAndDocs_printGeneratedDocuments(t *testing.T) {
	code, out, _ := runCLI(t, "schema")
	if code != 0 || !json.Valid([]byte(out)) || !strings.Contains(out, `"$schema": "https://json-schema.org/draft/2020-12/schema"`) {
		t.Errorf("schema: exit %d, output starts %.200s", code, out)
	}
	code, out, _ = runCLI(t, "docs", "--out", "-")
	if code != 0 || !strings.HasPrefix(out, "# Flow reference") {
		t.Errorf("docs: exit %d, output starts %.100s", code, out)
	}
}
