package engine

import (
	"errors"
	"fmt"
	"log/slog"
)

// How a handler's error is dealt with by whatever delivers events (a bus,
// a Lambda batch handler): three kinds.
var (
	// ErrUnavailable: a service the call depends on (the store, the bus,
	// the blob store) is down or refuses for now (connection refused,
	// throttling, 5xx, timeouts). The event is delivered again, for as long
	// as it takes, and never dead-lettered: an outage of any length loses
	// nothing. Clients of those services wrap their errors with it.
	ErrUnavailable = errors.New("unavailable")
	// ErrCannotApply: the event decodes but cannot apply, and never will
	// (its data is meaningless, its execution or flow does not exist, the
	// execution's state does not allow it). It goes to TopicDLQ at once,
	// with the reason, rather than being retried.
	ErrCannotApply = errors.New("cannot apply")
)

// Unavailable wraps err, a failure to reach a dependency, as
// ErrUnavailable (nil stays nil).
func Unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	return &wrapped{kind: ErrUnavailable, err: err}
}

// CannotApply is an ErrCannotApply error with the reason.
func CannotApply(format string, args ...any) error {
	return &wrapped{kind: ErrCannotApply, err: fmt.Errorf(format, args...)}
}

type wrapped struct{ kind, err error }

func (w *wrapped) Error() string   { return w.err.Error() }
func (w *wrapped) Unwrap() []error { return []error{w.kind, w.err} }

// LogLevel is the level at which to log a failure that will be retried:
// debug for an outage, whose start and end the health registry logs once
// each (internal/health), rather than once per retry; error otherwise.
func LogLevel(err error) slog.Level {
	if errors.Is(err, ErrUnavailable) {
		return slog.LevelDebug
	}
	return slog.LevelError
}
