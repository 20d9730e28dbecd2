package scripts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/relayflow/relay/statemachine/flow"
	"github.com/relayflow/relay/tasks"
	"github.com/relayflow/relay/tasks/taskstest"
)

func commands(cmds ...string) []any {
	out := make([]any, len(cmds))
	for i, c := range cmds {
		out[i] = c
	}
	return out
}

// processGone reports whether pid has exited (a zombie that no one has
// reaped yet counts as gone: it runs nothing).
func processGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d is still running", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestShellCommands(t *testing.T) {
	t.Setenv("RELAY_TEST_WORKER_SECRET", "leak")
	tests := []struct {
		name    string
		props   map[string]any
		want    map[string]any
		stdout  []string // logged stdout lines
		stderr  []string // logged stderr lines
		errType string
		errMsg  string
	}{
		{
			name:   "stdout and stderr",
			props:  map[string]any{"commands": commands("echo hello", "echo world", "echo oops >&2")},
			want:   map[string]any{"exitCode": int64(0), "vars": map[string]any{}, "stdout": "hello\nworld\n", "stderr": "oops\n"},
			stdout: []string{"hello", "world"},
			stderr: []string{"oops"},
		},
		{
			name: "environment",
			props: map[string]any{
				"commands": commands(
					`echo "$GREETING $COUNT $LANG"`,
					`echo "$RELAY_EXECUTION_ID $RELAY_TASKRUN_ID $RELAY_TASK_ID"`,
					`echo "$RELAY_ATTEMPT_KEY $RELAY_ATTEMPT"`,
					`[ "$HOME" = "$(pwd)" ] && echo home-is-workdir`,
					`echo "secret=${RELAY_TEST_WORKER_SECRET:-unset}"`,
				),
				"env": map[string]any{"GREETING": "hi there", "COUNT": int64(3)},
			},
			want:   map[string]any{"exitCode": int64(0), "vars": map[string]any{}, "stdout": "hi there 3 C.UTF-8\nexec-1 tr-1 task1\nexec-1/tr-1/1 1\nhome-is-workdir\nsecret=unset\n", "stderr": ""},
			stdout: []string{"hi there 3 C.UTF-8", "exec-1 tr-1 task1", "exec-1/tr-1/1 1", "home-is-workdir", "secret=unset"},
		},
		{
			name:   "relay ids cannot be overridden",
			props:  map[string]any{"commands": commands(`echo "$RELAY_TASK_ID $RELAY_ATTEMPT_KEY"`), "env": map[string]any{"RELAY_TASK_ID": "forged", "RELAY_ATTEMPT_KEY": "forged"}},
			want:   map[string]any{"exitCode": int64(0), "vars": map[string]any{}, "stdout": "task1 exec-1/tr-1/1\n", "stderr": ""},
			stdout: []string{"task1 exec-1/tr-1/1"},
		},
		{
			name:    "non-zero exit keeps the outputs",
			props:   map[string]any{"commands": commands("echo before", "echo 'first problem' >&2", "echo 'disk full' >&2", "exit 3")},
			want:    map[string]any{"exitCode": int64(3), "vars": map[string]any{}, "stdout": "before\n", "stderr": "first problem\ndisk full\n"},
			stdout:  []string{"before"},
			stderr:  []string{"first problem", "disk full"},
			errType: typeExitCode,
			errMsg:  "exit code 3, stderr ending with:\nfirst problem\ndisk full",
		},
		{
			name:    "set -e stops at the first failure",
			props:   map[string]any{"commands": commands("echo one", "false", "echo two")},
			want:    map[string]any{"exitCode": int64(1), "vars": map[string]any{}, "stdout": "one\n", "stderr": ""},
			stdout:  []string{"one"},
			errType: typeExitCode,
			errMsg:  "exit code 1",
		},
		{
			name:    "command not found",
			props:   map[string]any{"commands": commands("no-such-command-relay")},
			errType: typeExitCode,
			errMsg:  "exit code 127, stderr ending with:\n",
		},
		{
			name:   "line without final newline, blank line",
			props:  map[string]any{"commands": commands(`printf 'a\n\nb'`)},
			want:   map[string]any{"exitCode": int64(0), "vars": map[string]any{}, "stdout": "a\n\nb", "stderr": ""},
			stdout: []string{"a", "", "b"},
		},
	}
	run := shell(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := taskstest.NewRecorder()
			req := newRequest(flow.TypeShell, tt.props)
			req.Log = rec.Logger()
			res, err := run.Run(context.Background(), req)
			if tt.errType != "" {
				te := wantTaskError(t, err, tasks.KindRetryable, tt.errType)
				if !strings.HasPrefix(te.Message, tt.errMsg) {
					t.Errorf("message %q, want prefix %q", te.Message, tt.errMsg)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if tt.want != nil && !reflect.DeepEqual(res.Outputs, tt.want) {
				t.Errorf("outputs %#v, want %#v", res.Outputs, tt.want)
			}
			if tt.want != nil {
				if got := rec.Lines("stdout"); !reflect.DeepEqual(got, tt.stdout) {
					t.Errorf("stdout lines %q, want %q", got, tt.stdout)
				}
				if got := rec.Lines("stderr"); !reflect.DeepEqual(got, tt.stderr) {
					t.Errorf("stderr lines %q, want %q", got, tt.stderr)
				}
			}
			for _, r := range rec.WithMsg("stdout") {
				if r.Level.String() != "INFO" {
					t.Errorf("stdout logged at %v", r.Level)
				}
			}
			for _, r := range rec.WithMsg("stderr") {
				if r.Level.String() != "WARN" {
					t.Errorf("stderr logged at %v", r.Level)
				}
			}
		})
	}
}

func TestShellBadProperties(t *testing.T) {
	tests := []struct {
		name  string
		props map[string]any
		want  string
	}{
		{"commands not a list", map[string]any{"commands": "echo hi"}, "property commands: want a list of strings, got a string"},
		{"commands missing", map[string]any{}, "property commands: is required"},
		{"commands empty", map[string]any{"commands": []any{}}, "property commands"},
		{"command not a string", map[string]any{"commands": []any{map[string]any{"a": "b"}}}, "property commands: item 0"},
		{"env not a map", map[string]any{"commands": commands("true"), "env": []any{"A=B"}}, "property env"},
		{"env bad name", map[string]any{"commands": commands("true"), "env": map[string]any{"A=B": "x"}}, "property env"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := shell(t).Run(context.Background(), newRequest(flow.TypeShell, tt.props))
			te := wantTaskError(t, err, tasks.KindFatal, "InvalidProperty")
			if !strings.Contains(te.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", te, tt.want)
			}
		})
	}
}

func TestShellMissingShellIsFatal(t *testing.T) {
	_, err := shell(t).Run(context.Background(), newRequest(flow.TypeShell, map[string]any{"commands": commands("true"), "interpreter": []any{"/no/such/shell", "-c"}}))
	te := wantTaskError(t, err, tasks.KindFatal, typeNoInterpreter)
	if !strings.Contains(te.Message, "/no/such/shell") {
		t.Errorf("message %q does not name the shell", te.Message)
	}
}

// A process the OS kills (the OOM killer's SIGKILL, a segfault) makes the
// attempt CRASHED, not a plain failure; a script's own exit code does not.
func TestShellKilledByTheOSCrashes(t *testing.T) {
	tests := []struct {
		name, command string
		kind          tasks.Kind
		msg           string
	}{
		{"the shell killed", "kill -KILL $$", tasks.KindCrashed, "killed by signal KILL"},
		{"the shell segfaults", "kill -SEGV $$", tasks.KindCrashed, "killed by signal SEGV"},
		{"a command killed", "sh -c 'kill -KILL $$'", tasks.KindCrashed, "killed by signal KILL (exit code 137)"},
		{"a plain failure", "exit 3", tasks.KindRetryable, "exit code 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := shell(t).Run(context.Background(), newRequest(flow.TypeShell, map[string]any{"commands": commands(tt.command)}))
			var te *tasks.Error
			if !errors.As(err, &te) || te.Kind != tt.kind || !strings.Contains(te.Message, tt.msg) {
				t.Errorf("error %v (kind %v), want %s with %q", err, te, tt.kind, tt.msg)
			}
		})
	}
}

func TestShellWorkDirRemoved(t *testing.T) {
	base := t.TempDir()
	run := newRunner(t, flow.TypeShell, Config{TempDir: base})
	req := newRequest(flow.TypeShell, map[string]any{"commands": commands("pwd", "echo data > file", "mkdir -p sub/locked", "touch sub/locked/f", "chmod 500 sub/locked")})
	res, err := run.Run(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	dir := strings.TrimSpace(res.Outputs["stdout"].(string))
	if root := filepath.Dir(dir); filepath.Dir(root) != base || !strings.HasPrefix(filepath.Base(root), "relay-script-") || filepath.Base(dir) != "work" {
		t.Errorf("ran in %q, want a fresh directory under %q", dir, base)
	}
	entries, err := os.ReadDir(base)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
}

func TestShellDeadlineKillsProcessGroup(t *testing.T) {
	tests := []struct {
		name     string
		cmds     []any
		min, max time.Duration
	}{
		// The background sleep is in the group; the foreground one keeps the
		// shell busy.
		{"SIGTERM", commands("sleep 30 &", "echo $!", "sleep 30"), 0, 1500 * time.Millisecond},
		// The group ignores SIGTERM: SIGKILL after the grace period.
		{"SIGKILL after grace", commands("trap '' TERM", "sleep 30 &", "echo $!", "sleep 30"), killGrace, 3500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := taskstest.NewRecorder()
			req := newRequest(flow.TypeShell, map[string]any{"commands": tt.cmds})
			req.Log = rec.Logger()
			start := time.Now() // before the deadline is set, so that it is never less than 300ms after it
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			res, err := shell(t).Run(ctx, req)
			elapsed := time.Since(start)
			wantTaskError(t, err, tasks.KindTimeout, "Timeout")
			if elapsed > tt.max || elapsed < tt.min+300*time.Millisecond {
				t.Errorf("returned after %v, want between %v and %v", elapsed, tt.min+300*time.Millisecond, tt.max)
			}
			lines := rec.Lines("stdout")
			if len(lines) != 1 {
				t.Fatalf("stdout lines %q, want the background pid", lines)
			}
			pid, err := strconv.Atoi(lines[0])
			if err != nil {
				t.Fatal(err)
			}
			waitGone(t, pid)
			if res.Outputs["stdout"] != lines[0]+"\n" {
				t.Errorf("outputs %v", res.Outputs)
			}
		})
	}
}

func TestShellBackgroundProcessKilledAtExit(t *testing.T) {
	start := time.Now()
	res, err := shell(t).Run(context.Background(), newRequest(flow.TypeShell, map[string]any{"commands": commands("sleep 30 &", "echo $!")}))
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("returned after %v: a background process kept the pipes open", d)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(res.Outputs["stdout"].(string)))
	if err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)
}

func TestShellCancelledBeforeStart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	_, err := shell(t).Run(ctx, newRequest(flow.TypeShell, map[string]any{"commands": commands("echo never")}))
	wantTaskError(t, err, tasks.KindTimeout, "Timeout")
}

func TestShellLongLinesAndTails(t *testing.T) {
	t.Run("long line is cut in the log, kept in the output", func(t *testing.T) {
		rec := taskstest.NewRecorder()
		req := newRequest(flow.TypeShell, map[string]any{"commands": commands(`head -c 20000 /dev/zero | tr '\0' x`, `echo`, `echo short`)})
		req.Log = rec.Logger()
		res, err := shell(t).Run(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		recs := rec.WithMsg("stdout")
		if len(recs) != 2 {
			t.Fatalf("logged %d stdout records, want 2", len(recs))
		}
		if line := recs[0].Attrs["line"].(string); len(line) != maxLogLine || recs[0].Attrs["truncated"] != true {
			t.Errorf("first line: %d bytes, truncated=%v", len(line), recs[0].Attrs["truncated"])
		}
		if recs[1].Attrs["line"] != "short" {
			t.Errorf("second line %q", recs[1].Attrs["line"])
		}
		if want := strings.Repeat("x", 20000) + "\nshort\n"; res.Outputs["stdout"] != want {
			t.Errorf("stdout of %d bytes, want %d", len(res.Outputs["stdout"].(string)), len(want))
		}
	})
	t.Run("tail on a UTF-8 boundary", func(t *testing.T) {
		// 3000 two-byte runes; a 101-byte tail would start inside one.
		req := newRequest(flow.TypeShell, map[string]any{"commands": commands(`i=0; while [ $i -lt 3000 ]; do printf 'é'; i=$((i+1)); done`, `printf 'é' >&2`)})
		res, err := newRunner(t, flow.TypeShell, Config{OutputTail: 101}).Run(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		out := res.Outputs["stdout"].(string)
		if !utf8.ValidString(out) || out != strings.Repeat("é", 50) {
			t.Errorf("tail %q (%d bytes)", out, len(out))
		}
		if res.Outputs["stderr"] != "é" {
			t.Errorf("stderr %q", res.Outputs["stderr"])
		}
	})
}

func TestTailBuffer(t *testing.T) {
	tb := &tailBuffer{max: 5}
	for i := range 10000 {
		tb.write([]byte{byte('a' + i%26)})
	}
	if got := tb.String(); got != "lmnop" { // 9995..9999 mod 26
		t.Errorf("tail %q", got)
	}
	if len(tb.buf) > 2*4096+1 {
		t.Errorf("buffer grew to %d bytes", len(tb.buf))
	}
}

func TestShellStreamsLinesWhileRunning(t *testing.T) {
	rec := taskstest.NewRecorder()
	req := newRequest(flow.TypeShell, map[string]any{"commands": commands("echo ready", "sleep 30")})
	req.Log = rec.Logger()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type outcome struct {
		res tasks.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := shell(t).Run(ctx, req)
		done <- outcome{res, err}
	}()
	deadline := time.After(5 * time.Second)
	for len(rec.Lines("stdout")) == 0 {
		select {
		case <-rec.Notify:
		case o := <-done:
			t.Fatalf("Run returned before the line was logged: %v", o.err)
		case <-deadline:
			t.Fatal("no stdout line logged while the commands run")
		}
	}
	cancel() // the execution is killed: not a timeout
	o := <-done
	wantTaskError(t, o.err, tasks.KindRetryable, "Canceled")
	if o.res.Outputs["stdout"] != "ready\n" {
		t.Errorf("outputs %v", o.res.Outputs)
	}
}

func TestShellLogsAsJSON(t *testing.T) {
	var buf bytes.Buffer
	req := newRequest(flow.TypeShell, map[string]any{"commands": commands("echo hello", "echo warn >&2")})
	req.Log = slog.New(slog.NewJSONHandler(&buf, nil)).With("taskRunId", req.TaskRunID)
	if _, err := shell(t).Run(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		delete(m, "time")
		got = append(got, m)
	}
	want := []map[string]any{
		{"level": "INFO", "msg": "stdout", "line": "hello", "taskRunId": "tr-1"},
		{"level": "WARN", "msg": "stderr", "line": "warn", "taskRunId": "tr-1"},
	}
	// The two streams are read concurrently: compare without order.
	if len(got) != 2 || !(reflect.DeepEqual(got, want) || reflect.DeepEqual([]map[string]any{got[1], got[0]}, want)) {
		t.Errorf("logged %v, want %v", got, want)
	}
}

func TestShellProcessOutsideTheGroupDoesNotHoldTheTaskForever(t *testing.T) {
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("no setsid")
	}
	rec := taskstest.NewRecorder()
	req := newRequest(flow.TypeShell, map[string]any{"commands": commands("setsid sleep 5 &", "sleep 0.3", "echo done")})
	req.Log = rec.Logger()
	start := time.Now()
	res, err := shell(t).Run(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("returned after %v: a process that left the group held the task", d)
	}
	if res.Outputs["stdout"] != "done\n" {
		t.Errorf("outputs %v", res.Outputs)
	}
	if len(rec.WithMsg("output pipes still open after the script ended; closing them")) != 1 {
		t.Errorf("no warning about the pipes: %+v", rec.All())
	}
}
