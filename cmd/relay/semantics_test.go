package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relayflow/relay/internal/testnet"
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
	os.WriteFile(bad, []byte("id: g\nnamespace: t\ntasks:\n  - {id: a, type: log, message: \"{{ inputs.missing }}\"}\n  - {id: b, type: log, message: \"{{ fileURI('x') }}\"}\n"), 0o644)
	code, out, _ := runCLI(t, "validate", bad)
	if code != 1 || !strings.Contains(out, "`inputs.missing` refers to an unknown input") || !strings.Contains(out, "function `fileURI` is not supported by Relay") {
		t.Errorf("exit %d\n%s", code, out)
	}
}

// writeFlow writes a flow into dir and returns its path.
func writeFlow(t *testing.T, dir, name, src string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Restart runs the failed task runs of a FAILED execution again, in the
// same execution; replay runs an execution again from a task in a new one
// (item 7).
func TestExecutions_restartAndReplay(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "fixed")
	file := writeFlow(t, dir, "flaky.yaml", `
id: flaky
namespace: compat
tasks:
  - id: first
    type: io.kestra.plugin.core.debug.Return
    format: one
  - id: flaky
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - test -f `+marker+`
  - id: last
    type: io.kestra.plugin.core.debug.Return
    format: "{{ outputs.first.value }} two"
`)
	data := filepath.Join(dir, "data")
	code, doc, errOut := runJSON(t, "run", "--data-dir", data, file)
	if code != exitFailed || doc.State != "FAILED" {
		t.Fatalf("first run: exit %d, %s\n%s", code, doc.State, errOut)
	}
	if err := os.WriteFile(marker, nil, 0o644); err != nil { // the cause is fixed
		t.Fatal(err)
	}
	code, restarted, errOut := runJSON(t, "executions", "restart", doc.ID, "--data-dir", data)
	if code != exitOK || restarted.ID != doc.ID || restarted.State != "SUCCESS" {
		t.Fatalf("restart: exit %d, %s %s\n%s", code, restarted.ID, restarted.State, errOut)
	}
	for id, want := range map[string]int{"first": 1, "flaky": 2, "last": 1} {
		if st, n, _ := restarted.run(t, id); st != "SUCCESS" || n != want {
			t.Errorf("%s: %s after %d attempts, want SUCCESS after %d", id, st, n, want)
		}
	}
	if _, _, out := restarted.run(t, "last"); out["value"] != "one two" {
		t.Errorf("last returned %v: the output of first was not kept", out["value"])
	}
	if restarted.Labels["system.restarted"] != "true" {
		t.Errorf("labels %v", restarted.Labels)
	}
	if code, _, _ := runJSON(t, "executions", "restart", doc.ID, "--data-dir", data); code != exitInvalid {
		t.Errorf("restarting a SUCCESS execution exited %d, want %d", code, exitInvalid)
	}

	code, replayed, errOut := runJSON(t, "executions", "replay", doc.ID, "--from", "flaky", "--data-dir", data)
	if code != exitOK || replayed.ID == doc.ID || replayed.State != "SUCCESS" {
		t.Fatalf("replay: exit %d, %s %s\n%s", code, replayed.ID, replayed.State, errOut)
	}
	for id, want := range map[string]int{"first": 1, "flaky": 1, "last": 1} {
		if st, n, _ := replayed.run(t, id); st != "SUCCESS" || n != want {
			t.Errorf("replay %s: %s after %d attempts, want SUCCESS after %d", id, st, n, want)
		}
	}
	var raw struct {
		OriginalID string `json:"originalId"`
	}
	_, out, _ := runCLI(t, "executions", "show", replayed.ID, "-o", "json", "--data-dir", data)
	if json.Unmarshal([]byte(out), &raw); raw.OriginalID != doc.ID {
		t.Errorf("the replay's originalId is %q, want %s", raw.OriginalID, doc.ID)
	}
	if code, _, _ := runJSON(t, "executions", "replay", doc.ID, "--from", "nope", "--data-dir", data); code != exitInvalid {
		t.Errorf("replaying from an unknown task exited %d", code)
	}
}

// Retry behaviors: CREATE_NEW_EXECUTION runs the failed execution again
// in place; Prefect's list of delays spaces a task's retries (item 11).
func TestRun_retryBehaviorsAndDelays(t *testing.T) {
	dir := t.TempDir()
	once := filepath.Join(dir, "once")
	count := filepath.Join(dir, "count")
	file := writeFlow(t, dir, "retries.yaml", `
id: retries
namespace: compat
retry:
  behavior: CREATE_NEW_EXECUTION
  type: constant
  interval: PT0.05S
  maxAttempts: 2
tasks:
  - id: first
    type: io.kestra.plugin.core.debug.Return
    format: "{{ execution.id }}"
  - id: once
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - test -f `+once+` || { touch `+once+`; exit 1; }
  - id: thrice
    type: io.kestra.plugin.scripts.shell.Commands
    retry:
      delays: [PT0.01S, PT0.02S]
    commands:
      - echo x >> `+count+`
      - test $(wc -l < `+count+`) -ge 3
`)
	code, doc, errOut := runJSON(t, "run", "--data-dir", filepath.Join(dir, "data"), file)
	if code != exitOK || doc.State != "SUCCESS" {
		t.Fatalf("exit %d, %s\n%s", code, doc.State, errOut)
	}
	var raw struct {
		Restarts int `json:"restarts"`
	}
	_, out, _ := runCLI(t, "executions", "show", doc.ID, "-o", "json", "--data-dir", filepath.Join(dir, "data"))
	if json.Unmarshal([]byte(out), &raw); raw.Restarts != 1 || doc.Labels["system.restarted"] != "true" {
		t.Errorf("restarts %d, labels %v: the failed execution should have run again once", raw.Restarts, doc.Labels)
	}
	for id, want := range map[string]int{"first": 1, "once": 2, "thrice": 3} {
		if st, n, _ := doc.run(t, id); st != "SUCCESS" || n != want {
			t.Errorf("%s: %s after %d attempts, want SUCCESS after %d", id, st, n, want)
		}
	}
}

// An attempt whose process the OS killed is CRASHED, then retried per its
// policy; relay run shows the state (item 13).
func TestRun_crashedAttemptIsRetried(t *testing.T) {
	dir := t.TempDir()
	mark := filepath.Join(dir, "crashed-once")
	file := writeFlow(t, dir, "crash.yaml", `
id: crash
namespace: compat
tasks:
  - id: victim
    type: io.kestra.plugin.scripts.shell.Commands
    retry: {type: constant, interval: PT0.01S, maxAttempts: 2}
    commands:
      - test -f `+mark+` && exit 0
      - touch `+mark+`
      - kill -KILL $$
`)
	code, doc, errOut := runJSON(t, "run", "--progress", "plain", "--data-dir", filepath.Join(dir, "data"), file)
	if code != exitOK || doc.State != "SUCCESS" {
		t.Fatalf("exit %d, %s\n%s", code, doc.State, errOut)
	}
	r := doc.TaskRuns[0]
	if len(r.Attempts) != 2 || r.Attempts[0].State != "CRASHED" || r.Attempts[0].Error == nil || r.Attempts[0].Error.Kind != "crashed" || r.Attempts[1].State != "SUCCESS" {
		t.Errorf("attempts %+v, want CRASHED then SUCCESS", r.Attempts)
	}
	if !strings.Contains(errOut, "killed by signal KILL") {
		t.Errorf("progress does not say why the attempt crashed:\n%s", errOut)
	}
}

// Restarting a parent whose subflow failed restarts the child execution
// (Kestra's RETRY_FAILED), which then reports its new end to the parent.
func TestExecutions_restartRestartsAFailedSubflow(t *testing.T) {
	dir := t.TempDir()
	flows := filepath.Join(dir, "flows")
	os.Mkdir(flows, 0o755)
	marker := filepath.Join(dir, "fixed")
	writeFlow(t, flows, "child.yaml", `
id: child
namespace: compat
tasks:
  - id: work
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - test -f `+marker+`
`)
	parent := writeFlow(t, dir, "parent.yaml", `
id: parent
namespace: compat
tasks:
  - id: call
    type: io.kestra.plugin.core.flow.Subflow
    namespace: compat
    flowId: child
`)
	data := filepath.Join(dir, "data")
	code, doc, errOut := runJSON(t, "run", "--data-dir", data, "--flows", flows, parent)
	if code != exitFailed {
		t.Fatalf("first run: exit %d, %s\n%s", code, doc.State, errOut)
	}
	os.WriteFile(marker, nil, 0o644)
	code, again, errOut := runJSON(t, "executions", "restart", doc.ID, "--data-dir", data)
	if code != exitOK || again.State != "SUCCESS" {
		t.Fatalf("restart: exit %d, %s\n%s", code, again.State, errOut)
	}
	_, _, out := again.run(t, "call")
	child, _ := out["executionId"].(string)
	if child != doc.ID+".call" {
		t.Errorf("the restarted call ran child %q, want the failed child %s restarted", child, doc.ID+".call")
	}
	_, c, _ := runJSON(t, "executions", "show", child, "--data-dir", data)
	if c.State != "SUCCESS" || c.Labels["system.restarted"] != "true" {
		t.Errorf("child %s %s, labels %v", child, c.State, c.Labels)
	}
}

// The KV store outlives executions; a task with taskCache runs once per
// ttl for the same properties; execution.labels labels the execution;
// log.fetch reads its logs (items 8 and 9).
func TestRun_taskCacheKVLabelsAndFetch(t *testing.T) {
	dir := t.TempDir()
	counter := filepath.Join(dir, "runs")
	file := writeFlow(t, dir, "store.yaml", `
id: store
namespace: company.team
tasks:
  - id: previous
    type: io.kestra.plugin.core.kv.Get
    key: runs
  - id: count
    type: io.kestra.plugin.core.kv.Set
    key: runs
    value: "{{ (outputs.previous.value ?? 0) + 1 }}"
    kvType: NUMBER
  - id: conf
    type: kv.set
    key: conf
    value: '{"team": "data"}'
    kvType: JSON
    ttl: PT1H
  - id: once
    type: kv.set
    key: conf
    value: x
    overwrite: false
    allowFailure: true
  - id: expensive
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ["echo ran >> `+counter+`; wc -l < `+counter+`"]
    taskCache: {enabled: true, ttl: PT1H}
  - id: label
    type: io.kestra.plugin.core.execution.Labels
    labels:
      team: "{{ kv('conf').team }}"
      run: "{{ kv('runs') }}"
  - id: keys
    type: io.kestra.plugin.core.kv.GetKeys
  - id: fetch
    type: io.kestra.plugin.core.log.Fetch
    level: ERROR
  - id: show
    type: debug.return
    format: "{{ kv('runs') }} {{ outputs.expensive.stdout | trim }} {{ labels.team }} {{ outputs.keys.keys }} {{ outputs.fetch.size }}"
`)
	data := filepath.Join(dir, "data")
	for run, want := range []string{`1 1 data ["conf","runs"] 1`, `2 1 data ["conf","runs"] 1`} {
		code, doc, errOut := runJSON(t, "run", "--data-dir", data, file)
		if code != exitOK || doc.State != "WARNING" {
			t.Fatalf("run %d: exit %d, %s (the overwrite: false set warns)\n%s", run+1, code, doc.State, errOut)
		}
		if _, _, out := doc.run(t, "show"); out["value"] != want {
			t.Errorf("run %d: show %q, want %q", run+1, out["value"], want)
		}
		if doc.Labels["team"] != "data" || doc.Labels["run"] != strconv.Itoa(run+1) {
			t.Errorf("run %d: labels %v", run+1, doc.Labels)
		}
		for _, r := range doc.TaskRuns {
			if r.ID == "expensive" && r.Cached != (run == 1) {
				t.Errorf("run %d: expensive cached=%v", run+1, r.Cached)
			}
		}
	}
	if b, _ := os.ReadFile(counter); strings.Count(string(b), "ran") != 1 {
		t.Errorf("the cached task ran %d times, want once", strings.Count(string(b), "ran"))
	}
}

// What valid Kestra flows carry runs (item 12): a revision and logToFile
// are noted, not refused; Pause runs its tasks after its delay with its
// behavior; a subflow inherits labels and renders legacy outputs in the
// child; every execution has system.correlationId; an SLA cancels an
// execution that runs too long.
func TestRun_kestraFlowKeys(t *testing.T) {
	dir := t.TempDir()
	flows := filepath.Join(dir, "flows")
	os.Mkdir(flows, 0o755)
	writeFlow(t, flows, "child.yaml", `
id: child
namespace: compat
tasks:
  - {id: work, type: debug.return, format: "{{ labels.team }}"}
`)
	parent := writeFlow(t, dir, "parent.yaml", `
id: parent
namespace: compat
revision: 4
labels: {team: data}
sla:
  - {id: fast, type: EXECUTION_ASSERTION, assert: "{{ outputs.call is not defined or outputs.call.outputs.team == 'data' }}", behavior: FAIL}
tasks:
  - id: wait
    type: io.kestra.plugin.core.flow.Pause
    pauseDuration: PT0.05S
    behavior: WARN
    tasks:
      - {id: inside, type: log, message: after the pause, logToFile: true}
  - id: call
    type: io.kestra.plugin.core.flow.Subflow
    namespace: compat
    flowId: child
    inheritLabels: true
    outputs:
      team: "{{ outputs.work.value }}"
  - id: show
    type: debug.return
    format: "{{ outputs.call.outputs.team }} {{ labels.system.correlationId == execution.id }}"
`)
	code, out, _ := runCLI(t, "validate", parent)
	if code != exitOK || !strings.Contains(out, "note: "+parent+":4:1: revision: `revision` is ignored") || !strings.Contains(out, "`logToFile` is ignored") {
		t.Errorf("validate: exit %d\n%s", code, out)
	}
	code, doc, errOut := runJSON(t, "run", "--data-dir", filepath.Join(dir, "data"), "--flows", flows, parent)
	if code != exitOK || doc.State != "WARNING" {
		t.Fatalf("exit %d, %s (the pause's delay ends in WARNING)\n%s", code, doc.State, errOut)
	}
	if st, _, _ := doc.run(t, "inside"); st != "SUCCESS" {
		t.Errorf("the pause's task %s", st)
	}
	if _, _, o := doc.run(t, "show"); o["value"] != "data true" {
		t.Errorf("show %q, want the child's rendered output and the correlation id", o["value"])
	}

	slow := writeFlow(t, dir, "slow.yaml", `
id: slow
namespace: compat
sla:
  - {id: max, type: MAX_DURATION, duration: PT0.2S, behavior: CANCEL, labels: {sla: missed}}
tasks:
  - {id: nap, type: io.kestra.plugin.core.flow.Sleep, duration: PT1M}
  - {id: never, type: log, message: x}
`)
	code, doc, errOut = runJSON(t, "run", "--data-dir", filepath.Join(dir, "data"), slow)
	if code != exitFailed || doc.State != "CANCELLED" || doc.Labels["sla"] != "missed" || len(doc.TaskRuns) != 1 {
		t.Errorf("exit %d, %s, labels %v, %d task runs; want CANCELLED by the SLA before `never`\n%s", code, doc.State, doc.Labels, len(doc.TaskRuns), errOut)
	}
}

// fileExists(), fileSize() and isFileEmpty() read files of internal
// storage: a script's output files (item 10).
func TestRun_fileFunctionsReadInternalStorage(t *testing.T) {
	dir := t.TempDir()
	file := writeFlow(t, dir, "files.yaml", `
id: files
namespace: compat
tasks:
  - id: make
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ["printf hello > out.txt", ": > empty.txt"]
    outputFiles: ["*.txt"]
  - id: check
    type: debug.return
    format: >-
      {{ fileExists(outputs.make.outputFiles['out.txt']) }}
      {{ fileSize(outputs.make.outputFiles['out.txt']) }}
      {{ isFileEmpty(outputs.make.outputFiles['empty.txt']) }}
      {{ fileExists(outputs.make.outputFiles['out.txt'] ~ '.nope') }}
`)
	code, doc, errOut := runJSON(t, "run", "--data-dir", filepath.Join(dir, "data"), file)
	if code != exitOK || doc.State != "SUCCESS" {
		t.Fatalf("exit %d, %s\n%s", code, doc.State, errOut)
	}
	if _, _, out := doc.run(t, "check"); out["value"] != "true 5 true false" {
		t.Errorf("check %q, want %q", out["value"], "true 5 true false")
	}
}

// startServer runs `relay server` in this process on flows of dir and
// returns its API's URL.
func startServer(t *testing.T, dir string) string {
	t.Helper()
	port := testnet.Port(t)
	ctx, cancel := context.WithCancel(context.Background())
	var logs safeBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"server", "--data-dir", filepath.Join(dir, "data"), "--flows", dir, "--port", strconv.Itoa(port)}, &logs, &logs)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Errorf("relay server did not stop:\n%s", logs.String())
		}
	})
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	for deadline := time.Now().Add(30 * time.Second); ; {
		if res, err := http.Get(url + "/flows"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return url
			}
		}
		select {
		case code := <-done:
			t.Fatalf("relay server exited %d:\n%s", code, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay server did not answer:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// On a deployment, `restart --wait` follows the restarted execution to its
// new end, not to the end it had before the restart.
func TestExecutions_restartWaitFollowsTheRestartOnADeployment(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "fixed")
	writeFlow(t, dir, "flaky.yaml", `
id: flaky
namespace: compat
tasks:
  - id: flaky
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - sleep 0.5
      - test -f `+marker+`
`)
	url := startServer(t, dir)
	code, doc, errOut := runJSON(t, "executions", "start", "compat/flaky", "--api", url, "--wait")
	if code != exitFailed || doc.State != "FAILED" {
		t.Fatalf("first run: exit %d, %s\n%s", code, doc.State, errOut)
	}
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	code, restarted, errOut := runJSON(t, "executions", "restart", doc.ID, "--api", url, "--wait")
	if code != exitOK || restarted.State != "SUCCESS" {
		t.Fatalf("restart --wait: exit %d, %s, want the restart's SUCCESS\n%s", code, restarted.State, errOut)
	}
	if st, n, _ := restarted.run(t, "flaky"); st != "SUCCESS" || n != 2 {
		t.Errorf("flaky: %s after %d attempts, want SUCCESS after 2", st, n)
	}
}

// A task's logLevel keeps only its lines at that level or above, whether
// the task logs itself (log) or a script prints them (stdout at INFO,
// stderr at WARN).
func TestRun_logLevelDropsTheLinesBelowIt(t *testing.T) {
	dir := t.TempDir()
	file := writeFlow(t, dir, "levels.yaml", `
id: levels
namespace: compat
tasks:
  - id: quiet
    type: io.kestra.plugin.core.log.Log
    logLevel: WARN
    message: quiet-info
  - id: script
    type: io.kestra.plugin.scripts.shell.Commands
    logLevel: WARN
    warningOnStdErr: false
    commands:
      - echo script-info
      - echo script-warn >&2
  - id: loud
    type: io.kestra.plugin.core.log.Log
    message: loud-info
`)
	data := filepath.Join(dir, "data")
	code, doc, errOut := runJSON(t, "run", "--data-dir", data, file)
	if code != exitOK {
		t.Fatalf("exit %d, %s\n%s", code, doc.State, errOut)
	}
	code, out, errOut := runCLI(t, "logs", doc.ID, "--data-dir", data)
	if code != exitOK {
		t.Fatalf("relay logs: exit %d\n%s", code, errOut)
	}
	for line, kept := range map[string]bool{"quiet-info": false, "script-info": false, "script-warn": true, "loud-info": true} {
		if strings.Contains(out, line) != kept {
			t.Errorf("%s kept: %v, want %v\n%s", line, !kept, kept, out)
		}
	}
}
