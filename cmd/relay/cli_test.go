package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relayflow/relay/api"
	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/infra/embedded"
	"github.com/relayflow/relay/internal/testnet"
)

func TestUnknownSubcommand_exitsTwoNamingWhatExists(t *testing.T) {
	for _, args := range [][]string{{"flows", "list"}, {"executions", "nosuch"}, {"triggers", "show"}, {"nosuch"}} {
		code, out, errOut := runCLI(t, args...)
		if code != exitInvalid || !strings.Contains(errOut, "unknown command") {
			t.Errorf("relay %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
	}
	if code, out, _ := runCLI(t, "flows"); code != 0 || !strings.Contains(out, "deploy") {
		t.Errorf("relay flows alone: exit %d, help %q", code, out)
	}
}

func TestHelp_showsNoValueNameForTheDirectFlag(t *testing.T) {
	_, out, _ := runCLI(t, "executions", "list", "--help")
	if !strings.Contains(out, "--direct   ") || strings.Contains(out, "--direct relay") {
		t.Errorf("help:\n%s", out)
	}
}

func TestExecutionsStart_takesTheInputsFileFlagOfRelayRun(t *testing.T) {
	dir := t.TempDir()
	inputs := filepath.Join(dir, "in.json")
	os.WriteFile(inputs, []byte(`{"order_total": 150}`), 0o644)
	if code, out, errOut := runCLI(t, "flows", "deploy", "../../examples/flows/if_else.yaml", "--data-dir", dir); code != 0 {
		t.Fatalf("deploy: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut := runCLI(t, "executions", "start", "examples.branching/if_else", "--inputs-file", inputs, "--data-dir", dir, "--progress", "plain")
	if code != 0 || !strings.Contains(out, "SUCCESS") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
}

func TestExecutionsKill_exitsZeroOnceKilled(t *testing.T) {
	dir := t.TempDir()
	code, out, _ := runCLI(t, "run", "../../examples/flows/pause.yaml", "--data-dir", dir, "--progress", "plain")
	if code != exitPaused {
		t.Fatalf("exit %d\n%s", code, out)
	}
	id := strings.Fields(out)[1]
	code, out, errOut := runCLI(t, "executions", "kill", id, "--data-dir", dir, "--progress", "plain")
	if code != 0 || !strings.Contains(out, "KILLED") {
		t.Errorf("kill: exit %d\n%s%s", code, out, errOut)
	}
	code, _, errOut = runCLI(t, "executions", "kill", id, "--data-dir", dir)
	if code != exitFailed || !strings.Contains(errOut, "ended") {
		t.Errorf("killing it again: exit %d, %s", code, errOut)
	}
}

func TestLockedDataDir_exitsFourSayingWhatToDo(t *testing.T) {
	dir := t.TempDir()
	st, err := embedded.OpenStore(filepath.Join(dir, "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, args := range [][]string{{"executions", "list"}, {"run", "../../examples/flows/hello.yaml"}} {
		code, out, errOut := runCLI(t, append(args, "--data-dir", dir)...)
		if code != exitLocked || !strings.Contains(errOut, "in use") || !strings.Contains(errOut, "--api") {
			t.Errorf("relay %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
	}
}

func TestNoServer_exitsFive(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", testnet.Port(t)) // nothing listens there
	code, _, errOut := runCLI(t, "executions", "list", "--api", "http://"+addr)
	if code != exitUnreachable || !strings.Contains(errOut, "no Relay server") {
		t.Errorf("exit %d: %s", code, errOut)
	}
}

// With relay server holding the data directory, relay run and relay
// executions list go through its API, found in the data directory.
func TestRelayServer_othersUseItsRecordedAddress(t *testing.T) {
	dir := t.TempDir()
	port := testnet.Port(t)
	ctx, stop := context.WithCancel(context.Background())
	var out safeBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"server", "--data-dir", dir, "--port", fmt.Sprint(port)}, &out, &out)
	}()
	defer func() {
		stop()
		if code := <-done; code != 0 {
			t.Errorf("relay server: exit %d\n%s", code, out.String())
		}
		if _, err := os.Stat(filepath.Join(dir, serverFile)); !os.IsNotExist(err) {
			t.Errorf("the server's address is still recorded after it stopped: %v", err)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "relay server: http://") {
		if time.Now().After(deadline) {
			t.Fatalf("the server did not start:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	code, runOut, errOut := runCLI(t, "run", "../../examples/flows/hello.yaml", "--data-dir", dir, "--progress", "plain")
	if code != 0 || !strings.Contains(runOut, "on relay server http://127.0.0.1:") || !strings.Contains(runOut, "SUCCESS") {
		t.Fatalf("relay run: exit %d\n%s%s", code, runOut, errOut)
	}
	code, list, errOut := runCLI(t, "executions", "list", "--data-dir", dir)
	if code != 0 || !strings.Contains(list, "getting_started/hello_world") || !strings.Contains(errOut, "using its API") {
		t.Errorf("relay executions list: exit %d\n%s%s", code, list, errOut)
	}
}

func TestResume_errorsSayWhyWithoutNamingEventTypes(t *testing.T) {
	dir := t.TempDir()
	code, out, _ := runCLI(t, "run", "../../examples/flows/pause.yaml", "--data-dir", dir, "--progress", "plain")
	if code != exitPaused {
		t.Fatalf("exit %d\n%s", code, out)
	}
	id := strings.Fields(out)[1]
	code, _, errOut := runCLI(t, "executions", "resume", id, "--input", "approved=maybe", "--data-dir", dir)
	if code != exitInvalid || !strings.Contains(errOut, "approved") || strings.Contains(errOut, "execution.resumed") || strings.Contains(errOut, "applying") {
		t.Errorf("exit %d: %s", code, errOut)
	}
}

func TestDocs_printsTheReferenceOrOneSectionAndWritesNoFile(t *testing.T) {
	dir := t.TempDir()
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	os.Chdir(dir) // outside the repository: nothing to read there, nothing to overwrite
	code, out, errOut := runCLI(t, "docs")
	if code != 0 || !strings.HasPrefix(out, "# Flow reference") {
		t.Fatalf("exit %d: %.100s %s", code, out, errOut)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("relay docs wrote %v", entries)
	}
	code, out, _ = runCLI(t, "docs", "io.kestra.plugin.core.log.Log")
	if code != 0 || !strings.HasPrefix(out, "### `log`") || strings.Contains(out, "### `output.values`") {
		t.Errorf("relay docs <alias>: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, "docs", "inputs")
	if code != 0 || !strings.HasPrefix(out, "## Inputs") || strings.Contains(out, "## Expressions") {
		t.Errorf("relay docs inputs: exit %d\n%.300s", code, out)
	}
	if code, _, errOut := runCLI(t, "docs", "nope"); code != exitInvalid || !strings.Contains(errOut, "Retry") {
		t.Errorf("relay docs nope: exit %d %s", code, errOut)
	}
}

func TestFlowsDeploy_refusesTwoFilesWithTheSameFlowNamingBoth(t *testing.T) {
	dir := t.TempDir()
	flows := filepath.Join(dir, "flows")
	os.Mkdir(flows, 0o755)
	doc := "id: same\nnamespace: t\ntasks:\n  - {id: a, type: log, message: %s}\n"
	os.WriteFile(filepath.Join(flows, "a.yaml"), []byte(fmt.Sprintf(doc, "one")), 0o644)
	os.WriteFile(filepath.Join(flows, "b.yaml"), []byte(fmt.Sprintf(doc, "two")), 0o644)
	code, out, errOut := runCLI(t, "flows", "deploy", flows, "--data-dir", dir)
	if code != exitFailed || !strings.Contains(errOut, "b.yaml: flow t/same is also defined by") || !strings.Contains(errOut, "a.yaml") || strings.Contains(out, "deployed") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
}

func TestServerFlowsWatcher_refusesASecondFileWithTheSameFlow(t *testing.T) {
	dir := t.TempDir()
	st, err := embedded.OpenStore(filepath.Join(dir, "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	flows := filepath.Join(dir, "flows")
	os.Mkdir(flows, 0o755)
	doc := "id: same\nnamespace: t\ntasks:\n  - {id: a, type: log, message: %s}\n"
	os.WriteFile(filepath.Join(flows, "a.yaml"), []byte(fmt.Sprintf(doc, "one")), 0o644)
	os.WriteFile(filepath.Join(flows, "b.yaml"), []byte(fmt.Sprintf(doc, "two")), 0o644)
	var out safeBuffer
	w := &flowWatcher{dir: flows, svc: api.NewService(st, nil), out: &out, seen: map[string]fileStamp{}}
	if err := w.scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "b.yaml not deployed: flow t/same is already defined by "+filepath.Join(flows, "a.yaml")) {
		t.Errorf("output:\n%s", out.String())
	}
	rec, err := st.Flow(context.Background(), "t", "same", 0)
	if err != nil || rec.Revision != 1 {
		t.Errorf("stored revision %d, %v: want 1, from a.yaml alone", rec.Revision, err)
	}
}

func TestLargeInputs_refusedAtSubmissionAndShortenedWhenShown(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "in.yaml")
	os.WriteFile(file, []byte("id: big\nnamespace: t\ninputs:\n  - {id: s, type: STRING}\ntasks:\n  - {id: a, type: log, message: \"{{ inputs.s | length }}\"}\n"), 0o644)
	huge := filepath.Join(dir, "huge.json")
	os.WriteFile(huge, []byte(`{"s": "`+strings.Repeat("x", 5<<20)+`"}`), 0o644)
	code, out, errOut := runCLI(t, "run", file, "--inputs-file", huge, "--data-dir", dir)
	if code != exitInvalid || !strings.Contains(errOut, "5 MiB: an input is at most 1 MiB") || len(errOut) > 2000 {
		t.Fatalf("exit %d\n%.500s%.500s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "run", file, "--input", "s="+strings.Repeat("y", 500<<10), "--data-dir", dir, "--progress", "plain")
	if code != 0 {
		t.Fatalf("a 500 KiB input: exit %d\n%.500s", code, out)
	}
	id := strings.Fields(out)[1]
	_, show, _ := runCLI(t, "executions", "show", id, "--data-dir", dir)
	if len(show) > 4000 || !strings.Contains(show, "…") {
		t.Errorf("relay executions show printed %d bytes:\n%.600s", len(show), show)
	}
}

func TestRunPlain_printsATasksLogLinesAfterItsStartInTimeOrder(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("id: many\nnamespace: t\ntasks:\n  - id: par\n    type: flow.parallel\n    tasks:\n")
	for i := range 20 {
		fmt.Fprintf(&b, "      - {id: t%d, type: log, message: [\"first %d\", \"second %d\"]}\n", i, i, i)
	}
	file := filepath.Join(dir, "many.yaml")
	os.WriteFile(file, []byte(b.String()), 0o644)
	code, out, errOut := runCLI(t, "run", file, "--data-dir", dir, "--progress", "plain")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	seen := map[string][]string{} // run -> what it printed, in order
	last := map[string]string{}   // run -> last time printed
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || len(f[0]) != 12 || !strings.HasPrefix(f[1], "t") {
			continue
		}
		// SUBMITTED shows when it was printed: the worker may have
		// started the attempt by then. From RUNNING on, lines carry the
		// times of the events.
		if f[2] != "SUBMITTED" {
			if f[0] < last[f[1]] {
				t.Errorf("%s: %s printed after a line of %s", f[1], f[0], last[f[1]])
			}
			last[f[1]] = f[0]
		}
		seen[f[1]] = append(seen[f[1]], f[2])
	}
	for run, states := range seen {
		if got := strings.Join(states, " "); got != "SUBMITTED RUNNING INFO INFO SUCCESS" {
			t.Errorf("%s printed %s", run, got)
		}
	}
	if len(seen) != 20 {
		t.Errorf("%d runs printed", len(seen))
	}
}

// relay executions list -o json prints the array GET /executions returns;
// an unknown format is refused with exit 2.
func TestExecutionsList_outputJSON(t *testing.T) {
	dir := t.TempDir()
	if code, out, errOut := runCLI(t, "run", "../../examples/flows/hello.yaml", "--data-dir", dir, "--progress", "plain"); code != 0 {
		t.Fatalf("relay run: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut := runCLI(t, "executions", "list", "--data-dir", dir, "-o", "json")
	var list []engine.ExecutionDoc
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil {
		t.Fatalf("exit %d, %v\n%s%s", code, err, out, errOut)
	}
	if len(list) != 1 || list[0].FlowID != "hello_world" || list[0].State != "SUCCESS" {
		t.Errorf("list %+v, want the hello_world execution, SUCCESS", list)
	}
	if code, _, errOut := runCLI(t, "executions", "list", "--data-dir", dir, "-o", "yaml"); code != exitInvalid || !strings.Contains(errOut, `unknown output format "yaml"`) {
		t.Errorf("-o yaml: exit %d: %s", code, errOut)
	}
}
