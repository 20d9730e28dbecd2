package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type scriptRunDoc struct {
	State    string `json:"state"`
	Inputs   map[string]any
	TaskRuns []struct {
		TaskID  string         `json:"taskId"`
		State   string         `json:"state"`
		Outputs map[string]any `json:"outputs"`
		Metrics []struct {
			Name  string
			Type  string
			Value float64
		} `json:"metrics"`
		Error *struct{ Message string } `json:"error"`
	} `json:"taskRuns"`
}

func runScriptJSON(t *testing.T, args ...string) (int, scriptRunDoc, string) {
	t.Helper()
	code, out, errOut := runCLI(t, append([]string{"run", "-o", "json", "--progress", "plain"}, args...)...)
	var doc scriptRunDoc
	if out != "" {
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("stdout is not one JSON document: %v\n%s\n%s", err, out, errOut)
		}
	}
	return code, doc, errOut
}

// The example of the README's scripts section: a FILE input, two Python
// scripts handing files over through internal storage, SQLite, read().
func TestRun_dataPipelineExample(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	dir := t.TempDir()
	code, doc, errOut := runScriptJSON(t, "--data-dir", dir, "../../examples/flows/data_pipeline.yaml", "--input", "raw_data=@../../examples/data/orders.csv")
	if code != 0 || doc.State != "SUCCESS" {
		t.Fatalf("exit %d, state %s\n%s", code, doc.State, errOut)
	}
	uri, _ := doc.Inputs["raw_data"].(string)
	if !strings.HasPrefix(uri, "relay:///production/data-pipeline/executions/") || !strings.HasSuffix(uri, "/inputs/raw_data/orders.csv") {
		t.Errorf("the FILE input's value is %q, want its relay:/// URI", uri)
	}
	if _, err := os.Stat(filepath.Join(dir, "blobs", "files", strings.TrimPrefix(uri, "relay:///"))); err != nil {
		t.Errorf("the input file is not in the data directory's internal storage: %v", err)
	}
	tr := doc.TaskRuns[0]
	if tr.TaskID != "transform-data" || tr.Outputs["vars"].(map[string]any)["rowCount"] != float64(5) || len(tr.Metrics) != 1 || tr.Metrics[0].Value != 3 {
		t.Errorf("transform-data: outputs %v, metrics %+v; want rowCount 5 and the rows.dropped metric 3", tr.Outputs, tr.Metrics)
	}
	if files := doc.TaskRuns[1].Outputs["outputFiles"].(map[string]any); files["warehouse.db"] == nil || files["summary.csv"] == nil {
		t.Errorf("load-data output files %v", files)
	}
	if !strings.Contains(errOut, "Loaded 5 orders (3 incomplete rows dropped), revenue 521.7, top customer globex.") || !strings.Contains(errOut, "globex,1,249.0") {
		t.Errorf("the summary is not logged:\n%s", errOut)
	}
}

func TestRun_scriptFailureShowsExitCodeAndStderr(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "fail.yaml")
	os.WriteFile(file, []byte(`id: f
namespace: t
tasks:
  - id: boom
    type: io.kestra.plugin.scripts.python.Script
    script: |
      import sys
      print("reading input")
      sys.exit("no such column: amount")
`), 0o644)
	code, doc, errOut := runScriptJSON(t, "--data-dir", dir, file)
	if code != 1 || doc.State != "FAILED" {
		t.Fatalf("exit %d, state %s\n%s", code, doc.State, errOut)
	}
	if e := doc.TaskRuns[0].Error; e == nil || e.Message != "exit code 1, stderr ending with:\nno such column: amount" {
		t.Errorf("task error %+v", e)
	}
	if !strings.Contains(errOut, "INFO  reading input") || !strings.Contains(errOut, "WARN  no such column: amount") {
		t.Errorf("stdout and stderr lines are not in the log:\n%s", errOut)
	}
}

func TestRun_fileInputErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--input", "raw_data=@/no/such/file.csv"}, "no such file"},
		{[]string{"--input", "raw_data=orders.csv"}, "want the relay:/// URI"},
		{nil, "raw_data"},
	} {
		code, _, errOut := runCLI(t, append([]string{"run", "--data-dir", dir, "../../examples/flows/data_pipeline.yaml"}, tc.args...)...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, want 2 with %q:\n%s", tc.args, code, tc.want, errOut)
		}
	}
}

func TestExecutionsStart_fileInputOnTheEmbeddedStore(t *testing.T) {
	dir := t.TempDir()
	if code, _, errOut := runCLI(t, "flows", "deploy", "--data-dir", dir, "../../examples/flows/data_pipeline.yaml"); code != 0 {
		t.Fatalf("deploy: exit %d\n%s", code, errOut)
	}
	code, out, errOut := runCLI(t, "executions", "start", "--data-dir", dir, "--progress", "plain", "production/data-pipeline", "-i", "raw_data=@../../examples/data/orders.csv")
	if code != 0 || !strings.Contains(out, "Loaded 5 orders") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
}
