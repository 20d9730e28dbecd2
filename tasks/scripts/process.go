package scripts

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
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

// waitDrained waits for the readers of the output pipes to reach their
// end once the process group is gone. A process that left the group
// (setsid) may still hold the pipes open: they are closed once they have
// stayed empty for pipeDrain, never while output the readers have not read
// yet is in them (a starved reader on a busy machine would lose it).
func waitDrained(drained <-chan struct{}, onClose func(), pipes ...*os.File) {
	idleSince := time.Now()
	tick := time.NewTicker(pipeDrain / 10)
	defer tick.Stop()
	for {
		select {
		case <-drained:
			return
		case now := <-tick.C:
			if unread(pipes...) {
				idleSince = now
				continue
			}
			if now.Sub(idleSince) < pipeDrain {
				continue
			}
			onClose()
			for _, p := range pipes {
				_ = p.Close()
			}
			<-drained
			return
		}
	}
}

// unread tells whether a pipe holds bytes not read yet.
func unread(pipes ...*os.File) bool {
	for _, p := range pipes {
		rc, err := p.SyscallConn() // not Fd(), which would make the pipe blocking
		if err != nil {
			continue
		}
		n := 0
		_ = rc.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.TIOCINQ) })
		if n > 0 {
			return true
		}
	}
	return false
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

// killedBy names the signal that killed the shell, or the command it ran
// last when the shell reports 128+9 (SIGKILL: what the OOM killer sends),
// or "" when none did.
func killedBy(state *os.ProcessState) string {
	if state == nil {
		return ""
	}
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return strings.ToUpper(strings.TrimPrefix(unix.SignalName(ws.Signal()), "SIG"))
	}
	if state.ExitCode() == 128+int(syscall.SIGKILL) {
		return "KILL"
	}
	return ""
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
