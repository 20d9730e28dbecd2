package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/statemachine/expr"
	"github.com/relayflow/relay/statemachine/flow"
	"github.com/relayflow/relay/statemachine/inputs"
)

// Exit codes of relay run.
const (
	exitOK      = 0 // SUCCESS or WARNING
	exitFailed  = 1 // FAILED, KILLED or CANCELLED
	exitInvalid = 2 // an invalid flow or inputs
	exitPaused  = 3 // paused, waiting to be resumed
)

func runCmd() *cobra.Command {
	var (
		inputKV    []string
		inputsFile string
		output     string
		flowsDir   string
		workers    int
	)
	cmd := &cobra.Command{
		Use:   "run FILE",
		Short: "Run a flow to its end in this process, with no services",
		Long: "Run validates FILE, stores it in the embedded store (--data-dir, RELAY_DATA_DIR, default ~/.relay),\n" +
			"creates an execution and runs it here, showing each state change and log line.\n\n" +
			"Exit codes: 0 SUCCESS or WARNING, 1 FAILED, KILLED or CANCELLED, 2 invalid flow or inputs,\n" +
			"3 paused (resume with `relay executions resume ID`). Ctrl-C kills the execution and saves it.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return &exitError{code: exitInvalid, err: fmt.Errorf("unknown output format %q: use text or json", output)}
			}
			src, err := os.ReadFile(args[0])
			if err != nil {
				return &exitError{code: exitInvalid, err: fmt.Errorf("reading flow: %w", err)}
			}
			f, err := flow.Parse(args[0], src)
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return &exitError{code: exitInvalid, err: fmt.Errorf("%s is not a valid flow", args[0])}
			}
			provided, err := readInputs(inputKV, inputsFile)
			if err != nil {
				return &exitError{code: exitInvalid, err: err}
			}
			if _, err := f.ResolveInputs(provided, &expr.Env{Now: time.Now(), Secret: envSecret}); err != nil {
				return &exitError{code: exitInvalid, err: fmt.Errorf("invalid inputs:\n%w", err)}
			}
			return runFlow(cmd, args[0], src, provided, output, flowsDir, workers)
		},
	}
	cmd.Flags().StringArrayVarP(&inputKV, "input", "i", nil, "an input as name=value (repeat for several)")
	cmd.Flags().StringVar(&inputsFile, "inputs-file", "", "a JSON file of inputs by name")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text, or json: only the final execution on stdout, progress on stderr")
	cmd.Flags().StringVar(&flowsDir, "flows", "", "deploy the flows in this directory first (for subflows)")
	cmd.Flags().IntVar(&workers, "workers", 8, "task attempts running at once")
	return cmd
}

func readInputs(kv []string, file string) (map[string]any, error) {
	provided := map[string]any{}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("reading inputs: %w", err)
		}
		if err := json.Unmarshal(b, &provided); err != nil {
			return nil, fmt.Errorf("reading inputs from %s: %w", file, err)
		}
	}
	given, err := inputs.ParseAssignments(kv)
	if err != nil {
		return nil, err
	}
	for k, v := range given {
		provided[k] = v
	}
	return provided, nil
}

func runFlow(cmd *cobra.Command, file string, src []byte, provided map[string]any, output, flowsDir string, workers int) error {
	progress := cmd.OutOrStdout()
	if output == "json" {
		progress = cmd.ErrOrStderr()
	}
	p := &printer{w: progress, start: time.Now(), finished: make(chan *statemachine.Execution, 1)}
	sys, err := startSystem(cmd, systemOptions{workers: workers, onCommit: p.commit, onLog: p.logLine})
	if err != nil {
		return err
	}
	defer sys.close()
	ctx := cmd.Context()
	if flowsDir != "" {
		save := func(file string, src []byte) (engine.FlowRecord, error) {
			rec, _, err := sys.engine.Deploy(ctx, file, src)
			return rec, err
		}
		if err := deployDir(cmd, save, flowsDir, progress); err != nil {
			return &exitError{code: exitInvalid, err: err}
		}
	}
	rec, f, err := sys.engine.Deploy(ctx, file, src)
	if err != nil {
		return &exitError{code: exitInvalid, err: err}
	}
	id := engine.NewID()
	p.root = id
	fmt.Fprintf(progress, "Execution %s of %s/%s (revision %d)\n", id, f.Namespace, f.ID, rec.Revision)
	if err := sys.engine.Submit(ctx, statemachine.Event{ExecutionID: id, Namespace: f.Namespace, FlowID: f.ID, Inputs: provided}); err != nil {
		return err
	}
	ex, code := p.wait(cmd, sys, f, id)
	if ex == nil {
		return &exitError{code: exitFailed, err: errors.New("the execution did not end")}
	}
	if output == "json" {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		if err := enc.Encode(engine.Document(ex)); err != nil {
			return err
		}
	}
	p.summary(ex)
	if code != exitOK {
		return &exitError{code: code}
	}
	return nil
}

// printer shows progress: one line per task-run state change and per log
// line, then a summary.
type printer struct {
	mu       sync.Mutex
	w        io.Writer
	start    time.Time
	root     string
	finished chan *statemachine.Execution
	last     *statemachine.Execution
}

func (p *printer) stamp() string { return time.Now().Format("15:04:05.000") }

func (p *printer) commit(ex *statemachine.Execution, changed []*statemachine.TaskRun) {
	p.mu.Lock()
	defer p.mu.Unlock()
	prefix := ""
	if ex.ID != p.root {
		prefix = ex.FlowID + ": "
	}
	for _, r := range changed {
		attempt := ""
		if n := len(r.Attempts); n > 1 || n == 1 && r.State == statemachine.RunRetrying {
			attempt = fmt.Sprintf(" (attempt %d)", n)
		}
		detail := ""
		if r.Error != nil && r.State.Terminal() {
			detail = ": " + r.Error.Message
		}
		fmt.Fprintf(p.w, "%s  %-28s %s%s%s\n", p.stamp(), prefix+r.ID, r.State, attempt, detail)
	}
	if ex.ID != p.root {
		return
	}
	p.last = ex
	if ex.State.Terminal() || ex.State == statemachine.ExecPaused {
		select {
		case p.finished <- ex:
		default:
		}
	}
}

func (p *printer) logLine(l engine.LogEntry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	where := l.TaskRunID
	if where == "" {
		where = "execution"
	}
	fmt.Fprintf(p.w, "%s  %-28s %-5s %s\n", l.Time.Format("15:04:05.000"), where, l.Level, l.Message)
}

// wait blocks until the execution ends or pauses for a person; Ctrl-C
// kills it. It returns the execution and the exit code.
func (p *printer) wait(cmd *cobra.Command, sys *system, f *flow.Flow, id string) (*statemachine.Execution, int) {
	interrupted := cmd.Context().Done()
	var killDeadline <-chan time.Time
	for {
		select {
		case ex := <-p.finished:
			switch {
			case ex.State == statemachine.ExecSuccess || ex.State == statemachine.ExecWarning:
				return ex, exitOK
			case ex.State.Terminal():
				return ex, exitFailed
			case waitsForPerson(ex, f):
				fmt.Fprintf(p.w, "\nThe execution is paused. Resume it with:\n  relay executions resume %s [--input name=value]\n", id)
				return ex, exitPaused
			}
		case <-interrupted:
			interrupted = nil
			fmt.Fprintf(p.w, "\nInterrupted: killing execution %s...\n", id)
			if err := sys.engine.Send(context.WithoutCancel(cmd.Context()), statemachine.Event{ID: id + "/kill", Type: statemachine.EvKill, ExecutionID: id}); err != nil {
				fmt.Fprintln(p.w, "relay: killing the execution:", err)
			}
			killDeadline = time.After(40 * time.Second)
		case <-killDeadline:
			return p.last, exitFailed
		}
	}
}

// waitsForPerson reports whether a paused execution has a pause with no
// delay: only a person (or its timeout) will resume it.
func waitsForPerson(ex *statemachine.Execution, f *flow.Flow) bool {
	for _, r := range ex.TaskRuns {
		if r.State != statemachine.RunPaused {
			continue
		}
		if t, ok := f.Task(r.TaskID); ok && t.Prop("delay") == nil {
			return true
		}
	}
	return false
}

func (p *printer) summary(ex *statemachine.Execution) {
	p.mu.Lock()
	defer p.mu.Unlock()
	end := ex.EndDate
	if end.IsZero() {
		end = time.Now()
	}
	fmt.Fprintf(p.w, "\n%s/%s %s  %s in %s\n", ex.Namespace, ex.FlowID, ex.ID, ex.State, end.Sub(ex.StartDate).Round(time.Millisecond))
	if ex.Error != "" && ex.State == statemachine.ExecFailed {
		fmt.Fprintf(p.w, "  %s\n", ex.Error)
	}
	printTaskRuns(p.w, ex)
	if len(ex.Outputs) > 0 {
		fmt.Fprintln(p.w, "\nOutputs:")
		keys := make([]string, 0, len(ex.Outputs))
		for k := range ex.Outputs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(p.w, "  %s: %s\n", k, expr.Stringify(ex.Outputs[k]))
		}
	}
}

// printTaskRuns writes the table of task runs, children indented under
// their parents.
func printTaskRuns(w io.Writer, ex *statemachine.Execution) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nTASK RUN\tSTATE\tATTEMPTS\tDURATION\t")
	depth := map[string]int{}
	for _, r := range ex.TaskRuns {
		if r.ParentID != "" {
			depth[r.ID] = depth[r.ParentID] + 1
		}
		dur := ""
		if !r.StartDate.IsZero() && !r.EndDate.IsZero() {
			dur = r.EndDate.Sub(r.StartDate).Round(time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%d\t%s\t\n", strings.Repeat("  ", depth[r.ID]), r.ID, r.State, len(r.Attempts), dur)
	}
	tw.Flush()
}

func decodeBase64OrPlain(v string) string {
	if b, err := base64.StdEncoding.DecodeString(v); err == nil {
		return string(b)
	}
	return v
}
