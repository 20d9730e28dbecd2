package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
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

func TestRun_helloSucceedsAndPrintsJSON(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runCLI(t, "run", "--data-dir", dir, "-o", "json", "../../examples/flows/hello.yaml")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	var doc struct {
		State    string `json:"state"`
		TaskRuns []struct {
			ID, State string
		} `json:"taskRuns"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, out)
	}
	if doc.State != "SUCCESS" || len(doc.TaskRuns) != 3 {
		t.Errorf("document %+v", doc)
	}
	if !strings.Contains(errOut, "say_hello") {
		t.Errorf("progress did not go to stderr:\n%s", errOut)
	}
}

func TestRun_exitCodes(t *testing.T) {
	dir := t.TempDir()
	failing := filepath.Join(dir, "fail.yaml")
	os.WriteFile(failing, []byte("id: f\nnamespace: t\ntasks:\n  - {id: boom, type: flow.fail, errorMessage: nope}\n"), 0o644)
	tests := []struct {
		args []string
		code int
	}{
		{[]string{"run", failing}, 1},
		{[]string{"run", "../../examples/flows/if_else.yaml", "-i", "order_total=lots"}, 2},
		{[]string{"run", "../../statemachine/flow/testdata/invalid/dag_cycle.yaml"}, 2},
		{[]string{"run", "../../examples/flows/pause.yaml"}, 3},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := runCLI(t, append(tt.args, "--data-dir", dir)...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\n%s%s", code, tt.code, out, errOut)
			}
		})
	}
}

// Ctrl-C cancels the command's context: the execution is killed, saved,
// and relay run exits 1.
func TestRun_interruptKillsAndSavesTheExecution(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "slow.yaml")
	os.WriteFile(file, []byte("id: slow\nnamespace: t\ntasks:\n  - {id: nap, type: shell.commands, commands: [sleep 30]}\n  - {id: after, type: log, message: x}\n"), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	var out safeBuffer
	done := make(chan int)
	go func() { done <- run(ctx, []string{"run", "--data-dir", dir, file}, &out, &out) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "nap                          RUNNING") {
		if time.Now().After(deadline) {
			t.Fatalf("the task never started:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	cancel()
	var code int
	select {
	case code = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("relay run did not stop after the interrupt")
	}
	if code != 1 || time.Since(start) > 5*time.Second {
		t.Errorf("exit %d after %s\n%s", code, time.Since(start), out.String())
	}
	code, show, _ := runCLI(t, "executions", "list", "--data-dir", dir)
	if code != 0 || !strings.Contains(show, "KILLED") {
		t.Errorf("stored executions:\n%s", show)
	}
}

type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A word that is no subcommand of a group of commands fails naming it
// (exit 2), with a suggestion when one is close, instead of printing the
// group's help and exiting 0.
func TestUnknownSubcommandIsAnError(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"executions", "logs", "x"}, `unknown command "logs" for "relay executions"`},
		{[]string{"executions", "restat", "x"}, "did you mean `relay executions restart`?"},
		{[]string{"flows", "nope"}, `unknown command "nope" for "relay flows"`},
	} {
		code, _, errOut := runCLI(t, tc.args...)
		if code != exitInvalid || !strings.Contains(errOut, tc.want) {
			t.Errorf("relay %s: exit %d, %q; want exit %d and %q", strings.Join(tc.args, " "), code, errOut, exitInvalid, tc.want)
		}
	}
	if code, out, errOut := runCLI(t, "executions"); code != 0 || !strings.Contains(out, "restart") {
		t.Errorf("relay executions: exit %d, want its help\n%s%s", code, out, errOut)
	}
}
