package systemtest

// SIGTERM does what Ctrl-C does: relay run and relay executions resume
// kill the execution and save it; relay server and relay dev stop
// cleanly and hand back the attempts they were running, which the next
// process runs. Real processes, real signals; the exit code and the
// stored final state are checked.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/internal/testnet"
)

const longFlow = `id: long
namespace: sig
tasks:
  - id: nap
    type: shell.commands
    commands: ["echo nap started", "sleep %s"]
  - {id: after, type: log, message: done}
`

const pausedFlow = `id: paused
namespace: sig
tasks:
  - {id: wait, type: flow.pause}
  - id: nap
    type: shell.commands
    commands: ["echo nap started", "sleep 60"]
`

// signal sends sig to the process alone (not its group, as a service
// manager or `kill PID` does) and waits for its exit code.
func (p *proc) signal(sig syscall.Signal, timeout time.Duration) int {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.t.Fatalf("%s did not exit within %s of %s:\n%s", p.name, timeout, sig, p.String())
	}
	return p.cmd.ProcessState.ExitCode()
}

func storedState(t *testing.T, env []string, id string, args ...string) string {
	t.Helper()
	out := relayCmd(t, env, append([]string{"executions", "show", id, "-o", "json"}, args...)...)
	var doc engine.ExecutionDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("relay executions show: %v\n%s", err, out)
	}
	return doc.State
}

func flowFile(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "flow.yaml")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func executionID(t *testing.T, out string) string {
	t.Helper()
	for _, f := range strings.Fields(out) {
		if len(f) == 16 && strings.Trim(f, "0123456789abcdefghijklmnopqrstuvwxyz") == "" {
			return f
		}
	}
	t.Fatalf("no execution id in:\n%s", out)
	return ""
}

func TestSignals_SIGTERMKillsRelayRunAndSavesTheExecution(t *testing.T) {
	env := append(os.Environ(), "RELAY_DATA_DIR="+t.TempDir())
	cmd := exec.Command(relayBinary(t), "run", flowFile(t, fmt.Sprintf(longFlow, "60")), "--progress", "plain")
	cmd.Env = env
	p := startProc(t, "run", cmd)
	p.waitOutput("nap started", 30*time.Second)
	if code := p.signal(syscall.SIGTERM, 20*time.Second); code != 1 {
		t.Fatalf("exit code %d, want 1 (KILLED):\n%s", code, p.String())
	}
	id := executionID(t, p.String())
	if st := storedState(t, env, id); st != "KILLED" {
		t.Fatalf("stored state %s, want KILLED", st)
	}
}

func TestSignals_SIGTERMKillsRelayExecutionsResumeAndSavesTheExecution(t *testing.T) {
	env := append(os.Environ(), "RELAY_DATA_DIR="+t.TempDir())
	out := relayCmd(t, env, "run", flowFile(t, pausedFlow), "--progress", "plain")
	id := executionID(t, out)
	if st := storedState(t, env, id); st != "PAUSED" {
		t.Fatalf("state %s after relay run, want PAUSED:\n%s", st, out)
	}
	cmd := exec.Command(relayBinary(t), "executions", "resume", id, "--progress", "plain")
	cmd.Env = env
	p := startProc(t, "resume", cmd)
	p.waitOutput("nap started", 30*time.Second)
	if code := p.signal(syscall.SIGTERM, 20*time.Second); code != 1 {
		t.Fatalf("exit code %d, want 1 (KILLED):\n%s", code, p.String())
	}
	if st := storedState(t, env, id); st != "KILLED" {
		t.Fatalf("stored state %s, want KILLED", st)
	}
}

func TestSignals_SIGTERMStopsRelayServerWhichHandsBackWhatRuns(t *testing.T) {
	env := append(os.Environ(), "RELAY_DATA_DIR="+t.TempDir())
	flows := t.TempDir()
	if err := os.WriteFile(filepath.Join(flows, "long.yaml"), []byte(fmt.Sprintf(longFlow, "2")), 0o644); err != nil {
		t.Fatal(err)
	}
	port := testnet.Port(t)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	server := func(name string) *proc {
		cmd := exec.Command(relayBinary(t), "server", "--port", fmt.Sprint(port), "--flows", flows)
		cmd.Env = env
		p := startProc(t, name, cmd)
		waitAPI(t, &system{url: url}, p)
		return p
	}
	p := server("server")
	id := executionID(t, relayCmd(t, env, "executions", "start", "sig/long", "--api", url))
	waitLog(t, env, id, "--api", url)
	if code := p.signal(syscall.SIGTERM, 20*time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0:\n%s", code, p.String())
	}
	if !strings.Contains(p.String(), "attempt handed back") {
		t.Errorf("relay server did not say it handed the attempt back:\n%s", p.String())
	}
	if st := storedState(t, env, id); st != "RUNNING" {
		t.Fatalf("stored state %s after the stop, want RUNNING (handed back)", st)
	}
	p = server("server again")
	waitStored(t, env, id, "SUCCESS", 30*time.Second, "--api", url)
	p.signal(syscall.SIGTERM, 20*time.Second)
}

func TestSignals_SIGTERMStopsRelayDevWhichHandsBackWhatRuns(t *testing.T) {
	d := newDeployment(t)
	dir := t.TempDir()
	d.env = append(d.env, "RELAY_DATA_DIR="+dir)
	port := testnet.Port(t)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	dev := func(name string) *proc {
		p := d.startArgs(name, "dev", "--role", "all", "--consumers", "1", "--create-table=false", "--addr", fmt.Sprintf("127.0.0.1:%d", port))
		waitAPI(t, &system{url: url}, p)
		return p
	}
	p := dev("dev")
	relayCmd(t, d.env, "flows", "deploy", flowFile(t, fmt.Sprintf(longFlow, "3")), "--api", url)
	id := executionID(t, relayCmd(t, d.env, "executions", "start", "sig/long", "--api", url))
	waitLog(t, d.env, id, "--api", url)
	if code := p.signal(syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0:\n%s", code, p.String())
	}
	if st := storedState(t, d.env, id, "--direct"); st != "RUNNING" {
		t.Fatalf("stored state %s after the stop, want RUNNING (handed back)", st)
	}
	p = dev("dev again")
	waitStored(t, d.env, id, "SUCCESS", 60*time.Second, "--api", url)
	p.signal(syscall.SIGTERM, 30*time.Second)
}

// waitLog waits until the execution's shell task has started.
func waitLog(t *testing.T, env []string, id string, args ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := relayCmd(t, env, append([]string{"logs", id}, args...)...)
		if strings.Contains(out, "nap started") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the task of %s did not start:\n%s", id, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func waitStored(t *testing.T, env []string, id, want string, timeout time.Duration, args ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := storedState(t, env, id, args...)
		if st == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution %s is %s after %s, want %s", id, st, timeout, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
