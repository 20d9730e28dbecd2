package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The end-to-end tests of Kestra and Prefect semantics: each flow of
// testdata/semantics runs with `relay run` on the embedded store, as a
// user runs it, and the final execution document is checked.

type runDoc struct {
	ID       string            `json:"id"`
	State    string            `json:"state"`
	Error    string            `json:"error"`
	Labels   map[string]string `json:"labels"`
	Outputs  map[string]any    `json:"outputs"`
	TaskRuns []struct {
		ID       string         `json:"id"`
		State    string         `json:"state"`
		Outputs  map[string]any `json:"outputs"`
		Cached   bool           `json:"cached"`
		Attempts []struct {
			State string `json:"state"`
			Error *struct {
				Kind    string `json:"kind"`
				Message string `json:"message"`
			} `json:"error"`
		} `json:"attempts"`
		Error *struct {
			Message string `json:"message"`
		} `json:"error"`
	} `json:"taskRuns"`
}

func (d runDoc) run(t *testing.T, id string) (state string, attempts int, outputs map[string]any) {
	t.Helper()
	for _, r := range d.TaskRuns {
		if r.ID == id {
			return r.State, len(r.Attempts), r.Outputs
		}
	}
	t.Fatalf("execution %s has no task run %s", d.ID, id)
	return "", 0, nil
}

// runJSON runs `relay <args> -o json` and decodes the execution it prints.
func runJSON(t *testing.T, args ...string) (int, runDoc, string) {
	t.Helper()
	code, out, errOut := runCLI(t, append(args, "-o", "json")...)
	var doc runDoc
	if code != exitInvalid {
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("relay %s printed no execution (exit %d): %v\n%s%s", strings.Join(args, " "), code, err, out, errOut)
		}
	}
	return code, doc, errOut
}

const semantics = "testdata/semantics"

func TestRun_kestraContextVariables(t *testing.T) {
	t.Setenv("ENV_REGION", "eu")
	t.Setenv("RELAY_GLOBALS", `{"team": "data"}`)
	code, doc, errOut := runJSON(t, "run", "--data-dir", t.TempDir(), filepath.Join(semantics, "context.yaml"))
	if code != exitFailed || doc.State != "FAILED" {
		t.Fatalf("exit %d, execution %s, want FAILED (the flow ends with a Fail)\n%s", code, doc.State, errOut)
	}
	want := map[string]string{
		"started":      "true true",                                                               // item 1: taskrun.startDate while rendering
		"count@2":      "2",                                                                       // item 3: iterationCount inside WaitFor
		"nested[0][0]": "1 3 1 a",                                                                 // item 4: taskrun.value and parents in a Switch in nested ForEach
		"expressions":  "3 hello eu true true corr-1 none 2",                                      // items 5, 10, 12
		"alert":        "FAILED 2 complain: quota low; boom: boom failed: disk full on attempt 1", // item 6
	}
	for id, v := range want {
		if _, _, out := doc.run(t, id); out["value"] != v {
			t.Errorf("%s returned %q, want %q", id, out["value"], v)
		}
	}
	if st, attempts, _ := doc.run(t, "boom"); st != "FAILED" || attempts != 2 { // item 2
		t.Errorf("boom %s after %d attempts, want FAILED after 2 (its retry policy)", st, attempts)
	}
	if st, _, out := doc.run(t, "loop"); st != "SUCCESS" || out["iterationCount"] != 2.0 {
		t.Errorf("loop %s with %v", st, out)
	}
	if st, _, _ := doc.run(t, "empty"); st != "SUCCESS" { // item 14
		t.Errorf("ForEach over an empty list ended %s", st)
	}
}

func TestValidate_guardedReferencesAndUnsupportedNames(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok.yaml")
	os.WriteFile(ok, []byte("id: g\nnamespace: t\ntasks:\n  - {id: a, type: log, message: \"{{ inputs.missing ?? 'none' }} {{ inputs.other is defined }}\"}\n"), 0o644)
	if code, out, errOut := runCLI(t, "validate", ok); code != 0 {
		t.Errorf("guarded references: exit %d\n%s%s", code, out, errOut)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("id: g\nnamespace: t\ntasks:\n  - {id: a, type: log, message: \"{{ inputs.missing }}\"}\n  - {id: b, type: log, message: \"{{ fileExists('x') }}\"}\n"), 0o644)
	code, out, _ := runCLI(t, "validate", bad)
	if code != 1 || !strings.Contains(out, "`inputs.missing` refers to an unknown input") || !strings.Contains(out, "function `fileExists` is not supported by Relay") {
		t.Errorf("exit %d\n%s", code, out)
	}
}
