package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/relayflow/relay/api"
	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/firing"
	"github.com/relayflow/relay/serverless"
	"github.com/relayflow/relay/statemachine/flow"
)

// EnvAPI names the HTTP API the CLI talks to when --api is not given.
const EnvAPI = "RELAY_API_URL"

// controlPlane is what the flows, executions and logs commands do to a
// deployment: api.Service on a store and bus, api.Client over HTTP.
type controlPlane interface {
	DeployFlow(ctx context.Context, file string, source []byte) (engine.FlowRecord, error)
	StartWith(ctx context.Context, namespace, id string, inputs map[string]any, labels []flow.Label, o api.StartOptions) (api.Started, error)
	Flow(ctx context.Context, namespace, id string, revision int) (engine.FlowRecord, error)
	Execution(ctx context.Context, id string) (engine.ExecutionDoc, error)
	ExecutionPage(ctx context.Context, id string, p api.RunPage) (engine.ExecutionDoc, error)
	Executions(ctx context.Context, f engine.ExecutionFilter) ([]engine.ExecutionDoc, error)
	Logs(ctx context.Context, id string, after int64, limit int) ([]engine.LogEntry, error)
	Resume(ctx context.Context, id string, inputs map[string]any) error
	Kill(ctx context.Context, id string) error
	Restart(ctx context.Context, id string) error
	Replay(ctx context.Context, id, from string) (api.Started, error)
	Triggers(ctx context.Context) ([]firing.Info, error)
}

// target is where a command acts: the embedded store of the data directory
// (local), a deployment's HTTP API (--api), or its table and topics
// (--direct).
type target struct {
	cp    controlPlane
	local bool   // the embedded store: executions run in this process
	where string // for messages
	// viaServer: the embedded store's relay server, found in the data
	// directory; commands wait for what they start, as they would here.
	viaServer bool
	close     func()
}

func targetFlags(root *cobra.Command) {
	root.PersistentFlags().String("api", "", "act on a deployment through its HTTP API at this URL (default $"+EnvAPI+")")
	root.PersistentFlags().Bool("direct", false, "act on a deployment's DynamoDB table and Kafka topics (RELAY_KAFKA_BROKERS, RELAY_TABLE, AWS_ENDPOINT_URL), as relay dev does")
}

// openTarget opens the target the flags name.
func openTarget(cmd *cobra.Command) (*target, error) {
	apiURL, _ := cmd.Flags().GetString("api")
	if apiURL == "" {
		apiURL = os.Getenv(EnvAPI)
	}
	direct, _ := cmd.Flags().GetBool("direct")
	switch {
	case apiURL != "" && direct:
		return nil, &exitError{code: exitInvalid, err: errors.New("--api and --direct name two targets: choose one")}
	case apiURL != "":
		c, err := newAPIClient(cmd.Context(), apiURL)
		if err != nil {
			return nil, &exitError{code: exitInvalid, err: err}
		}
		return &target{cp: c, where: apiURL, close: func() {}}, nil
	case direct:
		cfg, err := serverless.ConfigFromEnv()
		if err != nil {
			return nil, &exitError{code: exitInvalid, err: err}
		}
		rt, err := serverless.Open(cmd.Context(), cfg, slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn})))
		if err != nil {
			return nil, err
		}
		return &target{cp: rt.API(), where: "table " + cfg.Table, close: func() { rt.Close() }}, nil
	}
	st, err := openStore(cmd)
	if err != nil {
		url, err := lockedDataDir(cmd, err)
		if err != nil {
			return nil, err
		}
		c, err := newAPIClient(cmd.Context(), url)
		if err != nil {
			return nil, err
		}
		return &target{cp: c, where: "relay server " + url, viaServer: true, close: func() {}}, nil
	}
	return &target{cp: api.NewService(st, nil), local: true, where: "this data directory", close: func() { st.Close() }}, nil
}

// newAPIClient is a client of the API at apiURL that authenticates as
// the environment says (api.HTTPClient: SigV4 for an API Gateway URL, a
// bearer token in $RELAY_API_TOKEN).
func newAPIClient(ctx context.Context, apiURL string) (*api.Client, error) {
	hc, err := api.HTTPClient(ctx, apiURL)
	if err != nil {
		return nil, err
	}
	return api.NewClient(apiURL, hc)
}

// notFound turns a missing execution into a message saying where it was
// looked for.
func (t *target) notFound(err error, id string) error { return notFoundIn(err, id, t.where) }

func notFoundIn(err error, id, where string) error {
	if errors.Is(err, engine.ErrNotFound) {
		return &exitError{code: 1, err: fmt.Errorf("no execution %s in %s (see `relay executions list`)", id, where)}
	}
	return err
}

// stateExit is the exit code of a command that waited for an execution.
func stateExit(state string) int {
	switch state {
	case "SUCCESS", "WARNING":
		return exitOK
	case "PAUSED":
		return exitPaused
	}
	return exitFailed
}

// following says how to follow an execution.
type following struct {
	every   time.Duration // how often to poll
	pending time.Duration // how long a just-requested execution may take to appear
	// before is the execution before the request being followed (a
	// resume, a restart): until it changes, its PAUSED state, or the end
	// it had, is not the end.
	before *engine.ExecutionDoc
	after  int64 // log lines already shown
	json   bool  // print the final execution as JSON, progress to stderr
}

// followRuns is the most task runs follow shows one by one; past it, it
// shows their counts by state.
const followRuns = 200

// signature sums up an execution's progress: its state and how many of
// its runs are in each state. Only the execution's own document counts, not
// its task runs: the API reads the two apart, so a page may show runs
// newer than the state it came with (a resumed execution still PAUSED,
// its next task already submitted).
func signature(d *engine.ExecutionDoc) string {
	var b strings.Builder
	b.WriteString(d.State)
	for _, st := range slices.Sorted(maps.Keys(d.TaskRunCounts)) {
		fmt.Fprintf(&b, " %s=%d", st, d.TaskRunCounts[st])
	}
	return b.String()
}

// stillEnded says whether doc is the end that before already had: a
// restarted execution keeps its old end until the restart is applied, and
// that end is not the restart's.
func stillEnded(before, doc *engine.ExecutionDoc) bool {
	return before != nil && before.EndDate != nil && doc.EndDate != nil &&
		before.EndDate.Equal(*doc.EndDate) && signature(before) == signature(doc)
}

// follow prints an execution's log lines and task-run changes until it
// ends or pauses, polling the target, and returns its last document. An
// execution just requested may not exist yet: it is waited for. Each poll
// reads a page of followRuns task runs: the runs of a bigger execution are
// shown as counts by state, at most once a second.
func follow(ctx context.Context, t *target, w io.Writer, id string, o following) (engine.ExecutionDoc, error) {
	after := o.after
	seen := map[string]string{} // task run -> state printed
	if o.before != nil {
		for _, r := range o.before.TaskRuns {
			seen[r.ID] = r.State
		}
	}
	appeared := time.Now().Add(o.pending)
	printNewLines := func() error {
		_, err := printLogPages(ctx, t, w, id, &after, "")
		return err
	}
	var counted string
	var countedAt time.Time
	for {
		doc, err := t.cp.ExecutionPage(ctx, id, api.RunPage{Limit: followRuns})
		switch {
		case errors.Is(err, engine.ErrNotFound) && time.Now().Before(appeared):
		case err != nil:
			return doc, t.notFound(err, id)
		default:
			appeared = time.Time{}
			if err := printNewLines(); err != nil {
				return doc, t.notFound(err, id)
			}
			ended := doc.EndDate != nil && !stillEnded(o.before, &doc)
			if doc.NextCursor == "" {
				for _, r := range doc.TaskRuns {
					if seen[r.ID] == r.State {
						continue
					}
					seen[r.ID] = r.State
					detail := ""
					if r.Error != nil && r.EndDate != nil {
						detail = ": " + r.Error.Message
					}
					fmt.Fprintf(w, "%s  %-28s %s%s\n", time.Now().Format("15:04:05.000"), r.ID, r.State, detail)
				}
			} else if c := formatCounts(doc.TaskRunCounts); c != counted && (ended || time.Since(countedAt) >= time.Second) {
				counted, countedAt = c, time.Now()
				fmt.Fprintf(w, "%s  %d task runs: %s\n", time.Now().Format("15:04:05.000"), doc.TaskRunCount, c)
			}
			changed := o.before == nil || signature(&doc) != signature(o.before)
			if ended || doc.State == "PAUSED" && changed {
				_ = printNewLines() // lines written just before the end
				return doc, nil
			}
		}
		select {
		case <-ctx.Done():
			return doc, ctx.Err()
		case <-time.After(o.every):
		}
	}
}

// printLogPages prints an execution's log lines after *after, a page at a
// time, moving *after on; task, when set, keeps the lines of that task.
// It returns how many lines it read.
func printLogPages(ctx context.Context, t *target, w io.Writer, id string, after *int64, task string) (int, error) {
	read := 0
	for {
		lines, err := t.cp.Logs(ctx, id, *after, api.DefaultLogPage)
		if err != nil {
			return read, err
		}
		sort.SliceStable(lines, func(i, j int) bool { return lines[i].Seq < lines[j].Seq })
		for _, l := range lines {
			*after = max(*after, l.Seq)
			if task != "" && l.TaskID != task && !strings.HasPrefix(l.TaskRunID, task) {
				continue
			}
			printLogLine(w, l)
		}
		read += len(lines)
		if len(lines) < api.DefaultLogPage {
			return read, nil
		}
	}
}

func printLogLine(w io.Writer, l engine.LogEntry) {
	where := l.TaskRunID
	if where == "" {
		where = "execution"
	}
	fmt.Fprintf(w, "%s  %-28s %-5s %s\n", l.Time.Local().Format("15:04:05.000"), where, l.Level, l.Message)
}

// parseRef splits NAMESPACE/ID (the id is after the last slash; namespaces
// use dots).
func parseRef(ref string) (string, string, error) {
	i := strings.LastIndex(ref, "/")
	if i <= 0 || i == len(ref)-1 {
		return "", "", fmt.Errorf("flow %q: want NAMESPACE/ID, for example getting_started/hello_world", ref)
	}
	return ref[:i], ref[i+1:], nil
}

// onTarget makes a command's RunE that opens the target the flags name
// (see openTarget), hands it to run and closes it after.
func onTarget(run func(cmd *cobra.Command, t *target, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		t, err := openTarget(cmd)
		if err != nil {
			return err
		}
		defer t.close()
		return run(cmd, t, args)
	}
}
