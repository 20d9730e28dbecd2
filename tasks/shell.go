package tasks

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
)

// Error types of shell.commands.
const (
	typeExitCode   = "ExitCode"
	typeShellStart = "ShellStart"
	typeWorkDir    = "WorkDir"
)

const (
	// killGrace is how long the process group has between SIGTERM and
	// SIGKILL once the deadline has passed.
	killGrace = 2 * time.Second
	// pipeDrain bounds the wait for the output pipes to close after the group
	// is gone: a process that left the group (setsid) may still hold them.
	pipeDrain = time.Second
	// maxLogLine bounds one logged line; the rest of a longer line is left
	// out of the log (it is still in the stdout/stderr outputs' tails).
	maxLogLine = 8 << 10
	// defaultPath is the PATH of the commands when the worker has none.
	defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// NewShell returns the runner of shell.commands. The commands run as one
// script, `shell -c`, with `set -e` first so that the script stops at the
// first failing command (Kestra's default), in a fresh directory under
// tempDir that is removed afterwards, with a minimal environment: the
// worker's own variables (credentials...) are not the task's business. The
// script gets its own process group so that a deadline kills everything it
// started, not only the shell. tail is how many bytes of stdout and stderr
// are kept as outputs. Zero values mean the defaults of Config.
func NewShell(shell, tempDir string, tail int) Runner {
	if shell == "" {
		shell = DefaultShell
	}
	if tempDir == "" {
		tempDir = os.TempDir()
	}
	if tail <= 0 {
		tail = DefaultOutputTail
	}
	s := &shellRunner{shell: shell, tempDir: tempDir, tail: tail}
	return RunnerFunc(s.run)
}

type shellRunner struct {
	shell, tempDir string
	tail           int
}

func (s *shellRunner) run(ctx context.Context, req Request) (Result, error) {
	commands, err := reqStringList(req.Props, "commands")
	if err != nil {
		return Result{}, err
	}
	userEnv, err := optStringMap(req.Props, "env")
	if err != nil {
		return Result{}, err
	}
	for k, v := range userEnv {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(v, 0) {
			return Result{}, propError("env", "%q is not a valid environment variable", k)
		}
	}
	if err := ctxError(ctx, "starting the commands", nil); err != nil {
		return Result{}, err
	}
	log := logger(req)

	dir, err := os.MkdirTemp(s.tempDir, "relay-shell-")
	if err != nil {
		return Result{}, &Error{Kind: KindRetryable, Type: typeWorkDir, Message: "creating the working directory", Err: err}
	}
	defer removeWorkDir(dir, log)

	script := "set -e\n" + strings.Join(commands, "\n") + "\n"
	cmd := exec.Command(s.shell, "-c", script)
	cmd.Dir = dir
	cmd.Env = shellEnv(dir, userEnv, req)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}

	// Plain pipes rather than cmd.StdoutPipe: exec then hands the files to the
	// child as they are, and Wait does not wait for the readers, which only
	// end when every process holding the pipes is gone.
	outR, outW, err := os.Pipe()
	if err != nil {
		return Result{}, &Error{Kind: KindRetryable, Type: typeShellStart, Message: "creating the stdout pipe", Err: err}
	}
	defer func() { _ = outR.Close() }()
	errR, errW, err := os.Pipe()
	if err != nil {
		_ = outW.Close()
		return Result{}, &Error{Kind: KindRetryable, Type: typeShellStart, Message: "creating the stderr pipe", Err: err}
	}
	defer func() { _ = errR.Close() }()
	cmd.Stdout, cmd.Stderr = outW, errW

	startErr := cmd.Start()
	_ = outW.Close()
	_ = errW.Close()
	if startErr != nil {
		if errors.Is(startErr, syscall.E2BIG) {
			return Result{}, propError("commands", "the script is too long to pass to %s (%d bytes)", s.shell, len(script))
		}
		return Result{}, &Error{Kind: KindFatal, Type: typeShellStart, Message: "starting " + s.shell, Err: startErr}
	}
	pgid := cmd.Process.Pid
	log.Debug("commands started", "pid", pgid, "dir", dir, "commandCount", len(commands))

	stdout, stderr := &tailBuffer{max: s.tail}, &tailBuffer{max: s.tail}
	var readers sync.WaitGroup
	readers.Add(2)
	go func() {
		defer readers.Done()
		stdout.consume(outR, func(line string, truncated bool) { logLine(log, slog.LevelInfo, "stdout", line, truncated) })
	}()
	go func() {
		defer readers.Done()
		stderr.consume(errR, func(line string, truncated bool) { logLine(log, slog.LevelWarn, "stderr", line, truncated) })
	}()

	drained := make(chan struct{})
	go func() { readers.Wait(); close(drained) }()
	waitDone := make(chan error, 1)
	go func() { waitDone <- cmd.Wait() }()
	var waitErr error
	stopped := false
	select {
	case waitErr = <-waitDone:
		// Whatever the script left running in the background would outlive
		// its working directory and keep the pipes open.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	case <-ctx.Done():
		stopped = true
		waitErr = stopGroup(pgid, waitDone, drained, killGrace)
	}

	select {
	case <-drained:
	case <-time.After(pipeDrain):
		log.Warn("output pipes still open after the commands ended; closing them", "pid", pgid)
		_ = outR.Close()
		_ = errR.Close()
		<-drained
	}

	code, err := exitCode(cmd.ProcessState, waitErr)
	if err != nil {
		return Result{}, &Error{Kind: KindRetryable, Type: typeShellStart, Message: "waiting for " + s.shell, Err: err}
	}
	res := Result{Outputs: map[string]any{
		"exitCode": int64(code),
		"stdout":   stdout.String(),
		"stderr":   stderr.String(),
	}}
	log.Debug("commands ended", "pid", pgid, "exitCode", code, "stopped", stopped)
	if stopped {
		// The group was killed because ctx ended; its exit code says only that.
		return res, ctxError(ctx, "running the commands; the process group was killed", nil)
	}
	if code != 0 {
		msg := fmt.Sprintf("exit code %d", code)
		if last := lastLine(stderr.String()); last != "" {
			msg += ": " + excerpt(last, bodyExcerpt)
		}
		return res, &Error{Kind: KindRetryable, Type: typeExitCode, Message: msg}
	}
	return res, nil
}

// stopGroup ends the process group: SIGTERM, then SIGKILL unless within
// grace both the shell has exited and the output pipes have closed. The pipes
// stand for the rest of the group: every process the script started holds
// them unless it closed them, and unlike kill(-pgid, 0) they do not count
// exited processes that no one has reaped yet (a worker running as PID 1 in
// a container may never reap them). It returns the shell's wait error.
func stopGroup(pgid int, waitDone <-chan error, drained <-chan struct{}, grace time.Duration) error {
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	var waitErr error
	exited, done, pipes := false, waitDone, drained
	for done != nil || pipes != nil {
		select {
		case waitErr = <-done:
			exited, done = true, nil
		case <-pipes:
			pipes = nil
		case <-deadline.C:
			done, pipes = nil, nil
		}
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	if !exited {
		waitErr = <-waitDone
	}
	return waitErr
}

// exitCode is the shell's exit status, or 128+N when signal N ended it, as a
// shell reports it.
func exitCode(state *os.ProcessState, waitErr error) (int, error) {
	if state == nil {
		if waitErr == nil {
			waitErr = errors.New("no process state")
		}
		return 0, waitErr
	}
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return state.ExitCode(), nil
}

// shellEnv is the minimal environment of the commands: PATH, HOME (the
// working directory), LANG, the user's env (which may override those three)
// and the RELAY_ ids last, so that a script can trust them.
func shellEnv(dir string, user map[string]string, req Request) []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = defaultPath
	}
	env := map[string]string{"PATH": path, "HOME": dir, "LANG": "C.UTF-8"}
	for k, v := range user {
		env[k] = v
	}
	env["RELAY_EXECUTION_ID"] = req.ExecutionID
	env["RELAY_TASKRUN_ID"] = req.TaskRunID
	env["RELAY_TASK_ID"] = req.TaskID
	if req.AttemptKey != "" {
		env[EnvAttemptKey] = req.AttemptKey
		env["RELAY_ATTEMPT"] = strconv.Itoa(req.Attempt)
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k + "=" + env[k]
	}
	return out
}

// removeWorkDir removes the working directory even when the script left
// directories without write permission in it.
func removeWorkDir(dir string, log *slog.Logger) {
	if err := os.RemoveAll(dir); err == nil {
		return
	}
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(path, 0o700)
		}
		return nil
	})
	if err := os.RemoveAll(dir); err != nil {
		log.Warn("removing the working directory failed", "dir", dir, "error", err.Error())
	}
}

func logLine(log *slog.Logger, level slog.Level, msg, line string, truncated bool) {
	if truncated {
		log.Log(context.Background(), level, msg, "line", line, "truncated", true)
		return
	}
	log.Log(context.Background(), level, msg, "line", line)
}

// lastLine is the last non-blank line of s: for a failed script, usually the
// error that stopped it.
func lastLine(s string) string {
	s = strings.TrimRight(s, " \t\r\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
	cut bool // bytes were dropped from the front: buf may start inside a rune
}

func (t *tailBuffer) write(p []byte) {
	t.buf = append(t.buf, p...)
	// Trim only once the buffer is twice the limit, so that copying stays
	// linear in what is written.
	if len(t.buf) > 2*t.max && len(t.buf) > 4096 {
		n := copy(t.buf, t.buf[len(t.buf)-t.max:])
		t.buf = t.buf[:n]
		t.cut = true
	}
}

// String is the tail, starting on a UTF-8 boundary, invalid bytes replaced
// so that the output is valid text.
func (t *tailBuffer) String() string {
	b := t.buf
	if len(b) > t.max || t.cut {
		b = b[len(b)-min(len(b), t.max):]
		for i := 0; i < utf8.UTFMax-1 && len(b) > 0 && !utf8.RuneStart(b[0]); i++ {
			b = b[1:]
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// consume reads r to its end, keeping the tail and handing each line (without
// its line break, cut to maxLogLine bytes) to logLine as it arrives.
func (t *tailBuffer) consume(r io.Reader, logLine func(line string, truncated bool)) {
	br := bufio.NewReaderSize(r, maxLogLine)
	skipping := false // inside a long line whose head was logged
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			t.write(chunk)
			switch {
			case skipping:
				skipping = chunk[len(chunk)-1] != '\n'
			case errors.Is(err, bufio.ErrBufferFull):
				logLine(lineText(cutPartialRune(chunk)), true)
				skipping = true
			default:
				logLine(lineText(chunk), false)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			return
		}
	}
}

func lineText(b []byte) string {
	return strings.ToValidUTF8(strings.TrimRight(string(b), "\r\n"), "\uFFFD")
}

// cutPartialRune drops a rune cut in two at the end of b.
func cutPartialRune(b []byte) []byte {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return b[:i]
			}
			break
		}
	}
	return b
}
