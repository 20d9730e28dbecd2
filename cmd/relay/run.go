package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/relayflow/relay/api"
	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/infra/embedded"
	"github.com/relayflow/relay/secrets"
	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/statemachine/expr"
	"github.com/relayflow/relay/statemachine/flow"
	"github.com/relayflow/relay/statemachine/inputs"
)

// Exit codes of every command (README, Exit codes).
const (
	exitOK      = 0 // SUCCESS or WARNING; a command that did what it was asked
	exitFailed  = 1 // FAILED, KILLED or CANCELLED; a request the deployment refused; flows with problems
	exitInvalid = 2 // an invalid flow, inputs, flag or command
	exitPaused  = 3 // paused, waiting to be resumed
	// exitLocked: the data directory is in use by another relay process
	// (relay server, relay run) that keeps it locked.
	exitLocked = 4
	// exitUnreachable: no Relay server answers at the API address.
	exitUnreachable = 5
)

func runCmd() *cobra.Command {
	var (
		inputKV    []string
		inputsFile string
		opts       runOptions
	)
	cmd := &cobra.Command{
		Use:   "run FILE",
		Short: "Run a flow to its end in this process, with no services",
		Long: "Run validates FILE, stores it in the embedded store (--data-dir, RELAY_DATA_DIR, default ~/.relay),\n" +
			"creates an execution and runs it here, showing each state change and log line.\n\n" +
			"Exit codes: 0 SUCCESS or WARNING, 1 FAILED, KILLED or CANCELLED, 2 invalid flow or inputs,\n" +
			"3 paused (resume with `relay executions resume ID`), 4 data directory in use, 5 no server reachable.\n" +
			"Ctrl-C or SIGTERM kills the execution and saves it. While relay server holds the data directory,\n" +
			"the flow runs there, through its API.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.output != "text" && opts.output != "json" {
				return &exitError{code: exitInvalid, err: fmt.Errorf("unknown output format %q: use text or json", opts.output)}
			}
			src, err := os.ReadFile(args[0])
			if err != nil {
				return &exitError{code: exitInvalid, err: fmt.Errorf("reading flow: %w", err)}
			}
			f, err := engine.ParseFlow(args[0], src)
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return &exitError{code: exitInvalid, err: fmt.Errorf("%s is not a valid flow", args[0])}
			}
			provided, err := readInputs(inputKV, inputsFile)
			if err != nil {
				return &exitError{code: exitInvalid, err: err}
			}
			if _, err := f.ResolveInputs(dryRunFiles(f, provided), &expr.Env{Now: time.Now(), Secret: secrets.DryRunSecret}); err != nil {
				return &exitError{code: exitInvalid, err: fmt.Errorf("invalid inputs:\n%w", err)}
			}
			err = runFlow(cmd, args[0], src, provided, opts)
			if errors.Is(err, embedded.ErrLocked) {
				url, err := lockedDataDir(cmd, err)
				if err != nil {
					return err
				}
				return runOnServer(cmd, url, args[0], src, f, provided, opts)
			}
			return err
		},
	}
	cmd.Flags().StringArrayVarP(&inputKV, "input", "i", nil, "an input as name=value (repeat for several); name=@path uploads a file for a FILE input")
	cmd.Flags().StringVar(&inputsFile, "inputs-file", "", "a JSON file of inputs by name")
	cmd.Flags().StringVarP(&opts.output, "output", "o", "text", "text, or json: only the final execution on stdout, progress on stderr")
	cmd.Flags().StringVar(&opts.flowsDir, "flows", "", "deploy the flows in this directory first (for subflows)")
	cmd.Flags().IntVar(&opts.workers, "workers", 8, "task attempts running at once")
	progressFlag(cmd, &opts.progress)
	return cmd
}

func progressFlag(cmd *cobra.Command, mode *string) {
	cmd.Flags().StringVar(mode, "progress", progressAuto, "auto (live on a terminal), live (a status block redrawn in place) or plain (one line per change)")
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

// runOnServer runs the flow on the relay server at url, which holds the
// data directory: it deploys the flow (and --flows) there, starts an
// execution and follows it to its end, with relay run's exit codes.
func runOnServer(cmd *cobra.Command, url, file string, src []byte, f *flow.Flow, provided map[string]any, opts runOptions) error {
	c, err := newAPIClient(cmd.Context(), url)
	if err != nil {
		return err
	}
	files, closeFiles, err := openFileInputs(fileInputs(f, provided))
	if err != nil {
		return &exitError{code: exitInvalid, err: err}
	}
	defer closeFiles()
	for name := range files {
		delete(provided, name)
	}
	t := &target{cp: c, where: "relay server " + url, viaServer: true, close: func() {}}
	stdout := cmd.OutOrStdout()
	if opts.output == "json" {
		cmd.SetOut(cmd.ErrOrStderr()) // progress on stderr, the execution alone on stdout
		defer cmd.SetOut(stdout)
	}
	save := func(file string, src []byte) (engine.FlowRecord, error) {
		return c.DeployFlow(cmd.Context(), file, src)
	}
	if opts.flowsDir != "" {
		if err := deployDir(cmd, save, opts.flowsDir, cmd.OutOrStdout()); err != nil {
			return &exitError{code: exitInvalid, err: err}
		}
	}
	rec, err := save(file, src)
	if err != nil {
		return requestError(err)
	}
	st, err := c.StartWith(cmd.Context(), rec.Namespace, rec.ID, provided, nil, api.StartOptions{IdempotencyKey: "cli-" + engine.NewID(), Files: files})
	if err != nil {
		return requestError(err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Execution %s of %s/%s (revision %d) on relay server %s\n", st.ID, rec.Namespace, rec.ID, st.Revision, url)
	err = waitRemote(cmd, t, st.ID, following{})
	if cmd.Context().Err() != nil { // Ctrl-C or SIGTERM: as relay run does here
		fmt.Fprintf(cmd.OutOrStdout(), "\nInterrupted: killing execution %s...\n", st.ID)
		if kerr := c.Kill(context.WithoutCancel(cmd.Context()), st.ID); kerr != nil {
			return kerr
		}
		return &exitError{code: exitFailed, err: fmt.Errorf("execution %s killed", st.ID)}
	}
	if opts.output == "json" {
		doc, derr := c.Execution(context.WithoutCancel(cmd.Context()), st.ID)
		if derr != nil {
			return derr
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if derr := enc.Encode(doc); derr != nil {
			return derr
		}
	}
	return err
}

// runOptions are the flags of `relay run` past validation.
type runOptions struct {
	output   string // text or json
	progress string // auto, live or plain
	flowsDir string
	workers  int
}

func runFlow(cmd *cobra.Command, file string, src []byte, provided map[string]any, opts runOptions) error {
	progress := cmd.OutOrStdout()
	if opts.output == "json" {
		progress = cmd.ErrOrStderr()
	}
	live, err := liveMode(opts.progress, progress)
	if err != nil {
		return &exitError{code: exitInvalid, err: err}
	}
	p := newPrinter(progress, live)
	sys, err := startSystem(cmd, systemOptions{workers: opts.workers, onCommit: p.commit, onLog: p.logLine})
	if err != nil {
		return err
	}
	defer sys.close()
	ctx := cmd.Context()
	if opts.flowsDir != "" {
		save := func(file string, src []byte) (engine.FlowRecord, error) {
			rec, _, err := sys.engine.Deploy(ctx, file, src)
			return rec, err
		}
		if err := deployDir(cmd, save, opts.flowsDir, progress); err != nil {
			return &exitError{code: exitInvalid, err: err}
		}
	}
	rec, f, err := sys.engine.Deploy(ctx, file, src)
	if err != nil {
		return &exitError{code: exitInvalid, err: err}
	}
	id := engine.NewID()
	if provided, err = storeFileInputs(ctx, sys.files, f, id, provided); err != nil {
		return &exitError{code: exitInvalid, err: err}
	}
	if provided, err = engine.SealInputs(sys.secrets, f.Namespace, f.Inputs, provided); err != nil {
		return err
	}
	p.begin(id, fmt.Sprintf("Execution %s of %s/%s (revision %d)", id, f.Namespace, f.ID, rec.Revision), f.Namespace+"/"+f.ID)
	if err := sys.engine.Submit(ctx, statemachine.Event{ExecutionID: id, Namespace: f.Namespace, FlowID: f.ID, Revision: rec.Revision, Inputs: provided}); err != nil {
		return err
	}
	ex, code := p.wait(cmd, sys, f, id)
	if ex == nil {
		return &exitError{code: exitFailed, err: errors.New("the execution did not end")}
	}
	if opts.output == "json" {
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

// printer shows progress: on a terminal a live status block of the task
// runs under the log lines, otherwise one line per task-run state change and
// per log line; then a summary.
type printer struct {
	mu       sync.Mutex
	w        io.Writer
	root     string
	finished chan *statemachine.Execution
	last     *statemachine.Execution
	live     *liveView // nil in plain mode
	stopped  chan struct{}
	done     chan struct{}
	// plain mode: runs seen, and when counts were last printed once
	// there are more than plainRuns.
	runs      *liveStatus
	countedAt time.Time
	// In plain mode a task's log lines wait until its RUNNING line (or a
	// later one) is printed: the worker writes them while the executor is
	// still committing the start, and they would come first.
	started map[string]bool     // runs whose start or end was printed, by execution/run
	held    map[string][]string // their log lines until then
}

// plainRuns is the most task runs plain progress shows change by change;
// past it, it prints their counts by state every plainEvery, and still
// every failure.
const (
	plainRuns  = 200
	plainEvery = 5 * time.Second
)

func newPrinter(w io.Writer, live bool) *printer {
	p := &printer{w: w, finished: make(chan *statemachine.Execution, 1), runs: newLiveStatus("")}
	if live {
		p.live = newLiveView(w, "")
	}
	return p
}

// begin names the execution being followed, prints header and, in live
// mode, starts redrawing the status block, titled title, ten times a second.
func (p *printer) begin(id, header, title string) {
	p.mu.Lock()
	p.root = id
	p.mu.Unlock()
	if p.live == nil {
		fmt.Fprintln(p.w, header)
		return
	}
	p.live.status.title = title
	p.live.logs = append(p.live.logs, header)
	p.stopped, p.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(p.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-p.stopped:
				return
			case now := <-tick.C:
				p.mu.Lock()
				p.live.draw(now, false)
				p.mu.Unlock()
			}
		}
	}()
}

// end stops the live view, leaving the log lines and no status block.
func (p *printer) end() {
	if p.live == nil || p.stopped == nil {
		return
	}
	close(p.stopped)
	<-p.done
	p.stopped = nil
	p.mu.Lock()
	defer p.mu.Unlock()
	p.live.draw(time.Now(), true)
}

func (p *printer) commit(ex *statemachine.Execution, changed []*statemachine.TaskRun) {
	p.mu.Lock()
	defer p.mu.Unlock()
	prefix := ""
	if ex.ID != p.root {
		prefix = ex.FlowID + ": "
	}
	if p.live != nil {
		p.live.status.update(prefix, changed)
		if ex.ID == p.root {
			p.live.status.state, p.live.status.start = ex.State, ex.StartDate
		}
	}
	if p.live == nil {
		for _, r := range changed {
			if key := ex.ID + "/" + r.ID; r.State.Terminal() && !p.started[key] {
				p.startedAndEnded(prefix, key, r)
			}
		}
		p.plain(prefix, changed)
		for _, r := range changed {
			if r.State == statemachine.RunSubmitted || r.State == statemachine.RunCreated {
				continue
			}
			key := ex.ID + "/" + r.ID
			if p.started == nil {
				p.started = map[string]bool{}
			}
			p.started[key] = true
			for _, l := range p.held[key] {
				fmt.Fprint(p.w, l)
			}
			delete(p.held, key)
			if r.State.Terminal() { // its lines came before its end: forget it
				delete(p.started, key)
			}
		}
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

// startedAndEnded prints, for a run whose start and end came in one
// commit (the engine applies the events it has in one batch), its start
// (with the time of its attempt) and the log lines held for it, so that
// they come before its end as for any other run.
func (p *printer) startedAndEnded(prefix, key string, r *statemachine.TaskRun) {
	if a := r.CurrentAttempt(); a != nil && !a.StartDate.IsZero() && p.runs.total() <= plainRuns {
		attempt := ""
		if n := len(r.Attempts); n > 1 {
			attempt = fmt.Sprintf(" (attempt %d)", n)
		}
		fmt.Fprintf(p.w, "%s  %-28s %s%s\n", a.StartDate.Format("15:04:05.000"), prefix+r.ID, statemachine.RunRunning, attempt)
	}
	for _, l := range p.held[key] {
		fmt.Fprint(p.w, l)
	}
	delete(p.held, key)
}

// plain prints the state changes of a commit, one line each, until the
// execution has more than plainRuns task runs; then only failures one by
// one, and the counts of all runs every plainEvery.
func (p *printer) plain(prefix string, changed []*statemachine.TaskRun) {
	few := p.runs.total() <= plainRuns
	p.runs.update(prefix, changed)
	if few && p.runs.total() <= plainRuns {
		printChanges(p.w, prefix, changed)
		return
	}
	if few {
		fmt.Fprintf(p.w, "%s  more than %d task runs: failures shown one by one, counts every %s\n", time.Now().Format("15:04:05.000"), plainRuns, plainEvery)
	}
	var failed []*statemachine.TaskRun
	for _, r := range changed {
		if r.State == statemachine.RunFailed || r.State == statemachine.RunCrashed || r.State == statemachine.RunRetrying {
			failed = append(failed, r)
		}
	}
	printChanges(p.w, prefix, failed)
	if now := time.Now(); now.Sub(p.countedAt) >= plainEvery {
		p.countedAt = now
		fmt.Fprintf(p.w, "%s  %d task runs: %s\n", now.Format("15:04:05.000"), p.runs.total(), formatCounts(p.runs.counts))
	}
}

// changeTime is when a run's state changed, by the clocks of the events
// (the worker's for a start), so that the lines agree with the log lines'
// times; now for changes without a date of their own.
func changeTime(r *statemachine.TaskRun) time.Time {
	switch a := r.CurrentAttempt(); {
	case r.State.Terminal() && !r.EndDate.IsZero():
		return r.EndDate
	case r.State == statemachine.RunRunning && a != nil && !a.StartDate.IsZero():
		return a.StartDate
	}
	return time.Now()
}

func printChanges(w io.Writer, prefix string, changed []*statemachine.TaskRun) {
	for _, r := range changed {
		attempt := ""
		if n := len(r.Attempts); n > 1 || n == 1 && r.State == statemachine.RunRetrying {
			attempt = fmt.Sprintf(" (attempt %d)", n)
		}
		detail := ""
		if r.Error != nil && r.State.Terminal() {
			detail = ": " + secrets.MaskText(r.Error.Message)
		}
		fmt.Fprintf(w, "%s  %-28s %s%s%s\n", changeTime(r).Format("15:04:05.000"), prefix+r.ID, r.State, attempt, detail)
	}
}

func (p *printer) logLine(l engine.LogEntry) {
	where := l.TaskRunID
	if where == "" {
		where = "execution"
	}
	line := fmt.Sprintf("%s  %-28s %-5s %s\n", l.Time.Format("15:04:05.000"), where, l.Level, l.Message)
	if p.live == nil && l.TaskRunID != "" {
		p.mu.Lock()
		key := l.ExecutionID + "/" + l.TaskRunID
		if !p.started[key] {
			if p.held == nil {
				p.held = map[string][]string{}
			}
			p.held[key] = append(p.held[key], line)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
	}
	p.printf("%s", line)
}

// flushHeld prints the log lines still held (of runs whose start was never
// printed), in the order they came.
func (p *printer) flushHeld() {
	p.mu.Lock()
	defer p.mu.Unlock()
	keys := make([]string, 0, len(p.held))
	for k := range p.held {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, l := range p.held[k] {
			fmt.Fprint(p.w, l)
		}
	}
	p.held = nil
}

// printf writes a line of progress; in live mode it scrolls above the
// status block.
func (p *printer) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.live != nil && p.stopped != nil {
		p.live.logs = append(p.live.logs, strings.TrimSuffix(fmt.Sprintf(format, args...), "\n"))
		return
	}
	fmt.Fprintf(p.w, format, args...)
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
				p.printf("\nThe execution is paused. Resume it with:\n  relay executions resume %s [--input name=value]\n", id)
				return ex, exitPaused
			}
		case <-interrupted:
			interrupted = nil
			p.printf("\nInterrupted: killing execution %s...\n", id)
			if err := sys.engine.Send(context.WithoutCancel(cmd.Context()), statemachine.Event{ID: id + "/kill", Type: statemachine.EvKill, ExecutionID: id}); err != nil {
				p.printf("relay: killing the execution: %v\n", err)
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

// summaryRuns is the most task runs the closing summary lists; past it,
// it counts them by state and lists the failed and the slowest.
const (
	summaryRuns    = 50
	summaryFailed  = 10
	summarySlowest = 5
)

func (p *printer) summary(ex *statemachine.Execution) {
	p.flushHeld()
	p.end()
	p.mu.Lock()
	defer p.mu.Unlock()
	end := ex.EndDate
	if end.IsZero() {
		end = time.Now()
	}
	fmt.Fprintf(p.w, "\n%s/%s %s  %s in %s\n", ex.Namespace, ex.FlowID, ex.ID, ex.State, end.Sub(ex.StartDate).Round(time.Millisecond))
	if ex.Error != "" && ex.State == statemachine.ExecFailed {
		fmt.Fprintf(p.w, "  %s\n", secrets.MaskText(ex.Error))
	}
	if len(ex.TaskRuns) <= summaryRuns {
		printTaskRuns(p.w, engine.Document(ex).TaskRuns)
	} else {
		summarizeRuns(p.w, ex)
	}
	if len(ex.Outputs) > 0 {
		fmt.Fprintln(p.w, "\nOutputs:")
		keys := make([]string, 0, len(ex.Outputs))
		for k := range ex.Outputs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(p.w, "  %s: %s\n", k, abbreviate(expr.Stringify(ex.Outputs[k]), 500))
		}
	}
}

// summarizeRuns writes what matters of many task runs: their counts by
// state, the first failed ones and the slowest, in one pass.
func summarizeRuns(w io.Writer, ex *statemachine.Execution) {
	var failed, slowest []*statemachine.TaskRun
	took := func(r *statemachine.TaskRun) time.Duration {
		if r.StartDate.IsZero() || r.EndDate.IsZero() {
			return 0
		}
		return r.EndDate.Sub(r.StartDate)
	}
	counts := map[statemachine.RunState]int{}
	nFailed := 0
	for _, r := range ex.TaskRuns {
		counts[r.State]++
		if r.State == statemachine.RunFailed || r.State == statemachine.RunCrashed {
			if nFailed++; len(failed) < summaryFailed {
				failed = append(failed, r)
			}
		}
		if d := took(r); d > 0 && len(r.Attempts) > 0 { // a flowable task lasts as long as its children: not a slow one
			i := sort.Search(len(slowest), func(i int) bool { return took(slowest[i]) < d })
			if i < summarySlowest {
				slowest = slices.Insert(slowest, i, r)
				if len(slowest) > summarySlowest {
					slowest = slowest[:summarySlowest]
				}
			}
		}
	}
	fmt.Fprintf(w, "\n%d task runs: %s\n", len(ex.TaskRuns), formatCounts(counts))
	docs := func(runs []*statemachine.TaskRun) []engine.TaskRunDoc {
		c := *ex
		c.TaskRuns = runs
		return engine.Document(&c).TaskRuns
	}
	if len(failed) > 0 {
		fmt.Fprintf(w, "\nFailed (%d of %d):\n", len(failed), nFailed)
		for _, r := range failed {
			msg := ""
			if r.Error != nil {
				msg = r.Error.Message
			}
			fmt.Fprintf(w, "  %-28s %s\n", r.ID, abbreviate(msg, 200))
		}
	}
	if len(slowest) > 0 {
		fmt.Fprint(w, "\nSlowest:")
		printTaskRuns(w, docs(slowest))
	}
	fmt.Fprintf(w, "\nAll of them: relay executions show %s --all\n", ex.ID)
}

// printTaskRuns writes the table of task runs, children indented under
// their parents.
func printTaskRuns(w io.Writer, runs []engine.TaskRunDoc) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nTASK RUN\tSTATE\tATTEMPTS\tDURATION\t")
	depth := map[string]int{}
	for _, r := range runs {
		if d, ok := depth[r.ParentID]; ok && r.ParentID != "" {
			depth[r.ID] = d + 1
		} else {
			depth[r.ID] = 0
		}
		dur := ""
		if r.StartDate != nil && r.EndDate != nil {
			dur = r.EndDate.Sub(*r.StartDate).Round(time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%d\t%s\t\n", strings.Repeat("  ", depth[r.ID]), r.ID, r.State, len(r.Attempts), dur)
	}
	tw.Flush()
}
