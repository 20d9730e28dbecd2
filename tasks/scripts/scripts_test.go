package scripts

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relayflow/relay/infra/blob"
	"github.com/relayflow/relay/statemachine/flow"
	"github.com/relayflow/relay/storage"
	"github.com/relayflow/relay/tasks"
	"github.com/relayflow/relay/tasks/taskstest"
)

func needBinary(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s is not installed", name)
	}
}

// run runs one attempt of typ with props and a recorder as its log.
func runScript(t *testing.T, typ string, cfg Config, props map[string]any) (tasks.Result, *taskstest.Recorder, error) {
	t.Helper()
	rec := taskstest.NewRecorder()
	req := newRequest(typ, props)
	req.Log = rec.Logger()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := newRunner(t, typ, cfg).Run(ctx, req)
	return res, rec, err
}

func newFiles(t *testing.T) *storage.Storage {
	t.Helper()
	d, err := blob.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return storage.New(d)
}

func TestPythonScript_outputProtocol(t *testing.T) {
	needBinary(t, "python3")
	script := `
import json
print("starting")
print("::" + json.dumps({"outputs": {"rows": 3, "name": "orders"}}) + "::")
print('::{"metrics": [{"name": "rows", "type": "counter", "value": 3, "tags": {"table": "orders"}}, {"name": "took", "type": "timer", "value": 0.25}]}::')
print('::{"logs": [{"level": "ERROR", "message": "2 rows rejected"}, {"level": "DEBUG", "message": "detail"}]}::')
print('::{"outputs": {"broken": }}::')
print('::{"outputs": {"more": true}}::', flush=True)
`
	res, rec, err := runScript(t, flow.TypePython, Config{}, map[string]any{"script": script})
	if err != nil {
		t.Fatal(err)
	}
	wantVars := map[string]any{"rows": int64(3), "name": "orders", "more": true}
	if !reflect.DeepEqual(res.Outputs["vars"], wantVars) || res.Outputs["exitCode"] != int64(0) {
		t.Errorf("outputs %v, want vars %v and exitCode 0", res.Outputs, wantVars)
	}
	wantMetrics := []tasks.Metric{
		{Name: "rows", Type: "counter", Value: 3, Tags: map[string]string{"table": "orders"}},
		{Name: "took", Type: "timer", Value: 0.25},
	}
	if !reflect.DeepEqual(res.Metrics, wantMetrics) {
		t.Errorf("metrics %+v, want %+v", res.Metrics, wantMetrics)
	}
	if got := rec.Lines("stdout"); len(got) != 2 || got[0] != "starting" || !strings.Contains(got[1], "invalid output line") || !strings.Contains(got[1], `"broken"`) {
		t.Errorf("stdout lines %q: want the plain line and a warning about the bad one, and no protocol line", got)
	}
	for _, r := range rec.WithMsg("stdout") {
		if strings.Contains(r.Attrs["line"].(string), "invalid") && r.Level != slog.LevelWarn {
			t.Errorf("the bad protocol line is logged at %v, want WARN", r.Level)
		}
	}
	logs := rec.WithMsg("log")
	if len(logs) != 2 || logs[0].Level != slog.LevelError || logs[0].Attrs["line"] != "2 rows rejected" || logs[1].Level != slog.LevelDebug {
		t.Errorf("protocol logs %+v, want ERROR then DEBUG", logs)
	}
	if res.Warning {
		t.Error("no stderr, yet the run is a warning")
	}
}

func TestScript_warningOnStdErr(t *testing.T) {
	needBinary(t, "python3")
	script := `import sys; print("careful", file=sys.stderr)`
	for _, tc := range []struct {
		props map[string]any
		want  bool
	}{
		{map[string]any{"script": script}, true}, // Kestra's default
		{map[string]any{"script": script, "warningOnStdErr": false}, false},
		{map[string]any{"script": "print('fine')"}, false},
	} {
		res, rec, err := runScript(t, flow.TypePython, Config{}, tc.props)
		if err != nil {
			t.Fatal(err)
		}
		if res.Warning != tc.want {
			t.Errorf("%v: warning %v, want %v", tc.props, res.Warning, tc.want)
		}
		if tc.want && (len(rec.WithMsg("stderr")) != 1 || rec.WithMsg("stderr")[0].Level != slog.LevelWarn) {
			t.Errorf("stderr not logged at WARN: %+v", rec.All())
		}
	}
}

func TestNodeScript(t *testing.T) {
	needBinary(t, "node")
	script := `const fs = require("fs");
console.log("::" + JSON.stringify({outputs: {sum: [1, 2, 3].reduce((a, b) => a + b)}}) + "::");
fs.writeFileSync("out.json", JSON.stringify({ok: true}));
console.log("done");`
	res, rec, err := runScript(t, flow.TypeNode, Config{Files: newFiles(t)}, map[string]any{"script": script, "outputFiles": []any{"*.json"}})
	if err != nil {
		t.Fatal(err)
	}
	if v := res.Outputs["vars"].(map[string]any); v["sum"] != int64(6) {
		t.Errorf("vars %v, want sum 6", v)
	}
	if f := res.Outputs["outputFiles"].(map[string]any); len(f) != 1 || f["out.json"] == nil {
		t.Errorf("outputFiles %v, want out.json only (not the script's own file)", f)
	}
	if got := rec.Lines("stdout"); !reflect.DeepEqual(got, []string{"done"}) {
		t.Errorf("stdout lines %q", got)
	}
}

func TestScript_exitCodeAndLastStderrLines(t *testing.T) {
	needBinary(t, "python3")
	res, _, err := runScript(t, flow.TypePython, Config{}, map[string]any{"script": "print('partial')\nimport json\njson.loads('{oops')\n"})
	te := wantTaskError(t, err, tasks.KindRetryable, typeExitCode)
	if !strings.HasPrefix(te.Message, "exit code 1, stderr ending with:\n") || !strings.Contains(te.Message, "json.decoder.JSONDecodeError") {
		t.Errorf("message %q: want the exit code and the traceback's last lines", te.Message)
	}
	if strings.Count(te.Message, "\n") > errorLines {
		t.Errorf("message quotes more than %d lines: %q", errorLines, te.Message)
	}
	if res.Outputs["exitCode"] != int64(1) {
		t.Errorf("outputs %v, want exitCode 1", res.Outputs)
	}
}

func TestPythonCommands_pythonIsPython3(t *testing.T) {
	needBinary(t, "python3")
	// The interpreter itself, not a launcher (pyenv's shims need bash).
	exe, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		t.Fatal(err)
	}
	real := strings.TrimSpace(string(exe))
	bin := t.TempDir() // a PATH with python3 only, as on Debian
	if err := os.Symlink(real, filepath.Join(bin, "python3")); err != nil {
		t.Fatal(err)
	}
	res, _, err := runScript(t, flow.TypePythonCmds, Config{Path: bin}, map[string]any{
		"inputFiles": map[string]any{"main.py": "import sys\nprint('::{\"outputs\": {\"v\": %d}}::' % sys.version_info[0])\n"},
		"commands":   []any{"python main.py"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if v := res.Outputs["vars"].(map[string]any); v["v"] != int64(3) {
		t.Errorf("vars %v", v)
	}
}

func TestScript_missingInterpreterIsAClearFatalError(t *testing.T) {
	empty := t.TempDir()
	for _, tc := range []struct{ typ, want string }{
		{flow.TypePython, "python3 or python"},
		{flow.TypePythonCmds, "python3 or python"},
		{flow.TypeNode, "node"},
	} {
		props := map[string]any{"script": "x", "commands": []any{"x"}}
		_, _, err := runScript(t, tc.typ, Config{Path: empty}, props)
		te := wantTaskError(t, err, tasks.KindFatal, typeNoInterpreter)
		if !strings.Contains(te.Message, tc.want) || !strings.Contains(te.Message, tc.typ) || !strings.Contains(te.Message, empty) {
			t.Errorf("%s: message %q should name the task type, %s and the PATH", tc.typ, te.Message, tc.want)
		}
	}
}

func TestScript_environmentIsMinimal(t *testing.T) {
	t.Setenv("AWS_SECRET_ACCESS_KEY", "worker-secret")
	t.Setenv("RELAY_TABLE", "relay")
	out, _, err := runScript(t, flow.TypeShell, Config{}, map[string]any{
		"commands": []any{"env | cut -d= -f1 | sort | tr '\\n' ' '; echo", `echo "$FROM_FLOW"`, `[ "$WORKING_DIR" = "$(pwd)" ] && [ "$HOME" = "$(pwd)" ] && echo cwd-ok`},
		"env":      map[string]any{"FROM_FLOW": "given", "AWS_REGION": "eu-west-3"},
	})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.Outputs["stdout"].(string)), "\n")
	names := strings.Fields(lines[0])
	want := append(append([]string(nil), Environment...), "AWS_REGION", "FROM_FLOW", "PWD", "SHLVL", "_", "OLDPWD")
	for _, n := range names {
		if !contains(want, n) {
			t.Errorf("the script sees %s, which is neither documented nor given by the flow", n)
		}
	}
	if contains(names, "AWS_SECRET_ACCESS_KEY") || contains(names, "RELAY_TABLE") {
		t.Error("the worker's own variables leaked into the script")
	}
	if lines[1] != "given" || lines[2] != "cwd-ok" {
		t.Errorf("stdout %q", lines)
	}
}

func contains(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}

func TestScript_beforeCommandsRunFirstAndStopOnFailure(t *testing.T) {
	needBinary(t, "python3")
	res, _, err := runScript(t, flow.TypeShell, Config{}, map[string]any{
		"beforeCommands": []any{"echo before > marker"},
		"commands":       []any{"cat marker"},
	})
	if err != nil || res.Outputs["stdout"] != "before\n" {
		t.Fatalf("outputs %v, %v", res.Outputs, err)
	}
	_, rec, err := runScript(t, flow.TypePython, Config{}, map[string]any{
		"beforeCommands": []any{"false"},
		"script":         "print('never')",
	})
	wantTaskError(t, err, tasks.KindRetryable, typeExitCode)
	if len(rec.Lines("stdout")) != 0 {
		t.Errorf("the script ran after a failing beforeCommand: %q", rec.Lines("stdout"))
	}
}

func TestScript_inputAndOutputFiles(t *testing.T) {
	needBinary(t, "python3")
	files := newFiles(t)
	ctx := context.Background()
	upstream := storage.Run{Namespace: "company.team", FlowID: "hello", ExecutionID: "exec-0", TaskID: "extract", TaskRunID: "extract"}
	csvURI, err := files.PutOutput(ctx, upstream, "raw.csv", strings.NewReader("id,amount\n1,10\n2,\n3,5\n"), -1)
	if err != nil {
		t.Fatal(err)
	}
	script := `
import csv, os
rows = [r for r in csv.DictReader(open("data/raw.csv")) if r["amount"]]
os.makedirs("out/deep", exist_ok=True)
with open("out/clean.csv", "w") as f:
    w = csv.DictWriter(f, fieldnames=["id", "amount"]); w.writeheader(); w.writerows(rows)
open("out/deep/summary.txt", "w").write(open("note.txt").read() + str(len(rows)))
open("ignored.log", "w").write("x")
`
	res, rec, err := runScript(t, flow.TypePython, Config{Files: files}, map[string]any{
		"script":      script,
		"inputFiles":  map[string]any{"data/raw.csv": csvURI, "note.txt": "rows kept: "},
		"outputFiles": []any{"out/**", "*.parquet"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := res.Outputs["outputFiles"].(map[string]any)
	var names []string
	for n := range got {
		names = append(names, n)
	}
	sort.Strings(names)
	if !reflect.DeepEqual(names, []string{"out/clean.csv", "out/deep/summary.txt"}) {
		t.Fatalf("outputFiles %v", got)
	}
	if want := "relay:///company.team/hello/executions/exec-1/tasks/task1/tr-1/out/clean.csv"; got["out/clean.csv"] != want {
		t.Errorf("URI %v, want %s", got["out/clean.csv"], want)
	}
	data, err := files.Read(ctx, "company.team", got["out/deep/summary.txt"].(string), 0)
	if err != nil || string(data) != "rows kept: 2" {
		t.Errorf("summary.txt holds %q (%v)", data, err)
	}
	if len(rec.WithMsg("outputFiles: no file matches the glob")) != 1 {
		t.Errorf("the glob that matched nothing was not reported: %+v", rec.All())
	}
}

func TestScript_filesRefused(t *testing.T) {
	files := newFiles(t)
	other, err := files.PutOutput(context.Background(), storage.Run{Namespace: "other", FlowID: "f", ExecutionID: "e", TaskID: "t", TaskRunID: "t"}, "a.csv", strings.NewReader("x"), 1)
	if err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte("s"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		props    map[string]any
		kind     tasks.Kind
		typ, msg string
	}{
		{"input name with ..", map[string]any{"inputFiles": map[string]any{"../x": "a"}}, tasks.KindFatal, "InvalidProperty", "leads out"},
		{"absolute input name", map[string]any{"inputFiles": map[string]any{"/tmp/x": "a"}}, tasks.KindFatal, "InvalidProperty", "absolute"},
		{"output glob with ..", map[string]any{"outputFiles": []any{"../*"}}, tasks.KindFatal, "InvalidProperty", "leads out"},
		{"absolute output glob", map[string]any{"outputFiles": []any{"/etc/*"}}, tasks.KindFatal, "InvalidProperty", "absolute"},
		{"file of another namespace", map[string]any{"inputFiles": map[string]any{"a.csv": other}}, tasks.KindFatal, typeInputFile, "namespace other"},
		{"missing file", map[string]any{"inputFiles": map[string]any{"a.csv": "relay:///company.team/f/executions/e/tasks/t/t/none"}}, tasks.KindFatal, typeInputFile, "not found"},
		{"symlink out of the working directory", map[string]any{"commands": []any{"ln -s " + outside + " leak.txt"}, "outputFiles": []any{"*.txt"}}, tasks.KindFatal, typeOutputFile, "outside the working directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			props := map[string]any{"commands": []any{"true"}}
			for k, v := range tc.props {
				props[k] = v
			}
			_, _, err := runScript(t, flow.TypeShell, Config{Files: files}, props)
			te := wantTaskError(t, err, tc.kind, tc.typ)
			if !strings.Contains(te.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", te, tc.msg)
			}
		})
	}
	t.Run("a symlink inside the working directory is followed", func(t *testing.T) {
		res, _, err := runScript(t, flow.TypeShell, Config{Files: files}, map[string]any{"commands": []any{"mkdir d", "echo hi > d/real.txt", "ln -s d/real.txt link.txt"}, "outputFiles": []any{"link.txt"}})
		if err != nil {
			t.Fatal(err)
		}
		uri := res.Outputs["outputFiles"].(map[string]any)["link.txt"].(string)
		if data, err := files.Read(context.Background(), "company.team", uri, 0); err != nil || string(data) != "hi\n" {
			t.Errorf("link.txt uploaded as %q (%v)", data, err)
		}
	})
	t.Run("no storage configured", func(t *testing.T) {
		_, _, err := runScript(t, flow.TypeShell, Config{}, map[string]any{"commands": []any{"true"}, "outputFiles": []any{"*"}})
		wantTaskError(t, err, tasks.KindFatal, typeNoFileStorage)
	})
}

// TestScript_largeOutputFileIsStreamed writes a 1 GB output file (sparse:
// the disk holds its blocks only in storage) and checks that the heap
// never grows near its size while it is uploaded.
func TestScript_largeOutputFileIsStreamed(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 1 GB: not with -short")
	}
	files := newFiles(t)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	res, _, err := runScript(t, flow.TypeShell, Config{Files: files}, map[string]any{"commands": []any{"truncate -s 1G big.bin"}, "outputFiles": []any{"big.bin"}})
	close(stop)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	rc, size, err := files.Open(context.Background(), "", res.Outputs["outputFiles"].(map[string]any)["big.bin"].(string))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, rc)
	rc.Close()
	if size != 1<<30 || n != 1<<30 {
		t.Errorf("stored %d bytes (size %d), want 1 GiB", n, size)
	}
	if p := peak.Load(); p > 64<<20 {
		t.Errorf("heap in use peaked at %d MiB while uploading 1 GiB: the file was held in memory", p>>20)
	}
}
