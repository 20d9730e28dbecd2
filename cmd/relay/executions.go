package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/statemachine/expr"
	"github.com/relayflow/relay/statemachine/inputs"
)

func executionsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "executions", Aliases: []string{"exec"}, Short: "List, show, resume and kill executions of the embedded store"}
	cmd.AddCommand(execListCmd(), execShowCmd(), execResumeCmd(), execKillCmd())
	return cmd
}

func execListCmd() *cobra.Command {
	var f engine.ExecutionFilter
	var state string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List executions, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			f.State = statemachine.ExecState(strings.ToUpper(state))
			list, err := st.Executions(cmd.Context(), f)
			if err != nil {
				return fmt.Errorf("listing executions: %w", err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tFLOW\tSTATE\tSTARTED\tDURATION\t")
			for _, ex := range list {
				fmt.Fprintf(tw, "%s\t%s/%s\t%s\t%s\t%s\t\n", ex.ID, ex.Namespace, ex.FlowID, ex.State, ex.StartDate.Local().Format("2006-01-02 15:04:05"), duration(ex.StartDate, ex.EndDate))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&f.Namespace, "namespace", "", "only this namespace")
	cmd.Flags().StringVar(&f.FlowID, "flow", "", "only this flow id")
	cmd.Flags().StringVar(&state, "state", "", "only this state (SUCCESS, FAILED, PAUSED...)")
	cmd.Flags().IntVar(&f.Limit, "limit", 50, "at most this many (0: all)")
	return cmd
}

func duration(start, end time.Time) string {
	if end.IsZero() {
		return "-"
	}
	return end.Sub(start).Round(time.Millisecond).String()
}

func execShowCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show an execution: its task runs with states, attempts, durations and outputs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := openStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			ex, err := st.Execution(cmd.Context(), args[0])
			if err != nil {
				return notFound(err, args[0])
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(engine.Document(ex))
			}
			showExecution(cmd.OutOrStdout(), ex)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

func notFound(err error, id string) error {
	if errors.Is(err, engine.ErrNotFound) {
		return &exitError{code: 1, err: fmt.Errorf("no execution %s in this data directory (see `relay executions list`)", id)}
	}
	return err
}

func showExecution(w io.Writer, ex *statemachine.Execution) {
	fmt.Fprintf(w, "Execution %s\n  flow      %s/%s revision %d\n  state     %s\n  started   %s\n  duration  %s\n",
		ex.ID, ex.Namespace, ex.FlowID, ex.Revision, ex.State, ex.StartDate.Local().Format(time.RFC3339), duration(ex.StartDate, ex.EndDate))
	if ex.Error != "" {
		fmt.Fprintf(w, "  error     %s\n", ex.Error)
	}
	if len(ex.Inputs) > 0 {
		fmt.Fprintf(w, "  inputs    %s\n", expr.Stringify(ex.Inputs))
	}
	printTaskRuns(w, ex)
	fmt.Fprintln(w)
	for _, r := range ex.TaskRuns {
		for _, a := range r.Attempts {
			msg := ""
			if a.Error != nil {
				msg = "  " + a.Error.Message
			}
			fmt.Fprintf(w, "  %s attempt %d: %s %s%s\n", r.ID, a.Number, a.State, duration(a.StartDate, a.EndDate), msg)
		}
		if len(r.Outputs) > 0 {
			fmt.Fprintf(w, "  %s outputs: %s\n", r.ID, abbreviate(expr.Stringify(r.Outputs), 200))
		}
	}
	if len(ex.Outputs) > 0 {
		fmt.Fprintf(w, "\nOutputs: %s\n", expr.Stringify(ex.Outputs))
	}
}

func abbreviate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// execResumeCmd continues a paused execution in this process: its state
// comes from the store, which proves it survived the process that paused.
func execResumeCmd() *cobra.Command {
	var inputKV []string
	var progress string
	cmd := &cobra.Command{
		Use:   "resume ID",
		Short: "Resume a PAUSED execution (with onResume inputs) and run it to its end here",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			given, err := inputs.ParseAssignments(inputKV)
			if err != nil {
				return &exitError{code: exitInvalid, err: err}
			}
			return continueExecution(cmd, args[0], progress, statemachine.Event{ID: args[0] + "/resume/" + engine.NewID(), Type: statemachine.EvResume, ExecutionID: args[0], Inputs: given})
		},
	}
	cmd.Flags().StringArrayVarP(&inputKV, "input", "i", nil, "an onResume input as name=value")
	progressFlag(cmd, &progress)
	return cmd
}

func execKillCmd() *cobra.Command {
	var progress string
	cmd := &cobra.Command{
		Use:   "kill ID",
		Short: "Kill an execution of the embedded store (one running in `relay run` is killed with Ctrl-C)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return continueExecution(cmd, args[0], progress, statemachine.Event{ID: args[0] + "/kill", Type: statemachine.EvKill, ExecutionID: args[0]})
		},
	}
	progressFlag(cmd, &progress)
	return cmd
}

// continueExecution sends ev to a stored execution and runs it here until
// it ends or pauses again.
func continueExecution(cmd *cobra.Command, id, progress string, ev statemachine.Event) error {
	out := cmd.OutOrStdout()
	live, err := liveMode(progress, out)
	if err != nil {
		return &exitError{code: exitInvalid, err: err}
	}
	p := newPrinter(out, live)
	sys, err := startSystem(cmd, systemOptions{workers: 8, onCommit: p.commit, onLog: p.logLine})
	if err != nil {
		return err
	}
	defer sys.close()
	ex, err := sys.store.Execution(cmd.Context(), id)
	if err != nil {
		return notFound(err, id)
	}
	f, err := sys.engine.Flow(cmd.Context(), ex.Namespace, ex.FlowID, ex.Revision)
	if err != nil {
		return err
	}
	// Check the event first, so a mistake is reported, not just logged.
	if _, err := statemachine.Apply(f, ex, ev, time.Now(), statemachine.Options{Secret: envSecret}); err != nil {
		return &exitError{code: exitInvalid, err: err}
	}
	p.begin(id, fmt.Sprintf("Execution %s of %s/%s (revision %d)", id, f.Namespace, f.ID, ex.Revision), f.Namespace+"/"+f.ID)
	if err := sys.engine.Send(cmd.Context(), ev); err != nil {
		return err
	}
	final, code := p.wait(cmd, sys, f, id)
	if final == nil {
		return &exitError{code: exitFailed, err: errors.New("the execution did not end")}
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
		Short: "Print an execution's logs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var after int64
			for {
				done, err := printLogs(cmd, args[0], task, &after)
				if err != nil || !follow || done {
					return err
				}
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(500 * time.Millisecond):
				}
			}
		},
	}
	cmd.Flags().StringVar(&task, "task", "", "only the lines of this task id")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new lines until the execution ends")
	return cmd
}

// printLogs prints lines after *after and reports whether the execution
// has ended.
func printLogs(cmd *cobra.Command, id, task string, after *int64) (bool, error) {
	st, err := openStore(cmd)
	if err != nil {
		return false, err
	}
	defer st.Close()
	ex, err := st.Execution(cmd.Context(), id)
	if err != nil {
		return false, notFound(err, id)
	}
	lines, err := st.Logs(cmd.Context(), id, *after)
	if err != nil {
		return false, fmt.Errorf("reading logs: %w", err)
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].Seq < lines[j].Seq })
	for _, l := range lines {
		*after = l.Seq
		if task != "" && l.TaskID != task && !strings.HasPrefix(l.TaskRunID, task) {
			continue
		}
		where := l.TaskRunID
		if where == "" {
			where = "execution"
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s  %-28s %-5s %s\n", l.Time.Local().Format("15:04:05.000"), where, l.Level, l.Message)
	}
	return ex.State.Terminal(), nil
}
