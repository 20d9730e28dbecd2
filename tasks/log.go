package tasks

import (
	"context"
	"log/slog"
	"strings"

	"github.com/relayflow/relay/statemachine/expr"
)

// NewLog returns the runner of log: it writes message (a string, or a list
// whose items are written one record each) to the task's log at level. The
// message text is the record's message, as the user wrote it; values that are
// not strings are printed as the template engine prints them.
func NewLog() Runner {
	return RunnerFunc(func(ctx context.Context, req Request) (Result, error) {
		level, err := logLevel(req.Props)
		if err != nil {
			return Result{}, err
		}
		var msgs []any
		switch m := req.Props["message"].(type) {
		case nil:
			return Result{}, propError("message", "is required")
		case []any:
			msgs = m
		default:
			msgs = []any{m}
		}
		log := logger(req)
		for _, m := range msgs {
			log.Log(ctx, level, expr.Stringify(m))
		}
		return Result{}, nil
	})
}

// logLevel maps Kestra's levels to slog's; slog has no TRACE, and TRACE is
// below INFO, so it is logged as DEBUG.
func logLevel(props map[string]any) (slog.Level, error) {
	s, err := optString(props, "level")
	if err != nil {
		return 0, err
	}
	switch strings.ToUpper(s) {
	case "TRACE", "DEBUG":
		return slog.LevelDebug, nil
	case "INFO", "":
		return slog.LevelInfo, nil
	case "WARN", "WARNING":
		return slog.LevelWarn, nil
	case "ERROR":
		return slog.LevelError, nil
	}
	return 0, propError("level", "want one of TRACE, DEBUG, INFO, WARN, ERROR, got %q", s)
}
