// Package scripts runs the user's own code: the script tasks of Python,
// Node.js and the shell (python.script, python.commands, node.script,
// node.commands, shell.script, shell.commands, and their Kestra names).
//
// Each attempt is a child process in a fresh folder that is removed
// afterwards: the working directory (the process's cwd and HOME, where
// inputFiles are written and outputFiles are looked for) and, beside it,
// a temporary folder and a bin folder. The commands (beforeCommands, then
// the commands, or the interpreter run on the script's file) run as one
// `interpreter` script (`/bin/sh -c`, `set -e` first) in a process group of
// their own, so that a deadline or a kill ends everything they started.
// The environment is the documented minimal set plus the flow's `env`: a
// worker's own variables (Relay's configuration, AWS credentials) never
// reach a script unless the flow passes them.
//
// Every line the process prints is logged as it comes, stdout at INFO and
// stderr at WARN, except the lines of Kestra's protocol (`::{...}::`),
// which become the output `vars`, task metrics and log lines of their own
// level (protocol.go). The secrets of the attempt (tasks.Request.Secrets)
// are masked in each line before it is logged, kept or cut, so that no
// part of one is left where a line is cut short.
//
// The package must never run a script anywhere but in its own fresh
// folder, nor leave a process of it running once Run returns.
package scripts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/relayflow/relay/secrets"
	"github.com/relayflow/relay/statemachine/flow"
	"github.com/relayflow/relay/storage"
	"github.com/relayflow/relay/tasks"
)

// Error types of the script tasks.
const (
	typeExitCode      = "ExitCode"
	typeSignal        = "Signal"
	typeShellStart    = "ShellStart"
	typeWorkDir       = "WorkDir"
	typeNoInterpreter = "InterpreterNotFound"
	typeInputFile     = "InputFile"
	typeOutputFile    = "OutputFile"
	typeNoFileStorage = "NoFileStorage"
)

// Files is the internal storage as script tasks use it (storage.Storage).
type Files interface {
	// Open opens the file uri names for a task of namespace ns.
	Open(ctx context.Context, ns, uri string) (io.ReadCloser, int64, error)
	// PutOutput stores r as the output file name of run and returns its URI.
	PutOutput(ctx context.Context, run storage.Run, name string, r io.Reader, size int64) (string, error)
}

// Config holds what the script runners need. Zero values mean the
// defaults.
type Config struct {
	// Files is the internal storage for inputFiles URIs and outputFiles;
	// nil makes a task that uses them fail with an error saying so.
	Files Files
	// TempDir is where attempts get their folders (default os.TempDir()).
	TempDir string
	// Path is the PATH the interpreters are looked for in and that scripts
	// get (default: the worker's PATH, else a standard one).
	Path string
	// OutputTail is how many bytes of stdout and stderr shell.commands
	// keeps as outputs (default 64 KiB).
	OutputTail int
}

// DefaultOutputTail is Config.OutputTail's default.
const DefaultOutputTail = 64 << 10

// lang is what differs between the script types.
type lang struct {
	// binaries are the interpreter's names, looked for on PATH in order
	// ("" for the shell: the interpreter property's own).
	binaries []string
	// ext is the script file's extension; "" for a commands type.
	ext string
	// alias, when set, is put on PATH (in the attempt's bin folder) for
	// the first binary found, unless PATH has it already: `python` for
	// python3, as Kestra's images have it.
	alias string
	// env is added to the environment.
	env map[string]string
	// tails keeps stdout and stderr as outputs (shell.commands, as it was).
	tails bool
}

var (
	python = []string{"python3", "python"}
	langs  = map[string]lang{
		flow.TypePython:      {binaries: python, ext: ".py", alias: "python", env: pythonEnv},
		flow.TypePythonCmds:  {binaries: python, alias: "python", env: pythonEnv},
		flow.TypeNode:        {binaries: []string{"node"}, ext: ".js"},
		flow.TypeNodeCmds:    {binaries: []string{"node"}},
		flow.TypeShellScript: {ext: ".sh"},
		flow.TypeShell:       {tails: true},
	}
	// pythonEnv makes print() reach the log as it happens rather than when
	// a buffer fills, and keeps .pyc files out of the working directory.
	pythonEnv = map[string]string{"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}
)

// Types lists the task types Register registers.
func Types() []string {
	out := make([]string, 0, len(langs))
	for t := range langs {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Register adds the script task types to r.
func Register(r *tasks.Registry, cfg Config) error {
	if cfg.TempDir == "" {
		cfg.TempDir = os.TempDir()
	}
	if cfg.Path == "" {
		cfg.Path = os.Getenv("PATH")
	}
	if cfg.Path == "" {
		cfg.Path = defaultPath
	}
	if cfg.OutputTail <= 0 {
		cfg.OutputTail = DefaultOutputTail
	}
	if fi, err := os.Stat(cfg.TempDir); err != nil || !fi.IsDir() {
		return fmt.Errorf("script tasks: TempDir %s is not a directory (%v)", cfg.TempDir, err)
	}
	for typ, l := range langs {
		r.Register(typ, tasks.RunnerFunc((&runner{cfg: cfg, typ: typ, lang: l}).run))
	}
	return nil
}

type runner struct {
	cfg  Config
	typ  string
	lang lang
}

// props are a script task's properties, checked.
type props struct {
	script       string
	commands     []string
	before       []string
	env          map[string]string
	interpreter  []string
	inputFiles   map[string]string
	outputFiles  []string
	warnOnStderr bool
}

func (r *runner) props(p map[string]any) (props, error) {
	var out props
	var err error
	if r.lang.ext != "" || r.typ == flow.TypeShellScript {
		if out.script, err = tasks.ReqString(p, "script"); err != nil {
			return out, err
		}
	} else if out.commands, err = tasks.ReqStringList(p, "commands"); err != nil {
		return out, err
	}
	if out.before, err = optStringList(p, "beforeCommands"); err != nil {
		return out, err
	}
	if out.env, err = tasks.OptStringMap(p, "env"); err != nil {
		return out, err
	}
	for k, v := range out.env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(v, 0) {
			return out, tasks.PropError("env", "%q is not a valid environment variable", k)
		}
	}
	if out.interpreter, err = optStringList(p, "interpreter"); err != nil {
		return out, err
	}
	if len(out.interpreter) == 0 {
		out.interpreter = []string{DefaultShell, "-c"}
	}
	if out.inputFiles, err = tasks.OptStringMap(p, "inputFiles"); err != nil {
		return out, err
	}
	for name := range out.inputFiles {
		if err := checkName(name); err != nil {
			return out, tasks.PropError("inputFiles", "%v", err)
		}
	}
	if out.outputFiles, err = optStringList(p, "outputFiles"); err != nil {
		return out, err
	}
	for _, g := range out.outputFiles {
		if err := checkGlob(g); err != nil {
			return out, tasks.PropError("outputFiles", "%v", err)
		}
	}
	if out.warnOnStderr, err = tasks.OptBool(p, "warningOnStdErr", true); err != nil {
		return out, err
	}
	return out, nil
}

// DefaultShell is the interpreter's default shell.
const DefaultShell = "/bin/sh"

// optStringList is a list of strings that may be absent.
func optStringList(p map[string]any, name string) ([]string, error) {
	if v, ok := p[name]; !ok || v == nil {
		return nil, nil
	}
	if l, ok := p[name].([]any); ok && len(l) == 0 {
		return nil, nil
	}
	return tasks.ReqStringList(p, name)
}

// attempt is the folder of one attempt: root/work is the working
// directory, root/tmp its TMPDIR, root/bin first on its PATH.
type attempt struct {
	root, work, tmp, bin string
}

func (r *runner) run(ctx context.Context, req tasks.Request) (tasks.Result, error) {
	p, err := r.props(req.Props)
	if err != nil {
		return tasks.Result{}, err
	}
	if err := tasks.CtxError(ctx, "starting the script", nil); err != nil {
		return tasks.Result{}, err
	}
	log := tasks.Logger(req)
	if (len(p.outputFiles) > 0 || hasURI(p.inputFiles)) && r.cfg.Files == nil {
		return tasks.Result{}, &tasks.Error{Kind: tasks.KindFatal, Type: typeNoFileStorage, Message: "this worker has no internal storage for inputFiles URIs and outputFiles"}
	}
	bin, err := r.interpreter(p)
	if err != nil {
		return tasks.Result{}, err
	}

	a, err := newAttempt(r.cfg.TempDir)
	if err != nil {
		return tasks.Result{}, &tasks.Error{Kind: tasks.KindRetryable, Type: typeWorkDir, Message: "creating the working directory", Err: err}
	}
	defer removeWorkDir(a.root, log)
	path := r.cfg.Path
	if r.lang.alias != "" && bin != "" {
		if err := a.alias(r.lang.alias, bin, path); err != nil {
			return tasks.Result{}, &tasks.Error{Kind: tasks.KindRetryable, Type: typeWorkDir, Message: "preparing the bin folder", Err: err}
		}
		path = a.bin + string(os.PathListSeparator) + path
	}
	if err := r.writeInputs(ctx, req, a.work, p.inputFiles); err != nil {
		return tasks.Result{}, err
	}

	lines := append([]string{"set -e"}, p.before...)
	if p.script != "" {
		file := filepath.Join(a.work, scriptFile+r.lang.ext)
		if err := os.WriteFile(file, []byte(p.script), 0o600); err != nil {
			return tasks.Result{}, &tasks.Error{Kind: tasks.KindRetryable, Type: typeWorkDir, Message: "writing the script", Err: err}
		}
		runWith := bin
		if runWith == "" {
			runWith = p.interpreter[0]
		}
		lines = append(lines, shellQuote(runWith)+" "+shellQuote(scriptFile+r.lang.ext))
	} else {
		lines = append(lines, p.commands...)
	}
	script := strings.Join(lines, "\n") + "\n"
	env := r.env(a, path, p.env, req)

	out, runErr := r.exec(ctx, log, req.Secrets, a.work, p.interpreter, script, env)
	res := tasks.Result{Outputs: map[string]any{"exitCode": int64(out.code), "vars": out.proto.vars()}, Metrics: out.proto.metrics}
	if r.lang.tails {
		res.Outputs["stdout"] = out.stdout.String()
		res.Outputs["stderr"] = out.stderr.String()
	}
	if runErr != nil {
		return res, runErr
	}
	if out.signal != "" {
		// Not a signal of ours (the context did not end): the OS killed
		// the script, or a command it ran, out from under the attempt.
		return res, &tasks.Error{Kind: tasks.KindCrashed, Type: typeSignal, Message: fmt.Sprintf("the process was killed by signal %s (exit code %d): out of memory, or killed from outside", out.signal, out.code)}
	}
	if out.code != 0 {
		msg := fmt.Sprintf("exit code %d", out.code)
		if last := lastLines(out.stderrTail.String(), errorLines); last != "" {
			msg += ", stderr ending with:\n" + tasks.Excerpt(last, 2048)
		}
		return res, &tasks.Error{Kind: tasks.KindRetryable, Type: typeExitCode, Message: msg}
	}
	if len(p.outputFiles) > 0 {
		files, err := r.uploadOutputs(ctx, req, log, a.work, p.outputFiles)
		if err != nil {
			return res, err
		}
		res.Outputs["outputFiles"] = files
	}
	res.Warning = p.warnOnStderr && out.stderrLines > 0
	return res, nil
}

// scriptFile is the base name of a Script task's file in the working
// directory (its extension follows), left out of outputFiles.
const scriptFile = ".relay_script"

// errorLines is how many last lines of stderr a failure's message quotes.
const errorLines = 5

// interpreter finds the language's binary on PATH: "" for the shell
// types, whose interpreter is the `interpreter` property's.
func (r *runner) interpreter(p props) (string, error) {
	if len(r.lang.binaries) == 0 {
		if _, err := lookPath(p.interpreter[0], r.cfg.Path); err != nil {
			return "", &tasks.Error{Kind: tasks.KindFatal, Type: typeNoInterpreter, Message: fmt.Sprintf("the interpreter %s is not on this worker (PATH=%s)", p.interpreter[0], r.cfg.Path)}
		}
		return "", nil
	}
	for _, name := range r.lang.binaries {
		if p, err := lookPath(name, r.cfg.Path); err == nil {
			return p, nil
		}
	}
	return "", &tasks.Error{Kind: tasks.KindFatal, Type: typeNoInterpreter, Message: fmt.Sprintf("%s needs %s on the worker's PATH, and none is there (PATH=%s): install it, or run this task on a worker that has it",
		r.typ, strings.Join(r.lang.binaries, " or "), r.cfg.Path)}
}

// lookPath finds name (a bare name, or a path) on path.
func lookPath(name, path string) (string, error) {
	if strings.Contains(name, "/") {
		return exec.LookPath(name)
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

func newAttempt(tempDir string) (*attempt, error) {
	root, err := os.MkdirTemp(tempDir, "relay-script-")
	if err != nil {
		return nil, err
	}
	a := &attempt{root: root, work: filepath.Join(root, "work"), tmp: filepath.Join(root, "tmp"), bin: filepath.Join(root, "bin")}
	for _, d := range []string{a.work, a.tmp, a.bin} {
		if err := os.Mkdir(d, 0o700); err != nil {
			os.RemoveAll(root)
			return nil, err
		}
	}
	return a, nil
}

// alias links name to bin in the bin folder when path has no name.
func (a *attempt) alias(name, bin, path string) error {
	if _, err := lookPath(name, path); err == nil {
		return nil
	}
	return os.Symlink(bin, filepath.Join(a.bin, name))
}

// Environment is the documented set of variables a script gets, besides
// the flow's `env` (which may override the first five) and the RELAY_ ids
// (which it may not). RELAY_ATTEMPT_KEY (tasks.EnvAttemptKey) names the
// attempt (tasks.Request.AttemptKey), for a script to pass on as an
// idempotency key; RELAY_ATTEMPT is the attempt's number (1 for the
// first, then one more per retry). A runner function's script gets them
// too.
var Environment = []string{"PATH", "HOME", "LANG", "TMPDIR", "WORKING_DIR",
	"RELAY_EXECUTION_ID", "RELAY_TASKRUN_ID", "RELAY_TASK_ID", "RELAY_NAMESPACE", "RELAY_FLOW_ID",
	tasks.EnvAttemptKey, EnvAttempt}

// EnvAttempt is the environment variable of the attempt's number.
const EnvAttempt = "RELAY_ATTEMPT"

// env is the process's environment, sorted: PATH, HOME (the working
// directory), LANG, TMPDIR, WORKING_DIR (Kestra's name for it), the
// language's own, the flow's env, and the RELAY_ ids last, so that a
// script can trust them.
func (r *runner) env(a *attempt, path string, user map[string]string, req tasks.Request) []string {
	env := map[string]string{"PATH": path, "HOME": a.work, "LANG": "C.UTF-8", "TMPDIR": a.tmp, "WORKING_DIR": a.work}
	for k, v := range r.lang.env {
		env[k] = v
	}
	for k, v := range user {
		env[k] = v
	}
	env["RELAY_EXECUTION_ID"] = req.ExecutionID
	env["RELAY_TASKRUN_ID"] = req.TaskRunID
	env["RELAY_TASK_ID"] = req.TaskID
	env["RELAY_NAMESPACE"] = req.Namespace
	env["RELAY_FLOW_ID"] = req.FlowID
	if req.AttemptKey != "" {
		env[tasks.EnvAttemptKey] = req.AttemptKey
	}
	env[EnvAttempt] = strconv.Itoa(req.Attempt)
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

// outcome is how the process ended and what it printed.
type outcome struct {
	code int
	// signal names the signal that killed the process (not one of
	// ours): it crashed.
	signal         string
	stdout, stderr *tailBuffer // shell.commands' outputs
	stderrTail     *tailBuffer // for the error message
	stderrLines    int
	proto          *collector
}

// exec runs script with the interpreter in dir, logging its lines as they
// come with mask's secrets hidden. The error is set when the process could
// not run or was stopped (deadline, kill); a non-zero exit is the
// outcome's code.
func (r *runner) exec(ctx context.Context, log *slog.Logger, mask *secrets.Masker, dir string, interpreter []string, script string, env []string) (outcome, error) {
	out := outcome{stdout: &tailBuffer{max: r.cfg.OutputTail}, stderr: &tailBuffer{max: r.cfg.OutputTail}, stderrTail: &tailBuffer{max: 4096}, proto: newCollector(log, mask)}
	args := append(append([]string(nil), interpreter[1:]...), script)
	cmd := exec.Command(interpreter[0], args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}

	// Plain pipes rather than cmd.StdoutPipe: exec then hands the files to the
	// child as they are, and Wait does not wait for the readers, which only
	// end when every process holding the pipes is gone.
	outR, outW, err := os.Pipe()
	if err != nil {
		return out, &tasks.Error{Kind: tasks.KindRetryable, Type: typeShellStart, Message: "creating the stdout pipe", Err: err}
	}
	defer func() { _ = outR.Close() }()
	errR, errW, err := os.Pipe()
	if err != nil {
		_ = outW.Close()
		return out, &tasks.Error{Kind: tasks.KindRetryable, Type: typeShellStart, Message: "creating the stderr pipe", Err: err}
	}
	defer func() { _ = errR.Close() }()
	cmd.Stdout, cmd.Stderr = outW, errW

	startErr := cmd.Start()
	_ = outW.Close()
	_ = errW.Close()
	if startErr != nil {
		if errors.Is(startErr, syscall.E2BIG) {
			return out, tasks.PropError("commands", "the script is too long to pass to %s (%d bytes)", interpreter[0], len(script))
		}
		return out, &tasks.Error{Kind: tasks.KindFatal, Type: typeShellStart, Message: "starting " + interpreter[0], Err: startErr}
	}
	pgid := cmd.Process.Pid

	var readers sync.WaitGroup
	var stderrMu sync.Mutex
	readers.Go(func() {
		consume(outR, out.stdout, out.proto, func(line string, truncated bool) { logLine(log, slog.LevelInfo, "stdout", line, truncated) })
	})
	readers.Go(func() {
		consume(errR, out.stderr, out.proto, func(line string, truncated bool) {
			stderrMu.Lock()
			out.stderrLines++
			out.stderrTail.write([]byte(line + "\n"))
			stderrMu.Unlock()
			logLine(log, slog.LevelWarn, "stderr", line, truncated)
		})
	})

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

	waitDrained(drained, func() {
		log.Warn("output pipes still open after the script ended; closing them", "pid", pgid)
	}, outR, errR)

	code, err := exitCode(cmd.ProcessState, waitErr)
	if err != nil {
		return out, &tasks.Error{Kind: tasks.KindRetryable, Type: typeShellStart, Message: "waiting for " + interpreter[0], Err: err}
	}
	out.code, out.signal = code, killedBy(cmd.ProcessState)
	if stopped {
		// The group was killed because ctx ended; its exit code says only that.
		return out, tasks.CtxError(ctx, "running the script; its process group was killed", nil)
	}
	return out, nil
}

func logLine(log *slog.Logger, level slog.Level, msg, line string, truncated bool) {
	if truncated {
		log.Log(context.Background(), level, msg, "line", line, "truncated", true)
		return
	}
	log.Log(context.Background(), level, msg, "line", line)
}

// lastLines is the last n non-blank lines of s.
func lastLines(s string, n int) string {
	var keep []string
	lines := strings.Split(s, "\n")
	for i := len(lines) - 1; i >= 0 && len(keep) < n; i-- {
		if l := strings.TrimRight(lines[i], " \t\r"); strings.TrimSpace(l) != "" {
			keep = append(keep, l)
		}
	}
	for i, j := 0, len(keep)-1; i < j; i, j = i+1, j-1 {
		keep[i], keep[j] = keep[j], keep[i]
	}
	return strings.Join(keep, "\n")
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
