package tasks

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/relayflow/relay/statemachine/flow"
)

// LogLine is a stored log line, as log.fetch returns it.
type LogLine struct {
	Time      time.Time
	Level     string
	TaskID    string
	TaskRunID string
	Attempt   int
	Message   string
}

// LogReader reads the stored logs of executions for log.fetch.
type LogReader interface {
	// ExecutionLogs returns the lines of an execution of the flow
	// namespace/flowID, in order; an execution of another flow, or none,
	// is an error.
	ExecutionLogs(ctx context.Context, namespace, flowID, executionID string) ([]LogLine, error)
}

// MaxFetchedLogs bounds the lines log.fetch returns in its outputs (it
// writes no file, as Kestra's does); size counts them all.
const MaxFetchedLogs = 1000

// NewFetch returns the runner of log.fetch (Kestra's log.Fetch): the
// lines of an execution (this one by default) at or above level,
// optionally of some tasks only, as the outputs size and logs.
func NewFetch() Runner {
	return RunnerFunc(func(ctx context.Context, req Request) (Result, error) {
		if req.Logs == nil {
			return Result{}, &Error{Kind: KindFatal, Type: "NoLogStore", Message: "no log store is configured"}
		}
		id, err := optString(req.Props, "executionId")
		if err != nil {
			return Result{}, err
		}
		ns, flowID := req.Namespace, req.FlowID
		if id == "" {
			id = req.ExecutionID
		} else {
			if ns, err = optString(req.Props, "namespace"); err != nil {
				return Result{}, err
			}
			if flowID, err = optString(req.Props, "flowId"); err != nil {
				return Result{}, err
			}
			if ns == "" {
				ns = req.Namespace
			}
			if flowID == "" {
				flowID = req.FlowID
			}
		}
		level, err := optString(req.Props, "level")
		if err != nil {
			return Result{}, err
		}
		if level == "" {
			level = "INFO"
		}
		least := slices.Index(flow.LogLevels, level)
		if least < 0 {
			return Result{}, propError("level", "want one of %v, got %q", flow.LogLevels, level)
		}
		var taskIDs []string
		if req.Props["tasksId"] != nil {
			if taskIDs, err = reqStringList(req.Props, "tasksId"); err != nil {
				return Result{}, err
			}
		}
		lines, err := req.Logs.ExecutionLogs(ctx, ns, flowID, id)
		if err != nil {
			return Result{}, &Error{Kind: KindFatal, Type: "FetchLogs", Message: err.Error(), Err: err}
		}
		rows := []any{}
		size := 0
		for _, l := range lines {
			if slices.Index(flow.LogLevels, l.Level) < least || len(taskIDs) > 0 && !slices.Contains(taskIDs, l.TaskID) {
				continue
			}
			size++
			if len(rows) < MaxFetchedLogs {
				rows = append(rows, map[string]any{
					"namespace": ns, "flowId": flowID, "executionId": id,
					"taskId": l.TaskID, "taskRunId": l.TaskRunID, "attemptNumber": int64(l.Attempt),
					"timestamp": l.Time.UTC().Format(time.RFC3339Nano), "level": l.Level, "message": l.Message,
				})
			}
		}
		if size > len(rows) {
			logger(req).Warn(fmt.Sprintf("%d lines match; the outputs keep the first %d", size, len(rows)))
		}
		return Result{Outputs: map[string]any{"size": int64(size), "logs": rows}}, nil
	})
}
