package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/relayflow/relay/api"
	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/secrets"
	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/statemachine/expr"
	"github.com/relayflow/relay/statemachine/flow"
	"github.com/relayflow/relay/statemachine/inputs"
)

func executionsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "executions", Aliases: []string{"exec"}, Short: "Start, list, show, resume, kill, restart and replay executions (embedded store, or a deployment with --api/--direct)"}
	cmd.AddCommand(execStartCmd(), execListCmd(), execShowCmd(), execResumeCmd(), execKillCmd(), execRestartCmd(), execReplayCmd())
	return cmd
}

func execListCmd() *cobra.Command {
	var f engine.ExecutionFilter
	var state, output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List executions, newest first",
		Long: "List executions, newest first, as a table, or with --output json as the array GET /executions\n" +
			"returns (each execution without its task runs, with their counts).",
		Args: cobra.NoArgs,
		RunE: onTarget(func(cmd *cobra.Command, t *target, _ []string) error {
			if err := (shown{output: output}).check(); err != nil {
				return err
			}
			f.State = statemachine.ExecState(strings.ToUpper(state))
			list, err := t.cp.Executions(cmd.Context(), f)
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(list)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tFLOW\tSTATE\tSTARTED\tDURATION\t")
			for _, ex := range list {
				fmt.Fprintf(tw, "%s\t%s/%s\t%s\t%s\t%s\t\n", ex.ID, ex.Namespace, ex.FlowID, ex.State, ex.StartDate.Local().Format("2006-01-02 15:04:05"), docDuration(ex.StartDate, ex.EndDate))
			}
			return tw.Flush()
		}),
	}
	cmd.Flags().StringVar(&f.Namespace, "namespace", "", "only this namespace")
	cmd.Flags().StringVar(&f.FlowID, "flow", "", "only this flow id")
	cmd.Flags().StringVar(&state, "state", "", "only this state (SUCCESS, FAILED, PAUSED...)")
	cmd.Flags().IntVar(&f.Limit, "limit", 50, "at most this many (0: all)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

func duration(start, end time.Time) string {
	if end.IsZero() {
		return "-"
	}
	return end.Sub(start).Round(time.Millisecond).String()
}

func docDuration(start time.Time, end *time.Time) string {
	if end == nil {
		return "-"
	}
	return duration(start, *end)
}

func execShowCmd() *cobra.Command {
	var (
		output, cursor, state string
		limit                 int
		all                   bool
	)
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show an execution: its task runs with states, attempts, durations and outputs, a page at a time",
		Long: "Show prints an execution, its task runs counted by state, and a page of them (--limit, from --cursor,\n" +
			"only those in --state): each with its attempts, durations and outputs. --all prints every page.",
		Args: cobra.ExactArgs(1),
		RunE: onTarget(func(cmd *cobra.Command, t *target, args []string) error {
			if limit <= 0 || limit > api.MaxRunPage {
				return &exitError{code: exitInvalid, err: fmt.Errorf("--limit %d: want 1 to %d", limit, api.MaxRunPage)}
			}
			page := api.RunPage{Cursor: cursor, Limit: limit, State: statemachine.RunState(strings.ToUpper(state))}
			doc, err := t.cp.ExecutionPage(cmd.Context(), args[0], page)
			if err != nil {
				return t.notFound(requestError(err), args[0])
			}
			// A page with a state filter may come back short: read on
			// until it is full (or, with --all, to the end).
			for doc.NextCursor != "" && (all || len(doc.TaskRuns) < limit) {
				page.Cursor = doc.NextCursor
				if !all {
					page.Limit = limit - len(doc.TaskRuns)
				}
				more, err := t.cp.ExecutionPage(cmd.Context(), args[0], page)
				if err != nil {
					return t.notFound(err, args[0])
				}
				doc.TaskRuns, doc.NextCursor = append(doc.TaskRuns, more.TaskRuns...), more.NextCursor
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(doc)
			}
			showExecution(cmd.OutOrStdout(), doc, page)
			return nil
		}),
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	cmd.Flags().IntVar(&limit, "limit", 100, "task runs per page")
	cmd.Flags().StringVar(&cursor, "cursor", "", "start at this page (printed at the end of the page before)")
	cmd.Flags().StringVar(&state, "state", "", "only the task runs in this state (FAILED, RUNNING...)")
	cmd.Flags().BoolVar(&all, "all", false, "every page")
	return cmd
}

func showExecution(w io.Writer, ex engine.ExecutionDoc, page api.RunPage) {
	fmt.Fprintf(w, "Execution %s\n  flow      %s/%s revision %d\n  state     %s\n  started   %s\n  duration  %s\n",
		ex.ID, ex.Namespace, ex.FlowID, ex.Revision, ex.State, ex.StartDate.Local().Format(time.RFC3339), docDuration(ex.StartDate, ex.EndDate))
	if ex.Error != "" {
		fmt.Fprintf(w, "  error     %s\n", abbreviate(ex.Error, maxShown))
	}
	if len(ex.Inputs) > 0 {
		fmt.Fprintf(w, "  inputs    %s\n", abbreviate(expr.Stringify(ex.Inputs), maxShown))
	}
	fmt.Fprintf(w, "  task runs %d: %s\n", ex.TaskRunCount, formatCounts(ex.TaskRunCounts))
	if len(ex.TaskRuns) == 0 && page.State != "" {
		fmt.Fprintf(w, "\nNo task run is %s.\n", page.State)
	} else {
		printTaskRuns(w, ex.TaskRuns)
	}
	fmt.Fprintln(w)
	for _, r := range ex.TaskRuns {
		for i, a := range r.Attempts {
			msg := ""
			if a.Error != nil {
				msg = "  " + a.Error.Message
			}
			start := time.Time{}
			if a.StartDate != nil {
				start = *a.StartDate
			}
			fmt.Fprintf(w, "  %s attempt %d: %s %s%s\n", r.ID, i+1, a.State, docDuration(start, a.EndDate), msg)
		}
		if len(r.Outputs) > 0 {
			fmt.Fprintf(w, "  %s outputs: %s\n", r.ID, abbreviate(expr.Stringify(r.Outputs), 200))
		}
	}
	if ex.NextCursor != "" {
		which := ""
		if page.State != "" {
			which = " --state " + string(page.State)
		}
		fmt.Fprintf(w, "\nMore task runs: relay executions show %s%s --cursor %s (or --all)\n", ex.ID, which, ex.NextCursor)
	}
	if len(ex.Outputs) > 0 {
		fmt.Fprintf(w, "\nOutputs: %s\n", abbreviate(expr.Stringify(ex.Outputs), maxOutputsShown))
	}
}

// How many characters of inputs and errors, and of an execution's
// outputs, the text views show; --output json has them whole.
const (
	maxShown        = 500
	maxOutputsShown = 2000
)

func abbreviate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// execStartCmd starts an execution of a stored flow: in this process on
// the embedded store, or on a deployment (--api, --direct).
func execStartCmd() *cobra.Command {
	var (
		inputKV, labelKV []string
		inputsFile       string
		wait             bool
		out              shown
		idemKey, execID  string
	)
	cmd := &cobra.Command{
		Use:   "start NAMESPACE/ID",
		Short: "Start an execution of a deployed flow's latest revision",
		Long: "Start requests an execution of a flow stored with `relay flows deploy`. On the embedded store it\n" +
			"runs here until it ends (as `relay run` does); on a deployment (--api URL or --direct) it prints the\n" +
			"execution id, and with --wait follows its logs and task runs until it ends. With --output json\n" +
			"the final execution goes to stdout (docs/execution.md), progress to stderr.\n" +
			"Exit status with --wait: 0 SUCCESS or WARNING, 1 FAILED or KILLED, 3 PAUSED.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.check(); err != nil {
				return err
			}
			ns, id, err := parseRef(args[0])
			if err != nil {
				return &exitError{code: exitInvalid, err: err}
			}
			provided, err := readInputs(inputKV, inputsFile)
			if err != nil {
				return &exitError{code: exitInvalid, err: err}
			}
			labels, err := parseLabels(labelKV)
			if err != nil {
				return &exitError{code: exitInvalid, err: err}
			}
			t, err := openTarget(cmd)
			if err != nil {
				return err
			}
			if t.local {
				t.close() // the in-process engine opens the store itself
				return runStored(cmd, ns, id, provided, labels, out)
			}
			defer t.close()
			opts := api.StartOptions{IdempotencyKey: idemKey, ExecutionID: execID}
			if opts.IdempotencyKey == "" {
				// Every start is idempotent: the API answers a retry (after
				// a lost answer, a connection cut) with the first execution.
				opts.IdempotencyKey = "cli-" + engine.NewID()
			}
			if err := api.CheckStartOptions(opts); err != nil {
				return &exitError{code: exitInvalid, err: err}
			}
			files, closeFiles, err := remoteFileInputs(cmd.Context(), t, ns, id, provided)
			if err != nil {
				return err
			}
			defer closeFiles()
			for name := range files {
				delete(provided, name)
			}
			opts.Files = files
			st, err := t.cp.StartWith(cmd.Context(), ns, id, provided, labels, opts)
			if err != nil {
				return requestError(err)
			}
			if !wait && !t.viaServer {
				fmt.Fprintln(cmd.OutOrStdout(), st.ID)
				return nil
			}
			if !out.json() {
				fmt.Fprintf(cmd.OutOrStdout(), "Execution %s of %s/%s (revision %d)\n", st.ID, ns, id, st.Revision)
			}
			return waitRemote(cmd, t, st.ID, following{json: out.json()})
		},
	}
	cmd.Flags().StringArrayVarP(&inputKV, "input", "i", nil, "an input as name=value (repeatable); name=@path uploads a file for a FILE input")
	cmd.Flags().StringVar(&inputsFile, "inputs-file", "", "a JSON file of inputs by name")
	cmd.Flags().StringVar(&inputsFile, "inputs", "", "a JSON file of inputs")
	cmd.Flags().MarkDeprecated("inputs", "use --inputs-file, as relay run does")
	cmd.Flags().StringArrayVarP(&labelKV, "label", "l", nil, "a label as key=value (repeatable)")
	cmd.Flags().BoolVarP(&wait, "wait", "w", false, "on a deployment, follow the execution until it ends or pauses")
	cmd.Flags().StringVar(&idemKey, "idempotency-key", "", "on a deployment, the key that makes the start idempotent for 24h (default: a new one per command; the command retries with it on connection errors and 503)")
	cmd.Flags().StringVar(&execID, "execution-id", "", "on a deployment, the id of the execution (default: a new one); starting an id again returns the execution")
	out.flags(cmd)
	return cmd
}

// remoteFileInputs opens the local files given for FILE inputs of a
// deployed flow (its declaration read from the deployment).
func remoteFileInputs(ctx context.Context, t *target, ns, id string, provided map[string]any) (map[string]api.File, func(), error) {
	nothing := func() {}
	if !hasFileArgument(provided) {
		return nil, nothing, nil
	}
	rec, err := t.cp.Flow(ctx, ns, id, 0)
	if err != nil {
		return nil, nothing, requestError(t.notFound(err, ns+"/"+id))
	}
	f, err := engine.ParseFlow(rec.Namespace+"/"+rec.ID, rec.Source)
	if err != nil {
		return nil, nothing, err
	}
	files, closeAll, err := openFileInputs(fileInputs(f, provided))
	if err != nil {
		return nil, nothing, &exitError{code: exitInvalid, err: err}
	}
	return files, closeAll, nil
}

func hasFileArgument(provided map[string]any) bool {
	for _, v := range provided {
		if s, ok := v.(string); ok && strings.HasPrefix(s, "@") {
			return true
		}
	}
	return false
}

func parseLabels(kv []string) ([]flow.Label, error) {
	var out []flow.Label
	for _, l := range kv {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("label %q: want key=value", l)
		}
		out = append(out, flow.Label{Key: k, Value: v})
	}
	return out, nil
}

// requestError gives a request the deployment refused the exit status of
// its kind: 2 for invalid flows and inputs, 1 otherwise.
func requestError(err error) error {
	if errors.Is(err, api.ErrInvalid) {
		return &exitError{code: exitInvalid, err: err}
	}
	if errors.Is(err, engine.ErrNotFound) || errors.Is(err, api.ErrState) {
		return &exitError{code: exitFailed, err: err}
	}
	return err
}

// waitRemote follows an execution of a deployment and exits by its state.
// With o.json, progress goes to stderr and the final execution, as JSON,
// to stdout.
func waitRemote(cmd *cobra.Command, t *target, id string, o following) error {
	o.every, o.pending = 300*time.Millisecond, time.Minute
	progress := cmd.OutOrStdout()
	if o.json {
		progress = cmd.ErrOrStderr()
	}
	doc, err := follow(cmd.Context(), t, progress, id, o)
	if err != nil {
		if cmd.Context().Err() != nil {
			return &exitError{code: exitFailed, err: fmt.Errorf("stopped following %s; it goes on (kill it with `relay executions kill %s`)", id, id)}
		}
		return err
	}
	if o.json {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		if err := enc.Encode(doc); err != nil {
			return err
		}
		if code := stateExit(doc.State); code != exitOK {
			return &exitError{code: code}
		}
		return nil
	}
	fmt.Fprintf(cmd.OutOrStdout(), "\n%s/%s %s  %s in %s\n", doc.Namespace, doc.FlowID, doc.ID, doc.State, docDuration(doc.StartDate, doc.EndDate))
	if doc.Error != "" {
		fmt.Fprintf(cmd.OutOrStdout(), "  %s\n", doc.Error)
	}
	if doc.NextCursor == "" {
		printTaskRuns(cmd.OutOrStdout(), doc.TaskRuns)
	} else {
		fmt.Fprintf(cmd.OutOrStdout(), "\n%d task runs: %s (relay executions show %s)\n", doc.TaskRunCount, formatCounts(doc.TaskRunCounts), id)
	}
	if len(doc.Outputs) > 0 {
		fmt.Fprintf(cmd.OutOrStdout(), "\nOutputs: %s\n", abbreviate(expr.Stringify(doc.Outputs), maxOutputsShown))
	}
	if doc.State == "PAUSED" {
		fmt.Fprintf(cmd.OutOrStdout(), "\nThe execution is paused. Resume it with:\n  relay executions resume %s [--input name=value]\n", id)
	}
	if code := stateExit(doc.State); code != exitOK {
		return &exitError{code: code}
	}
	return nil
}

// execResumeCmd continues a paused execution: on the embedded store in this
// process (its state comes from the store, which proves it survived the
// process that paused), on a deployment by sending the event.
func execResumeCmd() *cobra.Command {
	var inputKV []string
	var progress string
	var wait bool
	cmd := &cobra.Command{
		Use:   "resume ID",
		Short: "Resume a PAUSED execution (with onResume inputs)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			given, err := inputs.ParseAssignments(inputKV)
			if err != nil {
				return &exitError{code: exitInvalid, err: err}
			}
			return control(cmd, args[0], following{}, wait, "resumed", func(t *target) error { return t.cp.Resume(cmd.Context(), args[0], given) }, func() error {
				return continueExecution(cmd, args[0], shown{progress: progress}, statemachine.Event{ID: args[0] + "/resume/" + engine.NewID(), Type: statemachine.EvResume, ExecutionID: args[0], Inputs: given})
			})
		},
	}
	cmd.Flags().StringArrayVarP(&inputKV, "input", "i", nil, "an onResume input as name=value")
	cmd.Flags().BoolVarP(&wait, "wait", "w", false, "on a deployment, follow the execution until it ends or pauses")
	progressFlag(cmd, &progress)
	return cmd
}

func execKillCmd() *cobra.Command {
	var progress string
	var wait bool
	cmd := &cobra.Command{
		Use:   "kill ID",
		Short: "Kill an execution (one running in `relay run` is killed with Ctrl-C)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			err := control(cmd, args[0], following{}, wait, "kill requested", func(t *target) error { return t.cp.Kill(cmd.Context(), args[0]) }, func() error {
				return continueExecution(cmd, args[0], shown{progress: progress}, statemachine.Event{ID: args[0] + "/kill", Type: statemachine.EvKill, ExecutionID: args[0]})
			})
			// The execution ended KILLED (or CANCELLED): what was asked.
			// An execution that had ended already is an error with a
			// message, and keeps its code.
			if ee := (*exitError)(nil); errors.As(err, &ee) && ee.code == exitFailed && ee.err == nil {
				return nil
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&wait, "wait", "w", false, "on a deployment, follow the execution until it ends")
	progressFlag(cmd, &progress)
	return cmd
}

// execRestartCmd restarts a FAILED or KILLED execution in place.
func execRestartCmd() *cobra.Command {
	var out shown
	var wait bool
	cmd := &cobra.Command{
		Use:   "restart ID",
		Short: "Restart a FAILED or KILLED execution: its failed task runs run again, in the same execution",
		Long: "Restart runs a FAILED or KILLED execution again, in place, with the flow revision it ran: its failed\n" +
			"and killed task runs run again (their attempts go on), those that succeeded keep their outputs (Kestra's\n" +
			"restart, Prefect's retry of a failed run). On the embedded store it runs here until it ends; on a\n" +
			"deployment, --wait follows it. Exit status as `relay run`.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.check(); err != nil {
				return err
			}
			return control(cmd, args[0], following{json: out.json()}, wait, "restarted", func(t *target) error { return t.cp.Restart(cmd.Context(), args[0]) }, func() error {
				return continueExecution(cmd, args[0], out, statemachine.Event{ID: args[0] + "/restart/" + engine.NewID(), Type: statemachine.EvRestart, ExecutionID: args[0]})
			})
		},
	}
	cmd.Flags().BoolVarP(&wait, "wait", "w", false, "on a deployment, follow the execution until it ends or pauses")
	out.flags(cmd)
	return cmd
}

// execReplayCmd starts a new execution that replays one from a task.
func execReplayCmd() *cobra.Command {
	var out shown
	var wait bool
	var from string
	cmd := &cobra.Command{
		Use:   "replay ID --from TASK",
		Short: "Replay an execution from a task: a new execution that reuses the outputs of the task runs before it",
		Long: "Replay starts a new execution of the flow revision ID ran. The task runs of ID before TASK (a task run\n" +
			"id, or a task id for its first run) are not run again: their outputs are reused. TASK and what follows\n" +
			"run again (Kestra's replay); execution.originalId names ID. On the embedded store it runs here until it\n" +
			"ends; on a deployment it prints the new id, and --wait follows it.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.check(); err != nil {
				return err
			}
			if from == "" {
				return &exitError{code: exitInvalid, err: errors.New("name the task to replay from with --from TASK")}
			}
			t, err := openTarget(cmd)
			if err != nil {
				return err
			}
			if t.local {
				t.close()
				return replayHere(cmd, args[0], from, out)
			}
			defer t.close()
			st, err := t.cp.Replay(cmd.Context(), args[0], from)
			if err != nil {
				if errors.Is(err, engine.ErrNotFound) {
					return t.notFound(err, args[0])
				}
				return requestError(err)
			}
			if !wait {
				fmt.Fprintln(cmd.OutOrStdout(), st.ID)
				return nil
			}
			if !out.json() {
				fmt.Fprintf(cmd.OutOrStdout(), "Execution %s replays %s from %s (%s/%s revision %d)\n", st.ID, args[0], from, st.Namespace, st.FlowID, st.Revision)
			}
			return waitRemote(cmd, t, st.ID, following{json: out.json()})
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the task run (or task) to replay from")
	cmd.Flags().BoolVarP(&wait, "wait", "w", false, "on a deployment, follow the new execution until it ends or pauses")
	out.flags(cmd)
	return cmd
}

// shown is how a command that runs or follows an execution shows it.
type shown struct {
	progress string // auto, live or plain
	output   string // text or json
}

func (o *shown) flags(cmd *cobra.Command) {
	progressFlag(cmd, &o.progress)
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "text, or json: only the final execution on stdout, progress on stderr")
}

func (o shown) json() bool { return o.output == "json" }

func (o shown) check() error {
	if o.output != "" && o.output != "text" && o.output != "json" {
		return &exitError{code: exitInvalid, err: fmt.Errorf("unknown output format %q: use text or json", o.output)}
	}
	return nil
}

// replayHere replays an execution of the embedded store in this process.
func replayHere(cmd *cobra.Command, srcID, from string, out shown) error {
	id := engine.NewID()
	return runHere(cmd, id, out, func(sys *system) (*flow.Flow, statemachine.Event, error) {
		ev := statemachine.Event{ID: id + "/requested", Type: statemachine.EvExecutionRequested, ExecutionID: id, Replay: &statemachine.Replay{ExecutionID: srcID, From: from}}
		src, err := sys.store.Execution(cmd.Context(), srcID)
		if err != nil {
			return nil, ev, notFoundIn(err, srcID, "this data directory")
		}
		if _, ok := src.Run(from); !ok && !slices.ContainsFunc(src.TaskRuns, func(r *statemachine.TaskRun) bool { return r.TaskID == from }) {
			return nil, ev, &exitError{code: exitInvalid, err: fmt.Errorf("execution %s has no task run or task %q to replay from", srcID, from)}
		}
		f, err := sys.engine.Flow(cmd.Context(), src.Namespace, src.FlowID, src.Revision)
		if err != nil {
			return nil, ev, err
		}
		ev.Namespace, ev.FlowID, ev.Revision = src.Namespace, src.FlowID, src.Revision
		return f, ev, nil
	})
}

// control sends a resume, kill or restart: to a deployment with remote, or
// to the embedded store with local (which runs the execution here).
func control(cmd *cobra.Command, id string, o following, wait bool, done string, remote func(*target) error, local func() error) error {
	t, err := openTarget(cmd)
	if err != nil {
		return err
	}
	if t.local {
		t.close()
		return local()
	}
	defer t.close()
	wait = wait || t.viaServer
	if wait { // what the execution was, so that its change is seen
		doc, err := t.cp.ExecutionPage(cmd.Context(), id, api.RunPage{Limit: followRuns})
		if err != nil {
			return t.notFound(err, id)
		}
		o.before = &doc
		if _, err := printLogPages(cmd.Context(), t, io.Discard, id, &o.after, ""); err != nil {
			return err
		}
	}
	if err := remote(t); err != nil {
		if errors.Is(err, engine.ErrNotFound) {
			return t.notFound(err, id)
		}
		return requestError(err)
	}
	if !wait {
		fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", id, done)
		return nil
	}
	return waitRemote(cmd, t, id, o)
}

// runStored runs an execution of a flow stored in the embedded store here,
// until it ends or pauses.
func runStored(cmd *cobra.Command, ns, id string, provided map[string]any, labels []flow.Label, out shown) error {
	execID := engine.NewID()
	return runHere(cmd, execID, out, func(sys *system) (*flow.Flow, statemachine.Event, error) {
		ev := statemachine.Event{ID: execID + "/requested", Type: statemachine.EvExecutionRequested, ExecutionID: execID, Namespace: ns, FlowID: id, Inputs: provided, Labels: labels}
		f, err := sys.engine.Flow(cmd.Context(), ns, id, 0)
		if errors.Is(err, engine.ErrNotFound) {
			return nil, ev, &exitError{code: exitFailed, err: fmt.Errorf("no flow %s/%s in this data directory (deploy it with `relay flows deploy`)", ns, id)}
		}
		if err != nil {
			return nil, ev, err
		}
		withFiles, err := storeFileInputs(cmd.Context(), sys.files, f, execID, provided)
		if err != nil {
			return nil, ev, &exitError{code: exitInvalid, err: err}
		}
		if _, err := f.ResolveInputs(withFiles, &expr.Env{Now: time.Now(), Secret: secrets.DryRunSecret}); err != nil {
			return nil, ev, &exitError{code: exitInvalid, err: err}
		}
		if ev.Inputs, err = engine.SealInputs(sys.secrets, ns, f.Inputs, withFiles); err != nil {
			return nil, ev, err
		}
		ev.Revision = f.Revision
		return f, ev, nil
	})
}

// continueExecution sends ev to a stored execution and runs it here until
// it ends or pauses again.
func continueExecution(cmd *cobra.Command, id string, out shown, ev statemachine.Event) error {
	return runHere(cmd, id, out, func(sys *system) (*flow.Flow, statemachine.Event, error) {
		ex, err := sys.store.Execution(cmd.Context(), id)
		if err != nil {
			return nil, ev, notFoundIn(err, id, "this data directory")
		}
		f, err := sys.engine.Flow(cmd.Context(), ex.Namespace, ex.FlowID, ex.Revision)
		if err != nil {
			return nil, ev, err
		}
		// Check the event first, so a mistake is reported, not just logged.
		if ev.Type == statemachine.EvKill && ex.State.Terminal() {
			return nil, ev, &exitError{code: exitFailed, err: fmt.Errorf("execution %s already ended %s: there is nothing to kill", id, ex.State)}
		}
		res, err := statemachine.Apply(f, ex, ev, time.Now(), statemachine.Options{Secrets: secrets.DryRun{}})
		if err != nil {
			return nil, ev, &exitError{code: exitInvalid, err: statemachine.Reason(err)}
		}
		if res.Ignored != "" { // nothing would change: waiting for a change would never end
			return nil, ev, &exitError{code: exitFailed, err: fmt.Errorf("execution %s is %s: %s", id, ex.State, res.Ignored)}
		}
		if ev.Inputs, err = engine.SealInputs(sys.secrets, ex.Namespace, engine.ResumeDecls(f, ex), ev.Inputs); err != nil {
			return nil, ev, err
		}
		return f, ev, nil
	})
}

// runHere starts the embedded engine, sends the event prepare returns (a
// request for execution id, or an event for it) and shows the execution's
// progress until it ends or pauses.
func runHere(cmd *cobra.Command, id string, shownAs shown, prepare func(*system) (*flow.Flow, statemachine.Event, error)) error {
	out := cmd.OutOrStdout()
	if shownAs.json() {
		out = cmd.ErrOrStderr()
	}
	live, err := liveMode(shownAs.progress, out)
	if err != nil {
		return &exitError{code: exitInvalid, err: err}
	}
	p := newPrinter(out, live)
	sys, err := startSystem(cmd, systemOptions{workers: 8, onCommit: p.commit, onLog: p.logLine})
	if err != nil {
		return err
	}
	defer sys.close()
	f, ev, err := prepare(sys)
	if err != nil {
		return err
	}
	p.begin(id, fmt.Sprintf("Execution %s of %s/%s (revision %d)", id, f.Namespace, f.ID, f.Revision), f.Namespace+"/"+f.ID)
	if err := sys.engine.Send(cmd.Context(), ev); err != nil {
		return err
	}
	final, code := p.wait(cmd, sys, f, id)
	if final == nil {
		return &exitError{code: exitFailed, err: errors.New("the execution did not end")}
	}
	if shownAs.json() {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		if err := enc.Encode(engine.Document(final)); err != nil {
			return err
		}
	}
	p.summary(final)
	if code != exitOK {
		return &exitError{code: code}
	}
	return nil
}

func logsCmd() *cobra.Command {
	var task string
	var follow bool
	cmd := &cobra.Command{
		Use:   "logs ID",
		Short: "Print an execution's logs (--follow until it ends)",
		Args:  cobra.ExactArgs(1),
		RunE: onTarget(func(cmd *cobra.Command, t *target, args []string) error {
			var after int64
			// An execution just requested appears once the executor has
			// stored it: --follow waits a little for it.
			appear := time.Now().Add(15 * time.Second)
			for {
				done, err := printLogs(cmd, t, args[0], task, &after)
				if follow && errors.Is(err, engine.ErrNotFound) && time.Now().Before(appear) {
					err, done = nil, false
				}
				if err != nil {
					return t.notFound(err, args[0])
				}
				if !follow || done {
					return nil
				}
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(500 * time.Millisecond):
				}
			}
		}),
	}
	cmd.Flags().StringVar(&task, "task", "", "only the lines of this task id")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new lines until the execution ends")
	return cmd
}

// printLogs prints lines after *after and reports whether the execution
// has ended.
func printLogs(cmd *cobra.Command, t *target, id, task string, after *int64) (bool, error) {
	doc, err := t.cp.ExecutionPage(cmd.Context(), id, api.RunPage{Limit: 1})
	if err != nil {
		return false, err
	}
	if _, err := printLogPages(cmd.Context(), t, cmd.OutOrStdout(), id, after, task); err != nil {
		return false, fmt.Errorf("reading logs: %w", err)
	}
	return doc.EndDate != nil, nil
}
